"""The lecture's vanishing-gradient experiment (Bengio et al. 1994; Pascanu et al. 2013).

How much does the input at step t still move the output at the last step T? Back-propagation through time answers

    ∂h_T/∂x_t = (∏_{k=t+1..T} ∂h_k/∂h_{k-1}) · ∂h_t/∂x_t,

a product of T - t Jacobians. For a vanilla (Elman) RNN every factor is diag(tanh'(a_k)) W_hh: when its norm is below
one the product shrinks geometrically with the distance T - t (the gradient vanishes), above one it explodes
(Pascanu et al. 2013, section 2). The LSTM's cell state adds a path whose Jacobian is the diagonal diag(f_k) of the
forget gates (c_k = f_k ⊙ c_{k-1} + i_k ⊙ g_k), so the gradient along it decays like ∏ f_k: slowly when the forget
gates sit near one, as fast as the vanilla RNN when they sit near one half.

`gradient_norms_by_step` measures ‖∂L/∂x_t‖ for every input step t of an `RnnModel`, with L a fixed random unit
projection of the last output h_T; `vanishing_gradient_experiment` does it for several cell types at their
initialisation and averages over seeds; `plot_gradient_norms` draws the curves on a log scale.
`benchmarks/vanishing_gradient.py` is the command line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .configuration_rnn import CELL_TYPES, IMPLEMENTATIONS, RnnConfig
from .modeling_rnn import RnnModel

TORCH_DEFAULT_INIT = "torch_default"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOSS_DESCRIPTION = (
    "L = sum over the batch of u . h_T, u a fixed random unit vector (N(0, I) normalised, drawn with "
    "projection_seed) and h_T the last layer's output at the output step; reported: the mean over the batch of "
    "the per-example norms ||dL/dx_t||_2"
)


# ----------------------------------------------------------------------------------------------------------------------
# Argument checks: a clear error that names the field
# ----------------------------------------------------------------------------------------------------------------------
def _check_int(name: str, value: Any, minimum: int) -> int:
    """Raise a ValueError naming `name` unless `value` is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_cell_types(cell_types: Any) -> tuple[str, ...]:
    """The cell types as a tuple; a ValueError naming `cell_types` for an unknown or repeated one."""
    if isinstance(cell_types, str):
        cell_types = (cell_types,)
    cell_types = tuple(cell_types)
    if not cell_types:
        raise ValueError("cell_types must name at least one cell type")
    for cell_type in cell_types:
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell_types contains unknown cell type {cell_type!r}; choose from {', '.join(CELL_TYPES)}")
    if len(set(cell_types)) != len(cell_types):
        raise ValueError(f"cell_types lists a cell type twice: {cell_types}")
    return cell_types


def _check_init(init: Any) -> float | None:
    """`init` as RnnConfig.initializer_range: None for torch's default, r > 0 for U(-r, r)."""
    if init == TORCH_DEFAULT_INIT:
        return None
    if isinstance(init, bool) or not isinstance(init, (int, float)) or not math.isfinite(init) or init <= 0:
        raise ValueError(f"init must be {TORCH_DEFAULT_INIT!r} or a positive number r (weights ~ U(-r, r)), got {init!r}")
    return float(init)


def describe_init(init: str | float, hidden_size: int) -> str:
    """One line saying which distribution the recurrent weights and biases are drawn from."""
    if _check_init(init) is None:
        bound = 1.0 / math.sqrt(hidden_size)
        return (f"torch default (nn.RNN/nn.LSTM/nn.GRU reset_parameters): every weight and bias ~ U(-1/sqrt(H), "
                f"1/sqrt(H)) = U(-{bound:.4f}, {bound:.4f}), so the LSTM forget-gate bias b_if + b_hf is about 0")
    return f"every recurrent weight and bias ~ U(-{float(init)}, {float(init)}) (RnnConfig.initializer_range)"


# ----------------------------------------------------------------------------------------------------------------------
# The measurement
# ----------------------------------------------------------------------------------------------------------------------
def random_unit_projection(size: int, seed: int = 0, dtype: torch.dtype = torch.float32,
                           device: torch.device | str = "cpu") -> torch.Tensor:
    """u = z / ||z||, z ~ N(0, I_size) from a generator seeded with `seed`: the fixed readout of the experiment's loss."""
    generator = torch.Generator().manual_seed(int(seed))
    z = torch.randn(size, generator=generator, dtype=torch.float64)
    return (z / z.norm()).to(dtype=dtype, device=device)


def gradient_norms_by_step(
    model: RnnModel,
    inputs_embeds: torch.Tensor,
    which: str | int = "last",
    projection: torch.Tensor | None = None,
    projection_seed: int = 0,
) -> np.ndarray:
    """‖∂L/∂x_t‖ for every input step t, L = u·h_T: BPTT's ∂h_T/∂x_t = ∏_{k=t+1..T} ∂h_k/∂h_{k-1} · ∂h_t/∂x_t.

    Args:
        model: an `RnnModel` (fused or cells implementation; any number of layers). It runs in eval mode (no dropout)
            for the measurement and is put back in its previous mode; its parameters' `.grad` are not touched.
        inputs_embeds: (batch, seq, embedding_size) inputs x_1..x_seq, fed as `inputs_embeds` (the embedding table is
            bypassed). The caller's tensor is not modified: a detached copy, in the model's dtype and on its device,
            gets `requires_grad_()`.
        which: the output step T whose state the loss reads: "last" (T = seq, the usual experiment) or a 1-based step
            in [1, seq]. Inputs after T cannot reach h_T, so their gradient norms are exactly 0.
        projection: the readout u, shape (output_size,); default: `random_unit_projection(output_size,
            projection_seed)`. L = Σ_b u·h_T^(b) (Bengio et al. 1994; Pascanu et al. 2013); the examples of a batch do
            not interact, so ∂L/∂x_t^(b) is example b's own gradient.
        projection_seed: seed of the default projection.

    Returns:
        (seq,) float64 array: entry t - 1 is the mean over the batch of the per-example norms ‖∂L/∂x_t^(b)‖₂.
    """
    if not isinstance(model, RnnModel):
        raise TypeError(f"model must be an hf_models RnnModel, got {type(model).__name__}")
    if not isinstance(inputs_embeds, torch.Tensor) or not inputs_embeds.is_floating_point():
        raise ValueError("inputs_embeds must be a floating-point tensor of shape (batch, seq, embedding_size)")
    config = model.config
    if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != config.embedding_size or 0 in inputs_embeds.shape:
        raise ValueError(
            f"inputs_embeds must have shape (batch, seq, embedding_size={config.embedding_size}) with batch, seq >= 1, "
            f"got {tuple(inputs_embeds.shape)}"
        )
    seq = inputs_embeds.shape[1]
    if which == "last":
        output_step = seq
    elif isinstance(which, (int, np.integer)) and not isinstance(which, bool) and 1 <= which <= seq:
        output_step = int(which)
    else:
        raise ValueError(f"which must be 'last' or an output step in [1, seq={seq}], got {which!r}")
    if projection is None:
        projection = random_unit_projection(config.output_size, projection_seed)
    elif not isinstance(projection, torch.Tensor) or tuple(projection.shape) != (config.output_size,):
        shape = tuple(projection.shape) if isinstance(projection, torch.Tensor) else type(projection).__name__
        raise ValueError(f"projection must be a tensor of shape (output_size={config.output_size},), got {shape}")

    weight = model.rnn.weight_ih_l0
    x = inputs_embeds.detach().to(dtype=weight.dtype, device=weight.device).clone()  # (batch, seq, embedding_size)
    x.requires_grad_()  # the leaf we differentiate by
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            outputs = model(inputs_embeds=x, use_cache=False, return_dict=True).last_hidden_state  # (batch, seq, out)
            h_T = outputs[:, output_step - 1]  # (batch, output_size): the last layer's state at the output step
            loss = (h_T @ projection.to(dtype=h_T.dtype, device=h_T.device)).sum()  # L = Σ_b u·h_T^(b)
            (grad,) = torch.autograd.grad(loss, x)  # (batch, seq, embedding_size): ∂L/∂x_t for every b and t
    finally:
        model.train(was_training)
    per_example = grad.detach().to(torch.float64).norm(dim=-1)  # (batch, seq): ‖∂L/∂x_t^(b)‖₂
    return per_example.mean(dim=0).cpu().numpy()  # (seq,)


# ----------------------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------------------
def build_model(
    cell_type: str,
    hidden_size: int = 128,
    embedding_size: int = 64,
    num_layers: int = 1,
    init: str | float = TORCH_DEFAULT_INIT,
    lstm_forget_bias: float | None = None,
    implementation: str = "fused",
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> RnnModel:
    """An untrained `RnnModel` drawn with `seed`: torch's default init, or U(-r, r); optionally an LSTM forget-gate bias.

    `lstm_forget_bias=b` sets every layer's forget-gate bias to b (b_if = b, b_hf = 0), the initialisation of Gers et al.
    2000 / Jozefowicz et al. 2015 (b = 1); None keeps the drawn biases (about 0 with torch's default init).
    """
    if lstm_forget_bias is not None and cell_type != "lstm":
        raise ValueError(f"lstm_forget_bias applies to cell_type 'lstm' only, got cell_type {cell_type!r}")
    config = RnnConfig(
        cell_type=cell_type, vocab_size=2, pad_token_id=None, embedding_size=embedding_size, hidden_size=hidden_size,
        num_layers=num_layers, dropout=0.0, initializer_range=_check_init(init), implementation=implementation,
        tie_word_embeddings=False,
    )
    torch.manual_seed(int(seed))
    model = RnnModel(config).to(dtype)
    if lstm_forget_bias is not None:
        h = hidden_size
        with torch.no_grad():
            for name, param in model.rnn.named_parameters():
                if name.startswith("bias_"):  # gate chunks i, f, g, o: the forget gate is rows [h, 2h)
                    param[h: 2 * h] = float(lstm_forget_bias) if name.startswith("bias_ih") else 0.0
    return model.eval()


def _label(cell_type: str, forget_bias: float | None) -> str:
    """The result key of one run: the cell type, plus the forget-gate bias when it was set."""
    return cell_type if forget_bias is None else f"{cell_type} (forget bias {forget_bias:g})"


def _decay(norms: np.ndarray) -> tuple[float, float | None]:
    """(norm(step 1) / norm(step T), log10 of its inverse: orders of magnitude lost across the sequence)."""
    first, last = float(norms[0]), float(norms[-1])
    if last == 0.0:
        return float("nan"), None
    ratio = first / last
    return ratio, (math.log10(last / first) if first > 0 else None)


def vanishing_gradient_experiment(
    cell_types: Sequence[str] = ("rnn_tanh", "lstm"),
    seq_len: int = 100,
    hidden_size: int = 128,
    embedding_size: int = 64,
    batch_size: int = 16,
    num_layers: int = 1,
    seeds: Iterable[int] = (0, 1, 2),
    init: str | float = TORCH_DEFAULT_INIT,
    lstm_forget_biases: Sequence[float | None] = (None,),
    implementation: str = "fused",
    dtype: str = "float64",
    projection_seed: int = 0,
) -> dict[str, Any]:
    """The lecture's experiment (Bengio et al. 1994; Pascanu et al. 2013): ‖∂(u·h_T)/∂x_t‖ against t for untrained
    RNNs, one curve per cell type, averaged over seeds.

    Per seed s and cell type: `torch.manual_seed(s)`, an `RnnModel` drawn with `init` ("torch_default": torch's
    nn.RNN/nn.LSTM/nn.GRU init, every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)); or r > 0: U(-r, r)), inputs
    x ~ N(0, 1) of shape (batch_size, seq_len, embedding_size) (drawn after the model, so every cell type of one seed
    sees the same inputs), and `gradient_norms_by_step`. `lstm_forget_biases` runs the LSTM once per entry: None keeps
    the drawn forget-gate bias, a number b sets it (b_if = b, b_hf = 0; Gers et al. 2000 use b = 1). `dtype`
    "float64" (default) keeps the smallest norms (1e-30 and below on long sequences) clear of float32 underflow.

    Returns a JSON-serialisable dict: "settings", "init", "loss", and "results" keyed by run label ("rnn_tanh",
    "lstm", "lstm (forget bias 1)", ...), each with "mean_grad_norm" (seq_len floats: the mean over seeds, index
    t - 1 for input step t), "per_seed" (one such list per seed), "decay_ratio" (norm at step 1 / norm at step T) and
    "orders_of_magnitude" (log10 of norm(T) / norm(1): how many decades the gradient loses across the sequence).
    """
    cell_types = _check_cell_types(cell_types)
    seq_len = _check_int("seq_len", seq_len, 2)
    hidden_size = _check_int("hidden_size", hidden_size, 1)
    embedding_size = _check_int("embedding_size", embedding_size, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    num_layers = _check_int("num_layers", num_layers, 1)
    seeds = [_check_int("seeds", s, 0) for s in ([seeds] if isinstance(seeds, int) else list(seeds))]
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds lists a seed twice: {seeds}")
    _check_init(init)
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    forget_biases = list(lstm_forget_biases) or [None]
    for b in forget_biases:
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b)):
            raise ValueError(f"lstm_forget_biases entries must be None or finite numbers, got {b!r}")
    if len(set(forget_biases)) != len(forget_biases):
        raise ValueError(f"lstm_forget_biases lists a value twice: {forget_biases}")
    torch_dtype = DTYPES[dtype]

    runs = [(c, b) for c in cell_types for b in (forget_biases if c == "lstm" else [None])]
    per_seed: dict[str, list[np.ndarray]] = {_label(c, b): [] for c, b in runs}
    for seed in seeds:
        for cell_type, forget_bias in runs:
            model = build_model(cell_type, hidden_size, embedding_size, num_layers, init, forget_bias,
                                implementation, seed, torch_dtype)
            generator = torch.Generator().manual_seed(int(seed))
            x = torch.randn(batch_size, seq_len, embedding_size, generator=generator, dtype=torch_dtype)  # x_t ~ N(0, I)
            per_seed[_label(cell_type, forget_bias)].append(
                gradient_norms_by_step(model, x, projection_seed=projection_seed)
            )

    results = {}
    for (cell_type, forget_bias), (label, curves) in zip(runs, per_seed.items()):
        mean = np.mean(np.stack(curves), axis=0)  # (seq_len,): mean over seeds
        ratio, orders = _decay(mean)
        results[label] = {
            "cell_type": cell_type,
            "lstm_forget_bias": forget_bias,
            "mean_grad_norm": [float(v) for v in mean],
            "per_seed": [[float(v) for v in curve] for curve in curves],
            "decay_ratio": None if math.isnan(ratio) else ratio,
            "orders_of_magnitude": orders,
        }
    return {
        "settings": {
            "cell_types": list(cell_types), "seq_len": seq_len, "hidden_size": hidden_size,
            "embedding_size": embedding_size, "batch_size": batch_size, "num_layers": num_layers, "seeds": seeds,
            "init": init, "lstm_forget_biases": forget_biases, "implementation": implementation, "dtype": dtype,
            "projection_seed": projection_seed,
        },
        "init": describe_init(init, hidden_size),
        "inputs": f"x_t ~ N(0, I_{embedding_size}), i.i.d. over batch and steps, drawn with the seed",
        "loss": LOSS_DESCRIPTION + " at T = seq_len",
        "torch_version": torch.__version__,
        "results": results,
    }


# ----------------------------------------------------------------------------------------------------------------------
# The plot
# ----------------------------------------------------------------------------------------------------------------------
def plot_gradient_norms(result: dict[str, Any], path: str | os.PathLike, x_axis: str = "distance") -> Path:
    """Log-scale plot of ‖∂(u·h_T)/∂x_t‖ (mean over seeds, min-max band over seeds), one line per run; writes a PNG.

    `x_axis` "distance" puts T - t on the x axis (how far back the input lies), "step" the input step t.
    """
    if not isinstance(result, dict) or not isinstance(result.get("results"), dict) or not result["results"]:
        raise ValueError("result must be the dict returned by vanishing_gradient_experiment (a non-empty 'results')")
    if x_axis not in ("distance", "step"):
        raise ValueError(f"x_axis must be 'distance' or 'step', got {x_axis!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, run in result["results"].items():
        mean = np.asarray(run["mean_grad_norm"], dtype=np.float64)  # (seq,)
        steps = np.arange(1, len(mean) + 1)  # input steps t = 1..T
        x = len(mean) - steps if x_axis == "distance" else steps
        shown = np.where(mean > 0, mean, np.nan)  # a log axis cannot show exact zeros (underflow)
        (line,) = ax.plot(x, shown, label=label, linewidth=2)
        if len(run.get("per_seed", [])) > 1:
            curves = np.asarray(run["per_seed"], dtype=np.float64)  # (seeds, seq)
            low, high = curves.min(axis=0), curves.max(axis=0)
            ax.fill_between(x, np.where(low > 0, low, np.nan), np.where(high > 0, high, np.nan),
                            color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    settings = result.get("settings", {})
    if x_axis == "distance":
        ax.set_xlabel("distance T − t (steps between the input x_t and the output h_T)")
    else:
        ax.set_xlabel("input step t")
    ax.set_ylabel("‖∂(u·h_T) / ∂x_t‖  (mean over batch and seeds)")
    details = ", ".join(f"{k}={settings[k]}" for k in ("seq_len", "hidden_size", "embedding_size", "num_layers",
                                                       "batch_size") if k in settings)
    if "init" in settings:
        details += f"\ninit={settings['init']}, x_t ~ N(0, I), loss u·h_T (u a random unit vector)"
    if "seeds" in settings:
        details += f", {len(settings['seeds'])} seeds (band: min–max over seeds)"
    fig.suptitle("Vanishing gradients at initialisation (Bengio et al. 1994; Pascanu et al. 2013)")
    ax.set_title(details, fontsize=8, color="0.3")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = [
    "build_model",
    "describe_init",
    "gradient_norms_by_step",
    "plot_gradient_norms",
    "random_unit_projection",
    "vanishing_gradient_experiment",
]
