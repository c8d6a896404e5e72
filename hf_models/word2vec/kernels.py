"""Compiled training kernels of word2vec (numba): one call trains a batch of sentences in place, without the GIL.

The updates are those of word2vec.c and gensim's `word2vec_inner.pyx` (Mikolov et al. 2013a/b), written as explicit
float32 loops that LLVM vectorises:

- skip-gram: for every centre word w_i and every context word w_j within its (dynamic) window, the vector of w_j,
  syn0[w_j], is trained to predict w_i (word2vec.c's order of the pair, the same pairs as predicting w_j from w_i);
- CBOW: the mean (or sum) of the context vectors, h, is trained to predict w_i; as in word2vec.c and gensim, every
  context vector receives the gradient of h itself (with the mean) or divided by the context size (with the sum);
- negative sampling (Mikolov 2013b eq. 4): maximise log s(v_out . h) + sum_k log s(-v_k . h) over `negative` noise
  words drawn from the unigram^0.75 table (a noise word equal to the target is skipped, as in word2vec.c);
- hierarchical softmax: log p(w | h) = sum_b log s((1 - 2 code_b) v_{point_b} . h) over the word's Huffman path.

Randomness (subsampling, window sizes, noise words) comes from word2vec.c's 48-bit linear congruential generator,
`next_random = (next_random * 25214903917 + 11) mod 2^48`, whose state each call receives and returns; the learning
rate decays linearly from `alpha_start` to `alpha_end` across the words of the batch. Several threads may run the
kernels on the same weights at once (Hogwild!, as word2vec.c and gensim do).

The sigmoid and log-sigmoid are computed exactly (one exp per prediction), not read from word2vec.c's 1000-entry
table that clips the scores to [-6, 6]; `compute_loss=False` skips the log.

The kernels compile on first use (a one-time wait, announced through the `hf_models` logger) and the machine code is
cached in a user folder, never inside the installed package (which may be read-only): `NUMBA_CACHE_DIR` when set,
else `$HF_MODELS_CACHE/numba`, else `$XDG_CACHE_HOME/hf_models/numba` (`~/.cache/hf_models/numba`); see
`kernel_cache_dir`. Only these dispatchers use that folder: numba's caching of the user's own functions is unchanged.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
from numba import njit
from numba.core import caching as _caching
from numba.core import event as _event

logger = logging.getLogger(__name__)

LCG_MULTIPLIER = np.uint64(25214903917)
LCG_INCREMENT = np.uint64(11)
LCG_MASK = np.uint64(0xFFFFFFFFFFFF)
_SHIFT = np.uint64(16)
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)

# cached on disk, in the user cache folder of `kernel_cache_dir` (attached below: numba's cache=True would write into
# the package's __pycache__)
JIT = {"nogil": True, "fastmath": True}
# helpers of the hot loops are inlined into the kernels (numba IR inlining): no call, no array reference counting
INLINE = {**JIT, "inline": "always"}


@njit(**INLINE)
def next_random_state(state: np.uint64) -> np.uint64:
    """word2vec.c's LCG step: next = (state * 25214903917 + 11) mod 2^48."""
    return (state * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK


def build_guide_table(cum_table: np.ndarray, bits: int = 16) -> tuple[np.ndarray, int]:
    """An index into the cumulative table: guide[b] = bisect_left(cum_table, b << shift) for 2^bits buckets.

    A draw x falls in bucket x >> shift, so its insertion point lies in [guide[b], guide[b + 1]]: the bisection runs
    over that short range (usually a single word) and returns exactly what a bisection of the whole table would.
    """
    domain = int(cum_table[-1]) if len(cum_table) else 1
    shift = max(domain.bit_length() - bits, 0)
    buckets = (domain >> shift) + 2
    guide = np.searchsorted(cum_table, np.arange(buckets, dtype=np.uint64) << np.uint64(shift), side="left")
    return np.minimum(guide, len(cum_table) - 1).astype(np.int32), shift


@njit(**INLINE)
def draw_noise_word(cum_table: np.ndarray, guide: np.ndarray, shift: int, state: np.uint64) -> np.int64:
    """Noise word of negative sampling: bisect_left of a random integer in the cumulative table (gensim's draw)."""
    target = (state >> _SHIFT) % np.uint64(cum_table[cum_table.shape[0] - 1])
    bucket = np.int64(target >> np.uint64(shift))
    lo = np.int64(guide[bucket])
    hi = np.int64(guide[bucket + 1]) + 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.uint64(cum_table[mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(**INLINE)
def log1p_unit(e: np.float32) -> np.float32:
    """log(1 + e) for e in [0, 1] as 2 atanh(s), s = e / (2 + e) <= 1/3, by its odd series to s^11 (error < 2e-7)."""
    s = e / (np.float32(2.0) + e)
    s2 = s * s
    series = np.float32(1.0 / 11.0)
    series = series * s2 + np.float32(1.0 / 9.0)
    series = series * s2 + np.float32(1.0 / 7.0)
    series = series * s2 + np.float32(1.0 / 5.0)
    series = series * s2 + np.float32(1.0 / 3.0)
    series = series * s2 + _ONE
    return np.float32(2.0) * s * series


@njit(**INLINE)
def sigmoid_and_loss(score: np.float32, label: np.float32, compute_loss: bool):
    """s(x) and the logistic loss -log s(x) (label 1) or -log s(-x) (label 0), never overflowing (exp(-|x|) <= 1)."""
    e = np.exp(-abs(score))  # in (0, 1]
    numerator = _ONE if score >= _ZERO else e  # a select, not a branch: the sign of a score is unpredictable
    sigma = numerator / (_ONE + e)
    loss = _ZERO
    if compute_loss:
        # -log s(y) with y = x for label 1 and y = -x for label 0: softplus(-y) = max(-y, 0) + log(1 + exp(-|y|))
        signed = score if label > _ZERO else -score
        loss = log1p_unit(e) + max(-signed, _ZERO)
    return sigma, loss


@njit(**INLINE)
def dot(a: np.ndarray, row_a: int, b: np.ndarray, row_b: int) -> np.float32:
    """a[row_a] . b[row_b] in float32 (vectorised by LLVM; rows are indexed, never sliced into views)."""
    total = _ZERO
    for k in range(a.shape[1]):
        total += a[row_a, k] * b[row_b, k]
    return total


@njit(**INLINE)
def update_output_row(h, h_row, out, out_row, grad_h, g) -> None:
    """grad_h += g * v_out; v_out += g * h, in one pass over the row (grad_h reads v_out before its update)."""
    for k in range(h.shape[1]):
        v = out[out_row, k]
        grad_h[k] += g * v
        out[out_row, k] = v + g * h[h_row, k]


@njit(**INLINE)
def negative_sampling_step(h, h_row, target, syn1neg, cum_table, guide, shift, noise, alpha, grad_h, state,
                           compute_loss):
    """One prediction by negative sampling (Mikolov 2013b eq. 4): updates syn1neg, accumulates dL/dh in grad_h.

    The target (label 1) and len(noise) noise words (label 0) are each a logistic decision on v . h, h = h[h_row];
    the noise words are drawn first, so that the loads of their rows overlap the arithmetic.
    """
    negative = noise.shape[0]
    for n in range(negative):
        noise[n] = draw_noise_word(cum_table, guide, shift, state)
        state = next_random_state(state)
    loss = _ZERO
    for n in range(negative + 1):
        if n == 0:
            word = target
            label = _ONE
        else:
            word = noise[n - 1]
            if word == target:
                continue
            label = _ZERO
        score = dot(h, h_row, syn1neg, word)
        sigma, pair_loss = sigmoid_and_loss(score, label, compute_loss)
        loss += pair_loss
        update_output_row(h, h_row, syn1neg, word, grad_h, (label - sigma) * alpha)
    return state, loss


@njit(**INLINE)
def hierarchical_softmax_step(h, h_row, target, syn1, codes, points, code_lengths, alpha, grad_h, compute_loss):
    """One prediction by hierarchical softmax: a logistic decision per inner node on the target's Huffman path."""
    loss = _ZERO
    for b in range(code_lengths[target]):
        node = points[target, b]
        label = _ONE - np.float32(codes[target, b])  # code 0 means "left", i.e. s(v . h) -> 1
        score = dot(h, h_row, syn1, node)
        sigma, node_loss = sigmoid_and_loss(score, label, compute_loss)
        loss += node_loss
        update_output_row(h, h_row, syn1, node, grad_h, (label - sigma) * alpha)
    return loss


@njit(**INLINE)
def _subsample_sentence(ids, start, end, sample_ints, do_sample, sentence, positions, state):
    """Copy the in-vocabulary ids of ids[start:end] that survive subsampling to `sentence`; returns (length, state)."""
    length = 0
    for p in range(start, end):
        word = ids[p]
        if word < 0:  # not in the vocabulary: dropped, which widens the window over it (as word2vec.c)
            continue
        if do_sample:
            draw = state >> _SHIFT
            state = next_random_state(state)
            if np.uint64(sample_ints[word]) < draw:
                continue
        sentence[length] = word
        positions[length] = p
        length += 1
    return length, state


@njit(**JIT)
def train_batch(
    syn0: np.ndarray,
    syn1neg: np.ndarray,
    syn1: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    sample_ints: np.ndarray,
    cum_table: np.ndarray,
    guide: np.ndarray,
    guide_shift: int,
    codes: np.ndarray,
    points: np.ndarray,
    code_lengths: np.ndarray,
    skipgram: bool,
    hierarchical: bool,
    negative: int,
    window: int,
    shrink_windows: bool,
    cbow_mean: bool,
    do_sample: bool,
    alpha_start: float,
    alpha_end: float,
    state: np.uint64,
    compute_loss: bool,
):
    """Train word2vec on sentences ids[offsets[s]:offsets[s+1]] (ids < 0: out of vocabulary) in place.

    syn0 (V, d) input vectors; syn1neg (V, d) output vectors of negative sampling; syn1 (V-1, d) inner-node
    vectors of hierarchical softmax (the unused one may be empty); cum_table and its guide (`build_guide_table`)
    the noise distribution; codes/points/code_lengths the Huffman paths. Returns (effective words, summed loss,
    predictions, RNG state).
    """
    size = syn0.shape[1]
    total = max(ids.shape[0], 1)
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    sentence = np.empty(longest, dtype=np.int64)
    positions = np.empty(longest, dtype=np.int64)
    hidden = np.empty((1, size), dtype=np.float32)  # CBOW's h, as a one-row matrix like syn0
    grad_h = np.empty(size, dtype=np.float32)
    noise = np.empty(negative, dtype=np.int64)
    alpha_0 = np.float32(alpha_start)
    alpha_slope = np.float32(alpha_end - alpha_start) / np.float32(total)
    window_u = np.uint64(window)
    effective_words = 0
    predictions = 0
    loss = 0.0

    for s in range(offsets.shape[0] - 1):
        length, state = _subsample_sentence(
            ids, offsets[s], offsets[s + 1], sample_ints, do_sample, sentence, positions, state
        )
        effective_words += length
        for i in range(length):
            alpha = alpha_0 + alpha_slope * np.float32(positions[i])  # linear decay word by word
            reduced = 0
            if shrink_windows:  # dynamic window: an effective window uniform in 1..window
                reduced = np.int64((state >> _SHIFT) % window_u)
                state = next_random_state(state)
            lo = max(0, i - window + reduced)
            hi = min(length, i + window + 1 - reduced)
            target = sentence[i]
            if skipgram:
                for j in range(lo, hi):
                    if j == i:
                        continue
                    context = sentence[j]
                    for k in range(size):
                        grad_h[k] = _ZERO
                    if hierarchical:
                        pair_loss = hierarchical_softmax_step(
                            syn0, context, target, syn1, codes, points, code_lengths, alpha, grad_h, compute_loss
                        )
                    else:
                        state, pair_loss = negative_sampling_step(
                            syn0, context, target, syn1neg, cum_table, guide, guide_shift, noise, alpha, grad_h,
                            state, compute_loss,
                        )
                    for k in range(size):
                        syn0[context, k] += grad_h[k]
                    loss += pair_loss
                    predictions += 1
            else:
                # h = mean (or sum) of the context vectors
                count = hi - lo - 1
                if count <= 0:
                    continue
                for k in range(size):
                    hidden[0, k] = _ZERO
                    grad_h[k] = _ZERO
                for j in range(lo, hi):
                    if j == i:
                        continue
                    context = sentence[j]
                    for k in range(size):
                        hidden[0, k] += syn0[context, k]
                inv_count = _ONE / np.float32(count)
                if cbow_mean:
                    for k in range(size):
                        hidden[0, k] *= inv_count
                if hierarchical:
                    word_loss = hierarchical_softmax_step(
                        hidden, 0, target, syn1, codes, points, code_lengths, alpha, grad_h, compute_loss
                    )
                else:
                    state, word_loss = negative_sampling_step(
                        hidden, 0, target, syn1neg, cum_table, guide, guide_shift, noise, alpha, grad_h, state,
                        compute_loss,
                    )
                if not cbow_mean:  # gensim divides the error over the summed context vectors
                    for k in range(size):
                        grad_h[k] *= inv_count
                for j in range(lo, hi):
                    if j == i:
                        continue
                    context = sentence[j]
                    for k in range(size):
                        syn0[context, k] += grad_h[k]
                loss += word_loss
                predictions += 1
    return effective_words, loss, predictions, state


@njit(**JIT)
def skipgram_pairs(ids, offsets, sample_ints, do_sample, window, shrink_windows, state):
    """The (centre, context) pairs of a batch after subsampling and dynamic windows, for the torch training path."""
    longest = 0
    capacity = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
        capacity += (offsets[s + 1] - offsets[s]) * 2 * window
    sentence = np.empty(longest, dtype=np.int64)
    positions = np.empty(longest, dtype=np.int64)
    centers = np.empty(capacity, dtype=np.int64)
    contexts = np.empty(capacity, dtype=np.int64)
    n = 0
    effective_words = 0
    for s in range(offsets.shape[0] - 1):
        length, state = _subsample_sentence(
            ids, offsets[s], offsets[s + 1], sample_ints, do_sample, sentence, positions, state
        )
        effective_words += length
        for i in range(length):
            reduced = 0
            if shrink_windows:
                reduced = np.int64((state >> _SHIFT) % np.uint64(window))
                state = next_random_state(state)
            for j in range(max(0, i - window + reduced), min(length, i + window + 1 - reduced)):
                if j != i:
                    centers[n] = sentence[i]
                    contexts[n] = sentence[j]
                    n += 1
    return centers[:n], contexts[:n], effective_words, state


@njit(**JIT)
def cbow_examples(ids, offsets, sample_ints, do_sample, window, shrink_windows, state):
    """(centre, context bag padded to 2*window, mask) examples of a batch, for the torch training path."""
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    sentence = np.empty(longest, dtype=np.int64)
    positions = np.empty(longest, dtype=np.int64)
    capacity = ids.shape[0]
    centers = np.empty(capacity, dtype=np.int64)
    contexts = np.zeros((capacity, 2 * window), dtype=np.int64)
    mask = np.zeros((capacity, 2 * window), dtype=np.bool_)
    n = 0
    effective_words = 0
    for s in range(offsets.shape[0] - 1):
        length, state = _subsample_sentence(
            ids, offsets[s], offsets[s + 1], sample_ints, do_sample, sentence, positions, state
        )
        effective_words += length
        for i in range(length):
            reduced = 0
            if shrink_windows:
                reduced = np.int64((state >> _SHIFT) % np.uint64(window))
                state = next_random_state(state)
            c = 0
            for j in range(max(0, i - window + reduced), min(length, i + window + 1 - reduced)):
                if j != i:
                    contexts[n, c] = sentence[j]
                    mask[n, c] = True
                    c += 1
            if c > 0:
                centers[n] = sentence[i]
                n += 1
    return centers[:n], contexts[:n], mask[:n], effective_words, state


# ----------------------------------------------------------------------------------------------------------------------
# Where the compiled kernels are cached, and the first-use announcement
# ----------------------------------------------------------------------------------------------------------------------
def kernel_cache_dir() -> str:
    """The folder under which the compiled kernels are cached (each source folder in a subfolder, as numba does).

    `NUMBA_CACHE_DIR` when set (numba's own setting), else `$HF_MODELS_CACHE/numba`, else
    `$XDG_CACHE_HOME/hf_models/numba`, by default `~/.cache/hf_models/numba`.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    root = os.environ.get("HF_MODELS_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "hf_models")
    return os.path.join(root, "numba")


class UserCacheLocator(_caching._SourceFileBackedLocatorMixin, _caching._CacheLocator):
    """numba cache locator for these kernels: `kernel_cache_dir()`/<source folder>_<hash of its path>/.

    Like numba's own locators, it declines (and the next one is tried) when the folder cannot be created or written.
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(kernel_cache_dir(), self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self) -> str:
        return self._cache_path


# numba's user-wide cache (~/.cache/numba) is the fallback; the package's own __pycache__ is never used
try:
    _FALLBACK_LOCATOR = _caching.UserWideCacheLocator
except AttributeError:  # older numba (0.60) names it with an underscore
    _FALLBACK_LOCATOR = _caching._UserWideCacheLocator


class _KernelCacheImpl(_caching.CompileResultCacheImpl):
    _locator_classes = (UserCacheLocator, _FALLBACK_LOCATOR)


class _KernelCache(_caching.FunctionCache):
    """numba's per-function cache (index .nbi + data .nbc files) with the locators above."""

    _impl_class = _KernelCacheImpl


def _use_user_cache(dispatcher) -> None:
    """Cache `dispatcher` on disk in the user cache folder (what numba's `enable_caching` does with its locators)."""
    try:
        dispatcher._cache = _KernelCache(dispatcher.py_func)
    except RuntimeError:  # no writable folder: compile in every process instead
        logger.warning(
            f"cannot cache the compiled word2vec kernel {dispatcher.__name__}: neither {kernel_cache_dir()} nor "
            "numba's user cache folder is writable; set HF_MODELS_CACHE (or NUMBA_CACHE_DIR) to a writable folder"
        )


_KERNELS = (next_random_state, draw_noise_word, log1p_unit, sigmoid_and_loss, dot, update_output_row,
            negative_sampling_step, hierarchical_softmax_step, _subsample_sentence, train_batch, skipgram_pairs,
            cbow_examples)
for _kernel in _KERNELS:
    _use_user_cache(_kernel)


class _CompileAnnouncer(_event.Listener):
    """Logs when a kernel compiles (a cache miss: numba loads a cached kernel without this event), so that the
    one-time wait is not silent: a warning when a kernel called from Python starts compiling (once per kernel and
    process; the helpers it compiles along the way are not announced again), and how long it took."""

    def __init__(self, dispatchers):
        self._ids = {id(dispatcher) for dispatcher in dispatchers}
        self._announced: set[str] = set()
        self._running = threading.local()  # per thread: the start of the outermost kernel compilation, its depth

    def on_start(self, event) -> None:
        dispatcher = event.data.get("dispatcher")
        if id(dispatcher) not in self._ids:
            return
        depth = getattr(self._running, "depth", 0)
        self._running.depth = depth + 1
        if depth:  # a helper compiled while the kernel that calls it compiles
            return
        self._running.start = time.perf_counter()
        name = dispatcher.__name__
        if name in self._announced:
            return
        self._announced.add(name)
        cache = dispatcher._cache
        where = (f"it is cached in {cache.cache_path} for later runs" if isinstance(cache, _KernelCache)
                 else "it cannot be cached (no writable cache folder)")
        logger.warning(
            f"Compiling the word2vec kernel {name} with numba: a one-time wait of about 5-30 s on first use (minutes "
            f"on a busy machine); {where}"
        )

    def on_end(self, event) -> None:
        dispatcher = event.data.get("dispatcher")
        if id(dispatcher) not in self._ids:
            return
        self._running.depth = depth = max(getattr(self._running, "depth", 1) - 1, 0)
        if depth == 0:
            seconds = time.perf_counter() - getattr(self._running, "start", time.perf_counter())
            logger.info(f"compiled the word2vec kernel {dispatcher.__name__} in {seconds:.1f}s")


_event.register("numba:compile", _CompileAnnouncer(_KERNELS))


__all__ = [
    "build_guide_table",
    "cbow_examples",
    "draw_noise_word",
    "kernel_cache_dir",
    "next_random_state",
    "skipgram_pairs",
    "train_batch",
]
