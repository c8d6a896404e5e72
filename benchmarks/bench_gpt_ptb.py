"""A small GPT trained from scratch on Penn Treebank (word level), next to hf_models' n-gram and LSTM results on the
same data.

The same files and vocabulary as the n-gram (modified Kneser-Ney 5-gram, 141.19 test perplexity) and LSTM (Zaremba
et al. small, 112.83; medium, 86.61 after 12 of 39 epochs) benchmarks: Mikolov's ptb.{train,valid,test}.txt, 10,000
words with <unk>, each line followed by an end-of-sentence token that is scored too. Two commands of the package do
the work:

1. `training/run_clm.py`: a word-level tokenizer over the training text, a new GPT-2-style model, lines joined with
   <eos> and cut into blocks, the Trainer (AdamW, warmup then cosine decay, bf16 autocast), evaluation on the
   validation text each epoch; the output folder resumes from its last checkpoint when the run is cut;
2. `eval/eval_perplexity.py --task perplexity`: the test text (every line + <eos>) scored with a sliding window
   (max_length tokens, stride tokens between windows: every token is predicted from at least max_length - stride
   earlier ones, the closest a fixed-context model gets to the LSTM's unbounded state).

    python benchmarks/bench_gpt_ptb.py                               # 4 layers x 256, 8 epochs
    python benchmarks/bench_gpt_ptb.py --epochs 1 --max_train_samples 500   # a smoke run

Writes benchmarks/results/gpt_ptb.json (and prints a Markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ptb"
RESULTS = ROOT / "benchmarks" / "results"


def run(command: list[str], env: dict) -> float:
    """Run one of the package's commands; its wall seconds."""
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def references() -> dict:
    """The n-gram and LSTM test perplexities committed by their benchmarks."""
    out = {}
    ngram = json.loads((RESULTS / "ngram_ptb.json").read_text())
    out["modified Kneser-Ney 5-gram (hf_models, benchmarks/bench_ngram.py)"] = ngram["kenlm"]["hf_models"][
        "test_perplexity"]
    small = json.loads((RESULTS / "rnn_ptb_zaremba_small.json").read_text())
    out["LSTM, Zaremba et al. small (hf_models, 13 epochs)"] = small["hf_models"]["test_ppl"]
    medium = json.loads((RESULTS / "rnn_ptb_zaremba_medium.json").read_text())
    out[f"LSTM, Zaremba et al. medium (hf_models, {medium['epochs_done']} of 39 epochs)"] = medium["hf_models"][
        "test_ppl"]
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_root", default="runs/gpt_ptb", help="where the model folder goes (resumable)")
    parser.add_argument("--architecture", default="gpt2", choices=["gpt1", "gpt2", "llama"])
    parser.add_argument("--n_layer", type=int, default=4)
    parser.add_argument("--n_embd", type=int, default=256)
    parser.add_argument("--n_head", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--weight_decay", type=float, default=0.1)
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--stride", type=int, default=32, help="test windows advance by this many tokens")
    parser.add_argument("--max_train_samples", type=int, default=None, help="a smoke run: the first N blocks")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no_bf16", action="store_true", help="train in fp32")
    parser.add_argument("--output", default=str(RESULTS / "gpt_ptb.json"))
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    folder = Path(args.output_root) / f"{args.architecture}-L{args.n_layer}-d{args.n_embd}"
    overrides = (f"n_embd={args.n_embd},n_layer={args.n_layer},n_head={args.n_head},n_positions={args.block_size},"
                 f"embd_pdrop={args.dropout},resid_pdrop={args.dropout},attn_pdrop={args.dropout}")
    train = [sys.executable, "training/run_clm.py", "--model_type", "gpt", "--architecture", args.architecture,
             "--config_overrides", overrides, "--train_tokenizer", "--tokenizer_type", "word",
             "--train_file", str(DATA / "ptb.train.txt"), "--validation_file", str(DATA / "ptb.valid.txt"),
             "--block_size", str(args.block_size), "--do_train", "--do_eval",
             "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", "32",
             "--learning_rate", str(args.learning_rate), "--weight_decay", str(args.weight_decay),
             "--adam_beta2", "0.95", "--warmup_steps", str(args.warmup_steps), "--lr_scheduler_type", "cosine",
             "--num_train_epochs", str(args.epochs), "--eval_strategy", "epoch", "--save_strategy", "epoch",
             "--save_total_limit", "2", "--logging_steps", "50", "--output_dir", str(folder), "--use_cpu",
             "--report_to", "none", "--seed", "42", "--disable_tqdm", "True"]
    if not args.no_bf16:
        train.append("--bf16")
    if args.max_train_samples:
        train += ["--max_train_samples", str(args.max_train_samples)]
    train_seconds = run(train, env)

    scores = {}
    eval_seconds = 0.0
    for split in ("valid", "test"):
        out_file = folder / f"{split}_perplexity.json"
        eval_seconds += run([sys.executable, "eval/eval_perplexity.py", "--task", "perplexity",
                             "--model_name_or_path", str(folder), "--text_file", str(DATA / f"ptb.{split}.txt"),
                             "--text_format", "lines", "--max_length", str(args.block_size), "--stride",
                             str(args.stride), "--batch_size", "16", "--device", "cpu", "--output_file",
                             str(out_file)], env)
        scores[split] = json.loads(out_file.read_text())
    train_results = json.loads((folder / "all_results.json").read_text())
    report = {
        "command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
        "settings": vars(args),
        "shortened": bool(args.max_train_samples),
        "model_folder": str(folder),
        "train": train_results,
        "train_seconds_this_invocation": train_seconds,
        "eval_seconds": eval_seconds,
        "valid": scores["valid"],
        "test": scores["test"],
        "references_test_perplexity": references(),
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(report))
    return report


def _perplexity(score: dict) -> float:
    for key in ("perplexity", "token_perplexity", "word_perplexity"):
        if key in score:
            return float(score[key])
    raise KeyError(f"no perplexity in {sorted(score)}")


def markdown_table(report: dict) -> str:
    lines = ["| model | test perplexity |", "|---|---|"]
    for name, value in report["references_test_perplexity"].items():
        lines.append(f"| {name} | {value:.2f} |")
    s = report["settings"]
    lines.append(f"| GPT ({s['architecture']}, {s['n_layer']} layers x {s['n_embd']}, {s['epochs']:g} epochs, window "
                 f"{s['block_size']} / stride {s['stride']}) | **{_perplexity(report['test']):.2f}** |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
