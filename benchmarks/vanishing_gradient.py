#!/usr/bin/env python
"""The lecture's vanishing-gradient experiment: ‖∂(u·h_T)/∂x_t‖ against the input step t for untrained recurrent nets.

For each cell type (vanilla tanh RNN, LSTM, GRU, ...) and seed, an untrained `hf_models.rnn.RnnModel` (torch's default
init unless --init says otherwise) reads N(0, 1) inputs; the loss is a fixed random unit projection u·h_T of the last
output, and autograd gives the gradient with respect to every input x_t (Bengio et al. 1994; Pascanu et al. 2013:
∂h_T/∂x_t = ∏_{k=t+1..T} ∂h_k/∂h_{k-1} · ∂h_t/∂x_t). Prints a Markdown table (gradient norm at t = T, T-10, T-50, 1
and the decay ratio norm(1) / norm(T)), writes the JSON and a log-scale PNG. Runs in seconds:

    python benchmarks/vanishing_gradient.py --overwrite

The LSTM runs twice by default (`--lstm_forget_biases default,1`): with torch's default init, whose forget-gate bias
is about 0 (forget gates near sigmoid(0) = 0.5, so the cell-state path decays like 0.5^(T-t) too), and with the
forget-gate bias set to 1 (Gers et al. 2000; Jozefowicz et al. 2015), gates near 0.73. `--lstm_forget_biases default`
keeps only the first.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

from hf_models.cli_utils import append_results_row, write_json
from hf_models.rnn.vanishing_gradient import (
    plot_gradient_norms,
    vanishing_gradient_experiment,
)

logger = logging.getLogger("hf_models.bench_vanishing_gradient")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def _int_list(name: str):
    def parse(text: str) -> list[int]:
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be comma-separated integers, got {text!r}") from None
    return parse


def _forget_biases(text: str) -> list[float | None]:
    values = []
    for v in (v.strip() for v in text.split(",") if v.strip()):
        if v == "default":
            values.append(None)
            continue
        try:
            values.append(float(v))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--lstm_forget_biases must be comma-separated numbers or 'default', got {v!r}"
            ) from None
    return values


def _init(text: str) -> str | float:
    if text == "torch_default":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--init must be 'torch_default' or a number r (U(-r, r)), got {text!r}") from None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell_types", default="rnn_tanh,lstm,gru",
                        help="Comma-separated cell types among rnn_tanh, rnn_relu, lstm, gru (default: %(default)s).")
    parser.add_argument("--seq_len", type=int, default=100, help="Sequence length T (default: %(default)s).")
    parser.add_argument("--hidden_size", type=int, default=128, help="Recurrent state width H (default: %(default)s).")
    parser.add_argument("--embedding_size", type=int, default=64, help="Input width (default: %(default)s).")
    parser.add_argument("--batch_size", type=int, default=16, help="Sequences per seed (default: %(default)s).")
    parser.add_argument("--num_layers", type=int, default=1, help="Stacked layers (default: %(default)s).")
    parser.add_argument("--seeds", type=_int_list("seeds"), default=[0, 1, 2],
                        help="Comma-separated seeds; the curves are their mean (default: 0,1,2).")
    parser.add_argument("--init", type=_init, default="torch_default",
                        help="'torch_default' (U(-1/sqrt(H), 1/sqrt(H))) or r for U(-r, r) (default: %(default)s).")
    parser.add_argument("--lstm_forget_biases", type=_forget_biases, default=[None, 1.0],
                        help="Comma-separated LSTM forget-gate biases, one LSTM curve each; 'default' keeps the bias "
                             "drawn by --init (about 0), a number b sets b_if = b, b_hf = 0 (default: default,1).")
    parser.add_argument("--implementation", default="fused", choices=["fused", "cells"],
                        help="torch's fused kernels or the lecture cells (same numbers) (default: %(default)s).")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                        help="float64 keeps norms below 1e-38 from underflowing (default: %(default)s).")
    parser.add_argument("--output", default=str(RESULTS / "vanishing_gradient.json"), help="JSON results file.")
    parser.add_argument("--plot", default=str(RESULTS / "vanishing_gradient.png"), help="PNG plot file.")
    parser.add_argument("--x_axis", default="distance", choices=["distance", "step"],
                        help="Plot against the distance T - t or the input step t (default: %(default)s).")
    parser.add_argument("--results_table", default=None, help="Also append a row to this Markdown results table.")
    parser.add_argument("--overwrite", action="store_true", help="Replace existing --output / --plot files.")
    return parser.parse_args(argv)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def markdown(result: dict) -> str:
    """The table of the run: gradient norm at t = T, T-10, T-50 and 1, and how fast it decays."""
    seq = result["settings"]["seq_len"]
    steps = [("t=T", seq), ("t=T-10", seq - 10), ("t=T-50", seq - 50), ("t=1", 1)]
    header = ["cell type"] + [f"‖∂L/∂x_t‖ {name}" for name, _ in steps] + ["decay ratio norm(1)/norm(T)",
                                                                             "decades lost"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, run in result["results"].items():
        norms = run["mean_grad_norm"]
        cells = [_fmt(norms[t - 1]) if t >= 1 else "n/a" for _, t in steps]
        orders = run["orders_of_magnitude"]
        lines.append("| " + " | ".join([label, *cells, _fmt(run["decay_ratio"]),
                                        "n/a" if orders is None else f"{orders:.1f}"]) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO,
                        handlers=[logging.StreamHandler(sys.stdout)])
    output, plot = Path(args.output), Path(args.plot)
    if not args.overwrite:
        existing = [str(p) for p in (output, plot) if p.exists()]
        if existing:
            raise SystemExit(f"{', '.join(existing)} already exist(s); pass --overwrite to replace, or choose "
                             "other --output / --plot paths")
    cell_types = [c.strip() for c in args.cell_types.split(",") if c.strip()]
    start = time.perf_counter()
    try:
        result = vanishing_gradient_experiment(
            cell_types=cell_types, seq_len=args.seq_len, hidden_size=args.hidden_size,
            embedding_size=args.embedding_size, batch_size=args.batch_size, num_layers=args.num_layers,
            seeds=args.seeds, init=args.init, lstm_forget_biases=args.lstm_forget_biases,
            implementation=args.implementation, dtype=args.dtype,
        )
    except ValueError as error:
        raise SystemExit(f"vanishing_gradient: {error}") from None
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["torch_threads"] = torch.get_num_threads()
    result["command"] = " ".join(["python benchmarks/vanishing_gradient.py", *(sys.argv[1:] if argv is None else argv)])
    logger.info(f"{len(result['results'])} runs x {len(args.seeds)} seeds in {result['seconds']:.2f} s; "
                f"init: {result['init']}")
    write_json(output, result)
    plot_gradient_norms(result, plot, x_axis=args.x_axis)
    if args.results_table:
        append_results_row(args.results_table, {
            "task": "vanishing_gradient", "split": f"T={args.seq_len}", "model": ",".join(result["results"]),
            "implementation": args.implementation, "examples": args.batch_size * len(args.seeds),
            "metrics": {f"decades_lost[{k}]": v["orders_of_magnitude"] for k, v in result["results"].items()
                        if v["orders_of_magnitude"] is not None},
            "output_dir": str(output.parent),
        })
    print(markdown(result))
    print(f"\nwritten to {output} and {plot}")
    return result


if __name__ == "__main__":
    main()
