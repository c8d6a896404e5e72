"""Pretraining curve of a tiny BERT (MLM + NSP) on WikiText-2, in fp32 and with bf16 autocast, through the CLI.

Both runs use `training/pretrain.py` with the same seed, data, tokenizer settings and schedule; only
`--bf16` differs. The eval set (WikiText-2 test, masked once with a fixed seed) is scored at the start and every
`--eval_steps` steps. Writes benchmarks/results/bert_pretraining.json and benchmarks/results/bert_pretraining.png.

    python benchmarks/bench_bert_pretraining.py                 # needs ../shared/data (about 25 minutes on 2 cores)
    python benchmarks/bench_bert_pretraining.py --max_steps 200 --eval_steps 100 --precisions fp32   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"


def run_cli(output_dir: Path, args, bf16: bool) -> dict:
    """Run the pretraining CLI and return its log history and wall time."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    command = [
        sys.executable, str(REPO / "training" / "pretrain.py"),
        "--train_files", str(SHARED / "wikitext2" / "valid.txt"),
        "--validation_files", str(SHARED / "wikitext2" / "test.txt"),
        "--document_separator", "wikitext", "--vocab_size", "8000", "--max_seq_length", "128",
        "--dupe_factor", str(args.dupe_factor),
        "--hidden_size", "128", "--num_hidden_layers", "2", "--num_attention_heads", "2", "--intermediate_size", "512",
        "--do_train", "--do_eval", "--output_dir", str(output_dir), "--use_cpu", "--seed", "0",
        "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "64",
        "--max_eval_samples", "1000", "--learning_rate", str(args.learning_rate),
        "--warmup_steps", str(args.warmup_steps), "--max_steps", str(args.max_steps), "--logging_steps", "50",
        "--eval_strategy", "steps", "--eval_steps", str(args.eval_steps), "--eval_on_start",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
    ] + (["--bf16"] if bf16 else [])
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.perf_counter() - started
    state = json.loads((output_dir / "trainer_state.json").read_text())
    history = state["log_history"]
    evals = [
        {k: h[k] for k in ("step", "eval_mlm_loss", "eval_mlm_accuracy", "eval_nsp_loss", "eval_nsp_accuracy")}
        for h in history if "eval_mlm_loss" in h
    ]
    train = [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h]
    train_runtime = next((h["train_runtime"] for h in history if "train_runtime" in h), None)
    return {"command": " ".join(command[1:]), "wall_seconds": seconds, "train_runtime": train_runtime,
            "eval": evals, "train_loss": train, "command_line": command}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for precision, run in results["runs"].items():
        steps = [e["step"] for e in run["eval"]]
        axes[0].plot([t["step"] for t in run["train_loss"]], [t["loss"] for t in run["train_loss"]],
                     label=f"train loss (MLM+NSP), {precision}")
        axes[0].plot(steps, [e["eval_mlm_loss"] for e in run["eval"]], "o-", label=f"eval MLM loss, {precision}")
        axes[1].plot(steps, [e["eval_mlm_accuracy"] for e in run["eval"]], "o-", label=precision)
        axes[2].plot(steps, [e["eval_nsp_accuracy"] for e in run["eval"]], "o-", label=precision)
    axes[0].set_title("loss")
    axes[1].set_title("eval MLM accuracy (masked tokens)")
    axes[2].set_title("eval NSP accuracy")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("tiny BERT (L2/H128) pretraining on WikiText-2, eval on WikiText-2 test")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max_steps", type=int, default=3000)
    parser.add_argument("--eval_steps", type=int, default=250)
    parser.add_argument("--warmup_steps", type=int, default=300)
    parser.add_argument("--learning_rate", type=float, default=5e-4)
    parser.add_argument("--dupe_factor", type=int, default=10)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--work_dir", default="/tmp/hf_models_bench_pretraining")
    parser.add_argument("--output", default=str(HERE / "results" / "bert_pretraining.json"))
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: this benchmark needs the project's shared data folder")

    results = {"settings": vars(args), "runs": {}}
    for precision in args.precisions:
        results["runs"][precision] = run_cli(Path(args.work_dir) / precision, args, bf16=precision == "bf16")
        print(json.dumps({precision: results["runs"][precision]["eval"]}, indent=1), flush=True)
    for run in results["runs"].values():
        run.pop("command_line")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, output.with_suffix(".png"))
    return results


if __name__ == "__main__":
    main()
