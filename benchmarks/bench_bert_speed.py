"""Training-step and inference speed of hf_models' BERT against transformers' BertForMaskedLM, in the same run.

Both models get the same config and the same weights (transformers' model is built, saved, and loaded into
hf_models' class). A training step is forward + backward + AdamW step on an MLM batch with 15% of the tokens
selected, as the pretraining collator makes them. Rounds alternate between the two implementations so that drift in
machine load hits both alike; the median over rounds is reported.

    python benchmarks/bench_bert_speed.py                      # fp32 and bf16 autocast, the three sizes
    python benchmarks/bench_bert_speed.py --sizes L2/H128 --rounds 3 --steps 5

Writes benchmarks/results/bert_speed.json (and prints a Markdown table).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

import hf_models

SIZES = {
    # name: (layers, hidden, heads, intermediate); heads = hidden / 64 as in BERT
    "L2/H128": (2, 128, 2, 512),
    "L4/H256": (4, 256, 4, 1024),
    "L6/H384": (6, 384, 6, 1536),
}


def make_models(size: str, vocab_size: int, seq_len: int, seed: int = 0):
    """The same randomly initialised weights in transformers' class and in hf_models' class."""
    layers, hidden, heads, inter = SIZES[size]
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        max_position_embeddings=max(512, seq_len),
    )
    ref = transformers.BertForMaskedLM(config)
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        ours = hf_models.BertForMaskedLM.from_pretrained(tmp)
        ours_dense = hf_models.BertForMaskedLM.from_pretrained(tmp, sparse_prediction=False)
    return {"transformers": ref, "hf_models": ours, "hf_models (dense logits)": ours_dense}


def make_batch(batch: int, seq_len: int, vocab_size: int, seed: int = 0):
    """Random token ids with 15% of the positions selected for MLM (label = original id, -100 elsewhere)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, vocab_size, (batch, seq_len), generator=g)
    selected = torch.rand(batch, seq_len, generator=g) < 0.15
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    input_ids = input_ids.masked_fill(selected, 103)  # [MASK]
    attention_mask = torch.ones_like(input_ids)
    token_type_ids = torch.zeros_like(input_ids)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}, labels


def time_train(model, inputs, labels, steps: int, warmup: int, bf16: bool) -> float:
    """Seconds per training step (forward, backward, AdamW)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        with autocast:
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


@torch.no_grad()
def time_infer(model, inputs, steps: int, warmup: int, bf16: bool) -> float:
    """Seconds per inference forward (eval mode, full logits)."""
    model.eval()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    for _ in range(warmup):
        with autocast:
            model(**inputs)
    start = time.perf_counter()
    for _ in range(steps):
        with autocast:
            model(**inputs)
    return (time.perf_counter() - start) / steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=30522)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "bert_speed.json"))
    args = parser.parse_args(argv)

    tokens = args.batch_size * args.seq_len
    results = []
    for size in args.sizes:
        models = make_models(size, args.vocab_size, args.seq_len)
        inputs, labels = make_batch(args.batch_size, args.seq_len, args.vocab_size)
        for precision in args.precisions:
            bf16 = precision == "bf16"
            train_s = {name: [] for name in models}
            infer_s = {name: [] for name in models if name != "hf_models (dense logits)"}
            for _ in range(args.rounds):
                for name, model in models.items():
                    train_s[name].append(time_train(model, inputs, labels, args.steps, args.warmup, bf16))
                for name, times in infer_s.items():
                    times.append(time_infer(models[name], inputs, args.steps, args.warmup, bf16))
            row = {"size": size, "precision": precision}
            for name, values in train_s.items():
                row[f"train_tokens_per_s[{name}]"] = tokens / statistics.median(values)
            for name, values in infer_s.items():
                row[f"infer_tokens_per_s[{name}]"] = tokens / statistics.median(values)
            ref_train = row["train_tokens_per_s[transformers]"]
            row["train_ratio"] = row["train_tokens_per_s[hf_models]"] / ref_train
            row["train_ratio_dense"] = row["train_tokens_per_s[hf_models (dense logits)]"] / ref_train
            row["infer_ratio"] = row["infer_tokens_per_s[hf_models]"] / row["infer_tokens_per_s[transformers]"]
            results.append(row)
            print(json.dumps(row), flush=True)

    report = {
        "command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
        "settings": vars(args),
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "results": results,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    return report


def markdown_table(results) -> str:
    lines = [
        "| size | precision | train tok/s transformers | train tok/s hf_models | ratio | ratio, dense logits "
        "| infer tok/s transformers | infer tok/s hf_models | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']} | {r['precision']} | {r['train_tokens_per_s[transformers]']:.0f} "
            f"| {r['train_tokens_per_s[hf_models]']:.0f} | {r['train_ratio']:.2f}x | {r['train_ratio_dense']:.2f}x "
            f"| {r['infer_tokens_per_s[transformers]']:.0f} | {r['infer_tokens_per_s[hf_models]']:.0f} "
            f"| {r['infer_ratio']:.2f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
