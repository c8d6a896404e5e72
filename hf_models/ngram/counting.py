"""Vocabulary, corpus encoding and n-gram counting for n-gram language models.

Every sentence is `<s> w1 ... wn </s>` (KenLM's convention): `<s>` is context only, `</s>` is predicted. A corpus is
encoded once into a flat "padded stream" of word ids (all sentences one after the other, each with its `<s>` and
`</s>`), with, for every position, how many tokens of its sentence precede it (`history`): an n-gram ending at
position j exists iff n - 1 <= history[j], so n-grams never cross a sentence boundary and only the first one starts
with `<s>`.

N-gram tables are built order by order without hashing (Heafield 2013 sorts, we `np.unique`): the id of a k-gram is
its index in the sorted order-k table, and the key of a k-gram is id(prefix (k-1)-gram) * V + id(last word) as int64,
so every prefix of a stored n-gram is itself stored (as KenLM and SRILM require) and lookups are `np.searchsorted`.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2  # KenLM's numbering of the special words
VOCAB_FILE = "vocab.txt"
_CHUNK_TOKENS = 1 << 20


# ----------------------------------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------------------------------
class NGramVocabulary:
    """Words <-> ids: `<unk>` = 0, `<s>` = 1, `</s>` = 2, then the words (most frequent first when built from text)."""

    def __init__(self, words: Iterable[str] = (), unk_token: str = "<unk>", bos_token: str = "<s>",
                 eos_token: str = "</s>"):
        self.unk_token, self.bos_token, self.eos_token = unk_token, bos_token, eos_token
        self.id_to_word: list[str] = [unk_token, bos_token, eos_token]
        self.word_to_id: dict[str, int] = {unk_token: UNK_ID, bos_token: BOS_ID, eos_token: EOS_ID}
        for word in words:
            self.add(word)

    def add(self, word: str) -> int:
        """The id of `word`, adding it at the end if new (a word is a non-empty string without whitespace)."""
        if word in self.word_to_id:
            return self.word_to_id[word]
        check_word(word)
        self.word_to_id[word] = len(self.id_to_word)
        self.id_to_word.append(word)
        return self.word_to_id[word]

    def __len__(self) -> int:
        return len(self.id_to_word)

    def __contains__(self, word: str) -> bool:
        return word in self.word_to_id

    def __eq__(self, other) -> bool:
        return isinstance(other, NGramVocabulary) and self.id_to_word == other.id_to_word

    def __repr__(self) -> str:
        return f"NGramVocabulary({len(self)} words)"

    def encode(self, words: Iterable[str]) -> np.ndarray:
        """Word ids (int64) of `words`; words outside the vocabulary are `<unk>` (0)."""
        get = self.word_to_id.get
        return np.fromiter((get(w, UNK_ID) for w in words), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of `ids`."""
        size = len(self.id_to_word)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < size:
                raise ValueError(f"word id {i} is outside the vocabulary [0, {size})")
            out.append(self.id_to_word[i])
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write one word per line (UTF-8), in id order."""
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(self.id_to_word) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike, unk_token: str = "<unk>", bos_token: str = "<s>",
             eos_token: str = "</s>") -> NGramVocabulary:
        """Read a vocabulary written by `save`; the first three lines must be the special tokens."""
        with open(path, encoding="utf-8", newline="") as f:
            words = f.read().split("\n")
        if words and words[-1] == "":
            words.pop()
        expected = [unk_token, bos_token, eos_token]
        if words[:3] != expected:
            raise ValueError(f"{path}: the first 3 lines must be {expected} (the special tokens), got {words[:3]}")
        vocab = cls(unk_token=unk_token, bos_token=bos_token, eos_token=eos_token)
        for line_number, word in enumerate(words[3:], start=4):
            if word in vocab.word_to_id:
                raise ValueError(f"{path}, line {line_number}: duplicate word {word!r}")
            try:
                vocab.add(word)
            except ValueError as error:
                raise ValueError(f"{path}, line {line_number}: {error}") from None
        return vocab


def check_word(word) -> None:
    """A word must be a non-empty string without whitespace (it is written to ARPA files and vocab.txt)."""
    if not isinstance(word, str) or word.split() != [word]:  # empty, or holds whitespace
        raise ValueError(f"invalid word {word!r}: words are non-empty strings without whitespace")


# ----------------------------------------------------------------------------------------------------------------------
# Reading sentences
# ----------------------------------------------------------------------------------------------------------------------
_GZIP_MAGIC = b"\x1f\x8b"
# what reading a corrupt or truncated gzip stream raises
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def open_text(path: str | os.PathLike):
    """Open a UTF-8 text file for reading in binary mode, gzip-compressed if it ends in .gz or starts like gzip."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    if compressed or path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _corrupt_gzip(path, error: Exception) -> ValueError:
    return ValueError(f"{path}: corrupt or truncated gzip file ({error})")


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line of a UTF-8 text file, streamed; decoding errors name the line."""
    with open_text(path) as f:
        lines = enumerate(f, start=1)
        while True:
            try:
                line_number, raw = next(lines)
            except StopIteration:
                return
            except _GZIP_ERRORS as error:
                raise _corrupt_gzip(path, error) from None
            try:
                yield line_number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {line_number}: not valid UTF-8 ({error.reason} at byte "
                                 f"{error.start})") from None


def _is_path(item) -> bool:
    return isinstance(item, os.PathLike)


_BLOCK_BYTES = 1 << 23


def read_line_blocks(path: str | os.PathLike, lowercase: bool = False, block_bytes: int | None = None):
    """(first line number, [words of each line]) for blocks of whole lines of a UTF-8 text file, streamed.

    The same lines and words as `read_lines` + str.split, decoded and split a block (about `block_bytes`) at a time
    at C speed. A decoding error is raised after the block of the lines before it, naming its line.
    """
    block_bytes = block_bytes or _BLOCK_BYTES
    line_number = 1
    rest = b""
    with open_text(path) as f:
        while True:
            try:
                chunk = f.read(block_bytes)
            except _GZIP_ERRORS as error:
                raise _corrupt_gzip(path, error) from None
            data = rest + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
            if not data:
                return
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line_start = data.rfind(b"\n", 0, error.start) + 1
                if line_start:
                    yield line_number, _split_block(data[:line_start].decode("utf-8"), lowercase)
                bad_line = line_number + data.count(b"\n", 0, line_start)
                raise ValueError(f"{path}, line {bad_line}: not valid UTF-8 ({error.reason} at byte "
                                 f"{error.start - line_start})") from None
            block = _split_block(text, lowercase)
            yield line_number, block
            line_number += len(block)
            if not chunk:
                return


def _split_block(text: str, lowercase: bool) -> list[list[str]]:
    lines = (text.lower() if lowercase else text).split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ends with a newline
    return list(map(str.split, lines))


def _sentences_or_file_blocks(sources, lowercase: bool):
    """iter_sentences, except that files come as ((path, first line number, [words of each line]), None) blocks."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [Path(sources)]
    elif isinstance(sources, (bytes, dict)) or not isinstance(sources, Iterable):
        yield from iter_sentences(sources, lowercase)  # raises its TypeError
        return
    index = 0
    for item in sources:
        if _is_path(item):
            has_words = False
            for first_line, block in read_line_blocks(item, lowercase):
                has_words = has_words or any(block)
                yield (item, first_line, block), None
            if not has_words:  # its blank lines would make a model of <s> </s> alone
                raise ValueError(f"training file {item} holds no word (it is empty or has only blank lines)")
        else:
            yield _item_words(item, index, lowercase), f"sentence {index}"
            index += 1


def iter_sentences(sources, lowercase: bool = False) -> Iterator[tuple[list[str], str]]:
    """(words, where) for every sentence of `sources`, streamed.

    `sources` is a text file (a `str` or path: one sentence per line, words separated by whitespace, .gz allowed), or
    an iterable whose items are sentences (a list of words, or a string split on whitespace) or files (`os.PathLike`
    items, e.g. `pathlib.Path`). `where` names the sentence's file and line (or its index) for error messages. An
    empty line is an empty sentence (`<s> </s>`), as in KenLM.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [Path(sources)]
    elif isinstance(sources, (bytes, dict)) or not isinstance(sources, Iterable):
        raise TypeError(
            f"expected a text file, or an iterable of sentences (lists of words or strings) or files; got "
            f"{type(sources).__name__}"
        )
    index = 0
    for item in sources:
        if _is_path(item):
            for line_number, line in read_lines(item):
                yield (line.lower() if lowercase else line).split(), f"{item}, line {line_number}"
            continue
        yield _item_words(item, index, lowercase), f"sentence {index}"
        index += 1


def _item_words(item, index: int, lowercase: bool) -> list[str]:
    """The words of a sentence given as a string or a list of words."""
    if isinstance(item, str):
        return (item.lower() if lowercase else item).split()
    if isinstance(item, (list, tuple)):
        return [w.lower() for w in item] if lowercase else list(item)
    raise TypeError(f"sentence {index}: expected a list of words, a string or a file path, got {type(item).__name__}")


# ----------------------------------------------------------------------------------------------------------------------
# Encoded corpora
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class EncodedCorpus:
    """Sentences as one padded stream `<s> w1 .. wn </s> <s> ...` of word ids.

    tokens: word id at every position (int64, length T); history: how many tokens of the same sentence precede each
    position (0 at `<s>`); num_sentences; oov: how many words were mapped to `<unk>` because they are not in the
    vocabulary (the literal unknown token included).
    """

    tokens: np.ndarray
    history: np.ndarray
    num_sentences: int
    oov: int = 0
    sentence_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def predicted(self) -> np.ndarray:
        """Positions whose token is predicted: every position but the `<s>` ones."""
        return np.flatnonzero(self.history > 0)


def pad_sentences(flat_ids: np.ndarray, lengths: np.ndarray, bos_id: int = BOS_ID, eos_id: int = EOS_ID):
    """The padded stream and histories of sentences given as concatenated word ids and their lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    num_sentences = len(lengths)
    padded_lengths = lengths + 2  # <s> + words + </s>
    ends = np.cumsum(padded_lengths)
    starts = ends - padded_lengths
    total = int(ends[-1]) if num_sentences else 0
    tokens = np.empty(total, dtype=np.int64)
    tokens[starts] = bos_id
    tokens[ends - 1] = eos_id
    sentence_of_word = np.repeat(np.arange(num_sentences), lengths)
    tokens[np.arange(len(flat_ids)) + 2 * sentence_of_word + 1] = flat_ids
    history = np.arange(total, dtype=np.int64) - np.repeat(starts, padded_lengths)
    return tokens, history


def _check_sentence(words: list[str], where: str, specials: tuple[str, str]) -> None:
    for special in specials:
        if special in words:
            raise ValueError(
                f"{where}: the sentence contains {special!r}, which the model adds itself around every sentence "
                f"(remove it from the text)"
            )


def encode_corpus(sources, vocab: NGramVocabulary, lowercase: bool = False) -> EncodedCorpus:
    """Encode sentences with a fixed vocabulary (unknown words -> `<unk>`, counted in `oov`)."""
    get = vocab.word_to_id.get
    specials = (vocab.bos_token, vocab.eos_token)
    chunks, current, lengths = [], [], []
    for words, where in iter_sentences(sources, lowercase):
        if vocab.bos_token in words or vocab.eos_token in words:
            _check_sentence(words, where, specials)
        current.extend([get(w, UNK_ID) for w in words])
        lengths.append(len(words))
        if len(current) >= _CHUNK_TOKENS:
            chunks.append(np.array(current, dtype=np.int64))
            current = []
    chunks.append(np.array(current, dtype=np.int64))
    flat = np.concatenate(chunks)
    tokens, history = pad_sentences(flat, np.array(lengths, dtype=np.int64))
    return EncodedCorpus(tokens, history, len(lengths), oov=int(np.count_nonzero(flat == UNK_ID)),
                         sentence_lengths=np.array(lengths, dtype=np.int64))


def build_vocabulary_and_encode(
    sources,
    unk_token: str = "<unk>",
    bos_token: str = "<s>",
    eos_token: str = "</s>",
    lowercase: bool = False,
    min_count: int = 1,
    max_vocab_size: int | None = None,
    progress=None,
) -> tuple[NGramVocabulary, EncodedCorpus, np.ndarray]:
    """One streamed pass over the training text: the vocabulary, the encoded corpus and the first-occurrence ranks.

    Words get provisional ids in order of first occurrence; after the pass, words seen fewer than `min_count` times
    (or beyond the `max_vocab_size` most frequent, ties broken by first occurrence) become `<unk>`, and the kept
    words are numbered by decreasing count after the three special tokens. The ranks say, for every final id, the
    position of the word's first occurrence in the text (0, 1, 2 for `<unk>`, `<s>`, `</s>`): the ids KenLM's lmplz
    gives the same words.
    """
    provisional: defaultdict[str, int] = defaultdict()
    provisional.default_factory = provisional.__len__  # a new word gets the next id
    for special in (unk_token, bos_token, eos_token):
        _ = provisional[special]  # reserve ids 0, 1, 2
    lookup = provisional.__getitem__
    specials = (bos_token, eos_token)
    special_ids = (provisional[bos_token], provisional[eos_token])
    chunks, current, lengths = [], [], []
    for words, where in _sentences_or_file_blocks(sources, lowercase):
        if where is None:  # a block of lines of a file: (path, first line number, the lines' words)
            path, first_line, block = words
            ids = np.fromiter(map(lookup, itertools.chain.from_iterable(block)), dtype=np.int64)
            block_lengths = list(map(len, block))
            bad = np.flatnonzero((ids == special_ids[0]) | (ids == special_ids[1]))
            if len(bad):  # the first line with <s> or </s>
                line = int(np.searchsorted(np.cumsum(block_lengths), bad[0], side="right"))
                _check_sentence(block[line], f"{path}, line {first_line + line}", specials)
            # words from str.split() are non-empty and hold no whitespace: check_word has nothing to check
            chunks.append(np.array(current, dtype=np.int64))
            chunks.append(ids)
            current = []
            lengths.extend(block_lengths)
            if progress is not None:
                progress.update(len(block))
            continue
        if bos_token in words or eos_token in words:
            _check_sentence(words, where, specials)
        size_before = len(provisional)
        current.extend(map(lookup, words))
        if len(provisional) != size_before:  # new words (the last ones inserted): check each once
            for word in itertools.islice(reversed(provisional), len(provisional) - size_before):
                try:
                    check_word(word)
                except ValueError as error:
                    raise ValueError(f"{where}: {error}") from None
        lengths.append(len(words))
        if progress is not None:
            progress.update(1)
        if len(current) >= _CHUNK_TOKENS:
            chunks.append(np.array(current, dtype=np.int64))
            current = []
    chunks.append(np.array(current, dtype=np.int64))
    flat = np.concatenate(chunks)
    if len(lengths) == 0:
        raise ValueError("the training data holds no sentence")

    words = list(provisional)
    counts = np.bincount(flat, minlength=len(words))
    # keep: every special token, then words by decreasing count (stable: ties keep first-occurrence order)
    candidates = np.arange(3, len(words))
    candidates = candidates[counts[candidates] >= min_count]
    candidates = candidates[np.argsort(-counts[candidates], kind="stable")]
    if max_vocab_size is not None:
        candidates = candidates[: max(0, max_vocab_size - 3)]
    vocab = NGramVocabulary(unk_token=unk_token, bos_token=bos_token, eos_token=eos_token)
    vocab.id_to_word.extend(words[i] for i in candidates)
    vocab.word_to_id.update((words[i], new_id) for new_id, i in enumerate(candidates, start=3))
    remap = np.full(len(words), UNK_ID, dtype=np.int64)  # dropped words -> <unk>
    remap[:3] = (UNK_ID, BOS_ID, EOS_ID)
    remap[candidates] = np.arange(3, 3 + len(candidates))
    flat = remap[flat]
    tokens, history = pad_sentences(flat, np.array(lengths, dtype=np.int64))
    corpus = EncodedCorpus(tokens, history, len(lengths), oov=int(np.count_nonzero(flat == UNK_ID)),
                           sentence_lengths=np.array(lengths, dtype=np.int64))
    first_occurrence_rank = np.empty(len(vocab), dtype=np.int64)
    first_occurrence_rank[:3] = (UNK_ID, BOS_ID, EOS_ID)
    first_occurrence_rank[3:] = np.argsort(np.argsort(candidates))  # kept words renumbered in order of appearance
    first_occurrence_rank[3:] += 3
    return vocab, corpus, first_occurrence_rank


# ----------------------------------------------------------------------------------------------------------------------
# N-gram tables
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class CountTable:
    """The distinct n-grams of one order, sorted by key, with their raw counts.

    keys: id(prefix (k-1)-gram) * V + last word (unigrams: the word id); counts: occurrences as a predicted event;
    prefix / suffix: ids of the (k-1)-grams w1..w_{k-1} and w2..wk in the order k-1 table (unigrams: -1);
    starts_with_bos: whether w1 is `<s>`.
    """

    keys: np.ndarray
    counts: np.ndarray
    prefix: np.ndarray
    suffix: np.ndarray
    starts_with_bos: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def count_ngrams(corpus: EncodedCorpus, order: int, vocab_size: int) -> list[CountTable]:
    """Count every n-gram of orders 1..`order` of the padded stream (numpy sort/unique, no Python loop over tokens).

    The unigram table holds the whole vocabulary (ids 0..V-1, zero counts included). For k >= 2, the k-gram ending
    at position j is (the (k-1)-gram ending at j-1, token j): its key is built from the id of that prefix, found in
    the previous pass, so the tables are built in one sort per order.
    """
    tokens, history = corpus.tokens, corpus.history
    if vocab_size * max(len(tokens), 1) >= np.iinfo(np.int64).max:
        raise ValueError(f"vocabulary ({vocab_size}) x corpus size ({len(tokens)}) overflows the int64 n-gram keys")
    predicted = history > 0
    unigram_counts = np.bincount(tokens[predicted], minlength=vocab_size).astype(np.int64)
    unigram_ids = np.arange(vocab_size, dtype=np.int64)
    tables = [CountTable(keys=unigram_ids, counts=unigram_counts, prefix=np.full(vocab_size, -1, dtype=np.int64),
                         suffix=np.full(vocab_size, -1, dtype=np.int64), starts_with_bos=unigram_ids == BOS_ID)]
    ids_prev = tokens  # id of the (k-1)-gram ending at every position (unigram id = word id)
    for k in range(2, order + 1):
        ends = np.flatnonzero(history >= k - 1)  # positions where a k-gram ends
        prefix_ids = ids_prev[ends - 1]
        keys = prefix_ids * vocab_size + tokens[ends]
        unique_keys, first, inverse, counts = _unique(keys)
        ids = np.full(len(tokens), -1, dtype=np.int64)
        ids[ends] = inverse
        prefix = unique_keys // vocab_size
        suffix = ids_prev[ends[first]]  # the (k-1)-gram w2..wk ends where the k-gram ends (at any occurrence)
        tables.append(CountTable(keys=unique_keys, counts=counts.astype(np.int64), prefix=prefix, suffix=suffix,
                                 starts_with_bos=tables[-1].starts_with_bos[prefix]))
        ids_prev = ids
    return tables


def sort_with_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(np.sort(keys), an argsort of keys) of non-negative int64 keys, stable.

    When key and position fit in 63 bits together, each key is packed with its position (key << b | position) and
    the packed values are sorted by value (numpy's vectorised sort, several times faster than an argsort).
    """
    n = len(keys)
    bits = max(1, (n - 1).bit_length())
    if n and int(keys.min()) >= 0 and int(keys.max()) < 1 << (63 - bits):
        packed = (keys << bits) | np.arange(n, dtype=np.int64)
        packed.sort()
        return packed >> bits, packed & ((1 << bits) - 1)
    order = np.argsort(keys, kind="stable")
    return keys[order], order


def _unique(keys: np.ndarray):
    """np.unique(keys, return_index=True, return_inverse=True, return_counts=True), with an unstable sort (several
    times faster): `first` is the position of one occurrence of each key, not necessarily the first."""
    sorted_keys, order = sort_with_order(keys)
    is_new = np.ones(len(keys), dtype=bool)
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_new[1:])
    starts = np.flatnonzero(is_new)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(is_new) - 1
    counts = np.diff(np.append(starts, len(keys)))
    return sorted_keys[starts], order[starts], inverse, counts


__all__ = [
    "BOS_ID",
    "EOS_ID",
    "UNK_ID",
    "VOCAB_FILE",
    "CountTable",
    "EncodedCorpus",
    "NGramVocabulary",
    "build_vocabulary_and_encode",
    "check_word",
    "count_ngrams",
    "encode_corpus",
    "iter_sentences",
    "pad_sentences",
    "read_line_blocks",
    "read_lines",
]
