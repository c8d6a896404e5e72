"""The lecture's claims about the Transformer, run as experiments with hf_models' TransformerForConditionalGeneration.

Each experiment switches one piece of the model (`TransformerConfig`) and trains the variants the same way:

1. positions   no positional encoding vs sinusoidal vs learned, on sequence reversal (a task that is only about
               order: bare self-attention cannot tell where a token is, so it cannot reverse);
2. ffn         without vs with the position-wise feed-forward network, on Multi30k en-de (a small model, a short run);
3. causal      the decoder trained with vs without the causal mask, on reversal: without it the training loss collapses
               (each position reads the word it must predict) while generation, which has no future to read, fails;
4. scaling     scaled vs unscaled dot products as d_k grows (at initialisation, random inputs): attention entropy,
               the largest weight (softmax saturation) and the gradient norm reaching the queries and keys;
5. heads       1 head vs 4 vs 8 at the same d_model, on Multi30k;
6. layernorm   post-LN vs pre-LN, each with and without learning-rate warmup, 6 + 6 layers at a high learning rate,
               on Multi30k: post-LN needs the warmup, pre-LN trains without it.

    python benchmarks/transformer_experiments.py                       # all six (about an hour on one CPU core)
    python benchmarks/transformer_experiments.py --experiments scaling positions --steps 600

Writes benchmarks/results/transformer_experiments.json and one plot per experiment
(benchmarks/results/transformer_<experiment>.png). Training is a plain loop (Adam, inverse-square-root warmup when
asked, label smoothing 0.1, bf16 autocast off: CPU fp32); every variant of an experiment sees the same batches.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k"
PAD, BOS, EOS = 0, 1, 2


# ----------------------------------------------------------------------------------------------------------------------
# Tasks: batches of (input_ids, attention_mask, labels) and a held-out scorer
# ----------------------------------------------------------------------------------------------------------------------
class ReversalTask:
    """Sources of 4-12 random symbols; the target is the source reversed. Scored by exact-match accuracy of greedy
    decoding on 500 held-out sequences (and token accuracy)."""

    name = "reversal"
    symbols = 20

    def __init__(self, seed: int = 0):
        self.vocab_size = 3 + self.symbols
        self.rng = random.Random(seed)
        held_out = random.Random(seed + 1)
        self.eval_sources = [self._sequence(held_out) for _ in range(500)]

    def reset(self, seed: int) -> None:
        self.rng.seed(seed)

    def _sequence(self, rng) -> list[int]:
        return [rng.randrange(3, self.vocab_size) for _ in range(rng.randint(4, 12))]

    def batch(self, size: int):
        sources = [self._sequence(self.rng) for _ in range(size)]
        return _pad_batch(sources, [list(reversed(s)) for s in sources])

    @torch.no_grad()
    def score(self, model) -> dict:
        model.eval()
        exact = tokens = correct = 0
        for start in range(0, len(self.eval_sources), 100):
            sources = self.eval_sources[start:start + 100]
            input_ids, attention_mask, _ = _pad_batch(sources, sources)
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=14,
                                       num_beams=1, do_sample=False)[:, 1:]
            for row, source in zip(generated.tolist(), sources):
                predicted = row[: row.index(EOS)] if EOS in row else row
                expected = list(reversed(source))
                exact += predicted == expected
                correct += sum(a == b for a, b in zip(predicted, expected))
                tokens += len(expected)
        model.train()
        return {"exact_match": exact / len(self.eval_sources), "token_accuracy": correct / tokens}


class Multi30kTask:
    """Multi30k English -> German with word-level tokenizers of 6,000 entries a side; scored by greedy-decoding
    sacreBLEU on the first 500 validation sentences."""

    name = "multi30k"

    def __init__(self, seed: int = 0, vocab_size: int = 6000):
        from hf_models.tasks.translation import build_tokenizer, read_parallel

        sources, targets = read_parallel(MULTI30K / "train.en.gz", MULTI30K / "train.de.gz")
        self.source_tokenizer = build_tokenizer(sources, "wordlevel", vocab_size, lowercase=True)
        self.target_tokenizer = build_tokenizer(targets, "wordlevel", vocab_size, lowercase=True)
        self.vocab_size = max(len(self.source_tokenizer), len(self.target_tokenizer))
        encode = lambda tokenizer, texts: tokenizer(texts, truncation=True, max_length=40)["input_ids"]  # noqa: E731
        self.pairs = list(zip(encode(self.source_tokenizer, sources), encode(self.target_tokenizer, targets)))
        self.rng = random.Random(seed)
        eval_sources, eval_targets = read_parallel(MULTI30K / "val.en.gz", MULTI30K / "val.de.gz")
        self.eval_sources, self.eval_targets = eval_sources[:500], [t.lower() for t in eval_targets[:500]]
        self.order: list[int] = []

    def reset(self, seed: int) -> None:
        self.rng.seed(seed)
        self.order = []

    def batch(self, size: int):
        if len(self.order) < size:
            self.order = list(range(len(self.pairs)))
            self.rng.shuffle(self.order)
        chosen = [self.pairs[self.order.pop()] for _ in range(size)]
        return _pad_batch([s for s, _ in chosen], [t for _, t in chosen], eos_in_source=True)

    @torch.no_grad()
    def score(self, model) -> dict:
        from hf_models.tasks.translation import corpus_bleu, translate

        model.eval()
        predictions = translate(model, self.source_tokenizer, self.target_tokenizer, self.eval_sources, batch_size=100,
                                max_length=60, show_progress=False)
        model.train()
        return {"bleu": corpus_bleu(predictions, self.eval_targets)["score"]}


def _pad_batch(sources, targets, eos_in_source: bool = False):
    """Right-padded source ids and mask, and labels (target + </s>, -100 on padding)."""
    sources = [s if eos_in_source else [*s, EOS] for s in sources]
    targets = [[*t, EOS] if not t or t[-1] != EOS else t for t in targets]
    width, target_width = max(map(len, sources)), max(map(len, targets))
    input_ids = torch.full((len(sources), width), PAD)
    labels = torch.full((len(targets), target_width), -100)
    for i, (s, t) in enumerate(zip(sources, targets)):
        input_ids[i, : len(s)] = torch.tensor(s)
        labels[i, : len(t)] = torch.tensor(t)
    return input_ids, (input_ids != PAD).long(), labels


# ----------------------------------------------------------------------------------------------------------------------
# One training run
# ----------------------------------------------------------------------------------------------------------------------
def build(task, seed: int, **fields):
    from hf_models.transformer import TransformerConfig, TransformerForConditionalGeneration

    base = {"vocab_size": task.vocab_size, "d_model": 128, "encoder_layers": 2, "decoder_layers": 2,
            "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 512,
            "decoder_ffn_dim": 512, "max_position_embeddings": 64, "dropout": 0.1, "pad_token_id": PAD,
            "bos_token_id": BOS, "eos_token_id": EOS}
    base.update(fields)
    torch.manual_seed(seed)
    return TransformerForConditionalGeneration(TransformerConfig(**base))


def train(task, fields: dict, steps: int, lr: float, warmup: int | None, batch_size: int = 64, seed: int = 0,
          evaluate_every: int | None = None) -> dict:
    """Adam(0.9, 0.98); lr * min(1, step / warmup) * sqrt(warmup / max(step, warmup)) with warmup (Vaswani et al.'s
    schedule, peak `lr`), constant `lr` without; label smoothing 0.1. Returns the loss curve, the gradient norms,
    the held-out scores, whether the loss diverged, and the time."""
    model = build(task, seed, **fields)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    task.reset(seed)  # every variant sees the same batches
    curve, grad_norms, evaluations = [], [], []
    started = time.perf_counter()
    diverged = False
    for step in range(1, steps + 1):
        scale = min(1.0, step / warmup) * math.sqrt(warmup / max(step, warmup)) if warmup else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        input_ids, attention_mask, labels = task.batch(batch_size)
        logits = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).logits
        loss = F.cross_entropy(logits.float(), labels[labels != -100], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        optimizer.step()
        curve.append(loss.item())
        if not math.isfinite(curve[-1]) or curve[-1] > 50:
            diverged = True
            break
        if evaluate_every and step % evaluate_every == 0 and step < steps:
            evaluations.append({"step": step, **task.score(model)})
    final = task.score(model) if not diverged else {}
    evaluations.append({"step": len(curve), **final})
    window = max(1, len(curve) // 20)
    return {"fields": fields, "steps": len(curve), "lr": lr, "warmup": warmup, "batch_size": batch_size,
            "loss_curve": [sum(curve[i:i + window]) / len(curve[i:i + window]) for i in range(0, len(curve), window)],
            "curve_window": window, "final_train_loss": sum(curve[-window:]) / len(curve[-window:]),
            "grad_norm_first_100": sum(grad_norms[:100]) / max(1, len(grad_norms[:100])),
            "diverged": diverged, "scores": final, "evaluations": evaluations,
            "seconds": time.perf_counter() - started, "parameters": model.num_parameters()}


# ----------------------------------------------------------------------------------------------------------------------
# The experiments
# ----------------------------------------------------------------------------------------------------------------------
def positions(args) -> dict:
    task = ReversalTask()
    return {name: train(task, {"position_embedding": name}, args.steps, 1e-3, 200, seed=args.seed)
            for name in ("none", "sinusoidal", "learned")}


def causal(args) -> dict:
    task = ReversalTask()
    return {f"causal_decoder={flag}": train(task, {"causal_decoder": flag}, args.steps, 1e-3, 200, seed=args.seed)
            for flag in (True, False)}


def ffn(args) -> dict:
    task = _multi30k()
    return {f"feed_forward={flag}": train(task, {"feed_forward": flag}, args.mt_steps, 1e-3, 400, seed=args.seed)
            for flag in (False, True)}


def heads(args) -> dict:
    task = _multi30k()
    return {f"{h} heads": train(task, {"encoder_attention_heads": h, "decoder_attention_heads": h}, args.mt_steps,
                                1e-3, 400, seed=args.seed) for h in (1, 4, 8)}


def layernorm(args) -> dict:
    task = _multi30k()
    deep = {"encoder_layers": 6, "decoder_layers": 6}
    runs = {}
    for position in ("post", "pre"):
        for warmup in (400, None):
            name = f"{position}-LN, {'warmup 400' if warmup else 'no warmup'}"
            runs[name] = train(task, {**deep, "layer_norm_position": position}, args.mt_steps, 2e-3, warmup,
                               seed=args.seed)
    return runs


def scaling(args) -> dict:
    """At initialisation: unit-variance random queries and keys (as x W of unit-variance x), 32 keys per query. The
    scores q . k have variance d_k; unscaled, the softmax saturates as d_k grows (one key takes the weight) and the
    gradient that flows back through it, d loss / d score, vanishes (Vaswani et al. 2017, footnote 4)."""
    torch.manual_seed(args.seed)
    rows = []
    for d_k in (8, 32, 128, 512, 2048):
        for scaled in (True, False):
            query = torch.randn(64, 1, 32, d_k)
            key = torch.randn(64, 1, 32, d_k)
            scores = (query @ key.transpose(-1, -2)) * (d_k**-0.5 if scaled else 1.0)  # (64, 1, 32, 32)
            scores.requires_grad_(True)
            probs = torch.softmax(scores, dim=-1)
            (probs * torch.randn_like(probs)).sum().backward()  # a unit-variance gradient on the weights
            probs = probs.detach()
            rows.append({
                "d_k": d_k, "scaled": scaled, "score_std": float(scores.detach().std()),
                "entropy": float(-(probs * probs.clamp_min(1e-30).log()).sum(-1).mean()), "max_entropy": math.log(32),
                "mean_max_weight": float(probs.max(-1).values.mean()),
                "score_grad_rms": float(scores.grad.pow(2).mean().sqrt()),
            })
    return {"rows": rows}


_MULTI30K = None


def _multi30k():
    global _MULTI30K
    if _MULTI30K is None:
        _MULTI30K = Multi30kTask()
    return _MULTI30K


EXPERIMENTS = {"positions": positions, "ffn": ffn, "causal": causal, "scaling": scaling, "heads": heads,
               "layernorm": layernorm}


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------
def plot(name: str, result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2 if name == "scaling" else 1, figsize=(11 if name == "scaling" else 6.5, 4))
    if name == "scaling":
        for scaled in (True, False):
            rows = [r for r in result["rows"] if r["scaled"] == scaled]
            label = "Q K^T / sqrt(d_k)" if scaled else "Q K^T (unscaled)"
            axes[0].plot([r["d_k"] for r in rows], [r["entropy"] for r in rows], marker="o", label=label)
            axes[1].plot([r["d_k"] for r in rows], [r["score_grad_rms"] for r in rows], marker="o", label=label)
        for ax, title in zip(axes, ("attention entropy (nats, 32 keys)", "gradient through the softmax (RMS)")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("d_k")
            ax.set_title(title)
            ax.legend()
        axes[1].set_yscale("log")
    else:
        for variant, run in result.items():
            xs = [(i + 0.5) * run["curve_window"] for i in range(len(run["loss_curve"]))]
            axes.plot(xs, run["loss_curve"], label=variant + (" (diverged)" if run["diverged"] else ""))
        axes.set_xlabel("training step")
        axes.set_ylabel("training loss (label smoothing 0.1)")
        axes.set_yscale("log")
        axes.set_title(f"Transformer: {name}")
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--steps", type=int, default=1500, help="training steps of the reversal experiments")
    parser.add_argument("--mt_steps", type=int, default=1200, help="training steps of the Multi30k experiments")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=str(RESULTS / "transformer_experiments.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.exists() else {}
    results.setdefault("experiments", {})
    for name in args.experiments:
        started = time.perf_counter()
        result = EXPERIMENTS[name](args)
        entry = {"result": result, "seconds": time.perf_counter() - started,
                 "command": "python benchmarks/transformer_experiments.py " + " ".join(sys.argv[1:] if argv is None
                                                                                        else argv)}
        plot_path = RESULTS / f"transformer_{name}.png"
        plot(name, result, plot_path)
        entry["plot"] = str(plot_path.relative_to(ROOT))
        results["experiments"][name] = entry
        results["environment"] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(summary(name, result)), flush=True)
    return results


def summary(name: str, result: dict) -> dict:
    if name == "scaling":
        return {f"d_k={r['d_k']},{'scaled' if r['scaled'] else 'unscaled'}": round(r["entropy"], 3)
                for r in result["rows"]}
    return {variant: {"final_train_loss": round(run["final_train_loss"], 3), **run["scores"],
                      "diverged": run["diverged"]} for variant, run in result.items()}


if __name__ == "__main__":
    main()
