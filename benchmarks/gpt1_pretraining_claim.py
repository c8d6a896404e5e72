#!/usr/bin/env python
"""Does generative pretraining help? GPT-1's central claim (Radford et al. 2018, Table 5: "Transformer w/o
pre-training" against the full model), tested at small scale on SST-2 and RTE with the package's own commands.

1. **Corpus**: a "books-like" pretraining text from the NLTK corpora of ../shared/data/nltk_corpora (the shared data
   has no BooksCorpus and no WikiText-2 train split): Brown, Genesis (English KJV + WEB), the inaugural and State of
   the Union addresses, eight Shakespeare plays and the ABC science/rural news (`--corpora` picks a subset). The raw
   cased text with its punctuation is kept, one paragraph (Brown, addresses), verse (Genesis), speech (Shakespeare)
   or sentence (ABC) per line: Brown's word/tag tokens are joined back into text, hard-wrapped lines are joined
   into their paragraph. Left out: every review or sentiment corpus (movie_reviews, sentence_polarity and
   subjectivity hold Rotten Tomatoes / IMDb snippets, the source of SST; product reviews, pros_cons,
   comparative_sentences, webtext's wine reviews) and chat, transcripts, tagged mixes and newswire (nps_chat,
   switchboard, masc_tagged, treebank, conll2000, reuters: not books-like; RTE's premises are news). Any text that
   shares an N-gram with an SST-2 or RTE dev example is dropped (GPT-3's decontamination rule: N = the 5th
   percentile of the dev examples' lengths in words, clamped to 8..13). Every 50th text is held out for the
   pretraining's validation perplexity.
2. **Pretrained model**: `training/run_clm.py --model_type gpt --architecture gpt1` (post-LN blocks, learned
   positions, GELU, tied embeddings) with a byte-level BPE learned on the corpus: GPT-1's recipe scaled down (Adam,
   warmup then cosine decay, weight decay 0.01, dropout 0.1), sizes set by the arguments.
3. **From-scratch model**: the same config and tokenizer, random weights (set_seed(seed) and
   `AutoModelForCausalLM.from_config`, as run_clm builds its new model: the very weights the pretraining started
   from, tests/test_gpt1_claim_corpus.py), saved as run_clm saves.
4. **Fine-tuning**: `training/run_glue.py` with GPT-1's input transformation (`<start> text <extract>`, new special
   tokens) on both checkpoints, with the auxiliary LM loss (`--lm_loss_coef 0.5`, GPT-1's lambda) and without (0):
   SST-2 on the first `--sst2_train_samples` train sentences, RTE on its whole train split, both scored on their
   whole dev split, the same seeds and schedule for every run. GPT-1's fine-tuning settings (batch 32, 3 epochs,
   linear decay, warmup over 0.2% of training, weight decay 0.01, classifier dropout 0.1) with the learning rate set
   by GPT-1's own ratio: its fine-tuning rate 6.25e-5 is its pretraining peak 2.5e-4 / 4, so ours is
   `--pretrain_lr` / 4 (6.25e-5 is tuned for a 117M-parameter model; a tiny model pretrained at 1e-3 fine-tunes at
   2.5e-4). `--finetune_lr` overrides the rule for every run alike.

Every step is skipped when its output is complete (corpus/stats.json, the model folders' all_results.json, the
scratch folder's config + weights) and continues from its last checkpoint when it was cut: run the command again
(with the same settings: OUTPUT_ROOT/settings.json records them and other settings are refused; more --seeds or
--tasks are welcome). A finished fine-tuning run's checkpoint folders are deleted (its final model stays).
Writes benchmarks/results/gpt1_pretraining_claim.json (`--output`: dev accuracies, commands, corpus statistics, wall
times, whether shortened) and prints a Markdown table with the majority-class baselines.

    python benchmarks/gpt1_pretraining_claim.py                  # the benchmark (hours on 2 CPU cores)
    python benchmarks/gpt1_pretraining_claim.py --device gpu --bf16   # on a GPU
    python benchmarks/gpt1_pretraining_claim.py --output_root /tmp/g1 --output /tmp/g1/claim.json \\
        --pretrain_max_steps 40 --sst2_train_samples 300 --finetune_max_steps 12 --max_eval_samples 64 \\
        --seeds 42 --threads 1                                  # a smoke run of every step, a few minutes
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

if __package__:  # python -m benchmarks.gpt1_pretraining_claim, or imported
    from .bench_utils import RESULTS_DIR, ROOT, run, tidy_command
else:  # python benchmarks/gpt1_pretraining_claim.py
    from bench_utils import RESULTS_DIR, ROOT, run, tidy_command

DATA = ROOT.parent / "shared" / "data"
RESULTS = RESULTS_DIR / "gpt1_pretraining_claim.json"

# corpus name -> (zip file, member pattern, reader)
CORPORA = {
    "brown": ("brown.zip", r"brown/c[a-r]\d\d$", "brown"),
    "genesis": ("genesis.zip", r"genesis/english-(kjv|web)\.txt$", "plain"),
    "inaugural": ("inaugural.zip", r"inaugural/\d{4}-[^/]+\.txt$", "plain"),
    "state_union": ("state_union.zip", r"state_union/\d{4}[^/]*\.txt$", "plain"),
    "shakespeare": ("shakespeare.zip", r"shakespeare/[^/]+\.xml$", "shakespeare"),
    "abc": ("abc.zip", r"abc/(rural|science)\.txt$", "plain"),
}
EXCLUDED = {
    "movie_reviews": "IMDb movie reviews: SST-2's domain (sentiment of movie reviews)",
    "sentence_polarity": "Rotten Tomatoes snippets (Pang & Lee 2005), the sentences SST is built from",
    "subjectivity": "Rotten Tomatoes / IMDb snippets (Pang & Lee 2004)",
    "product_reviews_1": "sentiment-annotated product reviews",
    "product_reviews_2": "sentiment-annotated product reviews",
    "pros_cons": "review pros and cons (sentiment)",
    "comparative_sentences": "review sentences (shares sources with the product reviews)",
    "webtext": "web text with wine reviews, forum and chat posts",
    "nps_chat": "chat posts, not books-like",
    "switchboard": "telephone transcripts, not books-like",
    "masc_tagged": "tagged mixed genres (email, spam, movie scripts, tweets)",
    "treebank": "tokenized WSJ newswire (PTB)",
    "conll2000": "tokenized WSJ newswire (PTB)",
    "reuters_rebuilt": "newswire (RTE's premises come from news)",
}
TASKS = {"sst2": "SST-2", "rte": "RTE"}
VARIANTS = (  # (row name, initial checkpoint, lm_loss_coef)
    ("pretrained + LM", "pretrained", 0.5),
    ("pretrained", "pretrained", 0.0),
    ("scratch + LM", "scratch", 0.5),
    ("scratch", "scratch", 0.0),
)
VALID_EVERY = 50  # every 50th corpus text is held out for the pretraining's validation perplexity
# settings that do not change what an output folder holds (more seeds or tasks extend a finished run)
NOT_FINGERPRINTED = ("data_dir", "output_root", "output", "tasks", "seeds", "threads", "variants", "report_only")

# ----------------------------------------------------------------------------------------------------------------------
# 1. The corpus
# ----------------------------------------------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")
_TEXT_START = re.compile(r"[\"'(\[]*[A-Z0-9]")


def squeeze(text: str) -> str:
    """Whitespace runs -> one space, ends stripped."""
    return " ".join(text.split())


def reflow(lines) -> list[str]:
    """Hard-wrapped lines -> paragraphs: a blank line ends one, and so does a line ending a sentence (. ! ? : ;,
    closing quotes allowed) when the next starts with a capital or a digit (a verse, a paragraph per line, a
    sentence per line); any other line continues the one before."""
    texts, current = [], []
    for raw in lines:
        line = squeeze(raw)
        if not line:
            if current:
                texts.append(" ".join(current))
                current = []
            continue
        if current and _SENTENCE_END.search(current[-1]) and _TEXT_START.match(line):
            texts.append(" ".join(current))
            current = []
        current.append(line)
    if current:
        texts.append(" ".join(current))
    return texts


def detokenize(tokens: list[str]) -> str:
    """Brown's tokens back into text: `` and '' become double quotes attached to their words, no space before
    closing punctuation or after opening brackets."""
    text = " ".join(tokens)
    text = re.sub(r"``\s*", '"', text)
    text = re.sub(r"\s*''", '"', text)
    text = re.sub(r"\s+([.,;:!?%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{$])\s+", r"\1", text)
    return squeeze(text)


def brown_paragraphs(raw: str) -> list[str]:
    """A Brown file (one tagged sentence per line, `word/tag` tokens, paragraphs between blank lines) -> one text
    per paragraph, its sentences detokenized and joined."""
    paragraphs, current = [], []
    for line in raw.splitlines():
        tokens = [token.rsplit("/", 1)[0] for token in line.split()]
        if not tokens:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(detokenize(tokens))
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def shakespeare_speeches(raw: bytes) -> list[str]:
    """A play (NLTK's XML) -> one text per speech: its verse lines joined."""
    root = ET.fromstring(raw)
    speeches = []
    for speech in root.iter("SPEECH"):
        lines = [squeeze("".join(line.itertext())) for line in speech.iter("LINE")]
        text = " ".join(line for line in lines if line)
        if text:
            speeches.append(text)
    return speeches


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def corpus_texts(nltk_dir: Path, name: str) -> list[str]:
    """The texts (one per output line) of one corpus of CORPORA, read from its zip."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: choose from {', '.join(CORPORA)}")
    zip_name, pattern, reader = CORPORA[name]
    path = nltk_dir / zip_name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the {name} corpus)")
    texts = []
    with zipfile.ZipFile(path) as archive:
        members = sorted(m for m in archive.namelist() if re.search(pattern, m))
        if not members:
            raise ValueError(f"{path}: no member matches {pattern!r}")
        for member in members:
            data = archive.read(member)
            if reader == "brown":
                texts += brown_paragraphs(_decode(data))
            elif reader == "shakespeare":
                texts += shakespeare_speeches(data)
            else:
                texts += reflow(io.StringIO(_decode(data)).read().splitlines())
    return [text for text in texts if re.search(r"[A-Za-z]", text)]


def ngram_words(text: str) -> list[str]:
    """Words for the overlap check, the same for tokenized (SST-2: "does n't", "it 's") and raw text: lowercase,
    clitics joined, apostrophes dropped, runs of letters and digits."""
    text = re.sub(r"\s+(n't|'s|'re|'ll|'ve|'m|'d)\b", r"\1", text.lower())
    return re.findall(r"[a-z0-9]+", text.replace("'", "").replace("\u2019", ""))


def contamination_ngrams(texts: list[str]) -> tuple[int, set[tuple[str, ...]], int]:
    """GPT-3's rule (Brown et al. 2020, appendix C): N = the 5th percentile of the examples' lengths in words,
    clamped to 8..13; returns (N, the examples' N-grams, how many examples are long enough to have one)."""
    lengths = sorted(len(ngram_words(text)) for text in texts)
    n = min(13, max(8, lengths[int(0.05 * (len(lengths) - 1))])) if lengths else 13
    grams, checked = set(), 0
    for text in texts:
        words = ngram_words(text)
        if len(words) >= n:
            checked += 1
            grams.update(tuple(words[i: i + n]) for i in range(len(words) - n + 1))
    return n, grams, checked


def dev_texts(glue_dir: Path, task: str) -> list[str]:
    """Every text field of a task's dev split (SST-2: the sentences; RTE: both sentences)."""
    from hf_models.tasks.glue import get_task, read_glue_file

    spec = get_task(task)
    dataset = read_glue_file(glue_dir / TASKS[task] / "dev.tsv", spec, require_labels=True)
    return [text for field in spec.text_fields for text in dataset[field]]


def build_corpus(nltk_dir: Path, glue_dir: Path, out_dir: Path, corpora: list[str]) -> dict:
    """Write out_dir/train.txt and valid.txt (one text per line) and stats.json (last: the step's completion mark);
    return the statistics."""
    start = time.time()
    checks = {}
    for task in TASKS:
        n, grams, checked = contamination_ngrams(dev_texts(glue_dir, task))
        checks[task] = {"n": n, "grams": grams, "dev_texts_checked": checked}
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {"sources": {}, "excluded_corpora": EXCLUDED, "valid_every": VALID_EVERY}
    index = 0
    with (out_dir / "train.txt.tmp").open("w", encoding="utf-8") as train, \
            (out_dir / "valid.txt.tmp").open("w", encoding="utf-8") as valid:
        for name in corpora:
            kept = words = characters = 0
            dropped = {task: 0 for task in TASKS}
            for text in corpus_texts(nltk_dir, name):
                tokens = ngram_words(text)
                hit = [task for task, check in checks.items()
                       if any(tuple(tokens[i: i + check["n"]]) in check["grams"]
                              for i in range(len(tokens) - check["n"] + 1))]
                if hit:
                    for task in hit:
                        dropped[task] += 1
                    continue
                (valid if index % VALID_EVERY == VALID_EVERY - 1 else train).write(text + "\n")
                index += 1
                kept += 1
                words += len(text.split())
                characters += len(text)
            stats["sources"][name] = {"texts": kept, "words": words, "characters": characters,
                                      "texts_dropped_for_dev_overlap": dropped}
            print(f"{name:12s} {kept:>8,d} texts {words:>10,d} words (dropped for dev overlap: {dropped})",
                  flush=True)
    for split in ("train", "valid"):
        os.replace(out_dir / f"{split}.txt.tmp", out_dir / f"{split}.txt")
    stats["total_words"] = sum(s["words"] for s in stats["sources"].values())
    stats["total_texts"] = sum(s["texts"] for s in stats["sources"].values())
    stats["decontamination"] = {
        task: {"n": c["n"], "dev_texts_checked": c["dev_texts_checked"],
               "rule": "a corpus text sharing any N-gram (lowercased words) with a dev text is dropped"}
        for task, c in checks.items()}
    stats["seconds"] = round(time.time() - start, 1)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def count_bpe_tokens(model_dir: Path, corpus_dir: Path) -> dict:
    """Tokens of train.txt and valid.txt under the pretrained model's byte-level BPE, each text + its eos (as
    run_clm feeds them)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    counts = {}
    for split in ("train", "valid"):
        lines = [line for line in (corpus_dir / f"{split}.txt").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        total = 0
        for i in range(0, len(lines), 2000):
            total += sum(len(ids) + 1 for ids in tokenizer(lines[i: i + 2000], add_special_tokens=False)["input_ids"])
        counts[split] = total
    return counts


# ----------------------------------------------------------------------------------------------------------------------
# 2. Runs: resumable subprocesses
# ----------------------------------------------------------------------------------------------------------------------
def folder_state(folder: Path) -> str:
    """'done' (all_results.json), 'resume' (a complete checkpoint), 'fresh' (empty or absent) or 'stale' (files but
    no complete checkpoint: run_clm / run_glue would refuse it without --overwrite_output_dir)."""
    from hf_models.trainer_utils import last_complete_checkpoint

    if (folder / "all_results.json").is_file():
        return "done"
    if not folder.is_dir() or not any(folder.iterdir()):
        return "fresh"
    return "resume" if last_complete_checkpoint(folder) is not None else "stale"


def run_step(name: str, cmd: list[str], folder: Path, logs: Path, previous: dict, prune: bool = False) -> dict:
    """Run a training command unless its folder is done; the entry for the results file. `prune`: once the run is
    done, delete its checkpoint-N folders (only for resuming; the final model stays), about 60 MB each."""
    state = folder_state(folder)
    if state == "done":
        print(f"{name}: done earlier ({folder})", flush=True)
        seconds = previous.get("wall_seconds")
    else:
        if state == "stale":  # cut before its first checkpoint: nothing to resume, start again
            cmd = [*cmd, "--overwrite_output_dir"]
        print(f"{name}: {'resuming' if state == 'resume' else 'running'} -> {folder}", flush=True)
        seconds = run(cmd, logs / f"{name.replace('/', '_')}.log")
    metrics = json.loads((folder / "all_results.json").read_text())
    if prune:
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    # a resumed run's wall time (and the Trainer's train_runtime) covers only the invocation that finished it
    resumed = previous.get("resumed", False) if state == "done" else state == "resume"
    return {"command": tidy_command(" ".join(cmd)), "folder": str(folder),
            "wall_seconds": None if seconds is None else round(seconds, 1), "resumed": resumed, "metrics": metrics}


def build_scratch(pretrained: Path, scratch: Path, seed: int) -> None:
    """The pretrained model's config and tokenizer with random weights: set_seed(seed) then
    AutoModelForCausalLM.from_config, as run_clm builds its new model before training it; saved whole or not at
    all (a staging folder renamed into place)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed

    from hf_models.auto import register_auto_classes

    register_auto_classes()
    config = AutoConfig.from_pretrained(pretrained)
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    set_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    staging = scratch.with_name(scratch.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "scratch.json").write_text(json.dumps(
        {"config_from": str(pretrained), "seed": seed, "parameters": model.num_parameters()}, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    os.replace(staging, scratch)


# ----------------------------------------------------------------------------------------------------------------------
# 3. Baselines and the table
# ----------------------------------------------------------------------------------------------------------------------
def majority_baseline(glue_dir: Path, task: str, max_train: int | None, max_eval: int | None) -> dict:
    """The most frequent label of the train examples the runs see (ties: the smaller label id), scored on the dev
    examples they are scored on."""
    from collections import Counter

    from hf_models.tasks.glue import get_task, read_glue_file

    spec = get_task(task)
    train = read_glue_file(glue_dir / TASKS[task] / "train.tsv", spec, require_labels=True)["label"]
    dev = read_glue_file(glue_dir / TASKS[task] / "dev.tsv", spec, require_labels=True)["label"]
    train = train[:max_train] if max_train else train
    dev = dev[:max_eval] if max_eval else dev
    counts = Counter(train)
    label = min(counts, key=lambda k: (-counts[k], k))
    return {"label": spec.label_names[label], "train_examples": len(train), "dev_examples": len(dev),
            "accuracy": sum(gold == label for gold in dev) / len(dev)}


def summarize(values: list[float]) -> dict:
    out = {"mean": statistics.fmean(values), "values": values}
    if len(values) > 1:
        out["std"] = statistics.stdev(values)
    return out


def cell(summary: dict | None) -> str:
    if not summary:
        return "n/a"
    text = f"{100 * summary['mean']:.1f}"
    if "std" in summary:
        text += f" ± {100 * summary['std']:.1f} ({len(summary['values'])} seeds)"
    return text


def markdown_table(report: dict) -> str:
    lines = ["| model (GPT-1 architecture) | SST-2 dev accuracy | RTE dev accuracy |", "|---|---|---|"]
    for row, _, coef in VARIANTS:
        label = row.replace("+ LM", f"+ aux LM (λ={coef:g})") if coef else f"{row} (λ=0)"
        lines.append(f"| {label} | {cell(report['accuracy'].get(row, {}).get('sst2'))} | "
                     f"{cell(report['accuracy'].get(row, {}).get('rte'))} |")
    base = report["majority_baselines"]
    lines.append(f"| majority class ({base['sst2']['label']} / {base['rte']['label']}) | "
                 f"{100 * base['sst2']['accuracy']:.1f} | {100 * base['rte']['accuracy']:.1f} |")
    corpus, pre = report["corpus"], report["pretraining"]
    ppl = pre["metrics"].get("eval_perplexity")
    text = (f"Pretraining: {', '.join(corpus['sources'])}; {corpus['total_words']:,} words, "
            f"{corpus.get('bpe_tokens', {}).get('train', 0):,} BPE tokens (train)")
    if isinstance(ppl, (int, float)):
        text += f"; validation perplexity {ppl:.1f}"
    lines += ["", text + "."]
    return "\n".join(lines + status_lines(report))


def status_lines(report: dict) -> list[str]:
    """The report's closing lines: shortened, runs not finished yet, settings other than the benchmark's."""
    lines = []
    if report["shortened"]:
        lines.append(f"Shortened run ({', '.join(report['shortened_by'])}): not the benchmark's numbers.")
    if report.get("missing_runs"):
        lines.append(f"Not finished yet (n/a above): {', '.join(report['missing_runs'])}.")
    if report.get("non_default_settings"):
        lines.append("Settings other than the benchmark's: "
                     + ", ".join(f"--{k} {v}" for k, v in report["non_default_settings"].items()) + ".")
    return lines


# ----------------------------------------------------------------------------------------------------------------------
# 4. The benchmark
# ----------------------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=DATA, help="../shared/data (nltk_corpora/, glue/)")
    parser.add_argument("--output_root", type=Path, default=ROOT / "runs" / "gpt1_claim",
                        help="corpus, model folders and logs (resumable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results JSON file")
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    # pretraining
    parser.add_argument("--n_layer", type=int, default=4)
    parser.add_argument("--n_embd", type=int, default=256)
    parser.add_argument("--n_head", type=int, default=4)
    parser.add_argument("--block_size", type=int, default=128, help="also the model's positions")
    parser.add_argument("--vocab_size", type=int, default=8000, help="the byte-level BPE's size")
    parser.add_argument("--dropout", type=float, default=0.1, help="GPT-1's embedding/residual/attention dropout")
    parser.add_argument("--pretrain_epochs", type=float, default=4)
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument("--pretrain_lr", type=float, default=1e-3)
    parser.add_argument("--pretrain_warmup_steps", type=int, default=200)
    parser.add_argument("--pretrain_max_steps", type=int, default=None, help="shortens the pretraining")
    # fine-tuning
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44],
                        help="fine-tuning seeds (each run uses one; the same for every model)")
    parser.add_argument("--seed", type=int, default=42, help="pretraining and from-scratch init seed")
    parser.add_argument("--finetune_lr", type=float, default=None,
                        help="default: --pretrain_lr / 4 (GPT-1: 6.25e-5 = 2.5e-4 / 4)")
    parser.add_argument("--finetune_epochs", type=float, default=3)
    parser.add_argument("--finetune_batch_size", type=int, default=32)
    parser.add_argument("--sst2_train_samples", type=int, default=10000, help="the first N of SST-2's 67,349")
    parser.add_argument("--sst2_max_seq_length", type=int, default=64)
    parser.add_argument("--rte_max_seq_length", type=int, default=128)
    parser.add_argument("--finetune_max_steps", type=int, default=None, help="shortens every fine-tuning")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="shortens the dev sets")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--variants", nargs="+", default=[variant_name(i, c) for _, i, c in VARIANTS],
                        choices=[variant_name(i, c) for _, i, c in VARIANTS],
                        help="the fine-tuning runs to do, in this order (two invocations with other variants or tasks "
                             "can share the machine's cores; each writes its own --output)")
    parser.add_argument("--report_only", action="store_true",
                        help="run nothing: the table of the finished runs in OUTPUT_ROOT (missing cells n/a)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the runs (1 is faster on a CPU that other jobs share)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: the commands run without --use_cpu (on the GPU the Trainer finds)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32)")
    args = parser.parse_args(argv)
    for task in args.tasks:
        length = getattr(args, f"{task}_max_seq_length")
        if length > args.block_size:
            parser.error(f"--{task}_max_seq_length {length} is longer than the model's --block_size "
                         f"{args.block_size} positions")
    return args


def variant_name(init: str, coef: float) -> str:
    """pretrained+lm, pretrained, scratch+lm, scratch: a fine-tuning run's folder name under its task."""
    return f"{init}{'+lm' if coef else ''}"


def check_fingerprint(root: Path, args, ignored: tuple[str, ...] = NOT_FINGERPRINTED) -> None:
    """The output folder's steps are reused only with the settings that made them: ROOT/settings.json records them
    (every argument but `ignored`); a run with other settings is refused (it would mix models of two
    configurations)."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ignored}
    path = root / "settings.json"
    if path.is_file():
        recorded = json.loads(path.read_text())
        changed = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
        if changed:
            sys.exit(f"{path}: this folder was made with other settings ("
                     + ", ".join(f"--{k} {recorded.get(k)} there, {settings.get(k)} now" for k in changed)
                     + "): use another --output_root, or delete this one")
    else:
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2) + "\n")


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    root = args.output_root.resolve()
    check_fingerprint(root, args)
    logs = root / "logs"
    glue_dir, nltk_dir = args.data_dir / "glue", args.data_dir / "nltk_corpora"
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    finetune_lr = args.finetune_lr if args.finetune_lr is not None else args.pretrain_lr / 4
    shortened_by = [flag for flag in ("pretrain_max_steps", "finetune_max_steps", "max_eval_samples")
                    if getattr(args, flag) is not None]
    if set(args.corpora) != set(CORPORA):
        shortened_by.append("corpora")
    if set(args.tasks) != set(TASKS):
        shortened_by.append("tasks")
    import torch

    report = {
        "claim": "GPT-1 (Radford et al. 2018): generative pretraining, then discriminative fine-tuning with an "
                 "auxiliary LM loss, beats the same Transformer trained on the task alone",
        "command": tidy_command("python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "finetune_lr": finetune_lr,
        "finetune_lr_rule": "--finetune_lr, else --pretrain_lr / 4 (GPT-1: pretraining peak 2.5e-4, fine-tuning "
                            "6.25e-5); the same for every run",
        "shortened": bool(shortened_by),
        "shortened_by": shortened_by,
        "non_default_settings": {k: v for k, v in vars(args).items()
                                 if k not in NOT_FINGERPRINTED and v != getattr(parse_args([]), k)},
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}" + (
            f", {torch.cuda.get_device_name(0)}" if args.device == "gpu" and torch.cuda.is_available() else ""),
        "runs": {},
    }

    def save():
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")

    # 1. corpus
    corpus_dir = root / "corpus"
    stats_file = corpus_dir / "stats.json"
    if stats_file.is_file() and list(json.loads(stats_file.read_text())["sources"]) == args.corpora:
        print(f"corpus: done earlier ({corpus_dir})", flush=True)
        stats = json.loads(stats_file.read_text())
    else:
        stats = build_corpus(nltk_dir, glue_dir, corpus_dir, args.corpora)
    report["corpus"] = stats

    # 2. pretraining
    device = ["--use_cpu"] if args.device == "cpu" else []
    pretrained = root / "pretrained"
    overrides = (f"n_embd={args.n_embd},n_layer={args.n_layer},n_head={args.n_head},n_positions={args.block_size},"
                 f"embd_pdrop={args.dropout},resid_pdrop={args.dropout},attn_pdrop={args.dropout}")
    cmd = [sys.executable, "training/run_clm.py", "--model_type", "gpt", "--architecture", "gpt1",
           "--config_overrides", overrides, "--train_tokenizer", "--tokenizer_type", "bpe",
           "--vocab_size", str(args.vocab_size), "--train_file", str(corpus_dir / "train.txt"),
           "--validation_file", str(corpus_dir / "valid.txt"), "--block_size", str(args.block_size),
           "--do_train", "--do_eval", "--per_device_train_batch_size", str(args.pretrain_batch_size),
           "--per_device_eval_batch_size", "32", "--learning_rate", str(args.pretrain_lr), "--weight_decay", "0.01",
           "--warmup_steps", str(args.pretrain_warmup_steps), "--lr_scheduler_type", "cosine",
           "--num_train_epochs", str(args.pretrain_epochs), "--eval_strategy", "epoch", "--save_strategy", "steps",
           "--save_steps", "500", "--save_total_limit", "2", "--logging_steps", "50", "--output_dir", str(pretrained),
           *device, "--report_to", "none", "--seed", str(args.seed), "--disable_tqdm", "True"]
    if args.pretrain_max_steps:
        cmd += ["--max_steps", str(args.pretrain_max_steps)]
    if args.max_eval_samples:
        cmd += ["--max_eval_samples", str(args.max_eval_samples)]
    if args.bf16:
        cmd.append("--bf16")
    report["pretraining"] = run_step("pretraining", cmd, pretrained, logs, previous.get("pretraining", {}))
    if "bpe_tokens" not in stats:
        stats["bpe_tokens"] = count_bpe_tokens(pretrained, corpus_dir)
        stats_file.write_text(json.dumps(stats, indent=2) + "\n")
    save()

    # 3. the from-scratch checkpoint
    scratch = root / "scratch"
    start = time.time()
    if (scratch / "config.json").is_file() and (scratch / "scratch.json").is_file():
        print(f"scratch: done earlier ({scratch})", flush=True)
    else:
        build_scratch(pretrained, scratch, args.seed)
    report["scratch"] = {"folder": str(scratch), "seed": args.seed,
                         "how": "the pretrained folder's config and tokenizer, set_seed(seed) + "
                                "AutoModelForCausalLM.from_config, save_pretrained",
                         **json.loads((scratch / "scratch.json").read_text()),
                         "wall_seconds": round(time.time() - start, 1)}
    save()

    # 4. fine-tuning
    models = {"pretrained": pretrained, "scratch": scratch}
    for task in args.tasks:
        for seed in args.seeds:
            order = {variant: i for i, variant in enumerate(args.variants)}
            for row, init, coef in sorted((v for v in VARIANTS if variant_name(v[1], v[2]) in order),
                                          key=lambda v: order[variant_name(v[1], v[2])]):
                name = f"{task}/{variant_name(init, coef)}/seed{seed}"
                folder = root / "finetune" / name
                if args.report_only:
                    if folder_state(folder) == "done":
                        metrics = json.loads((folder / "all_results.json").read_text())
                        report["runs"][name] = {**previous.get("runs", {}).get(name, {}), "folder": str(folder),
                                                "metrics": metrics, "task": task, "row": row, "seed": seed,
                                                "lm_loss_coef": coef, "eval_accuracy": metrics.get("eval_accuracy")}
                    continue
                cmd = [sys.executable, "training/run_glue.py", "--model_name_or_path", str(models[init]),
                       "--implementation", "hf_models", "--task_name", task, "--data_dir", str(glue_dir / TASKS[task]),
                       "--do_train", "--do_eval", "--input_transformation", "gpt", "--gpt_special_tokens", "add",
                       "--lm_loss_coef", str(coef), "--max_seq_length", str(getattr(args, f"{task}_max_seq_length")),
                       "--per_device_train_batch_size", str(args.finetune_batch_size),
                       "--per_device_eval_batch_size", "64", "--learning_rate", str(finetune_lr),
                       "--lr_scheduler_type", "linear", "--warmup_steps", "0.002", "--weight_decay", "0.01",
                       "--num_train_epochs", str(args.finetune_epochs), "--seed", str(seed),
                       "--save_strategy", "epoch", "--save_total_limit", "1", "--logging_steps", "50",
                       "--output_dir", str(folder), *device, "--report_to", "none", "--disable_tqdm", "true"]
                if task == "sst2" and args.sst2_train_samples:
                    cmd += ["--max_train_samples", str(args.sst2_train_samples)]
                if args.finetune_max_steps:
                    cmd += ["--max_steps", str(args.finetune_max_steps)]
                if args.max_eval_samples:
                    cmd += ["--max_eval_samples", str(args.max_eval_samples)]
                if args.bf16:
                    cmd.append("--bf16")
                entry = run_step(name, cmd, folder, logs, previous.get("runs", {}).get(name, {}), prune=True)
                entry.update(task=task, row=row, seed=seed, lm_loss_coef=coef,
                             eval_accuracy=entry["metrics"].get("eval_accuracy"))
                report["runs"][name] = entry
                print(f"{name}: dev accuracy {entry['eval_accuracy']}", flush=True)
                save()

    # 5. the table
    report["accuracy"] = {
        row: {task: summarize(values) for task in args.tasks
              if (values := [r["eval_accuracy"] for r in report["runs"].values()
                             if r["row"] == row and r["task"] == task])}
        for row, _, _ in VARIANTS}
    report["missing_runs"] = [f"{task}/{variant_name(init, coef)}/seed{seed}" for task in args.tasks
                              for seed in args.seeds for _, init, coef in VARIANTS
                              if f"{task}/{variant_name(init, coef)}/seed{seed}" not in report["runs"]]
    report["pretraining_gain_points"] = {
        f"{'with' if coef else 'without'} aux LM": {
            task: round(100 * (report["accuracy"][row][task]["mean"]
                               - report["accuracy"][row.replace("pretrained", "scratch")][task]["mean"]), 2)
            for task in args.tasks
            if task in report["accuracy"][row] and task in report["accuracy"][row.replace("pretrained", "scratch")]}
        for row, init, coef in VARIANTS if init == "pretrained"}
    report["majority_baselines"] = {
        task: majority_baseline(glue_dir, task, args.sst2_train_samples if task == "sst2" else None,
                                args.max_eval_samples)
        for task in TASKS}
    report["markdown"] = markdown_table(report)
    report["wall_seconds_total"] = round(sum(
        [report["pretraining"]["wall_seconds"] or 0, stats.get("seconds", 0), report["scratch"]["wall_seconds"]]
        + [r.get("wall_seconds") or 0 for r in report["runs"].values()]), 1)
    save()
    print(report["markdown"])
    return report


if __name__ == "__main__":
    main()
