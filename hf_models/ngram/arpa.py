"""The backoff (ARPA) representation of an n-gram model: sorted tables, scoring by backoff, ARPA files both ways.

For every order k the model stores the sorted int64 keys of its k-grams (key = id(prefix (k-1)-gram) * V + last word,
the id of a k-gram being its index in the order-k table), log10 p*(k-gram) and, below the highest order, log10 bo(k-gram).
Scoring is the backoff recursion (Katz 1987; the ARPA format of Paul & Baker 1992, as SRILM and KenLM read it):

    log p(w | w1..wm) = log p*(w1..wm w)                          if w1..wm w is stored,
                        log bo(w1..wm) + log p(w | w2..wm)         otherwise (log bo = 0 if w1..wm is not stored),

vectorised over a whole corpus: one `np.searchsorted` per order.

ARPA files (`write_arpa`, `read_arpa`) hold "log10 prob<TAB>w1 .. wk[<TAB>log10 backoff]" lines in `\\k-grams:`
sections after a `\\data\\` header of n-gram counts, and end with `\\end\\`. A probability of 0 is written -99 and a
log10 value <= -99 is read as log10 0 (SRILM's convention).
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import itertools
import math
import mmap
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numba import njit, prange

from .counting import BOS_ID, EOS_ID, UNK_ID, check_word, sort_with_order
from .jit_cache import cache_and_announce

LOG10_ZERO_IN_FILE = -99.0  # how an ARPA file writes log10 0


class ARPAFormatError(ValueError):
    """A malformed ARPA file; the message names the file and the line."""


# ----------------------------------------------------------------------------------------------------------------------
# Tables and scoring
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class BackoffTables:
    """log10 p*(.) and log10 bo(.) of every stored n-gram, order by order, with sorted int64 keys."""

    vocab_size: int
    keys: list[np.ndarray]
    log10_probs: list[np.ndarray]
    log10_backoffs: list[np.ndarray]  # orders 1..n-1

    @property
    def order(self) -> int:
        return len(self.keys)

    @property
    def ngram_counts(self) -> list[int]:
        return [len(k) for k in self.keys]

    def lookup(self, k: int, prefix_ids: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Ids of the k-grams (prefix (k-1)-gram id, last word) in the order-k table; -1 where absent."""
        if k == 1:
            return np.asarray(words, dtype=np.int64).copy()
        table = self.keys[k - 1]
        ids = np.full(len(words), -1, dtype=np.int64)
        valid = prefix_ids >= 0
        if len(table) == 0 or not valid.any():
            return ids
        query = prefix_ids[valid] * self.vocab_size + words[valid]
        found = np.minimum(np.searchsorted(table, query), len(table) - 1)
        ids[valid] = np.where(table[found] == query, found, -1)
        return ids

    def position_ids(self, tokens: np.ndarray, history: np.ndarray, max_order: int | None = None):
        """For k = 1..n: the id of the k-gram ending at every position (-1 if not stored or if it would reach back
        further than the position's history allows)."""
        max_order = self.order if max_order is None else max_order
        ids = [np.asarray(tokens, dtype=np.int64)]
        for k in range(2, max_order + 1):
            prefix = np.full(len(tokens), -1, dtype=np.int64)
            prefix[1:] = ids[-1][:-1]
            prefix[history < k - 1] = -1  # the k-gram would cross the start of the sentence
            ids.append(self.lookup(k, prefix, tokens))
        return ids

    def score(self, tokens: np.ndarray, history: np.ndarray, max_order: int | None = None):
        """log10 p(token_j | its history) at every position j, and the length of the n-gram that matched.

        history[j] is the number of tokens before j that may serve as context (0 at `<s>` or at the start of a
        fragment). The backoff recursion runs from unigrams up: at order k, the k-gram is either stored (its
        probability replaces the lower-order estimate) or the lower estimate is multiplied by bo(context).
        """
        max_order = self.order if max_order is None else max_order
        tokens = np.asarray(tokens, dtype=np.int64)
        ids = self.position_ids(tokens, history, max_order)
        log10_p = self.log10_probs[0][tokens].astype(np.float64)
        length = np.ones(len(tokens), dtype=np.int64)
        for k in range(2, max_order + 1):
            context = np.full(len(tokens), -1, dtype=np.int64)  # the (k-1)-gram ending just before j
            context[1:] = ids[k - 2][:-1]
            context[history < k - 1] = -1
            has_context = context >= 0
            log10_p[has_context] += self.log10_backoffs[k - 2][context[has_context]]
            found = ids[k - 1] >= 0
            log10_p[found] = self.log10_probs[k - 1][ids[k - 1][found]]
            length[found] = k
        return log10_p, length

    def distributions(self, tokens: np.ndarray, history: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """log10 p(w | context ending at position j) for every word w (columns) and every j in `positions` (rows).

        The context of row j is tokens[j - history[j] .. j]. Row by row this is the backoff recursion for all words
        at once: start from the unigram table; for each longer context, add log bo(context) to every word and
        overwrite the words stored after that context (a contiguous range of the sorted keys).
        """
        positions = np.asarray(positions, dtype=np.int64)
        rows = len(positions)
        out = np.broadcast_to(self.log10_probs[0].astype(np.float64), (rows, self.vocab_size)).copy()
        if rows == 0:
            return out
        ids = self.position_ids(tokens, history)
        for m in range(1, self.order):  # context length m, entries of order m + 1
            context = ids[m - 1][positions]
            context[history[positions] < m - 1] = -1
            has = np.flatnonzero(context >= 0)
            if len(has) == 0:
                break
            out[has] += self.log10_backoffs[m - 1][context[has]][:, None]
            table = self.keys[m]
            lo = np.searchsorted(table, context[has] * self.vocab_size)
            hi = np.searchsorted(table, (context[has] + 1) * self.vocab_size)
            sizes = hi - lo
            row_of_entry = np.repeat(has, sizes)
            entry = np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
            out[row_of_entry, table[entry] % self.vocab_size] = self.log10_probs[m][entry]
        out[:, BOS_ID] = -np.inf  # <s> is never predicted
        return out

    def ngram_words(self, k: int) -> np.ndarray:
        """The word ids of every k-gram of the table, as a [n_k, k] matrix (in key order)."""
        columns = [self.keys[k - 1] % self.vocab_size if k > 1 else self.keys[0]]
        ids = np.arange(len(self.keys[k - 1]))
        for j in range(k - 1, 0, -1):  # walk up the prefixes
            ids = self.keys[j][ids] // self.vocab_size
            columns.append(self.keys[j - 1][ids] % self.vocab_size if j > 1 else self.keys[0][ids])
        return np.stack(columns[::-1], axis=1) if columns else np.zeros((0, k), dtype=np.int64)

    @classmethod
    def from_ngrams(cls, vocab_size: int, grams: list[np.ndarray], log10_probs: list[np.ndarray],
                    log10_backoffs: list[np.ndarray], where: list[np.ndarray] | None = None,
                    source: str = "") -> BackoffTables:
        """Tables from n-grams given as word-id matrices (grams[k-1] is [n_k, k]; unigrams cover the vocabulary).

        An n-gram whose prefix is missing (SRILM may prune one) gets the prefix added as a "blank" with the
        probability the model gives it by backing off and backoff 1, which changes no score (as KenLM does).
        Duplicate n-grams raise an ARPAFormatError naming the line (`where` holds the line numbers).
        """
        order = len(grams)
        grams = [_as_ids(g).reshape(len(g), k) for k, g in enumerate(grams, start=1)]
        probs = [np.asarray(p, dtype=np.float32) for p in log10_probs]
        backoffs = [np.asarray(b, dtype=np.float32) for b in log10_backoffs] + [np.zeros(len(grams[-1]), np.float32)]
        where = [np.asarray(w) for w in where] if where is not None else None
        if len(grams[0]) != vocab_size or not np.array_equal(np.sort(grams[0][:, 0]), np.arange(vocab_size)):
            raise ValueError("the unigrams must be exactly the vocabulary, each word once")
        tables = cls._from_complete_ngrams(vocab_size, grams, probs, backoffs, where, None, source)
        if tables is not None:
            return tables
        # some prefix is missing: add every missing prefix, top-down, as a blank
        grams = [g.astype(np.int64, copy=False) for g in grams]
        blanks = [np.zeros(len(g), dtype=bool) for g in grams]
        for k in range(order, 1, -1):
            prefixes = grams[k - 1][:, :-1]
            if len(prefixes) == 0:
                continue
            missing = ~np.isin(_row_view(prefixes), _row_view(grams[k - 2]))
            if missing.any():
                _, first = np.unique(_row_view(prefixes[missing]), return_index=True)
                new = prefixes[missing][np.sort(first)]
                grams[k - 2] = np.concatenate([grams[k - 2], new])
                probs[k - 2] = np.concatenate([probs[k - 2], np.full(len(new), np.nan, dtype=np.float32)])
                backoffs[k - 2] = np.concatenate([backoffs[k - 2], np.zeros(len(new), dtype=np.float32)])
                if where is not None:
                    where[k - 2] = np.concatenate([where[k - 2], np.full(len(new), -1)])
                blanks[k - 2] = np.concatenate([blanks[k - 2], np.ones(len(new), dtype=bool)])
        return cls._from_complete_ngrams(vocab_size, grams, probs, backoffs, where, blanks, source)

    @classmethod
    def _from_complete_ngrams(cls, vocab_size, grams, probs, backoffs, where, blanks, source):
        """Sort every order by key, built bottom-up from the ids of the prefixes; None if a prefix is missing.

        The id of the prefix w1..w_{k-1} of every k-gram row is found by hashing the rows of order k - 1 (a compiled
        join, `_match_rows`), whose ids in their sorted table are known from the order below.
        """
        order = len(grams)
        unigram_order = np.argsort(grams[0][:, 0])
        tables = cls(vocab_size, [np.arange(vocab_size, dtype=np.int64)], [probs[0][unigram_order]],
                     [backoffs[0][unigram_order]] if order > 1 else [])
        row_ids = grams[0][:, 0]  # id of every row of the order below in its sorted table (unigrams: the word id)
        for k in range(2, order + 1):
            rows = np.ascontiguousarray(grams[k - 1])
            if k == 2:
                prefix_ids = rows[:, 0].astype(np.int64)
            else:
                prefix_ids = np.empty(len(rows), dtype=np.int64)
                _match_rows(np.ascontiguousarray(grams[k - 2]), row_ids, rows, prefix_ids)
            if (prefix_ids < 0).any():
                return None
            keys = prefix_ids * vocab_size + rows[:, -1]
            del prefix_ids
            keys, sort = sort_with_order(keys)
            duplicate = np.flatnonzero(keys[1:] == keys[:-1])
            if len(duplicate):
                if where is None:
                    raise ARPAFormatError(f"{source}: duplicate {k}-gram")
                first, second = where[k - 1][sort[duplicate[0]]], where[k - 1][sort[duplicate[0] + 1]]
                raise ARPAFormatError(f"{source}, line {max(first, second)}: duplicate {k}-gram (first on line "
                                      f"{min(first, second)})")
            if k < order:
                row_ids = np.empty(len(sort), dtype=np.int64)
                row_ids[sort] = np.arange(len(sort))
            tables.keys.append(keys)
            tables.log10_probs.append(probs[k - 1][sort])
            if k < order:
                tables.log10_backoffs.append(backoffs[k - 1][sort])
            blank = np.flatnonzero(blanks[k - 1][sort]) if blanks is not None else []
            if len(blank):  # p(blank w1..wk) = bo(w1..w_{k-1}) p(wk | w2..w_{k-1}), from the finished lower orders
                words = tables.ngram_words(k)[blank]
                fragment = words[:, 1:].reshape(-1)  # [len(blank) * (k-1)]: w2..wk of every blank
                history = np.tile(np.arange(k - 1), len(blank))
                lower, _ = tables.score(fragment, history, max_order=k - 1)
                prefix_backoff = tables.log10_backoffs[k - 2][keys[blank] // vocab_size]
                tables.log10_probs[k - 1][blank] = lower.reshape(len(blank), k - 1)[:, -1] + prefix_backoff
        return tables


def _as_ids(a) -> np.ndarray:
    """Word ids as int32 or int64 (as given; other types become int64)."""
    a = np.asarray(a)
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


def _row_view(a: np.ndarray) -> np.ndarray:
    """Each row of a 2-D int array as one opaque value (for set operations on rows)."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


# ----------------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------------
def format_log10(values: np.ndarray) -> np.ndarray:
    """The shortest decimal that reads back as the same float32 (what KenLM prints); log10 0 is written -99.

    Each distinct value is formatted once: the fewest significant digits d (1..9) whose rounding returns the float32
    is found for all values at once, then '%.{d}g' writes it and a parse checks the round trip.
    """
    values = np.asarray(values, dtype=np.float32) + np.float32(0.0)  # -0.0 -> 0.0
    if (np.isnan(values) | np.isposinf(values)).any():
        raise ValueError("log10 values must be finite or -inf (probability 0)")
    unique, inverse = np.unique(values, return_inverse=True)
    finite = np.isfinite(unique)
    exact = unique[finite].astype(np.float64)
    digits = np.full(len(exact), 9, dtype=np.int64)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log10(np.abs(exact)))
    exponent[~np.isfinite(exponent)] = 0.0  # 0.0
    for d in range(8, 0, -1):  # from 8 digits down: keep the smallest d that round-trips
        scale = 10.0 ** (d - 1 - exponent)
        round_trips = (np.round(exact * scale) / scale).astype(np.float32) == exact.astype(np.float32)
        digits[round_trips] = d
    text = [f"{x:.{d}g}" for x, d in zip(exact.tolist(), digits.tolist())]
    parsed = np.array(text, dtype=np.float64).astype(np.float32) if text else np.zeros(0, dtype=np.float32)
    for i in np.flatnonzero(parsed != exact.astype(np.float32)):  # a double-rounding corner case: 9 digits
        text[i] = f"{exact[i]:.9g}"
    formatted = np.empty(len(unique), dtype=object)
    formatted[finite] = text
    formatted[~finite] = "-99"
    return formatted[inverse]


def _format_log10_bytes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`format_log10` of every value as bytes: rows of a [n, 16] uint8 matrix and their lengths (compiled; the rare
    value the kernel leaves, see `_shortest_decimal`, is formatted by `format_log10`)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if (np.isnan(values) | np.isposinf(values)).any():
        raise ValueError("log10 values must be finite or -inf (probability 0)")
    text = np.zeros((len(values), _TEXT_WIDTH), dtype=np.uint8)
    lengths = np.zeros(len(values), dtype=np.int64)
    _format_log10_kernel(values, _POWERS_OF_10, text, lengths)
    left = np.flatnonzero(lengths == 0)
    for i, formatted in zip(left.tolist(), format_log10(values[left]).tolist()):
        encoded = formatted.encode("ascii")
        text[i, : len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
        lengths[i] = len(encoded)
    return text, lengths


# Copied from hf_models.file_utils.atomic_write
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
                 ) -> Iterator[IO]:
    """Open `path` for writing so that it appears whole or not at all: the data go to a temporary file beside it,
    flushed to disk and renamed over `path` when the block ends without error (a kill, a full disk or an exception
    leaves the previous `path`, or none, never a truncated one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private to the user
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_arpa(path: str | os.PathLike, tables: BackoffTables, words: list[str], header_comment: str = "") -> None:
    """Write `tables` as an ARPA file (gzip-compressed if the name ends in .gz), atomically (see `atomic_write`).

    The backoff column is left out on the highest order and wherever log10 bo = 0; n-grams appear in key order.
    Each section is laid out as one block of bytes by a compiled kernel (values as `format_log10` writes them) and
    written at once.
    """
    path = Path(path)
    encoded = [w.encode("utf-8") for w in words]
    word_starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    word_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    np.cumsum(word_lengths, out=word_starts[1:])
    word_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    del encoded
    header = "".join(f"# {line}\n" for line in header_comment.splitlines()) + "\\data\\\n"
    header += "".join(f"ngram {k}={count}\n" for k, count in enumerate(tables.ngram_counts, start=1))
    # whole or not at all: a kill or a full disk never leaves a truncated ARPA file that reads as a smaller model
    with atomic_write(path, "wb") as raw, (gzip.open(raw, "wb") if path.suffix == ".gz" else
                                           contextlib.nullcontext(raw)) as f:
        f.write(header.encode("utf-8"))
        for k in range(1, tables.order + 1):
            f.write(f"\n\\{k}-grams:\n".encode("ascii"))
            grams = tables.ngram_words(k)  # [n, k] word ids
            prob_text, prob_lengths = _format_log10_bytes(tables.log10_probs[k - 1])
            backoff_lengths = np.zeros(len(grams), dtype=np.int64)
            backoff_text = np.zeros((len(grams), _TEXT_WIDTH), dtype=np.uint8)
            if k < tables.order:
                backoff = tables.log10_backoffs[k - 1]
                has_backoff = np.flatnonzero(backoff != 0)
                backoff_text[has_backoff], backoff_lengths[has_backoff] = _format_log10_bytes(backoff[has_backoff])
            # line = prob, a tab, k words, k - 1 spaces, [a tab, backoff], a newline
            line_lengths = prob_lengths + word_lengths[grams].sum(axis=1) + (k + 1)
            line_lengths += backoff_lengths + (backoff_lengths > 0)
            offsets = np.zeros(len(grams) + 1, dtype=np.int64)
            np.cumsum(line_lengths, out=offsets[1:])
            block = np.empty(int(offsets[-1]), dtype=np.uint8)
            _write_lines_kernel(block, offsets, prob_text, prob_lengths, word_bytes, word_starts, grams, backoff_text,
                                backoff_lengths)
            f.write(memoryview(block))
            del grams, prob_text, backoff_text, block, offsets, line_lengths
        f.write(b"\n\\end\\\n")


# ----------------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------------
def _open_arpa(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ARPA file")
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_column(texts: list[str], path: Path, start: int, what: str, rows: np.ndarray | None = None) -> np.ndarray:
    """log10 probabilities (<= 0) or backoffs of a section as float32; <= -99 means log10 0 (SRILM's convention).

    `start` is the index of the section's first line and `rows` the lines the texts come from (default: all), so a
    bad value is reported with its line number.
    """
    rows = np.arange(len(texts)) if rows is None else rows
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError:
        for i, text in enumerate(texts):
            try:
                float(text)
            except ValueError:
                raise ARPAFormatError(f"{path}, line {start + rows[i] + 1}: {what} {text!r} is not a number") from None
        raise
    bad = np.isnan(values) | np.isposinf(values)
    if what == "probability":
        bad |= values > 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ARPAFormatError(f"{path}, line {start + rows[i] + 1}: {what} {texts[i]!r} is not a valid log10 {what}")
    values[values <= LOG10_ZERO_IN_FILE] = -np.inf
    return values.astype(np.float32)


def read_arpa(path: str | os.PathLike, unk_token: str = "<unk>", bos_token: str = "<s>", eos_token: str = "</s>"):
    """Read an ARPA file (KenLM's, SRILM's, ours; gzip allowed): the vocabulary and the backoff tables.

    Errors name the file and the line: a missing `\\data\\`, bad `ngram k=count` lines, a missing or misplaced
    section header, a malformed n-gram line, more or fewer n-grams than announced, an n-gram with a word that is
    not a unigram, duplicates, a missing `\\end\\`. A missing `<unk>`, `<s>` or `</s>` is added with probability 0
    (a warning is logged). Returns (words in id order, BackoffTables).

    The file is parsed as bytes by compiled kernels (`_parse_section`: a hash of the unigrams, every n-gram line
    looked up at C speed, no Python object per line). Anything these do not accept (a malformed line, an odd number
    such as `-inf`...) sends the file to the line-by-line Python reader, which gives the same tables or the error
    with its line number.
    """
    from transformers.utils import logging

    logger = logging.get_logger(__name__)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ARPA file")
    result = _read_arpa_bytes(path, unk_token, bos_token, eos_token, logger)
    if result is not None:
        return result
    collecting = gc.isenabled()
    gc.disable()  # millions of small lists: the cyclic collector would otherwise dominate the parse
    try:
        return _read_arpa(path, unk_token, bos_token, eos_token, logger)
    finally:
        if collecting:
            gc.enable()


def _chunks(data, buf: np.ndarray, position: int, count: int, next_header: bytes, chunks: int = 16):
    """Byte offsets and first line numbers of `chunks` runs of whole lines covering the `count` lines from
    `position` (found with bytes.find / bytes.count, which run at memory speed); (None, None) if the file has fewer
    lines there."""
    end = data.find(next_header, position)  # where the next section (or \end\) should start
    end = len(data) if end < 0 else end
    starts, lines = [position], [0]
    for c in range(1, chunks):
        cut = data.find(b"\n", position + (end - position) * c // chunks, end)
        if cut < 0 or cut + 1 <= starts[-1]:
            continue
        lines.append(lines[-1] + _newlines(buf, starts[-1], cut + 1))
        starts.append(cut + 1)
        if lines[-1] >= count:
            starts.pop()
            lines.pop()
            break
    total = lines[-1] + _newlines(buf, starts[-1], end) + 1
    if total < count:
        return None, None
    lines.append(count)
    return np.array(starts, dtype=np.int64), np.array(lines, dtype=np.int64)


def _drop_pages(data, start: int, end: int) -> None:
    """Let the kernel reclaim the pages of data[start:end] (an mmap of the file; they are read again if touched)."""
    if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
        last = end // mmap.PAGESIZE * mmap.PAGESIZE
        if last > first:
            data.madvise(mmap.MADV_DONTNEED, first, last - first)


def _newlines(buf: np.ndarray, start: int, end: int) -> int:
    return int(np.count_nonzero(buf[start:end] == _NEWLINE))


def _close_mmap(data: mmap.mmap) -> None:
    """Close a memory map whose numpy views are gone; a view that only a pending reference cycle still holds is
    collected first (closing under a live view raises BufferError), and one still alive closes the map when freed."""
    try:
        data.close()
    except BufferError:
        gc.collect()
        try:
            data.close()
        except BufferError:
            pass


def _read_arpa_bytes(path: Path, unk_token: str, bos_token: str, eos_token: str, logger):
    """The fast reader: (words, tables), or None if the file needs the Python reader (to report an error).

    A plain file is memory-mapped and each parsed section is dropped from memory (madvise) once its n-grams are in
    arrays; a gzip file is decompressed in memory. Word ids are int32 until the tables are built.
    """
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
        if not compressed:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if compressed:
        with gzip.open(path, "rb") as f:
            data = f.read()
    try:
        parsed = _parse_arpa_bytes(data, path, unk_token, bos_token, eos_token, logger)
    finally:
        if isinstance(data, mmap.mmap):
            _close_mmap(data)
    if parsed is None:
        return None
    words, grams, probs, backoffs = parsed
    try:
        tables = BackoffTables.from_ngrams(len(words), grams, probs, backoffs[:-1], source=str(path))
    except ARPAFormatError:
        return None  # duplicates: the Python reader names their lines
    return words, tables


def _parse_arpa_bytes(data, path: Path, unk_token: str, bos_token: str, eos_token: str, logger):
    """(words, grams, probs, backoffs) of the ARPA file in `data` (bytes or mmap), or None (see _read_arpa_bytes)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    position = 0
    unigrams_end = 0  # the unigrams' bytes stay in memory: every later section compares words with them

    def next_line():
        nonlocal position
        if position >= len(data):
            return None
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        line = data[position:end].decode("utf-8")  # UnicodeDecodeError: the Python reader reports it
        position = end + 1
        return line.strip()

    try:
        line = next_line()
        while line is not None and line != "\\data\\":
            line = next_line()
        counts = []
        line = next_line() if line is not None else None
        while line:
            order_text, _, count_text = line[len("ngram "):].partition("=")
            if not line.startswith("ngram ") or int(order_text) != len(counts) + 1 or int(count_text) < 0:
                return None
            counts.append(int(count_text))
            line = next_line()
        if not counts:
            return None
        order = len(counts)
        table = word_starts = word_ends = new_id = None
        words = specials = None
        grams, probs, backoffs = [], [], []
        for k in range(1, order + 1):
            while line == "":
                line = next_line()
            if line != f"\\{k}-grams:":
                return None
            count = counts[k - 1]
            probs_k = np.empty(count, dtype=np.float32)
            backoffs_k = np.empty(count, dtype=np.float32)
            slow = np.zeros((1024, 4), dtype=np.int64)
            if k == 1:
                table = np.full((max(16, 1 << int(2 * count).bit_length()), 4), -1, dtype=np.int64)
                word_starts = np.zeros(count, dtype=np.int64)
                word_ends = np.zeros(count, dtype=np.int64)
                grams_k = np.zeros((0, 1), dtype=np.int64)
            else:
                grams_k = np.empty((count, k), dtype=np.int32 if len(new_id) < 2**31 else np.int64)
            status = _MALFORMED
            section_start = position
            if k > 1 and count >= _PARALLEL_LINES:
                next_header = f"\n\\{k + 1}-grams:" if k < order else "\n\\end\\"
                chunk_starts, chunk_lines = _chunks(data, buf, position, count, next_header.encode("ascii"))
                if chunk_starts is not None:
                    status, end = _parse_section_in_parallel(
                        buf, chunk_starts, chunk_lines, k, k == order, table, word_starts, word_ends, new_id, grams_k,
                        probs_k, backoffs_k, _POWERS_OF_10,
                    )
                    n_slow = 0
            if status == _PARSED:
                position = end
            else:
                status, position, n_slow = _parse_section(
                    buf, position, k, k == order, table, word_starts, word_ends,
                    new_id if k > 1 else word_starts, grams_k, probs_k, backoffs_k, slow, _POWERS_OF_10,
                )
            if status != _PARSED:
                return None
            if k == 1:
                unigrams_end = position
            else:
                _drop_pages(data, max(section_start, unigrams_end), position)
            for row, column, start, end in slow[:n_slow].tolist():  # inf, nan, long numbers: Python's float
                value = float(data[start:end].decode("ascii"))
                if math.isnan(value) or value == math.inf or (column == 0 and value > 0):
                    return None
                if column == 1 and k == order and value != 0:
                    return None
                (probs_k if column == 0 else backoffs_k)[row] = -np.inf if value <= LOG10_ZERO_IN_FILE else value
            line = next_line()
            if line and not line.startswith("\\"):
                return None  # more n-grams than announced
            if k == 1:
                size = int((word_ends - word_starts).sum()) + max(count - 1, 0)
                joined = np.empty(size, dtype=np.uint8)
                _join_spans(buf, word_starts, word_ends, joined)
                text = joined.tobytes().decode("utf-8")
                words = text.split("\n") if count else []
                if len(text.split()) != len(words):
                    return None  # a word with non-ASCII whitespace: check_word's error, from the Python reader
                # renumber: <unk>, <s>, </s> first (KenLM's numbering), then the other words in file order
                specials = [unk_token, bos_token, eos_token]
                present = {special: words.index(special) for special in specials if special in words}
                new_id = np.empty(count + len(specials) - len(present), dtype=np.int64)
                is_special = np.zeros(count, dtype=bool)
                is_special[list(present.values())] = True
                new_id[:count][~is_special] = np.arange(3, 3 + count - len(present))
                next_id = count
                extra_probs = []
                for special_id, special in enumerate(specials):
                    if special in present:
                        new_id[present[special]] = special_id
                    else:
                        logger.warning(f"{path}: {special} is not among the unigrams; added with probability 0")
                        new_id[next_id] = special_id
                        next_id += 1
                        extra_probs.append(special)
                grams_k = np.arange(len(new_id), dtype=np.int64).reshape(-1, 1)
                grams_k = new_id[grams_k]
                probs_k = np.concatenate([probs_k, np.full(len(extra_probs), -np.inf, dtype=np.float32)])
                backoffs_k = np.concatenate([backoffs_k, np.zeros(len(extra_probs), dtype=np.float32)])
                ordered = np.empty(len(new_id), dtype=object)
                ordered[new_id[:count]] = words
                ordered[new_id[count:]] = extra_probs
                words = ordered.tolist()
            grams.append(grams_k)
            probs.append(probs_k)
            backoffs.append(backoffs_k)
        while line == "":
            line = next_line()
        if line != "\\end\\":
            return None
    except (UnicodeDecodeError, ValueError):
        return None
    finally:
        del buf  # no view of an mmap may outlive it
    return words, grams, probs, backoffs


def _read_arpa(path: Path, unk_token: str, bos_token: str, eos_token: str, logger):
    with _open_arpa(path) as f:
        try:
            lines = f.read().split("\n")
        except UnicodeDecodeError as error:
            raise ARPAFormatError(f"{path}: not valid UTF-8 ({error.reason})") from None
    position = 0  # index into lines; line number = position + 1

    def fail(message: str, at: int | None = None):
        raise ARPAFormatError(f"{path}, line {(position if at is None else at) + 1}: {message}")

    # \data\ header
    while position < len(lines) and lines[position].strip() != "\\data\\":
        position += 1
    if position == len(lines):
        raise ARPAFormatError(f"{path}: no \\data\\ line: not an ARPA file")
    position += 1
    counts = []
    while position < len(lines) and lines[position].strip():
        line = lines[position].strip()
        if not line.startswith("ngram "):
            fail(f"expected 'ngram k=count' in the \\data\\ header, got {line!r}")
        order_text, _, count_text = line[len("ngram "):].partition("=")
        try:
            k, count = int(order_text), int(count_text)
        except ValueError:
            fail(f"bad n-gram count line {line!r} (expected 'ngram k=count')")
        if k != len(counts) + 1:
            fail(f"n-gram orders must be consecutive from 1: got 'ngram {k}=' after {len(counts)} order(s)")
        if count < 0:
            fail(f"negative n-gram count in {line!r}")
        counts.append(count)
        position += 1
    if not counts:
        fail("the \\data\\ header announces no n-gram counts")
    order = len(counts)

    words: list[str] = []
    word_to_id: dict[str, int] = {}
    grams, probs, backoffs, where = [], [], [], []
    for k in range(1, order + 1):
        while position < len(lines) and not lines[position].strip():
            position += 1
        if position == len(lines):
            raise ARPAFormatError(f"{path}: the \\{k}-grams: section is missing (end of file)")
        if lines[position].strip() != f"\\{k}-grams:":
            fail(f"expected the section header \\{k}-grams:, got {lines[position].strip()!r}")
        position += 1
        start, end = position, position + counts[k - 1]
        if end > len(lines):
            raise ARPAFormatError(f"{path}: the file ends inside the \\{k}-grams: section ({len(lines) - start} of "
                                  f"{counts[k - 1]} lines)")
        section = lines[start:end]
        fields = [line.split() for line in section]
        lengths = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
        bad = np.flatnonzero((lengths != k + 1) & (lengths != k + 2))
        if len(bad):
            line = section[bad[0]]
            if not line.strip() or line.startswith("\\"):
                fail(f"the \\{k}-grams: section has {bad[0]} lines but the header announces {counts[k - 1]}",
                     at=start + bad[0])
            fail(f"a {k}-gram line needs 'log10prob w1 .. w{k} [log10backoff]', got {line!r}", at=start + bad[0])
        probs_k = _parse_column([f[0] for f in fields], path, start, "probability")
        has_backoff = np.flatnonzero(lengths == k + 2)
        backoffs_k = np.zeros(len(fields), dtype=np.float32)
        if len(has_backoff):
            values = _parse_column([fields[i][-1] for i in has_backoff], path, start, "backoff", rows=has_backoff)
            if k == order and (values != 0).any():
                at = has_backoff[np.flatnonzero(values != 0)[0]]
                fail(f"a backoff on the highest order ({k}-grams), where none can apply", at=start + at)
            backoffs_k[has_backoff] = values
        if k == 1:
            for offset, parts in enumerate(fields):
                if parts[1] in word_to_id:
                    fail(f"duplicate unigram {parts[1]!r}", at=start + offset)
                word_to_id[parts[1]] = len(words)
                words.append(parts[1])
            grams_k = np.arange(len(fields), dtype=np.int64).reshape(-1, 1)
        else:
            # look every field of the section up at C speed, then keep the word columns of each line
            flat = np.fromiter(map(word_to_id.get, itertools.chain.from_iterable(fields), itertools.repeat(-1)),
                               dtype=np.int64, count=int(lengths.sum()))
            line_starts = np.cumsum(lengths) - lengths
            grams_k = flat[line_starts[:, None] + np.arange(1, k + 1)[None, :]]
            unknown = np.flatnonzero((grams_k < 0).any(axis=1))
            if len(unknown):
                word = next(w for w in fields[unknown[0]][1:k + 1] if w not in word_to_id)
                fail(f"word {word!r} of this {k}-gram is not among the unigrams", at=start + unknown[0])
        position = end
        if position < len(lines) and lines[position].strip() and not lines[position].startswith("\\"):
            fail(f"more {k}-grams than the {counts[k - 1]} announced in the \\data\\ header")
        grams.append(grams_k)
        probs.append(probs_k)
        backoffs.append(backoffs_k)
        where.append(np.arange(start + 1, end + 1))
    while position < len(lines) and not lines[position].strip():
        position += 1
    if position == len(lines) or lines[position].strip() != "\\end\\":
        if position == len(lines):
            raise ARPAFormatError(f"{path}: no \\end\\ line at the end of the file")
        fail(f"expected \\end\\ after the {order}-grams, got {lines[position].strip()!r}")

    # renumber: <unk>, <s>, </s> first (KenLM's numbering), then the other words in file order
    for word in words:
        try:
            check_word(word)
        except ValueError as error:
            raise ARPAFormatError(f"{path}: {error}") from None
    specials = [unk_token, bos_token, eos_token]
    for special in specials:
        if special not in word_to_id:
            logger.warning(f"{path}: {special} is not among the unigrams; added with probability 0")
            word_to_id[special] = len(words)
            words.append(special)
            grams[0] = np.concatenate([grams[0], [[word_to_id[special]]]])
            probs[0] = np.concatenate([probs[0], np.float32([-np.inf])])
            backoffs[0] = np.concatenate([backoffs[0], np.float32([0.0])])
            where[0] = np.concatenate([where[0], [-1]])
    new_id = np.empty(len(words), dtype=np.int64)
    others = [i for i, w in enumerate(words) if w not in specials]
    new_id[[word_to_id[s] for s in specials]] = (UNK_ID, BOS_ID, EOS_ID)
    new_id[others] = np.arange(3, 3 + len(others))
    ordered_words = specials + [words[i] for i in others]
    grams = [new_id[g] for g in grams]
    tables = BackoffTables.from_ngrams(len(ordered_words), grams, probs, backoffs[:-1], where=where,
                                       source=str(path))
    return ordered_words, tables


# ----------------------------------------------------------------------------------------------------------------------
# Compiled kernels (numba): writing log10 values and ARPA lines, parsing ARPA sections
# ----------------------------------------------------------------------------------------------------------------------
# cached on disk in the user cache folder (jit_cache, attached at the end of this file: numba's cache=True would write
# into the package's __pycache__), the first compilation announced
_JIT = {"nogil": True}
_INLINE = {**_JIT, "inline": "always"}  # helpers of the hot loops: inlined (no call, no array reference counting)
_TEXT_WIDTH = 16  # bytes of the longest value written: "-0.0001" + 9 digits
_POWERS_OF_10 = np.array([10.0**i for i in range(23)])  # exact in float64 (10^22 is the largest exact power)
_SPACE, _TAB, _NEWLINE = 32, 9, 10
_BLOCK = 1 << 14  # values or lines per parallel task
_PARALLEL_LINES = 1 << 16  # sections of at least this many lines are parsed in parallel chunks


@njit(**_INLINE)
def _shortest_decimal(x, powers):
    """The shortest decimal m * 10^q that reads back as the float32 x (finite, nonzero), as (m, q, digits); digits = 0
    when it is left to Python.

    For d = 1..9 significant digits, m = round(|x| 10^(d-1-e)) (e = floor(log10 |x|)) is tried; the decimal is
    computed in float64 by one product or quotient with an exact power of 10, so it is correctly rounded, and it is
    accepted only if it rounds to x in float32 and lies clear of both float32 rounding boundaries of x by more than
    that rounding error: any correctly rounding parser then reads x back. A value beyond the exact powers (|x| below
    about 1e-13 or above 1e22), or one too close to a boundary even at 9 digits, is left to Python.
    """
    magnitude = abs(x)
    exponent = int(np.floor(np.log10(magnitude)))
    x32 = np.float32(x)
    low_boundary = (x + float(np.nextafter(x32, np.float32(-np.inf)))) / 2.0  # exact: 24-bit mantissas
    high_boundary = (x + float(np.nextafter(x32, np.float32(np.inf)))) / 2.0
    for digits in range(1, 10):
        scale = digits - 1 - exponent
        if scale > 22 or scale < -22:
            return 0, 0, 0
        if scale >= 0:
            mantissa = np.rint(magnitude * powers[scale])
            candidate = mantissa / powers[scale]
        else:
            mantissa = np.rint(magnitude / powers[-scale])
            candidate = mantissa * powers[-scale]
        if x < 0:
            candidate = -candidate
        margin = 4.0 * abs(candidate) * 2.220446049250313e-16
        if mantissa > 0 and np.float32(candidate) == x32 and abs(candidate - low_boundary) > margin \
                and abs(candidate - high_boundary) > margin:
            return np.int64(mantissa), -scale, digits
    return 0, 0, 0


@njit(**_JIT, parallel=True)
def _format_log10_kernel(values, powers, text, lengths):
    """Write every float32 log10 value as `format_log10` does ('%.{d}g' with the fewest digits d that round-trip;
    -inf as -99) into the rows of `text` [n, 16]; lengths[i] = 0 marks a value left to Python. Blocks of values are
    formatted in parallel."""
    blocks = (len(values) + _BLOCK - 1) // _BLOCK
    for block in prange(blocks):
        digit_buffer = np.empty(24, dtype=np.uint8)
        for i in range(block * _BLOCK, min(len(values), (block + 1) * _BLOCK)):
            lengths[i] = _format_one(float(values[i]), powers, text[i], digit_buffer)


@njit(**_INLINE)
def _format_one(x, powers, row, digit_buffer):
    """Write one value into `row` (see `_format_log10_kernel`); returns its length (0: left to Python)."""
    if x == 0.0:
        row[0] = 48  # "0"
        return 1
    if np.isinf(x):
        row[0], row[1], row[2] = 45, 57, 57  # "-99"
        return 3
    m, q, precision = _shortest_decimal(x, powers)
    if precision == 0:
        return 0
    count = 0  # digits of m, most significant first, into digit_buffer
    rest = m
    while rest > 0:
        digit_buffer[count] = 48 + rest % 10
        rest //= 10
        count += 1
    for j in range(count // 2):  # most significant first
        digit_buffer[j], digit_buffer[count - 1 - j] = digit_buffer[count - 1 - j], digit_buffer[j]
    if count == precision + 1 and m == np.int64(powers[precision]):  # rounded up to the next power of ten
        count -= 1
        q += 1
    precision = count  # '%g' precision: the digits of m, trailing zeros included
    leading = q + count - 1  # decimal exponent of the first digit
    while count > 1 and digit_buffer[count - 1] == 48:  # '%g' drops trailing zeros
        count -= 1
    n = 0
    if x < 0:
        row[n] = 45
        n += 1
    if leading < -4 or leading >= precision:  # d.ddde[+-]XX
        row[n] = digit_buffer[0]
        n += 1
        if count > 1:
            row[n] = 46
            n += 1
            for j in range(1, count):
                row[n] = digit_buffer[j]
                n += 1
        row[n] = 101  # "e"
        row[n + 1] = 45 if leading < 0 else 43
        n += 2
        e = abs(leading)
        if e >= 100:
            row[n] = 48 + e // 100
            n += 1
        row[n] = 48 + (e // 10) % 10
        row[n + 1] = 48 + e % 10
        n += 2
    elif leading >= 0:  # ddd.ddd
        for j in range(leading + 1):
            row[n] = digit_buffer[j] if j < count else 48
            n += 1
        if count > leading + 1:
            row[n] = 46
            n += 1
            for j in range(leading + 1, count):
                row[n] = digit_buffer[j]
                n += 1
    else:  # 0.000ddd
        row[n], row[n + 1] = 48, 46
        n += 2
        for _ in range(-leading - 1):
            row[n] = 48
            n += 1
        for j in range(count):
            row[n] = digit_buffer[j]
            n += 1
    return n


@njit(**_JIT, parallel=True)
def _write_lines_kernel(out, offsets, prob_text, prob_lengths, word_bytes, word_starts, words, backoff_text,
                        backoff_lengths):
    """Lay out "prob<TAB>w1 w2 .. wk[<TAB>backoff]\\n" for every n-gram (row of `words` [n, k]) into `out` from
    offsets[i]; the backoff column is written where backoff_lengths > 0. Blocks of lines are written in parallel."""
    blocks = (words.shape[0] + _BLOCK - 1) // _BLOCK
    for block in prange(blocks):
        for i in range(block * _BLOCK, min(words.shape[0], (block + 1) * _BLOCK)):
            n = offsets[i]
            for j in range(prob_lengths[i]):
                out[n] = prob_text[i, j]
                n += 1
            separator = _TAB
            for c in range(words.shape[1]):
                out[n] = separator
                n += 1
                separator = _SPACE
                w = words[i, c]
                for j in range(word_starts[w], word_starts[w + 1]):
                    out[n] = word_bytes[j]
                    n += 1
            if backoff_lengths[i] > 0:
                out[n] = _TAB
                n += 1
                for j in range(backoff_lengths[i]):
                    out[n] = backoff_text[i, j]
                    n += 1
            out[n] = _NEWLINE


@njit(**_INLINE)
def _is_separator(byte):
    """Whitespace that separates the fields of a line (str.split's ASCII whitespace but the newline)."""
    return byte == _SPACE or byte == _TAB or 11 <= byte <= 13 or 28 <= byte <= 31


@njit(**_INLINE)
def _parse_number(buf, start, end, powers):
    """(ok, value) of a plain decimal ([+-]digits[.digits][e[+-]digits]) as a correctly rounded float64; ok is False
    for anything else (inf, nan, more than 18 significant digits, a huge exponent), which Python parses instead."""
    i = start
    negative = False
    if i < end and (buf[i] == 45 or buf[i] == 43):
        negative = buf[i] == 45
        i += 1
    mantissa = np.int64(0)
    significant = 0
    shift = 0
    seen_digit = False
    while i < end and 48 <= buf[i] <= 57:
        seen_digit = True
        if mantissa > 0 or buf[i] != 48:
            significant += 1
        mantissa = mantissa * 10 + (buf[i] - 48)
        i += 1
        if significant > 18:
            return False, 0.0
    if i < end and buf[i] == 46:
        i += 1
        while i < end and 48 <= buf[i] <= 57:
            seen_digit = True
            if mantissa > 0 or buf[i] != 48:
                significant += 1
            mantissa = mantissa * 10 + (buf[i] - 48)
            shift -= 1
            i += 1
            if significant > 18:
                return False, 0.0
    if not seen_digit:
        return False, 0.0
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        exponent_negative = False
        if i < end and (buf[i] == 45 or buf[i] == 43):
            exponent_negative = buf[i] == 45
            i += 1
        if i == end:
            return False, 0.0
        exponent = 0
        while i < end and 48 <= buf[i] <= 57:
            exponent = exponent * 10 + (buf[i] - 48)
            i += 1
            if exponent > 1000:
                return False, 0.0
        shift += -exponent if exponent_negative else exponent
    if i != end:
        return False, 0.0
    if mantissa == 0:
        value = 0.0
    elif mantissa > 9007199254740992 or shift > 22 or shift < -22:
        return False, 0.0
    elif shift >= 0:
        value = float(mantissa) * powers[shift]  # one correctly rounded operation on exact operands
    else:
        value = float(mantissa) / powers[-shift]
    return True, -value if negative else value


@njit(**_INLINE)
def _word_hash(buf, start, end):
    """FNV-1a (64 bits) of the bytes buf[start:end], with a final mix."""
    h = np.uint64(14695981039346656037)
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
    h ^= h >> np.uint64(32)  # FNV's low bits mix poorly: fold the high bits in before masking
    h *= np.uint64(0xD6E8FEB86659FD93)
    return h ^ (h >> np.uint64(32))


@njit(**_INLINE)
def _find_word(buf, start, end, table):
    """(index of the unigram buf[start:end] or -1, its slot, its hash) in the open-addressing `table`, whose rows
    are (unigram index or -1 if free, hash, start, end): one cache line to read per probe, then the bytes."""
    h = _word_hash(buf, start, end)
    signed = np.int64(h)
    mask = np.uint64(len(table) - 1)
    slot = h & mask
    length = end - start
    while True:
        w = table[slot, 0]
        if w < 0:
            return -1, slot, signed
        if table[slot, 1] == signed and table[slot, 3] - table[slot, 2] == length:
            same = True
            offset = table[slot, 2] - start
            for i in range(start, end):
                if buf[i + offset] != buf[i]:
                    same = False
                    break
            if same:
                return w, slot, signed
        slot = (slot + np.uint64(1)) & mask


# status of _parse_section: anything but _PARSED is left to the Python reader, which reports it with its line
_PARSED, _MALFORMED = 0, 1


@njit(**_JIT)
def _parse_section(buf, pos, k, highest, table, word_starts, word_ends, new_id, grams, probs, backoffs, slow,
                   powers):
    """Parse the len(probs) lines of a `\\k-grams:` section from buf[pos]: "prob w1 .. wk [backoff]".

    Unigrams (k = 1) fill word_starts/word_ends and the hash `table`; higher orders write the ids (new_id of each
    word's unigram index) into grams [n, k]. Probabilities and backoffs go to float32 with log10 <= -99 read as -inf.
    A value that is not a plain decimal is recorded in `slow` (line, column 0 = prob / 1 = backoff, start, end) for
    Python to parse. Returns (status, position after the section, number of slow values).
    """
    return _parse_lines(buf, pos, 0, len(probs), k, highest, table, word_starts, word_ends, new_id, grams, probs,
                        backoffs, slow, powers)


@njit(**_JIT, parallel=True)
def _parse_section_in_parallel(buf, chunk_starts, chunk_lines, k, highest, table, word_starts, word_ends, new_id,
                               grams, probs, backoffs, powers):
    """`_parse_section` for k >= 2, chunk by chunk in parallel: chunk c holds lines chunk_lines[c] .. chunk_lines[c+1]
    from byte chunk_starts[c]. Returns (status, position after the last line): any value that is not a plain decimal
    makes the status _MALFORMED (the caller then parses the section with `_parse_section`)."""
    chunks = len(chunk_starts)
    statuses = np.zeros(chunks, dtype=np.int64)
    ends = np.zeros(chunks, dtype=np.int64)
    for c in prange(chunks):
        no_slow = np.zeros((0, 4), dtype=np.int64)
        status, end, _ = _parse_lines(buf, chunk_starts[c], chunk_lines[c], chunk_lines[c + 1], k, highest, table,
                                      word_starts, word_ends, new_id, grams, probs, backoffs, no_slow, powers)
        statuses[c] = status
        ends[c] = end
    return statuses.max(), ends[chunks - 1]


@njit(**_JIT)
def _parse_lines(buf, pos, first, last, k, highest, table, word_starts, word_ends, new_id, grams, probs, backoffs,
                 slow, powers):
    """Parse lines first .. last - 1 of a section from buf[pos] (see `_parse_section`)."""
    end_of_buffer = len(buf)
    n_slow = 0
    previous_starts = np.zeros(k, dtype=np.int64)  # the words of the previous line, column by column, and their ids
    previous_ends = np.zeros(k, dtype=np.int64)
    previous_ids = np.full(k, -1, dtype=np.int64)
    for line in range(first, last):
        if pos >= end_of_buffer:
            return _MALFORMED, pos, n_slow
        fields = 0
        backoffs[line] = 0.0
        while True:
            while pos < end_of_buffer and _is_separator(buf[pos]):
                pos += 1
            if pos >= end_of_buffer or buf[pos] == _NEWLINE:
                break
            start = pos
            while pos < end_of_buffer and buf[pos] != _NEWLINE and not _is_separator(buf[pos]):
                pos += 1
            fields += 1
            if fields == 1 or fields == k + 2:  # log10 probability / backoff
                column = 0 if fields == 1 else 1
                ok, value = _parse_number(buf, start, pos, powers)
                if not ok:
                    if n_slow == len(slow):
                        return _MALFORMED, pos, n_slow
                    slow[n_slow, 0], slow[n_slow, 1], slow[n_slow, 2], slow[n_slow, 3] = line, column, start, pos
                    n_slow += 1
                    value = 0.0
                elif (column == 0 and value > 0.0) or (column == 1 and highest and value != 0.0):
                    return _MALFORMED, pos, n_slow  # a positive log10 probability, a backoff on the highest order
                stored = -np.inf if value <= -99.0 else value
                if column == 0:
                    probs[line] = stored
                else:
                    backoffs[line] = stored
            elif fields <= k + 1:  # word number fields - 1
                if k == 1:
                    w, slot, h = _find_word(buf, start, pos, table)
                    if w >= 0:
                        return _MALFORMED, pos, n_slow  # duplicate unigram
                    word_starts[line], word_ends[line] = start, pos
                    table[slot, 0], table[slot, 1], table[slot, 2], table[slot, 3] = line, h, start, pos
                else:
                    column = fields - 2
                    # consecutive lines often share the word of a column (files are sorted by prefix or suffix):
                    # compare with the previous line's word, just read, before hashing
                    length = pos - start
                    same = previous_ids[column] >= 0 and previous_ends[column] - previous_starts[column] == length
                    if same:
                        offset = previous_starts[column] - start
                        for i in range(start, pos):
                            if buf[i + offset] != buf[i]:
                                same = False
                                break
                    if not same:
                        w, _, _ = _find_word(buf, start, pos, table)
                        if w < 0:
                            return _MALFORMED, pos, n_slow  # not a unigram
                        previous_ids[column] = new_id[w]
                    previous_starts[column], previous_ends[column] = start, pos
                    grams[line, column] = previous_ids[column]
            else:
                return _MALFORMED, pos, n_slow  # too many fields
        if fields < k + 1:
            return _MALFORMED, pos, n_slow
        if pos < end_of_buffer:
            pos += 1  # the newline
    return _PARSED, pos, n_slow


@njit(**_JIT)
def _join_spans(buf, starts, ends, out):
    """buf[starts[i]:ends[i]] for every i, joined by newlines, into `out`."""
    n = 0
    for i in range(len(starts)):
        if i:
            out[n] = _NEWLINE
            n += 1
        for j in range(starts[i], ends[i]):
            out[n] = buf[j]
            n += 1
    return n


@njit(**_INLINE)
def _row_hash(rows, i, columns):
    """A 64-bit hash of the first `columns` values of rows[i] (multiply-xorshift mixing)."""
    h = np.uint64(0x9E3779B97F4A7C15)
    for c in range(columns):
        h = (h ^ np.uint64(rows[i, c])) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    return h


@njit(**_JIT)
def _match_rows(table_rows, table_ids, queries, out):
    """out[q] = table_ids[i] for the row i of table_rows [m, c] equal to the first c values of queries[q] (-1 if none):
    an open-addressing hash join, one probe sequence per query instead of c - 1 binary searches."""
    m, columns = table_rows.shape
    capacity = 16
    while capacity < 2 * m:
        capacity *= 2
    mask = np.uint64(capacity - 1)
    slots = np.full(capacity, -1, dtype=np.int64)
    for i in range(m):
        slot = _row_hash(table_rows, i, columns) & mask
        while slots[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = i
    _probe_rows(table_rows, table_ids, queries, out, slots, mask)


@njit(**_JIT, parallel=True)
def _probe_rows(table_rows, table_ids, queries, out, slots, mask):
    """The lookups of `_match_rows`, blocks of queries in parallel."""
    columns = table_rows.shape[1]
    blocks = (queries.shape[0] + _BLOCK - 1) // _BLOCK
    for block in prange(blocks):
        for q in range(block * _BLOCK, min(queries.shape[0], (block + 1) * _BLOCK)):
            slot = _row_hash(queries, q, columns) & mask
            out[q] = -1
            while slots[slot] >= 0:
                i = slots[slot]
                same = True
                for c in range(columns):
                    if table_rows[i, c] != queries[q, c]:
                        same = False
                        break
                if same:
                    out[q] = table_ids[i]
                    break
                slot = (slot + np.uint64(1)) & mask



cache_and_announce(_format_log10_kernel, _write_lines_kernel, _parse_section, _parse_section_in_parallel, _parse_lines,
                   _join_spans, _match_rows, _probe_rows)

__all__ = ["ARPAFormatError", "BackoffTables", "format_log10", "read_arpa", "write_arpa"]
