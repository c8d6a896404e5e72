"""Model FLOPs utilisation (MFU) of GPT training: hf_models' GPTForCausalLM against transformers' GPT2LMHeadModel
with the same config and weights, in the same run (issue 15; nanoGPT reports 37% for GPT-2 124M on an A100).

MFU = model FLOPs per second / the device's peak. The model FLOPs are nanoGPT's count (PaLM, appendix B): per token
6 N for the weights' products in forward and backward (N = the parameters without the position embeddings; the tied
output layer counted once, as the one matrix it is) plus 12 L T d for attention's two products (scores, weighted
sum) over a context of T; a step = that x tokens. The peak is the device's dense bf16 tensor rate (`--peak_tflops`,
or looked up from the GPU's name: A100 312, H100 SXM 989, H100 PCIe 756, H200 989 TFLOPS).

Measured: steps of forward + backward + AdamW (fused on a GPU) under bf16 autocast on random tokens, `--warmup`
untimed steps then `--steps` timed ones, per implementation in alternating rounds (the median is reported); with
`--compile`, both models compiled by torch.compile.

    python benchmarks/gpt_mfu.py --device cuda                          # GPT-2 124M, batch 16 x 1024
    python benchmarks/gpt_mfu.py --device cuda --compile
    python benchmarks/gpt_mfu.py --device cpu --n_layer 2 --n_embd 64 --n_head 2 --block_size 64 --batch_size 2 \\
        --vocab_size 512 --steps 2 --rounds 1 --peak_tflops 1 --output /tmp/mfu.json   # a smoke run on a CPU

Writes benchmarks/results/gpt_mfu.json (`--output`) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
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
    from .bench_utils import RESULTS_DIR, tidy_command, time_train
else:
    from bench_utils import RESULTS_DIR, tidy_command, time_train

PEAK_BF16_TFLOPS = (  # (name fragment, dense bf16 TFLOPS), the first match wins
    ("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0), ("L40S", 362.1), ("A10G", 70.0),
)


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 tensor rate of a GPU from its name (None when unknown)."""
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment.lower() in device_name.lower():
            return tflops
    return None


def flops_per_token(config: transformers.GPT2Config) -> float:
    """nanoGPT's estimate_mfu: 6 N + 12 L T d, N without the position embeddings."""
    d, layers, context = config.n_embd, config.n_layer, config.n_positions
    inner = config.n_inner or 4 * d
    per_layer = 4 * d * d + 4 * d + 2 * d * inner + inner + d + 4 * d  # attention, MLP, two LayerNorms
    params = config.vocab_size * d + layers * per_layer + 2 * d  # token embeddings (= output layer), final LayerNorm
    return 6 * params + 12 * layers * d * context


def make_models(config: transformers.GPT2Config, device: str) -> dict:
    """transformers' GPT2LMHeadModel and hf_models' GPTForCausalLM with the same random weights."""
    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(config)
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        ours = hf_models.GPTForCausalLM.from_pretrained(tmp)
    return {"transformers": reference.to(device), "hf_models": ours.to(device)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n_layer", type=int, default=12)
    parser.add_argument("--n_embd", type=int, default=768)
    parser.add_argument("--n_head", type=int, default=12)
    parser.add_argument("--block_size", type=int, default=1024, help="tokens per sequence (and the positions)")
    parser.add_argument("--vocab_size", type=int, default=50304, help="nanoGPT's 50,257 padded to a multiple of 64")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--attn_implementation", default="sdpa", choices=["sdpa", "eager", "flash_attention_2"])
    parser.add_argument("--peak_tflops", type=float, default=None, help="default: from the GPU's name")
    parser.add_argument("--output", default=str(RESULTS_DIR / "gpt_mfu.json"))
    args = parser.parse_args(argv)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    peak = args.peak_tflops or peak_tflops(device_name)
    if peak is None:
        parser.error(f"no known peak for {device_name!r}: give --peak_tflops (the device's dense bf16 TFLOPS)")
    if args.n_embd % args.n_head:
        parser.error(f"--n_embd {args.n_embd} is not a multiple of --n_head {args.n_head}")

    config = transformers.GPT2Config(vocab_size=args.vocab_size, n_positions=args.block_size, n_embd=args.n_embd,
                                     n_layer=args.n_layer, n_head=args.n_head, embd_pdrop=0.0, resid_pdrop=0.0,
                                     attn_pdrop=0.0, attn_implementation=args.attn_implementation)
    models = make_models(config, args.device)
    if args.compile:
        models = {name: torch.compile(model) for name, model in models.items()}
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, args.vocab_size, (args.batch_size, args.block_size), generator=generator).to(args.device)
    batch = {"input_ids": ids, "labels": ids}
    seconds = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            seconds[name].append(time_train(model, batch, args.steps, args.warmup, True, args.device))
    tokens = ids.numel()
    per_token = flops_per_token(config)
    rows = []
    for name in models:
        step = statistics.median(seconds[name])
        achieved = per_token * tokens / step
        rows.append({"implementation": name, "seconds_per_step": step, "tokens_per_s": tokens / step,
                     "model_tflops_per_s": achieved / 1e12, "mfu": achieved / (peak * 1e12)})
    ratio = rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"]
    report = {
        "command": tidy_command("python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])),
        "settings": vars(args), "device": device_name, "peak_bf16_tflops": peak,
        "flops_per_token": per_token, "tokens_per_step": tokens,
        "parameters": sum(p.numel() for p in models["hf_models"].parameters()),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "results": rows, "ratio_hf_models_over_transformers": ratio,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print("| implementation | tokens/s | model TFLOPS | MFU |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['implementation']} | {row['tokens_per_s']:.0f} | {row['model_tflops_per_s']:.1f} | "
              f"{100 * row['mfu']:.1f}% |")
    print(f"hf_models / transformers: {ratio:.2f}x ({device_name}, peak {peak} TFLOPS)")
    return report


if __name__ == "__main__":
    main()
