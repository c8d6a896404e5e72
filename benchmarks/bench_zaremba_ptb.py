#!/usr/bin/env python
"""Zaremba et al. 2014 on PTB with hf_models' `RnnForCausalLM`: run (or resume) the small or medium configuration
through `training/train_rnn_lm.py`, then collect the run into `benchmarks/results/rnn_ptb_zaremba_{size}.json`.

    python benchmarks/bench_zaremba_ptb.py --size medium --output_dir runs/ptb-zaremba-medium
    python benchmarks/bench_zaremba_ptb.py --size medium --output_dir runs/ptb-zaremba-medium --resume  # continue
    python benchmarks/bench_zaremba_ptb.py --size medium --output_dir runs/ptb-zaremba-medium --collect_only

A run that stopped before its last epoch (the medium model needs about 6 hours on 2 CPU cores, minutes on a GPU) is
collected as what it is: `"complete": false`, the epochs done out of those planned, and the validation and test
perplexity of its best epoch so far; `--resume` continues it exactly where it stopped. Zaremba et al.'s lr 1 and
clip 5 apply to the loss summed over the bptt steps, which is lr = bptt and clip = 5 / bptt on the per-token mean
that train_rnn_lm.py uses (plain SGD: the same updates).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__:  # python -m benchmarks.bench_zaremba_ptb, or imported by the tests
    from .bench_utils import tidy_command
else:  # python benchmarks/bench_zaremba_ptb.py
    from bench_utils import tidy_command

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ptb"
RESULTS = REPO / "benchmarks" / "results"

CONFIGS = {
    "small": {
        "description": "Zaremba et al. 2014, small (non-regularized): 2 x 200 LSTM, no dropout, U(-0.1, 0.1) init, "
                       "13 epochs, bptt 20, batch 20, lr 1 (summed loss) = 20 (mean loss), x0.5 per epoch after "
                       "epoch 4, clip 5 = 0.25",
        "flags": ["--epochs", "13", "--bptt", "20", "--batch_size", "20", "--dropout", "0", "--init_range", "0.1",
                  "--lr", "20", "--clip", "0.25", "--lr_decay", "0.5", "--constant_lr_epochs", "4"],
        "paper": {"valid_ppl": 120.7, "test_ppl": 114.5},
    },
    "medium": {
        "description": "Zaremba et al. 2014, medium (regularized): 2 x 650 LSTM, dropout 0.5 on non-recurrent "
                       "connections, U(-0.05, 0.05) init, 39 epochs, bptt 35, batch 20, lr 1 (summed loss) = 35 "
                       "(mean loss), /1.2 per epoch after epoch 6, clip 5 = 5/35",
        "flags": ["--epochs", "39", "--bptt", "35", "--batch_size", "20", "--embedding_size", "650",
                  "--hidden_size", "650", "--dropout", "0.5", "--init_range", "0.05", "--lr", "35",
                  "--clip", "0.142857", "--lr_decay", "0.8333333", "--constant_lr_epochs", "6"],
        "paper": {"valid_ppl": 86.2, "test_ppl": 82.7},
    },
}


def train_command(size: str, data_dir: Path, output_dir: Path, resume: bool, extra: list[str]) -> list[str]:
    """The train_rnn_lm.py command line of a configuration."""
    command = [sys.executable, str(REPO / "training" / "train_rnn_lm.py"),
               "--train_file", str(data_dir / "ptb.train.txt"), "--validation_file", str(data_dir / "ptb.valid.txt"),
               "--test_file", str(data_dir / "ptb.test.txt"), *CONFIGS[size]["flags"], "--seed", "1111",
               "--disable_tqdm", "--output_dir", str(output_dir), *extra]
    return [*command, "--resume"] if resume else command


def collect(size: str, data_dir: Path, output_dir: Path, environment: str | None = None,
            results_dir: Path = RESULTS) -> dict:
    """The run in `output_dir`, finished or not, as the results JSON (written) with the paper's numbers beside it."""
    import torch
    from transformers import AutoTokenizer

    from hf_models.rnn import RnnForCausalLM
    from hf_models.rnn.language_modeling import (
        LAST_EPOCH_DIR,
        TRAINING_STATE,
        encode_file,
        evaluate_perplexity,
        vocab_from_tokenizer,
    )

    state_file = output_dir / LAST_EPOCH_DIR / TRAINING_STATE
    if not state_file.is_file():
        raise SystemExit(f"{output_dir}: no finished epoch yet ({LAST_EPOCH_DIR}/{TRAINING_STATE} missing)")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    planned = int(CONFIGS[size]["flags"][CONFIGS[size]["flags"].index("--epochs") + 1])
    history = state["history"]
    settings = state["settings"]
    eval_file = output_dir / "eval_results.json"
    complete = len(history) >= planned and eval_file.is_file()
    if complete:
        ours = json.loads(eval_file.read_text(encoding="utf-8"))
    else:  # the best epoch so far, on both splits
        model = RnnForCausalLM.from_pretrained(output_dir).eval()
        vocab = vocab_from_tokenizer(AutoTokenizer.from_pretrained(output_dir))
        with torch.no_grad():
            ours = {split: evaluate_perplexity(model, encode_file(data_dir / f"ptb.{name}.txt", vocab),
                                               settings["eval_batch_size"], settings["bptt"])
                    for split, name in (("valid_ppl", "valid"), ("test_ppl", "test"))}
    best = min(history, key=lambda row: row["valid_ppl"])
    paper = CONFIGS[size]["paper"]
    command = train_command(size, data_dir, output_dir, False, [])
    results = {
        "configuration": CONFIGS[size]["description"],
        "command": tidy_command(" ".join(command)),
        "environment": environment or f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "complete": complete,
        "epochs_done": len(history),
        "epochs_planned": planned,
        "best_epoch": best["epoch"],
        "paper": paper,
        "hf_models": {"valid_ppl": ours["valid_ppl"], "test_ppl": ours.get("test_ppl")},
        "ratio_test_ppl_ours_over_paper": ours["test_ppl"] / paper["test_ppl"] if ours.get("test_ppl") else None,
        "train": {"epochs": history, "train_seconds": sum(row["seconds"] for row in history),
                  "tokens_per_second": sum(row["tokens"] for row in history) / sum(row["seconds"] for row in history),
                  "settings": settings},
        "collected": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if not complete:
        results["note"] = (f"stopped after {len(history)} of {planned} epochs: a shortened run, not the full "
                           f"configuration; continue it with --resume")
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"rnn_ptb_zaremba_{size}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"{size}: {len(history)}/{planned} epochs, best epoch {best['epoch']}: valid {ours['valid_ppl']:.2f}, "
          f"test {ours['test_ppl']:.2f} (paper {paper['valid_ppl']} / {paper['test_ppl']}); written to {path}")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", choices=sorted(CONFIGS), required=True)
    parser.add_argument("--output_dir", required=True, help="The train_rnn_lm.py output folder of the run.")
    parser.add_argument("--data_dir", default=str(DATA), help="Folder with ptb.{train,valid,test}.txt.")
    parser.add_argument("--resume", action="store_true", help="Continue the run in --output_dir.")
    parser.add_argument("--collect_only", action="store_true", help="Only collect the run (finished or not).")
    parser.add_argument("--environment", default=None, help="Where it ran, for the JSON (default: torch version and "
                                                            "threads of the collecting process).")
    parser.add_argument("--device", default="auto", help="Passed to train_rnn_lm.py.")
    parser.add_argument("--results_dir", default=str(RESULTS), help="Where the results JSON goes.")
    args = parser.parse_args(argv)
    data_dir, output_dir = Path(args.data_dir), Path(args.output_dir)
    if not (data_dir / "ptb.train.txt").is_file():
        raise SystemExit(f"{data_dir}: ptb.train.txt not found (pass --data_dir)")
    if not args.collect_only:
        subprocess.run(train_command(args.size, data_dir, output_dir, args.resume, ["--device", args.device]),
                       check=True)
    return collect(args.size, data_dir, output_dir, args.environment, Path(args.results_dir))


if __name__ == "__main__":
    main()
