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

import gc
import gzip
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .counting import BOS_ID, EOS_ID, UNK_ID, check_word

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
        grams = [np.asarray(g, dtype=np.int64).reshape(len(g), k) for k, g in enumerate(grams, start=1)]
        probs = [np.asarray(p, dtype=np.float32) for p in log10_probs]
        backoffs = [np.asarray(b, dtype=np.float32) for b in log10_backoffs] + [np.zeros(len(grams[-1]), np.float32)]
        where = [np.asarray(w) for w in where] if where is not None else [np.full(len(g), -1) for g in grams]
        if len(grams[0]) != vocab_size or not np.array_equal(np.sort(grams[0][:, 0]), np.arange(vocab_size)):
            raise ValueError("the unigrams must be exactly the vocabulary, each word once")
        tables = cls._from_complete_ngrams(vocab_size, grams, probs, backoffs, where, None, source)
        if tables is not None:
            return tables
        # some prefix is missing: add every missing prefix, top-down, as a blank
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
                where[k - 2] = np.concatenate([where[k - 2], np.full(len(new), -1)])
                blanks[k - 2] = np.concatenate([blanks[k - 2], np.ones(len(new), dtype=bool)])
        return cls._from_complete_ngrams(vocab_size, grams, probs, backoffs, where, blanks, source)

    @classmethod
    def _from_complete_ngrams(cls, vocab_size, grams, probs, backoffs, where, blanks, source):
        """Sort every order by key, built bottom-up from the ids of the prefixes; None if a prefix is missing."""
        order = len(grams)
        unigram_order = np.argsort(grams[0][:, 0])
        tables = cls(vocab_size, [np.arange(vocab_size, dtype=np.int64)], [probs[0][unigram_order]],
                     [backoffs[0][unigram_order]] if order > 1 else [])
        for k in range(2, order + 1):
            rows = grams[k - 1]
            prefix_ids = rows[:, 0].copy()
            for j in range(2, k):
                prefix_ids = tables.lookup(j, prefix_ids, rows[:, j - 1])
            if (prefix_ids < 0).any():
                return None
            keys = prefix_ids * vocab_size + rows[:, -1]
            sort = np.argsort(keys, kind="stable")
            keys = keys[sort]
            duplicate = np.flatnonzero(keys[1:] == keys[:-1])
            if len(duplicate):
                first, second = where[k - 1][sort[duplicate[0]]], where[k - 1][sort[duplicate[0] + 1]]
                raise ARPAFormatError(f"{source}, line {max(first, second)}: duplicate {k}-gram (first on line "
                                      f"{min(first, second)})")
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


def write_arpa(path: str | os.PathLike, tables: BackoffTables, words: list[str], header_comment: str = "") -> None:
    """Write `tables` as an ARPA file (gzip-compressed if the name ends in .gz).

    The backoff column is left out on the highest order and wherever log10 bo = 0; n-grams appear in key order.
    """
    path = Path(path)
    words_array = np.array(words, dtype=object)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="\n") as f:
        if header_comment:
            f.write("".join(f"# {line}\n" for line in header_comment.splitlines()))
        f.write("\\data\\\n")
        for k, count in enumerate(tables.ngram_counts, start=1):
            f.write(f"ngram {k}={count}\n")
        text = None
        for k in range(1, tables.order + 1):
            f.write(f"\n\\{k}-grams:\n")
            keys = tables.keys[k - 1]
            if k == 1:
                text = words_array[keys]
            else:
                text = text[keys // tables.vocab_size] + " " + words_array[keys % tables.vocab_size]
            lines = format_log10(tables.log10_probs[k - 1]) + "\t" + text
            if k < tables.order:
                backoff = tables.log10_backoffs[k - 1]
                has_backoff = np.flatnonzero(backoff != 0)
                lines[has_backoff] = lines[has_backoff] + "\t" + format_log10(backoff[has_backoff])
            if len(lines):
                f.write("\n".join(lines.tolist()))
                f.write("\n")
        f.write("\n\\end\\\n")


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
    """
    from transformers.utils import logging

    logger = logging.get_logger(__name__)
    path = Path(path)
    collecting = gc.isenabled()
    gc.disable()  # millions of small lists: the cyclic collector would otherwise dominate the parse
    try:
        return _read_arpa(path, unk_token, bos_token, eos_token, logger)
    finally:
        if collecting:
            gc.enable()


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


__all__ = ["ARPAFormatError", "BackoffTables", "format_log10", "read_arpa", "write_arpa"]
