"""The vocabulary of word2vec and the tables derived from its counts (Mikolov et al. 2013a/b; gensim's `build_vocab`).

- the word list, sorted by descending count (ties: the word seen first comes first), and the counts;
- the Huffman tree over the counts for hierarchical softmax: each word's binary code and the inner nodes on its path
  from the root (word2vec.c's `CreateBinaryTree`);
- the cumulative table of count^0.75 from which negative sampling draws noise words (word2vec.c's unigram table,
  gensim's `cum_table`);
- the subsampling keep probabilities of frequent words (Mikolov 2013b sec. 2.3 in gensim's form), as uint32
  thresholds compared against a 32-bit random number.

This file imports only numpy and the standard library, so a saved model folder loads with `trust_remote_code=True`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
# gensim's and word2vec.c's domain of the negative-sampling table: draws are integers in [0, 2**31 - 1)
CUM_TABLE_DOMAIN = 2**31 - 1


@dataclass(frozen=True)
class HuffmanTree:
    """Each word's path in the Huffman tree, padded to the longest code.

    codes[w, :lengths[w]] are the binary decisions (0 = left) from the root to word w; points[w, :lengths[w]] the
    inner nodes met on the way (0..V-2, the root is V-2), i.e. the rows of the hierarchical-softmax weights.
    """

    codes: np.ndarray  # (V, max_length) uint8
    points: np.ndarray  # (V, max_length) int32
    lengths: np.ndarray  # (V,) int32

    @property
    def max_length(self) -> int:
        return int(self.codes.shape[1])


def prune_counts(counts: dict, min_reduce: int) -> int:
    """Drop words seen fewer than `min_reduce` times (word2vec.c's ReduceVocab, gensim's `prune_vocab`)."""
    rare = [word for word, count in counts.items() if count < min_reduce]
    for word in rare:
        del counts[word]
    return len(rare)


class Vocabulary:
    """Words, their counts and the training tables of word2vec.

    Args:
        index_to_key: the words; a word's position is its id (row of the embedding matrices).
        counts: how often each word was seen in the corpus (same order). Without counts (vectors loaded from a
            word2vec file), gensim's stand-in counts V, V-1, ..., 1 are used, which keep the order as a frequency rank.
        total_words: raw words of the scanned corpus, rare words included (the learning-rate schedule spans them).
        corpus_count: sentences of the scanned corpus.
    """

    def __init__(
        self,
        index_to_key: Iterable[str],
        counts: Iterable[int] | np.ndarray | None = None,
        total_words: int | None = None,
        corpus_count: int | None = None,
    ):
        self.index_to_key = list(index_to_key)
        self.key_to_index = {}
        for index, key in enumerate(self.index_to_key):
            if not isinstance(key, str):
                raise TypeError(f"Vocabulary: word #{index} is a {type(key).__name__} ({key!r}), not a str")
            if key in self.key_to_index:
                first = self.key_to_index[key]
                raise ValueError(f"Vocabulary: duplicate word {key!r} at positions {first} and {index}")
            self.key_to_index[key] = index
        size = len(self.index_to_key)
        self.counts_are_synthetic = counts is None
        if counts is None:
            counts = np.arange(size, 0, -1, dtype=np.int64)
        counts = np.asarray(counts)
        if counts.shape != (size,):
            raise ValueError(f"Vocabulary: {counts.shape[0] if counts.ndim else 0} counts for {size} words")
        if size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0):
            raise ValueError("Vocabulary: counts must be non-negative integers")
        self.counts = counts.astype(np.int64, copy=True)
        self.total_words = int(self.counts.sum()) if total_words is None else int(total_words)
        self.corpus_count = corpus_count
        self._tables: dict = {}

    # ------------------------------------------------------------------------------------------------------------------
    # Mapping protocol
    # ------------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, key) -> bool:
        return key in self.key_to_index

    def __getitem__(self, key: str) -> int:
        try:
            return self.key_to_index[key]
        except KeyError:
            raise KeyError(f"word {key!r} not in vocabulary") from None

    def __iter__(self):
        return iter(self.index_to_key)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.index_to_key == other.index_to_key
            and np.array_equal(self.counts, other.counts)
        )

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words, {int(self.counts.sum())} retained corpus words)"

    def count(self, key: str) -> int:
        """How often `key` was seen."""
        return int(self.counts[self[key]])

    def encode(self, tokens: Iterable[str], lowercase: bool = False) -> np.ndarray:
        """Ids of the tokens that are in the vocabulary (unknown tokens are skipped, as word2vec does)."""
        if lowercase:
            tokens = (token.lower() for token in tokens)
        get = self.key_to_index.get
        return np.fromiter((i for i in map(get, tokens) if i is not None), dtype=np.int32)

    # ------------------------------------------------------------------------------------------------------------------
    # Building from a corpus (gensim's scan_vocab + prepare_vocab)
    # ------------------------------------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: Iterable[list[str]],
        min_count: int = 5,
        max_vocab_size: int | None = None,
        max_final_vocab: int | None = None,
        lowercase: bool = False,
        progress_per: int = 100_000,
    ) -> Vocabulary:
        """Scan the corpus once and keep the words seen at least min_count times, most frequent first.

        With `max_vocab_size`, the rarest words are pruned whenever the vocabulary grows beyond it during the scan
        (the threshold rises by one at each pruning, as in word2vec.c and gensim), bounding memory on huge corpora.
        """
        if max_vocab_size is not None and max_vocab_size < 1:
            raise ValueError(f"max_vocab_size must be a positive integer or None, got {max_vocab_size!r}")
        counts: Counter = Counter()
        total_words = 0
        sentence_no = -1
        min_reduce = 1
        for sentence_no, sentence in enumerate(corpus):
            if isinstance(sentence, str):
                raise TypeError(
                    f"corpus sentence #{sentence_no} is a str ({sentence[:40]!r}...), not a list of tokens: pass "
                    "tokenized sentences (e.g. line.split()) or a LineSentence over the file"
                )
            if lowercase:
                sentence = [token.lower() for token in sentence]
            counts.update(sentence)
            total_words += len(sentence)
            if max_vocab_size is not None and len(counts) > max_vocab_size:
                prune_counts(counts, min_reduce)
                min_reduce += 1
            if progress_per and sentence_no % progress_per == 0 and sentence_no:
                logger.info(f"vocabulary scan: sentence #{sentence_no}, {total_words} words, {len(counts)} types")
        bad = next((token for token in counts if not isinstance(token, str)), None)
        if bad is not None:
            raise TypeError(f"corpus tokens must be str, found {type(bad).__name__} {bad!r}")
        logger.info(f"collected {len(counts)} word types from {total_words} raw words and {sentence_no + 1} sentences")
        vocab = cls.from_counts(counts, min_count=min_count, max_final_vocab=max_final_vocab)
        vocab.total_words = total_words
        vocab.corpus_count = sentence_no + 1
        return vocab

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], min_count: int = 1, max_final_vocab: int | None = None
    ) -> Vocabulary:
        """The vocabulary of raw counts (gensim's `build_vocab_from_freq`): min_count, max_final_vocab, sorting.

        `max_final_vocab` raises the effective min_count to one more than the count of the first word that does not
        fit (gensim's rule), so ties at the boundary are all kept out and the result may be a little smaller.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        effective_min_count = min_count
        if max_final_vocab is not None:
            if max_final_vocab < 1:
                raise ValueError(f"max_final_vocab must be a positive integer or None, got {max_final_vocab!r}")
            ranked = sorted(counts.values(), reverse=True)
            if max_final_vocab < len(ranked):
                effective_min_count = max(min_count, ranked[max_final_vocab] + 1)
        kept = [(word, count) for word, count in counts.items() if count >= effective_min_count]
        kept.sort(key=lambda item: -item[1])  # stable: among equal counts, the word seen first comes first
        total = int(sum(counts.values()))
        retained = int(sum(count for _, count in kept))
        logger.info(
            f"effective_min_count={effective_min_count} retains {len(kept)} of {len(counts)} word types and "
            f"{retained} of {total} words ({100.0 * retained / max(total, 1):.2f}%)"
        )
        vocab = cls([word for word, _ in kept], np.array([count for _, count in kept], dtype=np.int64), total)
        vocab.effective_min_count = effective_min_count
        return vocab

    # ------------------------------------------------------------------------------------------------------------------
    # Tables for training
    # ------------------------------------------------------------------------------------------------------------------
    def huffman_tree(self) -> HuffmanTree:
        """Huffman codes of the words by count, Mikolov's two-queue construction (word2vec.c `CreateBinaryTree`)."""
        if "huffman" not in self._tables:
            self._tables["huffman"] = build_huffman_tree(self.counts)
        return self._tables["huffman"]

    def cum_table(self, ns_exponent: float = 0.75, domain: int = CUM_TABLE_DOMAIN) -> np.ndarray:
        """Cumulative unigram^ns_exponent distribution scaled to `domain` (Mikolov 2013b sec. 2.2; gensim's table)."""
        key = ("cum_table", float(ns_exponent), int(domain))
        if key not in self._tables:
            self._tables[key] = build_cum_table(self.counts, ns_exponent, domain)
        return self._tables[key]

    def noise_distribution(self, ns_exponent: float = 0.75) -> np.ndarray:
        """P_n(w) = count(w)^ns_exponent / Z, the noise distribution of negative sampling (Mikolov 2013b)."""
        weights = self.counts.astype(np.float64) ** float(ns_exponent)
        total = weights.sum()
        if total <= 0:
            return np.full(len(self), 1.0 / max(len(self), 1))
        return weights / total

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """P(keep w) = (sqrt(c / (t * N)) + 1) * (t * N) / c, clipped at 1 (gensim's form of Mikolov 2013b eq. 5).

        N is the count of the retained corpus; `sample` >= 1 means "downsample words seen more than `sample` times"
        (gensim's shorthand); 0 keeps every word.
        """
        counts = self.counts.astype(np.float64)
        if not sample:
            return np.ones(len(self))
        retained_total = counts.sum()
        threshold_count = sample * retained_total if sample < 1.0 else int(sample * (3 + np.sqrt(5)) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            probability = (np.sqrt(counts / threshold_count) + 1) * (threshold_count / counts)
        probability[~np.isfinite(probability)] = 1.0
        return np.minimum(probability, 1.0)

    def sample_ints(self, sample: float) -> np.ndarray:
        """Keep probabilities as uint32 thresholds: a word is kept when a random 32-bit number is <= its threshold."""
        key = ("sample_ints", float(sample))
        if key not in self._tables:
            self._tables[key] = (self.keep_probabilities(sample) * (2**32 - 1)).astype(np.uint32)
        return self._tables[key]

    # ------------------------------------------------------------------------------------------------------------------
    # word2vec.c's vocabulary file: "word count" per line, UTF-8
    # ------------------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write "word count" lines (word2vec.c `-save-vocab`, gensim's `fvocab`), in id order, UTF-8."""
        for index, key in enumerate(self.index_to_key):
            if not key or any(ch.isspace() for ch in key):
                raise ValueError(
                    f"cannot save word #{index} {key!r} to {path}: words in a vocab file cannot be empty or contain "
                    "whitespace"
                )
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{key} {int(count)}\n" for key, count in zip(self.index_to_key, self.counts))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a "word count" file (word2vec.c `-save-vocab`); the line order gives the ids."""
        keys: list[str] = []
        counts: list[int] = []
        seen: dict[str, int] = {}
        with open(path, encoding="utf-8") as f:
            try:
                lines = list(f)
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: not valid UTF-8 ({error})") from None
        for line_no, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                if line.strip("\r\n") == "" and line_no == len(lines):
                    continue
                raise ValueError(f"{path}, line {line_no}: empty line; expected 'word count'")
            if len(fields) != 2:
                raise ValueError(f"{path}, line {line_no}: expected 'word count', got {line.rstrip()!r}")
            word, count = fields
            try:
                count = int(count)
            except ValueError:
                raise ValueError(f"{path}, line {line_no}: count {count!r} of {word!r} is not an integer") from None
            if count < 0:
                raise ValueError(f"{path}, line {line_no}: negative count {count} for {word!r}")
            if word in seen:
                raise ValueError(f"{path}, line {line_no}: duplicate word {word!r} (first on line {seen[word]})")
            seen[word] = line_no
            keys.append(word)
            counts.append(count)
        return cls(keys, np.array(counts, dtype=np.int64))


def build_huffman_tree(counts: np.ndarray) -> HuffmanTree:
    """Mikolov's linear-time Huffman construction over counts sorted by frequency (word2vec.c `CreateBinaryTree`).

    Two queues, the leaves in ascending count and the merged nodes (created in ascending order), give the two
    smallest nodes in O(1); node V + a is the a-th merge, so inner node a (a row of the hierarchical-softmax
    weights) has index a and the root is V - 2. The second-smallest child of each merge gets code 1.
    """
    size = len(counts)
    if size < 2:
        raise ValueError(f"a Huffman tree needs at least 2 words, the vocabulary has {size}")
    order = np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")  # leaf rank -> word id
    count = np.empty(2 * size - 1, dtype=np.int64)
    count[:size] = np.asarray(counts, dtype=np.int64)[order]
    count[size:] = np.iinfo(np.int64).max // 4
    parent = np.zeros(2 * size - 1, dtype=np.int64)
    binary = np.zeros(2 * size - 1, dtype=np.uint8)
    count_list = count.tolist()  # Python ints: the loop below is scalar
    parent_list = [0] * (2 * size - 1)
    binary_list = [0] * (2 * size - 1)
    pos1, pos2 = size - 1, size
    for a in range(size - 1):
        smallest = []
        for _ in range(2):
            if pos1 >= 0 and count_list[pos1] < count_list[pos2]:
                smallest.append(pos1)
                pos1 -= 1
            else:
                smallest.append(pos2)
                pos2 += 1
        min1, min2 = smallest
        count_list[size + a] = count_list[min1] + count_list[min2]
        parent_list[min1] = size + a
        parent_list[min2] = size + a
        binary_list[min2] = 1
    parent[:] = parent_list
    binary[:] = binary_list

    root = 2 * size - 2
    # depth of every node from the root down (a parent is always created after its children)
    depth_list = [0] * (2 * size - 1)
    for node in range(root - 1, -1, -1):
        depth_list[node] = depth_list[parent_list[node]] + 1
    lengths_by_rank = np.array(depth_list[:size], dtype=np.int64)
    max_length = int(lengths_by_rank.max())
    codes = np.zeros((size, max_length), dtype=np.uint8)
    points = np.zeros((size, max_length), dtype=np.int32)
    # walk all leaves up to the root at once, filling each path from its end (leaf side) to its start (root side)
    node = np.arange(size)
    position = lengths_by_rank - 1
    while True:
        active = position >= 0
        if not active.any():
            break
        word, at, here = order[active], position[active], node[active]
        codes[word, at] = binary[here]
        up = parent[here]
        points[word, at] = up - size
        node[active] = up
        position[active] -= 1
    lengths = np.empty(size, dtype=np.int32)
    lengths[order] = lengths_by_rank
    return HuffmanTree(codes=codes, points=points, lengths=lengths)


def build_cum_table(counts: np.ndarray, ns_exponent: float = 0.75, domain: int = CUM_TABLE_DOMAIN) -> np.ndarray:
    """cum_table[w] = round(domain * sum_{u <= w} count(u)^e / sum_u count(u)^e) (gensim's `make_cum_table`)."""
    weights = np.asarray(counts, dtype=np.float64) ** float(ns_exponent)
    total = weights.sum()
    if len(weights) == 0:
        return np.zeros(0, dtype=np.uint32)
    if total <= 0:
        raise ValueError("cannot build the negative-sampling table: every word count is 0")
    table = np.round(np.cumsum(weights) / total * domain).astype(np.uint32)
    table[-1] = domain
    return table


__all__ = [
    "CUM_TABLE_DOMAIN",
    "VOCAB_FILE",
    "HuffmanTree",
    "Vocabulary",
    "build_cum_table",
    "build_huffman_tree",
    "prune_counts",
]
