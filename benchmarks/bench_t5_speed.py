"""Speed of hf_models' T5 against transformers' T5ForConditionalGeneration (the same config), in the same run.

Both models hold the same weights: a random transformers T5 is built, saved, and loaded into
`hf_models.T5ForConditionalGeneration`. Measured, alternating between the two implementations round by round so that
drift in the machine's load hits both alike (the median over rounds is reported):

- a training step: forward + backward + AdamW step on a text-to-text batch (inputs and targets of random lengths,
  right-padded, labels -100 on padding), in fp32 and under bf16 autocast; tokens/s counts the real (non-padding)
  input and target tokens;
- beam-search generation (4 beams, a fixed number of new tokens so that both decode the same lengths); tokens/s
  counts the generated tokens of the returned sequences.

T5 v1.0 (ReLU, tied embeddings with the output rescale) and v1.1 (gated GELU, untied), 4 + 4 layers of width 256,
T5's 32,128-token vocabulary.

    python benchmarks/bench_t5_speed.py                       # both versions, fp32 and bf16, CPU (or the GPU)
    python benchmarks/bench_t5_speed.py --sizes v1.0-L4/d256 --rounds 3

Writes benchmarks/results/t5_speed.json (and prints a Markdown table).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import transformers

import hf_models

if __package__:
    from .bench_transformer_speed import (  # the same batches and timing as the Transformer's
        make_batch,
        time_generate,
    )
    from .bench_utils import time_train
else:
    from bench_transformer_speed import make_batch, time_generate
    from bench_utils import time_train

SIZES = {
    # name: (layers per side, d_model, heads, d_kv, d_ff, feed_forward_proj, tie_word_embeddings)
    "v1.0-L4/d256": (4, 256, 4, 64, 1024, "relu", True),
    "v1.1-L4/d256": (4, 256, 4, 64, 672, "gated-gelu", False),
}
PAD, EOS = 0, 1


def make_models(size: str, vocab_size: int, device: str, seed: int = 0) -> dict:
    """The same random weights in transformers' T5ForConditionalGeneration and in hf_models' T5."""
    layers, d_model, heads, d_kv, d_ff, proj, tied = SIZES[size]
    torch.manual_seed(seed)
    config = transformers.T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=layers, num_decoder_layers=layers,
        num_heads=heads, feed_forward_proj=proj, tie_word_embeddings=tied, dropout_rate=0.1, pad_token_id=PAD,
        eos_token_id=EOS, decoder_start_token_id=PAD,
    )
    config.scale_decoder_outputs = tied  # transformers 5.0 sets it for every config; the version's own rule
    reference = transformers.T5ForConditionalGeneration(config)
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        ours = hf_models.T5ForConditionalGeneration.from_pretrained(tmp)
    return {"transformers": reference.to(device), "hf_models": ours.to(device)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_len", type=int, default=32, help="longest input and target")
    parser.add_argument("--vocab_size", type=int, default=32128, help="T5's vocabulary")
    parser.add_argument("--generate_batch_size", type=int, default=8)
    parser.add_argument("--new_tokens", type=int, default=24)
    parser.add_argument("--num_beams", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "t5_speed.json"))
    args = parser.parse_args(argv)

    results = []
    for size in args.sizes:
        models = make_models(size, args.vocab_size, args.device)
        frozen = {name: copy.deepcopy(model) for name, model in models.items()}  # generate with the same weights
        batch = make_batch(args.batch_size, args.max_len, args.vocab_size, args.device)
        train_tokens = int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum())
        sources = make_batch(args.generate_batch_size, args.max_len, args.vocab_size, args.device, seed=1)
        for precision in args.precisions:
            bf16 = precision == "bf16"
            train_s = {name: [] for name in models}
            generate_s = {name: [] for name in models}
            outputs = {}
            for _ in range(args.rounds):
                for name, model in models.items():
                    train_s[name].append(time_train(model, batch, args.steps, args.warmup, bf16, args.device))
                for name, model in frozen.items():
                    seconds, outputs[name] = time_generate(model, sources, args.new_tokens, args.num_beams, 1, bf16,
                                                           args.device)
                    generate_s[name].append(seconds)
            generated = args.generate_batch_size * args.new_tokens
            row = {"size": size, "precision": precision, "device": args.device,
                   "same_beam_output": bool(torch.equal(outputs["transformers"], outputs["hf_models"]))}
            for name in models:
                row[f"train_tokens_per_s[{name}]"] = train_tokens / statistics.median(train_s[name])
                row[f"generate_tokens_per_s[{name}]"] = generated / statistics.median(generate_s[name])
            row["train_ratio"] = row["train_tokens_per_s[hf_models]"] / row["train_tokens_per_s[transformers]"]
            row["generate_ratio"] = (row["generate_tokens_per_s[hf_models]"]
                                     / row["generate_tokens_per_s[transformers]"])
            results.append(row)
            print(json.dumps(row), flush=True)

    report = {
        "command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
        "settings": vars(args),
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
                        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None},
        "results": results,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    return report


def markdown_table(results) -> str:
    lines = [("| size | precision | device | train tok/s transformers | train tok/s hf_models | ratio "
              "| beam-4 tok/s transformers | beam-4 tok/s hf_models | ratio | same beam output |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['size']} | {r['precision']} | {r['device']} | {r['train_tokens_per_s[transformers]']:.0f} "
            f"| {r['train_tokens_per_s[hf_models]']:.0f} | {r['train_ratio']:.2f}x "
            f"| {r['generate_tokens_per_s[transformers]']:.0f} | {r['generate_tokens_per_s[hf_models]']:.0f} "
            f"| {r['generate_ratio']:.2f}x | {'yes' if r['same_beam_output'] else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
