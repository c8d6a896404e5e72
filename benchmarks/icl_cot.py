"""In-context learning curves and chain-of-thought prompting (issue 17), with `eval/eval_prompting.py`.

Two parts, each resumable (run the same command again after a cut: finished (model, task, shots) results are kept by
eval_prompting.py's output folders under --work_dir):

curves: accuracy against the number of demonstrations (GPT-3, Brown et al. 2020, figure 1.2) for SST-2, RTE, LAMBADA
    and a symbolic task (coin flip, ranked "yes"/"no"), on
    - smollm2: the real SmolLM2-135M-Instruct (transformers' LlamaForCausalLM, plain prompts, no chat template,
      bfloat16 by default: about 3x faster than float32 on this CPU; `--smollm2_dtype float32`),
    - gpt: the small GPT pretrained here as GPT-1 was, on books and other NLTK corpora (4 x 256, 128 positions,
      byte-level BPE 8k; `benchmarks/gpt1_pretraining_claim.py` makes it),
    - lstm: a 2 x 256 LSTM LM trained here on the same corpus (word level, 20k words),
    - ngram: a 5-gram interpolated Kneser-Ney LM counted on the same corpus (word level, 20k words).
    The word-level models read the corpus and the prompts through the same normaliser (lowercase, punctuation split
    off), so their vocabulary covers the prompts as well as it can. Demonstrations that do not fit a model's context
    are dropped (the farthest first) and counted: the GPT's 128 positions hold few of them.
cot: standard few-shot vs chain-of-thought prompting on arithmetic (MultiArith, GSM8K) and symbolic (coin flip, last
    letter concatenation) tasks, for SmolLM2: zero-shot (Kojima et al.'s "Q: ...\\nA: The answer (arabic numerals)
    is" standard prompt), zero-shot CoT ("Let's think step by step", two stages), few-shot (Wei et al.'s eight
    exemplars, answers only) and few-shot CoT (the same exemplars with their reasoning), next to the published
    text-davinci-002 figures of Kojima et al. 2022 (table 1/2).

    python benchmarks/icl_cot.py curves                          # the curves (per-task limits and longest prompts:
                                                                 # --limit, --rte_limit, ..., --max_shots TASK=K)
    python benchmarks/icl_cot.py cot --limit 100
    python benchmarks/icl_cot.py report                          # the JSON, tables and plot from what has finished

Writes benchmarks/results/icl_curves.json, icl_curves.md, icl_curves.png, cot.json and cot.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_utils import tidy_command

DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PY = sys.executable
CURVE_MODELS = ("smollm2", "gpt", "lstm", "ngram")
CURVE_TASKS = ("sst2", "rte", "lambada", "coin_flip")
# shots per task: up to 32 for every task (SmolLM2's 8,192 positions hold 32 demonstrations of each; a model with a
# shorter context drops demonstrations and says so); --max_shots caps them for the CPU budget
CURVE_SHOTS = {task: [0, 1, 2, 4, 8, 16, 32] for task in CURVE_TASKS}
CHANCE = {"sst2": 0.5, "rte": 0.5, "lambada": 0.0, "coin_flip": 0.5}
COT_TASKS = ("multiarith", "gsm8k", "coin_flip", "last_letters")
COT_MODES = {  # name: (eval_prompting mode, shots, extra flags)
    "zero-shot": ("generate", 0, []),
    "zero-shot CoT": ("cot_zeroshot", 0, []),
    "few-shot": ("fewshot_standard", 8, []),
    "few-shot CoT": ("cot_fewshot", 8, []),
}
# Kojima et al. 2022, text-davinci-002 (175B), tables 1 and 2: zero-shot / zero-shot CoT / few-shot / few-shot CoT
PUBLISHED = {
    "multiarith": {"zero-shot": 17.7, "zero-shot CoT": 78.7, "few-shot": 33.7, "few-shot CoT": 93.0},
    "gsm8k": {"zero-shot": 10.4, "zero-shot CoT": 40.7, "few-shot": 15.6, "few-shot CoT": 48.7},
    "coin_flip": {"zero-shot": 12.8, "zero-shot CoT": 91.4, "few-shot": None, "few-shot CoT": None},
    "last_letters": {"zero-shot": 0.2, "zero-shot CoT": 57.6, "few-shot": None, "few-shot CoT": None},
}


def log_run(cmd: list[str], log: Path, threads: int) -> float:
    """Run a command with `threads` torch threads, its output appended to `log`; raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    print("$", tidy_command(shlex.join(cmd)), flush=True)
    start = time.time()
    with log.open("a") as f:
        f.write(f"\n$ {shlex.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}); the end of {log}:\n"
                         + log.read_text()[-3000:])
    return time.time() - start


# ----------------------------------------------------------------------------------------------------------------------
# The models
# ----------------------------------------------------------------------------------------------------------------------
def word_normaliser():
    """The word-level models' normaliser and pre-tokenizer (`tokenizers`): lowercase, words and punctuation apart."""
    from tokenizers import normalizers, pre_tokenizers

    return normalizers.Lowercase(), pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                             pre_tokenizers.Punctuation()])


def _normalised_lines(source: Path) -> list[list[str]]:
    normalizer, pre_tokenizer = word_normaliser()
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        words = [w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))]
        if words:
            lines.append(words)
    return lines


def normalise_corpus(train: Path, valid: Path, folder: Path, vocab_size: int) -> dict:
    """The corpus as the word-level models read it (folder/train.txt, folder/valid.txt): one line per line, normalised
    words separated by spaces; words outside the training text's `vocab_size` most frequent become <unk> (the LSTM's
    vocabulary; the n-gram caps its own the same way)."""
    lines = {"train": _normalised_lines(train), "valid": _normalised_lines(valid)}
    counts = Counter(w for words in lines["train"] for w in words)
    keep = {w for w, _ in counts.most_common(vocab_size)}
    folder.mkdir(parents=True, exist_ok=True)
    stats = {"vocabulary": len(keep), "types": len(counts)}
    for split, split_lines in lines.items():
        total = sum(len(words) for words in split_lines)
        unknown = sum(w not in keep for words in split_lines for w in words)
        staging = folder / f"{split}.staging"
        staging.write_text("".join(" ".join(w if w in keep else "<unk>" for w in words) + "\n"
                                   for words in split_lines), encoding="utf-8")
        os.replace(staging, folder / f"{split}.txt")
        stats[split] = {"lines": len(split_lines), "words": total, "unknown_rate": unknown / max(total, 1)}
    return stats


def attach_word_tokenizer(folder: Path, ngram: bool) -> None:
    """Give a word-level model folder a tokenizer.json with the corpus's normaliser (eval_prompting then uses it): the
    LSTM's own WordLevel vocabulary, or the n-gram's vocabulary (same ids) with its <s> put before each text."""
    from tokenizers import Tokenizer, models, processors
    from transformers import PreTrainedTokenizerFast

    normalizer, pre_tokenizer = word_normaliser()
    if ngram:
        from hf_models.ngram import NGramLanguageModel

        vocab = NGramLanguageModel.from_pretrained(folder).vocab
        core = Tokenizer(models.WordLevel(vocab=dict(vocab.word_to_id), unk_token=vocab.unk_token))
        bos_id = vocab.word_to_id[vocab.bos_token]
        core.post_processor = processors.TemplateProcessing(single=f"{vocab.bos_token} $A",
                                                            special_tokens=[(vocab.bos_token, bos_id)])
        special = {"unk_token": vocab.unk_token, "bos_token": vocab.bos_token, "eos_token": vocab.eos_token}
    else:
        core = Tokenizer.from_file(str(folder / "tokenizer.json"))
        own = PreTrainedTokenizerFast.from_pretrained(folder)
        special = {k: getattr(own, k) for k in ("unk_token", "bos_token", "eos_token", "pad_token")
                   if getattr(own, k, None) is not None}
    core.normalizer, core.pre_tokenizer = normalizer, pre_tokenizer
    PreTrainedTokenizerFast(tokenizer_object=core, **special).save_pretrained(folder)


def prepare_models(args) -> dict[str, dict]:
    """Each curve model's folder (made when missing) and how it was made."""
    work = Path(args.work_dir)
    log = work / "logs" / "models.log"
    models: dict[str, dict] = {}
    if "smollm2" in args.models:
        folder = work / "models" / "smollm2"
        cmd = [PY, "benchmarks/arc.py", "convert_smollm2", "--output_dir", str(folder)]
        if not (folder / "config.json").is_file():
            log_run(cmd, log, args.threads)
        models["smollm2"] = {"path": folder, "model": f"SmolLM2-135M-Instruct (real weights, {args.smollm2_dtype})",
                             "commands": [cmd]}
    corpus = Path(args.corpus)
    if any(m in args.models for m in ("gpt", "lstm", "ngram")) and not corpus.is_file():
        raise SystemExit(f"{corpus}: no such file; `python benchmarks/gpt1_pretraining_claim.py` writes the corpus and "
                         "pretrains the GPT (or give --corpus and --gpt_model)")
    if "gpt" in args.models:
        folder = Path(args.gpt_model)
        if not (folder / "config.json").is_file():
            raise SystemExit(f"{folder}: no GPT here; `python benchmarks/gpt1_pretraining_claim.py` pretrains it")
        models["gpt"] = {"path": folder, "model": "GPT 4 x 256, 128 positions, pretrained here on NLTK corpora",
                         "commands": [[PY, "benchmarks/gpt1_pretraining_claim.py"]]}
    if "lstm" in args.models or "ngram" in args.models:
        words_dir = work / "models" / "corpus_words"
        words, valid_words = words_dir / "train.txt", words_dir / "valid.txt"
        stats_file = words_dir / "stats.json"
        if not stats_file.is_file():
            stats = normalise_corpus(corpus, corpus.with_name("valid.txt"), words_dir, args.word_vocab_size)
            stats_file.write_text(json.dumps(stats, indent=1) + "\n")
        stats = json.loads(stats_file.read_text())
    if "lstm" in args.models:
        folder = work / "models" / "lstm"
        cmd = [PY, "training/train_rnn_lm.py", "--train_file", str(words), "--validation_file", str(valid_words),
               "--unk_token", "<unk>", "--cell_type",
               "lstm", "--num_layers", "2", "--embedding_size", "256", "--hidden_size", "256", "--dropout", "0.2",
               "--epochs", "1", "--max_train_tokens", str(args.lstm_train_tokens), "--device", "cpu",
               "--output_dir", str(folder), "--disable_tqdm"]
        if not (folder / "model.safetensors").is_file() or not (folder / "word_tokenizer").is_file():
            log_run(cmd + (["--resume"] if (folder / "config.json").is_file() else []), log, args.threads)
            attach_word_tokenizer(folder, ngram=False)
            (folder / "word_tokenizer").write_text("normaliser attached\n")
        models["lstm"] = {"path": folder, "model": f"LSTM 2 x 256, {args.lstm_train_tokens:,} words of the corpus",
                          "commands": [cmd], "corpus": stats}
    if "ngram" in args.models:
        folder = work / "models" / "ngram"
        cmd = [PY, "training/train_ngram.py", "--train_file", str(words), "--order", "5", "--smoothing",
               "kneser_ney", "--max_vocab_size", str(args.word_vocab_size + 1), "--output_dir", str(folder),
               "--overwrite_output_dir", "--disable_tqdm"]
        if not (folder / "word_tokenizer").is_file():
            log_run(cmd, log, args.threads)
            attach_word_tokenizer(folder, ngram=True)
            (folder / "word_tokenizer").write_text("normaliser attached\n")
        models["ngram"] = {"path": folder, "model": "5-gram interpolated Kneser-Ney on the corpus",
                           "commands": [cmd], "corpus": stats}
    return models


# ----------------------------------------------------------------------------------------------------------------------
# The runs
# ----------------------------------------------------------------------------------------------------------------------
def coin_flip_choices(work: Path) -> Path:
    """Coin flip as a two-option task (rank " yes" / " no"), so that every model answers it: a jsonl of the file."""
    from hf_models.prompting import data

    target = work / "data" / "coin_flip.jsonl"
    if not target.is_file():
        examples = data.read_symbolic(DATA / "reasoning" / "zero_shot_cot" / "coin_flip_coin_flip.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps({"question": e.fields["question"], "answer": e.fields["answer"]}) + "\n"
                                  for e in examples))
    return target


def curve_command(args, name: str, folder: Path, task: str, out: Path) -> list[str]:
    shots = [k for k in CURVE_SHOTS[task] if k <= args.max_shots.get(task, 32)]
    cmd = [PY, "eval/eval_prompting.py", "--model_name_or_path", str(folder), "--num_fewshot", *map(str, shots),
           *(["--bf16"] if name == "smollm2" and args.smollm2_dtype == "bfloat16" else []),
           "--seed", str(args.seed), "--batch_size", str(args.batch_size), "--output_dir", str(out),
           "--disable_tqdm", "--data_dir", str(DATA)]
    limit = args.limit if task != "rte" else min(args.limit, args.rte_limit)
    if task == "lambada":
        limit = min(limit, args.lambada_limit)
    if task == "coin_flip":
        limit = min(limit, args.coin_flip_limit)
    if task == "coin_flip":
        cmd += ["--data_file", str(coin_flip_choices(Path(args.work_dir))), "--template", "Q: {question}\\nA:",
                "--answer_field", "answer", "--options", "yes", "no", "--task_name", "coin_flip"]
    else:
        cmd += ["--task", task]
    return cmd + ["--limit", str(limit)]


def run_curves(args) -> None:
    models = prepare_models(args)
    work = Path(args.work_dir)
    for name in args.models:
        for task in args.tasks:
            out = work / "curves" / name / task
            try:
                log_run(curve_command(args, name, models[name]["path"], task, out),
                        work / "logs" / f"{name}_{task}.log", args.threads)
            except SystemExit as error:  # a query longer than the model's context is refused, never truncated
                reason = next((line.split("error: ", 1)[1] for line in str(error).splitlines()
                               if "more than the model's context" in line), None)
                if reason is None:
                    raise
                print(f"{name} / {task}: not evaluated: {reason}", flush=True)
                out.mkdir(parents=True, exist_ok=True)
                (out / "not_evaluated.json").write_text(json.dumps({"reason": reason}) + "\n")
    report(args, models)


def run_cot(args) -> None:
    models = prepare_models(argparse.Namespace(**{**vars(args), "models": ["smollm2"]}))
    work = Path(args.work_dir)
    for task in args.tasks:
        for mode in args.modes:
            eval_mode, shots, extra = COT_MODES[mode]
            if shots and task not in ARITHMETIC:  # worked exemplars are shipped for arithmetic only (Wei et al.)
                continue
            out = work / "cot" / task / mode.replace(" ", "_")
            cmd = [PY, "eval/eval_prompting.py", "--model_name_or_path", str(models["smollm2"]["path"]),
                   "--task", task, "--mode", eval_mode, "--num_fewshot", str(shots), "--limit", str(args.limit),
                   "--max_new_tokens", str(args.max_new_tokens), "--batch_size", str(args.batch_size),
                   "--seed", str(args.seed), "--output_dir", str(out), "--disable_tqdm", "--data_dir", str(DATA),
                   *extra, *(["--bf16"] if args.smollm2_dtype == "bfloat16" else [])]
            if eval_mode == "generate":  # Kojima et al.'s zero-shot baseline: the answer trigger right after "A:"
                cmd += ["--template", "Q: {question}\\nA: " + ANSWER_PREFIX[task], "--max_new_tokens", "16"]
                if task in ARITHMETIC:  # Kojima et al.'s cleansing of a zero-shot answer: its first number
                    cmd += ["--extractor", "first_number"]
            log_run(cmd, work / "logs" / f"cot_{task}_{mode.replace(' ', '_')}.log", args.threads)
    report(args, models)


ARITHMETIC = ("multiarith", "gsm8k")
# Kojima et al. 2022's standard zero-shot prompt ends the "A:" with the answer trigger (their appendix A.5)
ANSWER_PREFIX = {"multiarith": "The answer (arabic numerals) is", "gsm8k": "The answer (arabic numerals) is",
                 "coin_flip": "The answer (Yes or No) is", "last_letters": "The answer is"}


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------
def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def report(args, models: dict | None = None) -> None:
    work = Path(args.work_dir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    curves: dict = {"description": "accuracy against the number of demonstrations (eval/eval_prompting.py)",
                    "command": tidy_command(shlex.join([PY, "benchmarks/icl_cot.py", "curves"])),
                    "models": {}, "results": {}}
    for name in CURVE_MODELS:
        for task in CURVE_TASKS:
            skipped = _load(work / "curves" / name / task / "not_evaluated.json")
            if skipped:
                curves.setdefault("not_evaluated", {}).setdefault(name, {})[task] = skipped["reason"]
            state = _load(work / "curves" / name / task / "results.json")
            for shots, entry in sorted(state.get("results", {}).get(task, {}).items(), key=lambda kv: int(kv[0])):
                curves["results"].setdefault(name, {}).setdefault(task, {})[shots] = {
                    "accuracy": entry["accuracy"], "n": entry["n"], "examples_total": entry["examples_total"],
                    "dropped_demonstrations": entry["dropped_demonstrations"],
                    "prompts_with_dropped_demonstrations": entry["prompts_with_dropped_demonstrations"],
                    "unknown_targets": entry["metrics"].get("unknown_targets", 0), "seconds": entry["seconds"],
                    "max_length": entry["settings"]["max_length"]}
        if models and name in models:
            curves["models"][name] = {"model": models[name]["model"], "path": tidy_command(str(models[name]["path"])),
                                      "commands": [tidy_command(shlex.join(map(str, c)))
                                                   for c in models[name]["commands"]],
                                      **({"corpus": models[name]["corpus"]} if "corpus" in models[name] else {})}
    old = _load(RESULTS / "icl_curves.json")
    for name, info in old.get("models", {}).items():
        curves["models"].setdefault(name, info)
    if curves["results"]:
        (RESULTS / "icl_curves.json").write_text(json.dumps(curves, indent=1) + "\n")
        (RESULTS / "icl_curves.md").write_text(curves_table(curves))
        plot_curves(curves, RESULTS / "icl_curves.png")
        print(curves_table(curves))
    cot: dict = {"description": "standard vs chain-of-thought prompting on SmolLM2-135M-Instruct, next to Kojima et "
                                "al. 2022's text-davinci-002 figures", "published": PUBLISHED, "results": {}}
    for task in COT_TASKS:
        for mode in COT_MODES:
            state = _load(work / "cot" / task / mode.replace(" ", "_") / "results.json")
            entry = next(iter(state.get("results", {}).get(task, {}).values()), None)
            if entry is not None:
                cot["results"].setdefault(task, {})[mode] = {
                    "accuracy": entry["accuracy"], "n": entry["n"], "examples_total": entry["examples_total"],
                    "seconds": entry["seconds"], "mode": entry["mode"], "num_fewshot": entry["num_fewshot"],
                    "max_new_tokens": entry["settings"]["max_new_tokens"]}
    if cot["results"]:
        (RESULTS / "cot.json").write_text(json.dumps(cot, indent=1) + "\n")
        (RESULTS / "cot.md").write_text(cot_table(cot))
        print(cot_table(cot))


def _pct(entry) -> str:
    if entry is None:
        return "—"
    a = entry["accuracy"]
    return f"{100 * a['value']:.1f} [{100 * a['ci_low']:.0f}, {100 * a['ci_high']:.0f}]"


def curves_table(curves: dict) -> str:
    lines = []
    for task in CURVE_TASKS:
        shots = sorted({int(k) for m in curves["results"].values() for k in m.get(task, {})})
        if not shots:
            continue
        n = next(e["n"] for m in curves["results"].values() for e in m.get(task, {}).values())
        lines += [(f"**{task}** (first {n} examples; accuracy % [95% Wilson interval]; * = demonstrations dropped to "
                  "fit the context)"), "", "| model | " + " | ".join(f"{k}-shot" for k in shots) + " |",
                  "|---|" + "---|" * len(shots)]
        for name, per_task in curves["results"].items():
            if task not in per_task:
                continue
            cells = []
            for k in shots:
                entry = per_task[task].get(str(k))
                cell = _pct(entry)
                if entry is not None and entry["prompts_with_dropped_demonstrations"]:
                    cell += "*"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for name, reasons in curves.get("not_evaluated", {}).items():
            if task in reasons:
                lines.append(f"| {name} | " + " | ".join(["—"] * len(shots)) + " |")
                lines.append(f"\n{name} on {task}: not evaluated ({reasons[task]})")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in CURVE_TASKS if any(t in m for m in curves["results"].values())]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, per_task in curves["results"].items():
            points = sorted((int(k), e) for k, e in per_task.get(task, {}).items())
            if not points:
                continue
            xs = [k + 0.5 if k == 0 else k for k, _ in points]  # 0 shots drawn at 0.5 on the log axis
            ys = [100 * e["accuracy"]["value"] for _, e in points]
            low = [y - 100 * e["accuracy"]["ci_low"] for y, (_, e) in zip(ys, points)]
            high = [100 * e["accuracy"]["ci_high"] - y for y, (_, e) in zip(ys, points)]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=2, label=name)
        ax.axhline(100 * CHANCE[task], color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks([0.5, 1, 2, 4, 8, 16, 32], ["0", "1", "2", "4", "8", "16", "32"])
        ax.set_title(task)
        ax.set_xlabel("demonstrations in the prompt")
        ax.set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cot_table(cot: dict) -> str:
    lines = ["| task | n | " + " | ".join(COT_MODES) + " | text-davinci-002 (Kojima et al.): " + " / ".join(COT_MODES)
             + " |", "|---|---|" + "---|" * (len(COT_MODES) + 1)]
    for task, per_mode in cot["results"].items():
        n = next(iter(per_mode.values()))["n"]
        published = " / ".join("—" if v is None else f"{v}" for v in PUBLISHED[task].values())
        lines.append(f"| {task} | {n} | " + " | ".join(_pct(per_mode.get(m)) for m in COT_MODES)
                     + f" | {published} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["curves", "cot", "report"])
    parser.add_argument("--models", nargs="+", default=list(CURVE_MODELS), choices=CURVE_MODELS)
    parser.add_argument("--tasks", nargs="+", default=None,
                        help=f"curves: {' '.join(CURVE_TASKS)}; cot: {' '.join(COT_TASKS)} (default: all)")
    parser.add_argument("--modes", nargs="+", default=list(COT_MODES), choices=list(COT_MODES))
    parser.add_argument("--limit", type=int, default=200, help="the first N examples of each task")
    parser.add_argument("--rte_limit", type=int, default=50, help="curves: RTE's first N (its prompts are long)")
    parser.add_argument("--lambada_limit", type=int, default=100, help="curves: LAMBADA's first N")
    parser.add_argument("--coin_flip_limit", type=int, default=100, help="curves: coin flip's first N")
    parser.add_argument("--max_shots", nargs="+", default=[f"{task}=32" for task in CURVE_TASKS],
                        help="TASK=K: the longest prompts of each task's curve, to fit a CPU budget (default: 32 for "
                             "every task; SmolLM2's context holds 32 demonstrations of each)")
    parser.add_argument("--smollm2_dtype", default="bfloat16", choices=["bfloat16", "float32"],
                        help="SmolLM2's weights and activations (bfloat16 is about 3x faster on this CPU)")
    parser.add_argument("--max_new_tokens", type=int, default=192, help="cot: tokens of reasoning")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work_dir", default=str(ROOT / "runs" / "icl_cot"))
    parser.add_argument("--corpus", default=str(ROOT / "runs" / "gpt1_claim" / "corpus" / "train.txt"),
                        help="the text the word-level models are trained on (the GPT's pretraining corpus)")
    parser.add_argument("--gpt_model", default=str(ROOT / "runs" / "gpt1_claim" / "pretrained"))
    parser.add_argument("--word_vocab_size", type=int, default=20000)
    parser.add_argument("--lstm_train_tokens", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    try:
        args.max_shots = {task: int(k) for task, k in (item.split("=") for item in args.max_shots)}
    except ValueError:
        parser.error(f"--max_shots takes TASK=K items, got {' '.join(args.max_shots)}")
    known = CURVE_TASKS if args.part == "curves" else COT_TASKS
    args.tasks = args.tasks or list(known)
    bad = [t for t in args.tasks if t not in known] if args.part != "report" else []
    if bad:
        parser.error(f"--tasks: {' '.join(bad)} not among {' '.join(known)}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.part == "curves":
        run_curves(args)
    elif args.part == "cot":
        run_cot(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
