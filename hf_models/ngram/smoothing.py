"""Estimators: from n-gram counts to the backoff (ARPA) form log10 p(w | h) and log10 bo(h) of every stored n-gram.

Every estimator writes the same representation, which scores any word after any context by the backoff recursion

    p(w | h) = p*(h w)                 if h w is stored,
               bo(h) * p(w | h')       otherwise (h' = h without its first word; bo = 1 if h is not stored),

so MLE, add-k, Kneser-Ney and modified Kneser-Ney models are all scored, saved and exported to ARPA the same way.

Kneser-Ney follows KenLM's `lmplz` exactly (Heafield, Pouzyrevsky, Clark & Koehn 2013, "Scalable Modified Kneser-Ney
Language Model Estimation", and lm/builder/{adjust_counts,initial_probabilities,interpolate}.cc), so the ARPA file
of a modified Kneser-Ney model is numerically lmplz's.
"""

from __future__ import annotations

import numpy as np

from .counting import BOS_ID, CountTable

FALLBACK_KN_DISCOUNT = 0.5


class DiscountError(ValueError):
    """The count-of-counts of an order cannot give valid Kneser-Ney discounts (small or artificial data)."""


# ----------------------------------------------------------------------------------------------------------------------
# Kneser-Ney statistics
# ----------------------------------------------------------------------------------------------------------------------
def adjusted_counts(tables: list[CountTable]) -> list[np.ndarray]:
    """Kneser-Ney adjusted counts a(.) (Heafield et al. 2013, sec. 3.1; Chen & Goodman 1998, sec. 3.5).

    The highest order keeps its raw counts; a lower-order n-gram gets its continuation count N1+(. w1..wk), the
    number of distinct words seen before it, except n-grams that start with `<s>` (nothing extends them to the left),
    which keep their raw counts. `<s>` itself, never predicted, has count 0.
    """
    order = len(tables)
    adjusted = [None] * order
    adjusted[-1] = tables[-1].counts.copy()
    for k in range(order - 1):  # tables[k] holds (k+1)-grams
        continuation = np.bincount(tables[k + 1].suffix, minlength=len(tables[k])).astype(np.int64)
        adjusted[k] = np.where(tables[k].starts_with_bos, tables[k].counts, continuation)
    adjusted[0][BOS_ID] = 0
    return adjusted


def count_of_counts(adjusted: np.ndarray, max_count: int = 4) -> np.ndarray:
    """t_j = number of n-grams whose (adjusted) count is exactly j, for j = 0..max_count."""
    return np.bincount(np.minimum(adjusted, max_count + 1), minlength=max_count + 2)[: max_count + 1]


def lmplz_count_of_counts(tables: list[CountTable], adjusted: list[np.ndarray], word_rank: np.ndarray):
    """The count-of-counts t_{k,0..4} of every order exactly as lmplz collects them (adjust_counts.cc).

    lmplz streams the n-grams in suffix order of its word ids (words numbered by first occurrence in the text) and,
    at the very end, adds the last n-gram of each lower order to the statistics with its raw count instead of its
    adjusted count. That changes at most one t_{k,j} per order; reproducing it makes the discounts, hence the ARPA
    file, lmplz's own. `word_rank[id]` is lmplz's id of each word.
    """
    order = len(tables)
    stats = [count_of_counts(a) for a in adjusted]
    vocab_size = len(tables[0])
    for k in range(1, order):  # k-grams, k < order
        table = tables[k - 1]
        if len(table) == 0:
            break
        # the last k-gram in suffix order: largest rank of the last word, then of the word before, ...
        candidates = ids = np.arange(len(table))
        for position in range(k):  # position 0 = last word
            words = table_word(tables, k, ids, position, vocab_size)
            best = word_rank[words].max()
            keep = word_rank[words] == best
            candidates, ids = candidates[keep], ids[keep]
        last = int(candidates[0])
        raw, counted = int(table.counts[last]), int(adjusted[k - 1][last])
        if counted <= 4:
            stats[k - 1][counted] -= 1
        if raw <= 4:
            stats[k - 1][raw] += 1
        if table.starts_with_bos[last]:
            break
    return stats


def table_word(tables: list[CountTable], k: int, ids: np.ndarray, position: int, vocab_size: int) -> np.ndarray:
    """Word at `position` from the end (0 = last word) of the k-grams `ids` of tables[k-1]."""
    for j in range(k - 1, k - 1 - position, -1):  # walk up the prefixes
        ids = tables[j].prefix[ids]
    return tables[k - 1 - position].keys[ids] % vocab_size


def modified_kneser_ney_discounts(t: np.ndarray) -> np.ndarray:
    """Chen & Goodman (1998) eq. 26: Y = t1/(t1+2 t2), Dj = j - (j+1) Y t_{j+1}/t_j for j = 1, 2, 3+.

    Computed in float32 with lmplz's operation order, so the discounts are bit for bit lmplz's. Returns [0, D1, D2,
    D3+]; raises DiscountError when t1, t2 or t3 is 0 or a discount leaves [0, j].
    """
    for j in (1, 2, 3):
        if t[j] == 0:
            raise DiscountError(f"no n-gram has adjusted count {j}, so D{j} cannot be estimated")
    f = np.float32
    y = f(f(t[1]) / f(float(t[1]) + 2.0 * float(t[2])))
    discounts = np.zeros(4, dtype=np.float32)
    for j in (1, 2, 3):
        discounts[j] = f(j) - f(f(f(f(j + 1) * y) * f(t[j + 1])) / f(t[j]))
        if not 0.0 <= discounts[j] <= j:
            raise DiscountError(f"D{j if j < 3 else '3+'} = {discounts[j]:.6g} is outside [0, {j}]")
    return discounts.astype(np.float64)


def kneser_ney_discount(t: np.ndarray) -> np.ndarray:
    """Ney, Essen & Kneser (1994): one absolute discount D = t1 / (t1 + 2 t2); returns [0, D, D, D]."""
    if t[1] == 0 or t[2] == 0:
        raise DiscountError(f"t1 = {t[1]} and t2 = {t[2]} n-grams have adjusted count 1 and 2; both must be > 0")
    d = float(t[1]) / (float(t[1]) + 2.0 * float(t[2]))
    return np.array([0.0, d, d, d])


def estimate_discounts(adjusted: list[np.ndarray], modified: bool, fixed=None, fallback=None,
                       stats: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The discounts [0, D1, D2, D3+] of every order: `fixed` if given, else estimated from the count-of-counts.

    `stats` are the count-of-counts t_{k,0..4} (default: those of `adjusted`; lmplz's: `lmplz_count_of_counts`). An
    order whose count-of-counts give no valid discounts raises a ValueError naming the order (lmplz's default),
    or, with `fallback`, uses those discounts instead (lmplz's --discount_fallback; a warning is logged).
    """
    from transformers.utils import logging

    logger = logging.get_logger(__name__)
    as_array = (lambda d: np.array([0.0, *d])) if modified else (lambda d: np.array([0.0, d, d, d]))
    if fixed is not None:
        return [as_array(fixed) for _ in adjusted]
    estimate = modified_kneser_ney_discounts if modified else kneser_ney_discount
    discounts = []
    for k, counts in enumerate(adjusted, start=1):
        t = count_of_counts(counts) if stats is None else stats[k - 1]
        try:
            discounts.append(estimate(t))
        except DiscountError as error:
            if fallback is None:
                raise ValueError(
                    f"{'modified ' if modified else ''}Kneser-Ney discounts of the {k}-grams: {error} "
                    f"(count-of-counts t1..t4 = {t[1:].tolist()}); the data is too small or artificial. Pass "
                    f"discount_fallback=True (KenLM's --discount_fallback), a fixed discount, or a lower order."
                ) from None
            logger.warning(f"order {k}: {error}; using the fallback discounts {fallback}")
            discounts.append(as_array(fallback))
    return discounts


# ----------------------------------------------------------------------------------------------------------------------
# Estimators: each returns (probabilities, backoffs), lists over orders (backoffs for orders 1..n-1)
# ----------------------------------------------------------------------------------------------------------------------
def kneser_ney(tables: list[CountTable], adjusted: list[np.ndarray], discounts: list[np.ndarray]):
    """Interpolated (modified) Kneser-Ney as lmplz: p(w|h) = (a(hw) - D(a(hw))) / sum_x a(hx) + gamma(h) p(w|h').

    gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / sum_x a(hx) is also the ARPA backoff bo(h). Unigrams
    interpolate with the uniform 1/|V|, where |V| counts `<unk>` and `</s>` but not `<s>`; a zero-count `<unk>` gets
    only that interpolation mass. `<s>` gets p = 1 (log10 0), as lmplz writes it: it is never predicted.
    """
    vocab_size = len(tables[0])
    a = adjusted[0].astype(np.float64)
    d = discounts[0][np.minimum(adjusted[0], 3)]  # D(a); D(0) = 0
    denominator = a.sum()
    gamma = d[adjusted[0] > 0].sum() / denominator
    p = (a - d) / denominator + gamma / (vocab_size - 1)
    p[BOS_ID] = 1.0
    probabilities, backoffs = [p], []
    for k in range(1, len(tables)):
        table, counts = tables[k], adjusted[k]
        a = counts.astype(np.float64)
        d = discounts[k][np.minimum(counts, 3)]
        contexts = len(tables[k - 1])
        denominator = np.bincount(table.prefix, weights=a, minlength=contexts)  # sum_x a(h x)
        gamma_numerator = np.bincount(table.prefix, weights=d, minlength=contexts)  # D1 N1 + D2 N2 + D3+ N3+
        is_context = denominator > 0
        gamma = np.ones(contexts)
        gamma[is_context] = gamma_numerator[is_context] / denominator[is_context]
        p = (a - d) / denominator[table.prefix] + gamma[table.prefix] * probabilities[k - 1][table.suffix]
        probabilities.append(p)
        backoffs.append(gamma)
    return probabilities, backoffs


def maximum_likelihood(tables: list[CountTable]):
    """MLE p(w|h) = c(hw) / c(h) at every order; bo(h) = 0 for a seen context, so unseen events get p = 0.

    A context never seen has no stored backoff (bo = 1): the estimate of its longest seen suffix is used.
    """
    counts = tables[0].counts.astype(np.float64)
    p = counts / counts.sum()
    p[BOS_ID] = 1.0
    probabilities, backoffs = [p], []
    for k in range(1, len(tables)):
        table = tables[k]
        contexts = len(tables[k - 1])
        context_counts = np.bincount(table.prefix, weights=table.counts, minlength=contexts)
        probabilities.append(table.counts / context_counts[table.prefix])
        backoffs.append(np.where(context_counts > 0, 0.0, 1.0))
    return probabilities, backoffs


def add_k(tables: list[CountTable], k: float):
    """Add-k (Lidstone; Laplace for k = 1): p(w|h) = (c(hw) + k) / (c(h) + k|V|) at the longest available context.

    The context of a word is its n-1 previous words, or all of them back to `<s>` at the start of a sentence; a
    context never seen gives the uniform 1/|V| (|V| counts `<unk>` and `</s>`, not `<s>`). This is exactly a backoff
    model: add-k probabilities for the n-grams of the full order and those that start with `<s>`, uniform lower
    orders, and bo(h) = k|V| / (c(h) + k|V|), the mass left for the unseen words of a seen context h.
    """
    order = len(tables)
    size = len(tables[0]) - 1  # |V|: every word but <s>
    if order == 1:
        counts = tables[0].counts.astype(np.float64)
        p = (counts + k) / (counts.sum() + k * size)
    else:
        p = np.full(len(tables[0]), 1.0 / size)
    p[BOS_ID] = 1.0
    probabilities, backoffs = [p], []
    for n in range(2, order + 1):
        table = tables[n - 1]
        contexts = len(tables[n - 2])
        context_counts = np.bincount(table.prefix, weights=table.counts, minlength=contexts)
        smoothed = np.ones(len(table), dtype=bool) if n == order else table.starts_with_bos
        probabilities.append(
            np.where(smoothed, (table.counts + k) / (context_counts[table.prefix] + k * size), 1.0 / size)
        )
        context_smoothed = np.ones(contexts, dtype=bool) if n == order else tables[n - 2].starts_with_bos
        backoff = np.ones(contexts)
        seen = context_smoothed & (context_counts > 0)
        backoff[seen] = k * size / (context_counts[seen] + k * size)
        backoffs.append(backoff)
    return probabilities, backoffs


def to_log10(values: list[np.ndarray]) -> list[np.ndarray]:
    """log10 as float32 (the precision of ARPA files and KenLM); log10 0 = -inf."""
    with np.errstate(divide="ignore"):
        return [np.log10(v).astype(np.float32) for v in values]


__all__ = [
    "DiscountError",
    "add_k",
    "adjusted_counts",
    "count_of_counts",
    "estimate_discounts",
    "kneser_ney",
    "kneser_ney_discount",
    "maximum_likelihood",
    "modified_kneser_ney_discounts",
    "to_log10",
]
