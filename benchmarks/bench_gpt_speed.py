"""Speed of hf_models' GPT against transformers' GPT2LMHeadModel and LlamaForCausalLM, in the same run.

Both classes hold the same weights: a random transformers model is built, saved, and loaded into
`hf_models.GPTForCausalLM` (the format is converted on load). Measured, alternating between the two implementations
round by round so that drift in the machine's load hits both alike (the median over rounds is reported):

- a training step: forward + backward + AdamW step on packed blocks (every position labelled, as run_clm trains), in
  fp32 and under bf16 autocast; tokens/s counts the block tokens;
- generation with the KV cache: greedy and beam search (4 beams), batch 1 and batch 8 (prompts of 16 tokens), a fixed
  number of new tokens so that both decode the same lengths; tokens/s counts the generated tokens of the returned
  sequences. The outputs of both are compared (the same tokens).

    python benchmarks/bench_gpt_speed.py                      # both architectures, CPU (or the GPU)
    python benchmarks/bench_gpt_speed.py --sizes gpt2-L4/d256 --rounds 3

Writes benchmarks/results/gpt_speed.json (and prints a Markdown table).
"""

from __future__ import annotations

import argparse
import copy
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

if __package__:
    from .bench_utils import sync, time_train
else:
    from bench_utils import sync, time_train

SIZES = {
    # name: (architecture, layers, width, heads, kv heads, inner width)
    "gpt2-L4/d256": ("gpt2", 4, 256, 4, 4, 1024),  # the 4-layer 256-wide GPT-2
    "llama-L4/d256": ("llama", 4, 256, 4, 2, 688),  # the same size with the Llama switches (GQA 4 -> 2)
}
VOCAB = 50257  # GPT-2's byte-level BPE


def make_models(size: str, device: str, seed: int = 0) -> dict:
    """The same random weights in transformers' class and in hf_models' GPTForCausalLM."""
    arch, layers, width, heads, kv_heads, inner = SIZES[size]
    torch.manual_seed(seed)
    if arch == "gpt2":
        reference = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=VOCAB, n_positions=1024, n_embd=width, n_layer=layers, n_head=heads, n_inner=inner))
    else:
        reference = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=VOCAB, hidden_size=width, intermediate_size=inner, num_hidden_layers=layers,
            num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=1024,
            bos_token_id=0, eos_token_id=0, tie_word_embeddings=True))
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        ours = hf_models.GPTForCausalLM.from_pretrained(tmp)
    return {"transformers": reference.to(device), "hf_models": ours.to(device)}


@torch.no_grad()
def time_generate(model, prompts: torch.Tensor, new_tokens: int, num_beams: int, device: str):
    """(seconds per generate() call, the sequences)."""
    model.eval()
    kwargs = {"input_ids": prompts, "attention_mask": torch.ones_like(prompts), "num_beams": num_beams,
              "max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False, "pad_token_id": 0}
    model.generate(**kwargs)  # warm-up
    sync(device)
    start = time.perf_counter()
    sequences = model.generate(**kwargs)
    sync(device)
    return time.perf_counter() - start, sequences


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batch_size", type=int, default=8, help="training blocks per step")
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--prompt_length", type=int, default=16)
    parser.add_argument("--new_tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "gpt_speed.json"))
    args = parser.parse_args(argv)

    generator = torch.Generator().manual_seed(0)
    results = []
    for size in args.sizes:
        models = make_models(size, args.device)
        frozen = {name: copy.deepcopy(model) for name, model in models.items()}  # generate with the same weights
        ids = torch.randint(0, VOCAB, (args.batch_size, args.block_size), generator=generator).to(args.device)
        batch = {"input_ids": ids, "labels": ids}
        train_tokens = ids.numel()
        for precision in args.precisions:
            bf16 = precision == "bf16"
            seconds = {name: [] for name in models}
            for _ in range(args.rounds):
                for name, model in models.items():
                    seconds[name].append(time_train(model, batch, args.steps, args.warmup, bf16, args.device))
            row = {"size": size, "measure": "train", "precision": precision, "device": args.device}
            for name in models:
                row[f"tokens_per_s[{name}]"] = train_tokens / statistics.median(seconds[name])
            row["ratio"] = row["tokens_per_s[hf_models]"] / row["tokens_per_s[transformers]"]
            results.append(row)
            print(json.dumps(row), flush=True)
        for batch_size in (1, 8):
            prompts = torch.randint(1, VOCAB, (batch_size, args.prompt_length), generator=generator).to(args.device)
            for num_beams in (1, 4):
                seconds = {name: [] for name in frozen}
                outputs = {}
                for _ in range(args.rounds):
                    for name, model in frozen.items():
                        elapsed, outputs[name] = time_generate(model, prompts, args.new_tokens, num_beams,
                                                               args.device)
                        seconds[name].append(elapsed)
                generated = batch_size * args.new_tokens
                row = {"size": size, "measure": f"{'greedy' if num_beams == 1 else f'beam {num_beams}'}, batch "
                                                f"{batch_size}", "precision": "fp32", "device": args.device,
                       "same_output": bool(torch.equal(outputs["transformers"], outputs["hf_models"]))}
                for name in frozen:
                    row[f"tokens_per_s[{name}]"] = generated / statistics.median(seconds[name])
                row["ratio"] = row["tokens_per_s[hf_models]"] / row["tokens_per_s[transformers]"]
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
    lines = ["| size | measure | precision | device | tok/s transformers | tok/s hf_models | ratio | same output |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        same = {True: "yes", False: "no"}.get(r.get("same_output"), "")
        lines.append(f"| {r['size']} | {r['measure']} | {r['precision']} | {r['device']} "
                     f"| {r['tokens_per_s[transformers]']:.0f} | {r['tokens_per_s[hf_models]']:.0f} "
                     f"| {r['ratio']:.2f}x | {same} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
