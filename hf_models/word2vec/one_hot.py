"""One-hot vectors versus learned word vectors: the lecture's motivation for word2vec.

With one-hot vectors every word is its own axis of R^|V|: the dot product (and the cosine) of two different words is
always 0, whatever the words mean, and every word is at distance sqrt(2) from every other. Dense vectors learned by
word2vec (Mikolov et al. 2013) put related words close together instead:

    >>> rows = one_hot_demo(kv, [("king", "queen"), ("king", "car")])
    >>> print(format_one_hot_demo(rows))
    word 1  word 2  one-hot dot  one-hot distance  embedding cosine
    king    queen             0            1.4142            0.7301
    king    car               0            1.4142            0.1215
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def _vocabulary_index(vocabulary) -> dict[str, int]:
    """word -> axis, from a list of words (axis i = word i), a mapping word -> axis, or KeyedVectors."""
    if hasattr(vocabulary, "key_to_index"):
        return dict(vocabulary.key_to_index)
    if isinstance(vocabulary, Mapping):
        index = dict(vocabulary)
        axes = sorted(index.values())
        if axes != list(range(len(axes))):
            raise ValueError("one_hot_encode: a vocabulary mapping must number its words 0 .. |V|-1, each once")
        return index
    if isinstance(vocabulary, str):
        raise TypeError("one_hot_encode: the vocabulary must be a sequence of words or a mapping, not a single str")
    index = {}
    for position, word in enumerate(vocabulary):
        first = index.setdefault(word, position)
        if first != position:
            raise ValueError(f"one_hot_encode: the vocabulary lists {word!r} twice (positions {first} and {position})")
    return index


def one_hot_encode(words: str | Sequence[str], vocabulary: Sequence[str] | Mapping[str, int]) -> np.ndarray:
    """One-hot encoding x_w = e_{index(w)} in R^|V| (a 1 on the word's axis, 0 elsewhere).

    Args:
        words: one word (returns a (|V|,) vector) or a sequence of words (returns a (len(words), |V|) matrix).
        vocabulary: the words in axis order, a mapping word -> axis, or KeyedVectors.
    """
    index = _vocabulary_index(vocabulary)
    single = isinstance(words, str)
    words = [words] if single else list(words)
    encoded = np.zeros((len(words), len(index)), dtype=np.float32)  # (n, |V|)
    for row, word in enumerate(words):
        if word not in index:
            raise KeyError(f"one_hot_encode: {word!r} is not in the vocabulary of {len(index)} words")
        encoded[row, index[word]] = 1.0
    return encoded[0] if single else encoded


def parse_word_pairs(spec: str) -> list[tuple[str, str]]:
    """Word pairs from "king,queen;king,car" (pairs separated by ';', words by ',')."""
    pairs = []
    for number, item in enumerate(spec.split(";"), start=1):
        if not item.strip():
            continue
        words = [word.strip() for word in item.split(",")]
        if len(words) != 2 or not all(words):
            raise ValueError(f"word pair {number} {item!r} of {spec!r}: expected two words 'word1,word2'")
        pairs.append((words[0], words[1]))
    if not pairs:
        raise ValueError(f"no word pairs in {spec!r} (expected 'word1,word2;word3,word4')")
    return pairs


def one_hot_demo(keyed_vectors, word_pairs: Iterable[tuple[str, str]] | str,
                 vocabulary: Sequence[str] | Mapping[str, int] | None = None) -> list[dict]:
    """For each word pair: the one-hot dot product x_u . x_v (1 for the same word, else 0), the one-hot Euclidean
    distance (0 or sqrt 2) and the cosine similarity of the learned vectors.

    Args:
        keyed_vectors: the learned vectors (`KeyedVectors`).
        word_pairs: (word 1, word 2) pairs, or a string "king,queen;king,car".
        vocabulary: vocabulary of the one-hot vectors (default: the keys of `keyed_vectors`).
    """
    if isinstance(word_pairs, str):
        word_pairs = parse_word_pairs(word_pairs)
    vocabulary = keyed_vectors.index_to_key if vocabulary is None else vocabulary
    index = _vocabulary_index(vocabulary)
    rows = []
    for pair in word_pairs:
        if len(pair) != 2:
            raise ValueError(f"one_hot_demo: expected (word 1, word 2) pairs, got {pair!r}")
        word_1, word_2 = pair
        for word in (word_1, word_2):
            if word not in keyed_vectors:
                raise KeyError(f"one_hot_demo: {word!r} (pair {word_1!r}, {word_2!r}) has no learned vector")
        one_hot = one_hot_encode([word_1, word_2], index)  # (2, |V|)
        rows.append({
            "word_1": word_1,
            "word_2": word_2,
            "one_hot_dot": int(one_hot[0] @ one_hot[1]),
            "one_hot_distance": float(np.linalg.norm(one_hot[0] - one_hot[1])),
            "embedding_cosine": float(keyed_vectors.similarity(word_1, word_2)),
        })
    return rows


def _display_width(text: str) -> int:
    """Columns a string takes in a terminal (East Asian wide characters, e.g. Hangul, take two)."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, right: bool) -> str:
    padding = " " * max(0, width - _display_width(text))
    return padding + text if right else text + padding


def format_one_hot_demo(rows: Sequence[dict]) -> str:
    """The rows of `one_hot_demo` as an aligned plain-text table."""
    header = ("word 1", "word 2", "one-hot dot", "one-hot distance", "embedding cosine")
    table = [header] + [
        (
            row["word_1"],
            row["word_2"],
            str(row["one_hot_dot"]),
            f"{row['one_hot_distance']:.4f}",
            "nan" if math.isnan(row["embedding_cosine"]) else f"{row['embedding_cosine']:.4f}",
        )
        for row in rows
    ]
    widths = [max(_display_width(line[column]) for line in table) for column in range(len(header))]
    lines = []
    for line in table:
        cells = [_pad(cell, widths[column], right=column >= 2) for column, cell in enumerate(line)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


__all__ = ["format_one_hot_demo", "one_hot_demo", "one_hot_encode", "parse_word_pairs"]
