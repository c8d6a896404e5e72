#!/usr/bin/env python
"""What does pretraining buy? T5's pretrain-then-fine-tune recipe (Raffel et al. 2020, section 3.1 and Table 2:
"No pre-training" against the baseline), tested at small scale with the package's own commands: a small T5
pretrained here by span corruption, against the same model from random weights, both fine-tuned text-to-text on
SST-2, MRPC, STS-B and Multi30k English -> German.

1. **Tokenizer**: T5's kind (a SentencePiece Unigram model over Metaspace pieces, `<pad>`/`</s>`/`<unk>` first and
   `--extra_ids` sentinels last), trained by the library's span-corruption objective (the one `training/pretrain.py`
   trains when given no tokenizer) on the pretraining text plus, as T5 mixed German, French and Romanian text into its
   vocabulary's data (10 parts English to 1 part each), German lines from the start of Multi30k's train split
   (`--tokenizer_german_ratio` German characters per English one) and one line of the GLUE label words: WikiText-2
   has no `ä`, `ö`, `ß` and no `_` (`not_equivalent`), which would otherwise be `<unk>`. Both models use it.
2. **Pretraining**: `training/pretrain.py --objective span_corruption` (15% noise, spans of mean length 3, inputs of
   `--max_seq_length` tokens from packed blocks, spans drawn anew every batch) on WikiText-2, validated on its test
   split (the eval target loss, perplexity and accuracy under teacher forcing: at step 0, which is the from-scratch
   model's, every `--pretrain_eval_steps` steps and at the end). The
   shared data has no WikiText-2 train split (MANIFEST.md, "Not obtained"), so the model pretrains on the validation
   split (217,646 words) for `--pretrain_epochs` epochs.
3. **From-scratch model**: the pretrained folder's config and tokenizer, random weights (set_seed(seed) and
   `AutoModelForSeq2SeqLM.from_config`, as pretrain.py builds its new model: the very weights the pretraining started
   from, tests/test_t5_pretraining_claim.py), saved as pretrain.py saves.
4. **Fine-tuning**, text-to-text, both checkpoints alike (the same seeds, schedule and learning rate): GLUE through
   `training/run_glue.py` (inputs `sst2 sentence: ...`, `mrpc sentence1: ... sentence2: ...`, targets the label
   words; STS-B's score as text on a grid of 0.2), scored by generating the label (greedy) on the whole dev sets:
   SST-2 accuracy (trained on its first `--sst2_train_samples` sentences), MRPC accuracy and F1, STS-B Pearson and
   Spearman (whole train splits), with the number of generations that are no label (counted as wrong). Multi30k
   through `training/run_translation.py` (`translate English to German: ...`) on the training pairs (all, or the
   first `--multi30k_train_samples`), sacreBLEU of greedy translations on the validation (1,014) and
   test_2016_flickr (1,000) sentences, as benchmarks/bench_multi30k.py scores its models. AdamW with linear decay
   after a 6% warmup, no weight decay (T5 fine-tunes with Adafactor at a constant rate; AdamW is the Trainer's
   default).

Baselines in the table: the majority class of the train examples the runs see (SST-2, MRPC accuracy and F1), a
constant score for STS-B (no correlation at all), and for Multi30k the English source copied as the "translation".

Sized to run in about 100 minutes on one CPU thread (`--threads 1`), measured on a 2-core machine shared with other
jobs (a busier machine: up to 1.5 times longer): a pretraining step (batch 32, inputs of 128 tokens, 9.4M parameters)
takes about 1.75 s and a validation pass over WikiText-2 test 40 s, so the pretraining is about 40 minutes (1,278
steps, 4 validations); a fine-tuning step of batch 32 takes about 0.37 s on SST-2, 1.0 s on MRPC, 0.7 s on STS-B
and 0.6 s on Multi30k, about 29 minutes per model for the four tasks with their scoring. Shortened against the
paper, by design: a 9.4M-parameter T5 (d_model 256, 4+4 layers, 4 heads, d_ff 1024, a vocabulary of 8,000 with 100
sentinels; t5-small has 60M) pretrained on 0.33M tokens for 18 epochs (1,278 steps of 32 x 128 input tokens; T5:
2^35 tokens of C4 in 524,288 steps); fine-tuned for 3 epochs per GLUE task on the first 10,000 of SST-2's 67,349
train sentences and on the whole MRPC and STS-B train sets, for one epoch on Multi30k's 29,000 pairs; one seed;
greedy decoding. The dev and test sets are whole.

Every step is skipped when its output is complete (the tokenizer folder's stats.json, the model folders'
all_results.json, the scratch folder's scratch.json) and continues from its last checkpoint when it was cut: run the
command again with the same settings (OUTPUT_ROOT/settings.json records them and other settings are refused; more
--seeds, --tasks or --variants are welcome). A finished training run's checkpoint folders are deleted (its final
model stays). Writes benchmarks/results/t5_pretraining_claim.json (`--output`: the scores, commands, wall times,
whether shortened) and prints a Markdown table.

    python benchmarks/t5_pretraining_claim.py --threads 1      # the benchmark (about 100 minutes on one CPU core)
    python benchmarks/t5_pretraining_claim.py --device gpu --bf16   # on a GPU
    python benchmarks/t5_pretraining_claim.py --output_root /tmp/t5c --output /tmp/t5c/claim.json \\
        --pretrain_max_steps 20 --pretrain_max_eval_samples 64 --finetune_max_steps 10 --max_eval_samples 64 \\
        --sst2_train_samples 500 --multi30k_train_samples 500 --threads 1   # a smoke run of every step, minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

if __package__:  # python -m benchmarks.t5_pretraining_claim, or imported
    from .bench_utils import RESULTS_DIR, ROOT, tidy_command
    from .gpt1_pretraining_claim import (
        NOT_FINGERPRINTED,
        check_fingerprint,
        folder_state,
        run_step,
        status_lines,
        summarize,
    )
else:  # python benchmarks/t5_pretraining_claim.py
    from bench_utils import RESULTS_DIR, ROOT, tidy_command
    from gpt1_pretraining_claim import (
        NOT_FINGERPRINTED,
        check_fingerprint,
        folder_state,
        run_step,
        status_lines,
        summarize,
    )

DATA = ROOT.parent / "shared" / "data"
RESULTS = RESULTS_DIR / "t5_pretraining_claim.json"

GLUE_TASKS = {"sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B"}
TASKS = (*GLUE_TASKS, "multi30k")
VARIANTS = ("pretrained", "scratch")
# the scores of each task in the results (metric key in all_results.json -> column label); the first is the headline
SCORES = {
    "sst2": {"eval_accuracy": "accuracy"},
    "mrpc": {"eval_accuracy": "accuracy", "eval_f1": "F1"},
    "stsb": {"eval_pearson": "Pearson", "eval_spearmanr": "Spearman"},
    "multi30k": {"eval_bleu": "BLEU (val)", "predict_bleu": "BLEU (test)"},
}
PERCENT = {"eval_accuracy", "eval_f1", "eval_pearson", "eval_spearmanr"}  # shown x100 in the table; BLEU as is
LABEL_WORDS = "negative positive not_equivalent equivalent"  # SST-2's and MRPC's label words (STS-B: digits and .)
MULTI30K = {"train": ("train.en.gz", "train.de.gz"), "validation": ("val.en.gz", "val.de.gz"),
            "test": ("test_2016_flickr.en.gz", "test_2016_flickr.de.gz")}
# settings that do not change what an output folder holds (more seeds, tasks or variants extend a finished run)


# ----------------------------------------------------------------------------------------------------------------------
# 1. The tokenizer and the scratch checkpoint
# ----------------------------------------------------------------------------------------------------------------------
def build_tokenizer(wikitext_train: Path, german_train: Path | None, out_dir: Path, vocab_size: int, extra_ids: int,
                    german_ratio: float, max_length: int, label_words: str = LABEL_WORDS) -> dict:
    """Train T5's kind of tokenizer (the span-corruption objective's, as pretrain.py trains it) on the pretraining
    text + German lines from the start of `german_train` (about `german_ratio` German characters per English one,
    T5's vocabulary mix; none without the file) + one line of the label words the text-to-text tasks generate
    (`label_words`), so that no label comes back with `<unk>` in it; save it (whole or not at all) with stats.json
    last."""
    from hf_models.tasks.pretraining import PretrainingModelArguments, get_objective
    from hf_models.tasks.translation import read_lines

    start = time.time()
    english = wikitext_train.read_text(encoding="utf-8")
    german, characters = [], 0
    for line in read_lines(german_train) if german_train is not None else ():
        if characters >= german_ratio * len(english):
            break
        german.append(line)
        characters += len(line) + 1
    staging = out_dir.with_name(out_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    extra = staging / "extra_text.txt"  # kept: what the vocabulary was trained on besides the pretraining text
    extra.write_text("".join(line + "\n" for line in [*german, label_words]), encoding="utf-8")
    model_args = PretrainingModelArguments(objective="span_corruption", vocab_size=vocab_size, extra_ids=extra_ids)
    tokenizer = get_objective("span_corruption").train_tokenizer([str(wikitext_train), str(extra)], model_args,
                                                                 max_length)
    tokenizer.save_pretrained(staging)
    stats = {"how": "the span_corruption objective's train_tokenizer (SentencePiece Unigram + sentinels)",
             "trained_on": [str(wikitext_train), f"{len(german)} lines of {german_train}", "the label words line"],
             "english_characters": len(english), "german_lines": len(german), "german_characters": characters,
             "label_words": label_words, "vocab_size": len(tokenizer), "extra_ids": extra_ids,
             "example": tokenizer.tokenize("Ein Mädchen spielt auf der Straße. not_equivalent")}
    stats["seconds"] = round(time.time() - start, 1)
    (staging / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    return stats


def build_scratch(pretrained: Path, scratch: Path, seed: int) -> None:
    """The pretrained model's config and tokenizer with random weights: set_seed(seed) then
    AutoModelForSeq2SeqLM.from_config, as pretrain.py builds its new model before training it, with the pretrained
    folder's generation config (its config.json says use_cache false, as the Trainer leaves it: a generation config
    made from it would generate without the KV cache, several times slower); saved whole or not at all (a staging
    folder renamed into place), scratch.json last."""
    from transformers import (
        AutoConfig,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        GenerationConfig,
        set_seed,
    )

    from hf_models.auto import register_auto_classes

    register_auto_classes()
    config = AutoConfig.from_pretrained(pretrained)
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    set_seed(seed)
    model = AutoModelForSeq2SeqLM.from_config(config)
    model.generation_config = GenerationConfig.from_pretrained(pretrained)
    staging = scratch.with_name(scratch.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "scratch.json").write_text(json.dumps(
        {"config_from": str(pretrained), "seed": seed, "parameters": model.num_parameters()}, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    os.replace(staging, scratch)


def count_tokens(tokenizer_dir: Path, paths: dict[str, Path]) -> dict[str, int]:
    """Tokens of each text file under the tokenizer (its non-blank lines, without specials)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    counts = {}
    for name, path in paths.items():
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        counts[name] = sum(len(ids) for i in range(0, len(lines), 2000)
                           for ids in tokenizer(lines[i: i + 2000], add_special_tokens=False,
                                                verbose=False)["input_ids"])
    return counts


def start_and_end_of_pretraining(folder: Path) -> dict:
    """The eval target metrics before training (step 0, `--eval_on_start`: the scratch model's) and at the end."""
    state_file = folder / "trainer_state.json"
    history = json.loads(state_file.read_text())["log_history"] if state_file.is_file() else []
    evals = [entry for entry in history if "eval_target_loss" in entry]
    keys = ("eval_target_loss", "eval_target_perplexity", "eval_target_accuracy")
    at_start = next((entry for entry in evals if entry.get("step") == 0), None)
    return {"at_start": {k: at_start[k] for k in keys} if at_start else None,
            "steps": json.loads(state_file.read_text()).get("global_step") if state_file.is_file() else None,
            "curve": [{"step": entry.get("step"), **{k: entry[k] for k in keys}} for entry in evals]}


# ----------------------------------------------------------------------------------------------------------------------
# 2. Baselines and the table
# ----------------------------------------------------------------------------------------------------------------------
def glue_majority_baseline(glue_dir: Path, task: str, max_train: int | None, max_eval: int | None) -> dict:
    """The most frequent label of the train examples the runs see (ties: the smaller label id), scored on the dev
    examples they are scored on by the GLUE metric; STS-B: a constant score has no correlation (None)."""
    from collections import Counter

    from hf_models.tasks.glue import compute_glue_metrics, get_task, read_glue_file

    spec = get_task(task)
    train = read_glue_file(glue_dir / GLUE_TASKS[task] / "train.tsv", spec, require_labels=True)["label"]
    dev = read_glue_file(glue_dir / GLUE_TASKS[task] / "dev.tsv", spec, require_labels=True)["label"]
    train = train[:max_train] if max_train else train
    dev = dev[:max_eval] if max_eval else dev
    if spec.is_regression:
        return {"label": "a constant score", "train_examples": len(train), "dev_examples": len(dev),
                "eval_pearson": None, "eval_spearmanr": None}
    counts = Counter(train)
    label = min(counts, key=lambda k: (-counts[k], k))
    metrics = compute_glue_metrics(spec, task, [label] * len(dev), list(dev))
    return {"label": spec.label_names[label], "train_examples": len(train), "dev_examples": len(dev),
            **{f"eval_{k}": float(v) for k, v in metrics.items() if k != "combined_score"}}


def copy_source_baseline(multi30k_dir: Path, max_eval: int | None) -> dict:
    """sacreBLEU of the English source taken as the German translation (names, numbers and punctuation match)."""
    from hf_models.tasks.translation import corpus_bleu, read_lines

    scores = {}
    for split, key in (("validation", "eval_bleu"), ("test", "predict_bleu")):
        source, target = (read_lines(multi30k_dir / name) for name in MULTI30K[split])
        if max_eval:
            source, target = source[:max_eval], target[:max_eval]
        scores[key] = corpus_bleu(source, target)["score"]
    return {"label": "the English source copied", **scores}


def number(summary: dict | None, key: str) -> str:
    """A table cell: the mean (x100 for the GLUE metrics, counts as they are), ± the std over seeds."""
    if not summary:
        return "n/a"
    scale = 100 if key in PERCENT else 1
    text = f"{summary['mean']:g}" if key == "eval_invalid_predictions" else f"{scale * summary['mean']:.1f}"
    if "std" in summary:
        text += f" ± {scale * summary['std']:.1f}"
    return text


def markdown_table(report: dict) -> str:
    settings = report["settings"]
    head = ["model (T5, d_model {d_model}, {num_layers}+{num_layers} layers)".format(**settings)]
    columns = []
    for task in TASKS:
        for key, label in SCORES[task].items():
            columns.append((task, key))
            head.append(f"{dict(GLUE_TASKS, multi30k='Multi30k en-de')[task]} {label}")
    head.append("invalid labels (SST-2 / MRPC / STS-B)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant in VARIANTS:
        scores = report["scores"].get(variant, {})
        cells = [number(scores.get(task, {}).get(key), key) for task, key in columns]
        invalid = " / ".join(number(scores.get(task, {}).get("eval_invalid_predictions"), "eval_invalid_predictions")
                             for task in GLUE_TASKS)
        seeds = {len(s["values"]) for t in scores.values() for s in t.values()}
        label = variant + (f" ({max(seeds)} seeds)" if seeds and max(seeds) > 1 else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {invalid} |")
    base = report["baselines"]
    cells = []
    for task, key in columns:
        value = base.get(task, {}).get(key)
        cells.append("—" if value is None else f"{100 * value:.1f}" if key in PERCENT else f"{value:.1f}")
    lines.append("| baseline: majority class (SST-2, MRPC), constant (STS-B), source copied (Multi30k) | "
                 + " | ".join(cells) + " | |")
    pre = report.get("pretraining") or {}
    metrics, start = pre.get("metrics", {}), (pre.get("eval_target") or {}).get("at_start")
    tok = report.get("tokenizer", {})
    steps = (pre.get("eval_target") or {}).get("steps")
    text = (f"Pretraining: span corruption on WikiText-2 (valid split, {tok.get('tokens', {}).get('train', 0):,} "
            f"tokens; {steps or 0:,} steps, {metrics.get('epoch', 0):.1f} epochs)")
    if isinstance(metrics.get("eval_target_loss"), (int, float)):
        text += "; WikiText-2 test target loss "
        if start:
            text += f"{start['eval_target_loss']:.2f} -> "
        text += (f"{metrics['eval_target_loss']:.2f} (perplexity {metrics['eval_target_perplexity']:.0f}, token "
                 f"accuracy {100 * metrics['eval_target_accuracy']:.1f}%)")
    lines += ["", (text if pre else "Pretraining: not finished yet") + "."]
    gains = report.get("pretraining_gain", {})
    if gains:
        lines.append("Pretraining gain (pretrained - scratch): " + ", ".join(
            f"{dict(GLUE_TASKS, multi30k='Multi30k')[task]} {SCORES[task][key]} {value:+.1f}"
            for task, scores in gains.items() for key, value in scores.items()) + ".")
    return "\n".join(lines + status_lines(report))


# ----------------------------------------------------------------------------------------------------------------------
# 3. The benchmark
# ----------------------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, default=DATA, help="../shared/data (wikitext2/, glue/, multi30k/)")
    parser.add_argument("--output_root", type=Path, default=ROOT / "runs" / "t5_claim",
                        help="tokenizer, model folders and logs (resumable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results JSON file")
    # tokenizer and model
    parser.add_argument("--vocab_size", type=int, default=8000, help="the Unigram vocabulary, sentinels included")
    parser.add_argument("--extra_ids", type=int, default=100, help="sentinels <extra_id_0> .. at the vocabulary's end")
    parser.add_argument("--tokenizer_german_ratio", type=float, default=0.1,
                        help="German characters (Multi30k train) per English one in the tokenizer's text (T5: 1:10)")
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--num_layers", type=int, default=4, help="encoder layers, and as many decoder layers")
    parser.add_argument("--num_heads", type=int, default=4)
    parser.add_argument("--d_ff", type=int, default=1024)
    # pretraining
    parser.add_argument("--max_seq_length", type=int, default=128, help="the corrupted input's length")
    parser.add_argument("--pretrain_epochs", type=float, default=18)
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument("--pretrain_lr", type=float, default=1e-3)
    parser.add_argument("--pretrain_warmup_steps", type=int, default=100)
    parser.add_argument("--pretrain_eval_steps", type=int, default=700,
                        help="validation every N steps, at step 0 and at the end")
    parser.add_argument("--pretrain_max_steps", type=int, default=None, help="shortens the pretraining")
    parser.add_argument("--pretrain_max_eval_samples", type=int, default=None, help="shortens its validation set")
    # fine-tuning
    parser.add_argument("--seeds", type=int, nargs="+", default=[42],
                        help="fine-tuning seeds (each run uses one; the same for both models)")
    parser.add_argument("--seed", type=int, default=42, help="pretraining and from-scratch init seed")
    parser.add_argument("--finetune_lr", type=float, default=5e-4)
    parser.add_argument("--finetune_batch_size", type=int, default=32)
    parser.add_argument("--finetune_epochs", type=float, default=3, help="epochs of each GLUE task")
    parser.add_argument("--sst2_train_samples", type=int, default=10000, help="the first N of SST-2's 67,349")
    parser.add_argument("--glue_max_seq_length", type=int, default=128)
    parser.add_argument("--multi30k_train_samples", type=int, default=None,
                        help="the first N of the 29,000 pairs (default: all)")
    parser.add_argument("--multi30k_epochs", type=float, default=1)
    parser.add_argument("--multi30k_max_length", type=int, default=96,
                        help="source and target tokens kept, and the longest generated translation")
    parser.add_argument("--finetune_max_steps", type=int, default=None, help="shortens every fine-tuning")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="shortens the dev and test sets")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="the fine-tuning runs to do, in this order")
    parser.add_argument("--report_only", action="store_true",
                        help="run nothing: the table of the finished steps in OUTPUT_ROOT (missing cells n/a)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the runs (1 is faster on a CPU that other jobs share)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: the commands run without --use_cpu (on the GPU the Trainer finds)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32)")
    args = parser.parse_args(argv)
    if args.d_model % args.num_heads:
        parser.error(f"--d_model {args.d_model} must be a multiple of --num_heads {args.num_heads}")
    return args


def finetune_command(task: str, model: Path, folder: Path, seed: int, args) -> list[str]:
    """run_glue (SST-2, MRPC, STS-B) or run_translation (Multi30k) on a T5 checkpoint, text-to-text."""
    data = args.data_dir
    common = ["--per_device_train_batch_size", str(args.finetune_batch_size), "--per_device_eval_batch_size", "64",
              "--learning_rate", str(args.finetune_lr), "--lr_scheduler_type", "linear", "--warmup_steps", "0.06",
              "--weight_decay", "0.0", "--seed", str(seed), "--save_strategy", "steps", "--save_steps", "200",
              "--save_total_limit", "1", "--logging_steps", "50", "--output_dir", str(folder),
              *(["--use_cpu"] if args.device == "cpu" else []), "--report_to", "none", "--disable_tqdm", "true",
              "--generation_num_beams", "1"]
    if task == "multi30k":
        files = {split: [data / "multi30k" / name for name in names] for split, names in MULTI30K.items()}
        cmd = [sys.executable, "training/run_translation.py", "--model_name_or_path", str(model),
               "--implementation", "hf_models", "--source_lang", "en", "--target_lang", "de",
               "--train_source_file", str(files["train"][0]), "--train_target_file", str(files["train"][1]),
               "--validation_source_file", str(files["validation"][0]),
               "--validation_target_file", str(files["validation"][1]),
               "--test_source_file", str(files["test"][0]), "--test_target_file", str(files["test"][1]),
               "--do_train", "--do_eval", "--do_predict", "--predict_with_generate",
               "--max_source_length", str(args.multi30k_max_length),
               "--max_target_length", str(args.multi30k_max_length),
               "--generation_max_length", str(args.multi30k_max_length),
               "--num_train_epochs", str(args.multi30k_epochs), *common]
        if args.multi30k_train_samples:
            cmd += ["--max_train_samples", str(args.multi30k_train_samples)]
        if args.max_eval_samples:
            cmd += ["--max_predict_samples", str(args.max_eval_samples)]
    else:
        cmd = [sys.executable, "training/run_glue.py", "--model_name_or_path", str(model),
               "--implementation", "hf_models", "--task_name", task, "--data_dir",
               str(data / "glue" / GLUE_TASKS[task]), "--do_train", "--do_eval",
               "--max_seq_length", str(args.glue_max_seq_length), "--num_train_epochs", str(args.finetune_epochs),
               *common]
        if task == "sst2" and args.sst2_train_samples:
            cmd += ["--max_train_samples", str(args.sst2_train_samples)]
    if args.finetune_max_steps:
        cmd += ["--max_steps", str(args.finetune_max_steps)]
    if args.max_eval_samples:
        cmd += ["--max_eval_samples", str(args.max_eval_samples)]
    if args.bf16:
        cmd.append("--bf16")
    return cmd


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    root = args.output_root.resolve()
    check_fingerprint(root, args)
    logs = root / "logs"
    wikitext = args.data_dir / "wikitext2"
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    defaults = parse_args([])
    shortened_by = [flag for flag in ("pretrain_max_steps", "pretrain_max_eval_samples", "finetune_max_steps",
                                      "max_eval_samples") if getattr(args, flag) is not None]
    shortened_by += [flag for flag in ("sst2_train_samples", "multi30k_train_samples")  # fewer train examples
                     if getattr(args, flag) and (getattr(defaults, flag) is None
                                                 or getattr(args, flag) < getattr(defaults, flag))]
    if set(args.tasks) != set(TASKS):
        shortened_by.append("tasks")
    if set(args.variants) != set(VARIANTS):
        shortened_by.append("variants")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    report = {
        "claim": "T5 (Raffel et al. 2020): pretraining by span corruption on unlabeled text, then text-to-text "
                 "fine-tuning, beats the same model fine-tuned from random weights",
        "command": tidy_command("python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "shortened": bool(shortened_by),
        "shortened_by": shortened_by,
        "non_default_settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                 if k not in NOT_FINGERPRINTED and v != getattr(defaults, k)},
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}" + (
            f", {torch.cuda.get_device_name(0)}" if args.device == "gpu" and torch.cuda.is_available() else ""),
        "runs": {},
    }

    def save():
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    # 1. tokenizer
    tokenizer_dir = root / "tokenizer"
    if (tokenizer_dir / "stats.json").is_file():
        print(f"tokenizer: done earlier ({tokenizer_dir})", flush=True)
        report["tokenizer"] = json.loads((tokenizer_dir / "stats.json").read_text())
    elif not args.report_only:
        print(f"tokenizer: training -> {tokenizer_dir}", flush=True)
        report["tokenizer"] = build_tokenizer(wikitext / "valid.txt", args.data_dir / "multi30k" / MULTI30K["train"][1],
                                              tokenizer_dir, args.vocab_size, args.extra_ids,
                                              args.tokenizer_german_ratio, max_length=512)
    if "tokenizer" in report and "tokens" not in report["tokenizer"]:
        report["tokenizer"]["tokens"] = count_tokens(tokenizer_dir, {"train": wikitext / "valid.txt",
                                                                     "validation": wikitext / "test.txt"})
        (tokenizer_dir / "stats.json").write_text(json.dumps(report["tokenizer"], indent=2, ensure_ascii=False)
                                                  + "\n")

    # 2. pretraining
    pretrained = root / "pretrained"
    cmd = [sys.executable, "training/pretrain.py", "--objective", "span_corruption",
           "--tokenizer_name_or_path", str(tokenizer_dir), "--train_files", str(wikitext / "valid.txt"),
           "--validation_files", str(wikitext / "test.txt"), "--document_separator", "wikitext",
           "--max_seq_length", str(args.max_seq_length), "--hidden_size", str(args.d_model),
           "--num_hidden_layers", str(args.num_layers), "--num_attention_heads", str(args.num_heads),
           "--intermediate_size", str(args.d_ff), "--do_train", "--do_eval",
           "--per_device_train_batch_size", str(args.pretrain_batch_size), "--per_device_eval_batch_size", "64",
           "--learning_rate", str(args.pretrain_lr), "--warmup_steps", str(args.pretrain_warmup_steps),
           "--num_train_epochs", str(args.pretrain_epochs), "--eval_strategy", "steps",
           "--eval_steps", str(args.pretrain_eval_steps), "--eval_on_start", "--save_strategy", "steps",
           "--save_steps", "200", "--save_total_limit", "2", "--logging_steps", "50", "--output_dir", str(pretrained),
           *(["--use_cpu"] if args.device == "cpu" else []), "--report_to", "none", "--seed", str(args.seed),
           "--disable_tqdm", "True"]
    if args.pretrain_max_steps:
        cmd += ["--max_steps", str(args.pretrain_max_steps)]
    if args.pretrain_max_eval_samples:
        cmd += ["--max_eval_samples", str(args.pretrain_max_eval_samples)]
    if args.bf16:
        cmd.append("--bf16")
    if not args.report_only or folder_state(pretrained) == "done":
        report["pretraining"] = run_step("pretraining", cmd, pretrained, logs, previous.get("pretraining", {}),
                                         prune=True)
        report["pretraining"]["eval_target"] = start_and_end_of_pretraining(pretrained)
    save()

    # 3. the from-scratch checkpoint
    scratch = root / "scratch"
    start = time.time()
    if (scratch / "scratch.json").is_file():
        print(f"scratch: done earlier ({scratch})", flush=True)
        seconds = previous.get("scratch", {}).get("wall_seconds")
    elif not args.report_only:
        build_scratch(pretrained, scratch, args.seed)
        seconds = round(time.time() - start, 1)
    if (scratch / "scratch.json").is_file():
        report["scratch"] = {"folder": str(scratch), "seed": args.seed,
                             "how": "the pretrained folder's config and tokenizer, set_seed(seed) + "
                                    "AutoModelForSeq2SeqLM.from_config, save_pretrained",
                             **json.loads((scratch / "scratch.json").read_text()), "wall_seconds": seconds}
    save()

    # 4. fine-tuning
    models = {"pretrained": pretrained, "scratch": scratch}
    for task in args.tasks:
        for seed in args.seeds:
            for variant in args.variants:
                name = f"{task}/{variant}/seed{seed}"
                folder = root / "finetune" / name
                cmd = finetune_command(task, models[variant], folder, seed, args)
                if args.report_only and folder_state(folder) != "done":
                    continue
                entry = run_step(name, cmd, folder, logs, previous.get("runs", {}).get(name, {}), prune=True)
                entry.update(task=task, variant=variant, seed=seed)
                report["runs"][name] = entry
                print(f"{name}: " + ", ".join(f"{key} {entry['metrics'].get(key)}" for key in SCORES[task]), flush=True)
                save()

    # 5. the table
    score_keys = {task: [*SCORES[task], *(["eval_invalid_predictions"] if task in GLUE_TASKS else [])]
                  for task in TASKS}
    report["scores"] = {
        variant: {task: {key: summarize(values) for key in score_keys[task]
                         if (values := [r["metrics"][key] for r in report["runs"].values()
                                        if r["variant"] == variant and r["task"] == task
                                        and isinstance(r["metrics"].get(key), (int, float))])}
                  for task in args.tasks}
        for variant in VARIANTS}
    report["pretraining_gain"] = {
        task: {key: round((100 if key in PERCENT else 1) * (report["scores"]["pretrained"][task][key]["mean"]
                                                            - report["scores"]["scratch"][task][key]["mean"]), 2)
               for key in SCORES[task]
               if key in report["scores"]["pretrained"].get(task, {})
               and key in report["scores"]["scratch"].get(task, {})}
        for task in args.tasks}
    report["pretraining_gain"] = {task: gain for task, gain in report["pretraining_gain"].items() if gain}
    report["pretraining_gain_units"] = "points (x100) for accuracy, F1, Pearson, Spearman; BLEU points for Multi30k"
    report["missing_runs"] = [f"{task}/{variant}/seed{seed}" for task in args.tasks for seed in args.seeds
                              for variant in VARIANTS if f"{task}/{variant}/seed{seed}" not in report["runs"]]
    report["baselines"] = {
        task: glue_majority_baseline(args.data_dir / "glue", task, args.sst2_train_samples if task == "sst2" else None,
                                     args.max_eval_samples)
        for task in GLUE_TASKS}
    report["baselines"]["multi30k"] = copy_source_baseline(args.data_dir / "multi30k", args.max_eval_samples)
    report["markdown"] = markdown_table(report)
    report["wall_seconds_total"] = round(sum(
        [report.get("tokenizer", {}).get("seconds") or 0, (report.get("pretraining") or {}).get("wall_seconds") or 0,
         (report.get("scratch") or {}).get("wall_seconds") or 0]
        + [r.get("wall_seconds") or 0 for r in report["runs"].values()]), 1)
    save()
    print(report["markdown"])
    return report


if __name__ == "__main__":
    main()
