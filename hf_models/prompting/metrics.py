"""Accuracy with a confidence interval: Wilson's score interval for a binomial proportion (Wilson 1927), or the
percentile bootstrap (Efron 1979) for any per-example score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from ..cli_utils import InputError


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise InputError(f"the confidence level must lie strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    if total <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= total:
        raise InputError(f"successes must lie in 0..{total}, got {successes}")
    z = _z(confidence)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # the interval holds p exactly (at p = 0 or 1 one end is p itself, which rounding may miss by 1e-17)
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95, resamples: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron 1979): the (1-c)/2 and (1+c)/2 quantiles of the means of
    `resamples` resamples drawn with replacement."""
    _z(confidence)
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    return (float(np.quantile(means, (1 - confidence) / 2)), float(np.quantile(means, (1 + confidence) / 2)))


def accuracy_with_ci(correct: Sequence[float | bool], confidence: float = 0.95, method: str = "wilson",
                     resamples: int = 1000, seed: int = 0) -> dict:
    """{"value", "ci_low", "ci_high", "confidence", "method", "n", "stderr"} of per-example 0/1 scores."""
    values = np.asarray([float(c) for c in correct], dtype=np.float64)
    n = int(values.size)
    mean = float(values.mean()) if n else float("nan")
    if method == "wilson":
        if n and not np.isin(values, (0.0, 1.0)).all():
            raise InputError("the Wilson interval needs 0/1 scores; use method='bootstrap' for other scores")
        low, high = wilson_interval(int(values.sum()), n, confidence)
    elif method == "bootstrap":
        low, high = bootstrap_interval(values, confidence, resamples, seed)
    else:
        raise InputError(f"the confidence interval method must be 'wilson' or 'bootstrap', got {method!r}")
    stderr = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")  # lm-eval's sample stderr
    return {"value": mean, "ci_low": low, "ci_high": high, "confidence": confidence, "method": method, "n": n,
            "stderr": stderr}


__all__ = ["accuracy_with_ci", "bootstrap_interval", "wilson_interval"]
