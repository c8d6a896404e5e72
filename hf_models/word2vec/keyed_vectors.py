"""Word vectors keyed by word: lookup, cosine similarity, word analogies and word-similarity benchmarks, and the
file formats of the original word2vec tool (Mikolov et al. 2013, "Efficient Estimation of Word Representations in
Vector Space").

`KeyedVectors` has the semantics of gensim 4's `gensim.models.KeyedVectors` (same method names, arguments and
results), so code and habits carry over:

    >>> kv = KeyedVectors.load_word2vec_format("vectors.bin", binary=True)
    >>> kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)   # 3CosAdd
    >>> kv.evaluate_word_analogies("questions-words.txt")                       # (accuracy, sections)
    >>> kv.evaluate_word_pairs("wordsim353_combined.tab")                       # (pearson, spearman, oov %)

What differs from gensim, on purpose:

- `evaluate_word_analogies` solves all questions with batched matrix products (seconds instead of minutes on the
  19,544 Google analogy questions) and gives gensim's answers; it also solves them with 3CosMul
  (`similarity_function="3CosMul"`), which gensim accepts but ignores.
- Malformed input is an error that names the file and line (gensim skips it or fails deep inside numpy);
  `evaluate_word_pairs` reads files with a header and more than three columns (SimLex-999).
- Zero vectors are safe: their cosine similarity with anything is 0 (gensim divides by a zero norm).
- `most_similar_cosmul` honours `restrict_vocab` (gensim documents it but searches the whole vocabulary).
- Binary word2vec files end every vector with a newline, as word2vec.c writes them (gensim writes none; both readers
  accept both).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import itertools
import json
import logging
import lzma
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import IO, Any

import numpy as np
from scipy.linalg import get_blas_funcs

logger = logging.getLogger(__name__)

REAL = np.float32
_KEY_TYPES = (str, int, np.integer)
_EXTENDED_KEY_TYPES = (str, int, np.integer, np.ndarray)
_WHITESPACE = re.compile(r"\s")
_NATIVE_FORMAT_VERSION = 1
_ANALOGY_TOPN = 5  # gensim (and word2vec's compute-accuracy) look at the 5 nearest candidates
_COSMUL_EPSILON = 0.000001  # Levy & Goldberg (2014), eq. (4): keeps the division finite
# Batched scores differ from gensim's matrix-vector products by rounding (measured <= 6e-7 relative at d = 50..300);
# questions whose leading candidates are closer than this (times sqrt(d / 100) for wider vectors) are ranked again
# exactly as gensim ranks them, so that the answers are gensim's.
_TIE_TOLERANCE = 4e-6
_blas_nrm2 = get_blas_funcs("nrm2", (np.array([], dtype=np.float64),))
_blas_scal = get_blas_funcs("scal", (np.array([], dtype=np.float64),))


class Word2VecFormatError(ValueError):
    """A word2vec file that cannot be read; the message names the file and the line (or byte offset)."""


# ----------------------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------------------
def _open(path: str | os.PathLike, mode: str):
    """Open a file, decompressing .gz, .bz2 and .xz transparently (by extension), in binary `mode`."""
    name = os.fspath(path)
    if name.endswith(".gz"):
        return gzip.open(name, mode)
    if name.endswith(".bz2"):
        return bz2.open(name, mode)
    if name.endswith((".xz", ".lzma")):
        return lzma.open(name, mode)
    return open(name, mode)


@contextlib.contextmanager
def _open_for_writing(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """`path` opened for writing bytes, compressed by extension as `_open` reads it, and atomically: the file appears
    whole when the block ends, or not at all (a kill or a full disk never leaves truncated vectors)."""
    name = os.fspath(path)
    with atomic_write(name, "wb") as raw:
        if name.endswith(".gz"):
            compressed = gzip.open(raw, "wb")
        elif name.endswith(".bz2"):
            compressed = bz2.open(raw, "wb")
        elif name.endswith((".xz", ".lzma")):
            compressed = lzma.open(raw, "wb")
        else:
            compressed = contextlib.nullcontext(raw)
        with compressed as f:
            yield f


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


def _unitvec(vector: np.ndarray) -> np.ndarray:
    """v / ||v||_2 in v's dtype, computed as gensim's `matutils.unitvec` does (float64 BLAS); a zero vector stays 0."""
    if vector.size == 0:
        return vector
    length = _blas_nrm2(vector)
    if length > 0.0:
        return _blas_scal(1.0 / length, vector).astype(vector.dtype)
    return vector


def _ensure_list(value) -> list:
    """A single key or vector (or a 2-D array of vectors) as a list, as gensim's most_similar accepts them."""
    if value is None:
        return []
    if isinstance(value, _KEY_TYPES) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)


def _check_restrict_vocab(restrict_vocab) -> None:
    if restrict_vocab is not None and (
        not isinstance(restrict_vocab, Integral) or isinstance(restrict_vocab, bool) or restrict_vocab <= 0
    ):
        raise ValueError(f"restrict_vocab must be a positive integer or None, got {restrict_vocab!r}")


def _top_indices(scores: np.ndarray, topn: int) -> np.ndarray:
    """Indices of the `topn` largest scores, largest first (gensim's `matutils.argsort(..., reverse=True)`)."""
    if topn <= 0:
        return np.empty(0, dtype=np.int64)
    negated = -scores
    if topn >= negated.size:
        return np.argsort(negated)[:topn]
    most_extreme = np.argpartition(negated, topn)[:topn]
    return most_extreme.take(np.argsort(negated.take(most_extreme)))


def _first_non_finite_row(vectors: np.ndarray, block: int = 1 << 16) -> int | None:
    """Index of the first row holding NaN or infinity (checked in blocks of rows, to bound the memory), or None."""
    for start in range(0, vectors.shape[0], block):
        finite = np.isfinite(vectors[start:start + block]).all(axis=1)
        if not finite.all():
            return start + int(np.flatnonzero(~finite)[0])
    return None


def _decode(raw: bytes, encoding: str, errors: str, where: str) -> str:
    try:
        return raw.decode(encoding, errors=errors)
    except UnicodeDecodeError as error:
        raise Word2VecFormatError(
            f"{where}: not valid {encoding} ({error.reason} at byte {error.start}); pass unicode_errors='replace' or "
            "'ignore' for files whose words were cut inside a multi-byte character (common in word2vec.c output)"
        ) from None


# ----------------------------------------------------------------------------------------------------------------------
# KeyedVectors
# ----------------------------------------------------------------------------------------------------------------------
class KeyedVectors:
    """A (V, d) matrix of word vectors with its vocabulary: row i is the vector of `index_to_key[i]`.

    Args:
        index_to_key: the V keys (words), in row order (usually most frequent first, as word2vec saves them).
        vectors: (V, d) array; integer arrays become float32, float16/32/64 are kept.
        counts: optional (V,) corpus frequency of each key (saved with `save_word2vec_format(fvocab=...)`).

    The unit-length vectors that every cosine needs are computed once and cached (`fill_norms`); assigning
    `kv.vectors = ...` resets the cache, and code that edits `kv.vectors` in place must call `fill_norms(force=True)`.
    """

    def __init__(self, index_to_key: Sequence[str], vectors: np.ndarray, counts: np.ndarray | Sequence[int] | None = None):
        index_to_key = list(index_to_key)
        for position, key in enumerate(index_to_key):
            if not isinstance(key, str):
                raise TypeError(f"KeyedVectors.index_to_key[{position}] must be a str, got {type(key).__name__} {key!r}")
        key_to_index: dict[str, int] = {}
        for position, key in enumerate(index_to_key):
            first = key_to_index.setdefault(key, position)
            if first != position:
                raise ValueError(
                    f"KeyedVectors.index_to_key: duplicate key {key!r} at positions {first} and {position}; every "
                    "key must name exactly one vector"
                )
        self.index_to_key: list[str] = index_to_key
        self.key_to_index: dict[str, int] = key_to_index
        self.norms: np.ndarray | None = None
        self._safe: np.ndarray | None = None
        self._normed: np.ndarray | None = None
        # a torch tensor whose memory `vectors` views (Word2VecModel.wv): its version counter tells when the norms
        # went stale; dropped when `vectors` is assigned or the object is pickled/copied
        self._source = None
        self._source_version: int | None = None
        self._vectors = self._validated_vectors(vectors)
        self.counts = None if counts is None else self._validated_counts(counts)

    # ------------------------------------------------------------------------------------------------------------------
    # Construction and validation
    # ------------------------------------------------------------------------------------------------------------------
    def _validated_vectors(self, vectors) -> np.ndarray:
        vectors = np.asarray(vectors)
        if not np.issubdtype(vectors.dtype, np.floating):
            if not np.issubdtype(vectors.dtype, np.number) or np.issubdtype(vectors.dtype, np.complexfloating):
                raise TypeError(f"KeyedVectors.vectors must hold real numbers, got dtype {vectors.dtype}")
            vectors = vectors.astype(REAL)
        if vectors.ndim != 2:
            raise ValueError(f"KeyedVectors.vectors must be a 2-D (V, d) array, got shape {vectors.shape}")
        if vectors.shape[0] != len(self.index_to_key):
            raise ValueError(
                f"KeyedVectors.vectors has {vectors.shape[0]} rows but index_to_key has {len(self.index_to_key)} keys"
            )
        if vectors.shape[1] == 0:
            raise ValueError("KeyedVectors.vectors must have at least one dimension (d >= 1), got shape "
                             f"{vectors.shape}")
        row = _first_non_finite_row(vectors)
        if row is not None:
            raise ValueError(
                f"KeyedVectors.vectors: the vector of {self.index_to_key[row]!r} (row {row}) holds NaN or infinity"
            )
        return np.ascontiguousarray(vectors)

    def _validated_counts(self, counts) -> np.ndarray:
        counts = np.asarray(counts)
        if counts.shape != (len(self.index_to_key),):
            raise ValueError(f"KeyedVectors.counts must have shape ({len(self.index_to_key)},), got {counts.shape}")
        if counts.size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0):
            raise ValueError("KeyedVectors.counts must be non-negative integers")
        return counts.astype(np.int64)

    @property
    def vectors(self) -> np.ndarray:
        """The (V, d) vectors, row i for `index_to_key[i]`."""
        return self._vectors

    @vectors.setter
    def vectors(self, value: np.ndarray) -> None:
        self._vectors = self._validated_vectors(value)
        self.norms = self._safe = self._normed = None
        self._source = self._source_version = None

    def _track_source(self, tensor) -> None:
        """`vectors` views `tensor`'s memory: recompute the norms whenever torch changes it in place."""
        self._source = tensor
        self._source_version = None

    def _source_changed(self) -> None:
        """The vectors were changed in place behind torch's back (e.g. by the numba trainer): drop the norms."""
        self.norms = self._safe = self._normed = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_source"] = state["_source_version"] = None  # a copy owns its vectors
        return state

    @property
    def vector_size(self) -> int:
        """Dimensionality d of the vectors."""
        return self._vectors.shape[1]

    @classmethod
    def from_gensim(cls, gensim_kv) -> KeyedVectors:
        """Copy a `gensim.models.KeyedVectors` (its keys, vectors and, when it has them, counts)."""
        counts = None
        if "count" in getattr(gensim_kv, "expandos", {}):
            counts = np.asarray(gensim_kv.expandos["count"], dtype=np.int64)
        return cls([str(key) for key in gensim_kv.index_to_key], np.array(gensim_kv.vectors), counts)

    def to_gensim(self):
        """The same vectors as a `gensim.models.KeyedVectors` (needs gensim installed)."""
        from gensim.models import KeyedVectors as GensimKeyedVectors

        gensim_kv = GensimKeyedVectors(self.vector_size, count=0, dtype=self._vectors.dtype)
        gensim_kv.add_vectors(list(self.index_to_key), self._vectors.copy())
        if self.counts is not None:
            gensim_kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
            gensim_kv.expandos["count"][:] = self.counts
        return gensim_kv

    # ------------------------------------------------------------------------------------------------------------------
    # Mapping protocol
    # ------------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index_to_key)

    def __iter__(self):
        """Iterate over the keys, in row order (like a dict)."""
        return iter(self.index_to_key)

    def __contains__(self, key) -> bool:
        return self.has_index_for(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}<vector_size={self.vector_size}, {len(self)} keys>"

    def __getitem__(self, key_or_keys):
        """The vector of a key (1-D), or the (n, d) vectors of a list of keys."""
        if isinstance(key_or_keys, _KEY_TYPES):
            return self.get_vector(key_or_keys)
        indices = [self.get_index(key) for key in key_or_keys]
        return self._vectors[np.asarray(indices, dtype=np.int64)].reshape(len(indices), self.vector_size)

    def has_index_for(self, key) -> bool:
        """Whether `key` names a row (a key, or an integer row index as gensim also accepts)."""
        return self.get_index(key, -1) >= 0

    def get_index(self, key, default=None) -> int:
        """Row index of `key` (an int in range is taken as a row index, as in gensim); KeyError when absent."""
        index = self.key_to_index.get(key, -1) if isinstance(key, str) else -1
        if index >= 0:
            return index
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < len(self.index_to_key):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"Key {key!r} not present in the vocabulary of {len(self)} keys")

    def get_vector(self, key, norm: bool = False) -> np.ndarray:
        """The vector of `key` (read-only), or its unit-length version v / ||v|| with `norm=True`."""
        index = self.get_index(key)
        if norm:
            self.fill_norms()
            result = self._vectors[index] / self._safe_norms()[index]
        else:
            result = self._vectors[index]
        result.setflags(write=False)  # tampering would invalidate the cached norms
        return result

    def word_vec(self, key, norm: bool = False) -> np.ndarray:
        """Alias of `get_vector` (gensim 3 name)."""
        return self.get_vector(key, norm=norm)

    def get_count(self, key) -> int:
        """Corpus frequency of `key` (needs `counts`)."""
        if self.counts is None:
            raise ValueError("these KeyedVectors have no counts (word2vec files do not store them; pass fvocab=...)")
        return int(self.counts[self.get_index(key)])

    # ------------------------------------------------------------------------------------------------------------------
    # Norms
    # ------------------------------------------------------------------------------------------------------------------
    def fill_norms(self, force: bool = False) -> None:
        """Compute (once) the Euclidean norm ||v_i||_2 of every vector, cached in `norms`."""
        source = self._source
        if source is not None and source._version != self._source_version:
            force = True  # the tensor that `vectors` views changed in place
        if self.norms is None or self._safe is None or force:
            if source is not None:
                self._source_version = source._version
            self.norms = np.linalg.norm(self._vectors, axis=1)
            self._safe = np.where(self.norms > 0, self.norms, np.ones((), dtype=self.norms.dtype))
            self._normed = None

    def _safe_norms(self) -> np.ndarray:
        """`norms` with zeros replaced by 1, so that a zero vector stays zero instead of becoming NaN."""
        self.fill_norms()
        return self._safe

    def get_normed_vectors(self) -> np.ndarray:
        """All vectors scaled to unit length, v_i / ||v_i||_2 (zero vectors stay zero), cached and read-only."""
        self.fill_norms()
        if self._normed is None:
            normed = self._vectors / self._safe_norms()[:, np.newaxis]  # (V, d) / (V, 1)
            normed.setflags(write=False)
            self._normed = normed
        return self._normed

    def unit_normalize_all(self) -> None:
        """Scale every vector to unit length in place (lengths are lost; zero vectors stay zero)."""
        self.vectors = np.array(self.get_normed_vectors())

    # ------------------------------------------------------------------------------------------------------------------
    # Similarity
    # ------------------------------------------------------------------------------------------------------------------
    def get_mean_vector(self, keys, weights=None, pre_normalize: bool = True, post_normalize: bool = False,
                        ignore_missing: bool = True) -> np.ndarray:
        """Weighted mean sum_i w_i v_i / sum_i |w_i| of keys or vectors (unit vectors with `pre_normalize`)."""
        if len(keys) == 0:
            raise ValueError("cannot compute mean with no input")
        if isinstance(weights, list):
            weights = np.array(weights, dtype=self._vectors.dtype)
        if weights is None:
            weights = np.ones(len(keys), dtype=self._vectors.dtype)
        if len(keys) != weights.shape[0]:
            raise ValueError(f"keys and weights must have the same length, got {len(keys)} and {weights.shape[0]}")
        mean = np.zeros(self.vector_size, self._vectors.dtype)
        total_weight = 0
        for position, key in enumerate(keys):
            if isinstance(key, np.ndarray):
                if key.shape != (self.vector_size,):
                    raise ValueError(f"a vector given as a key must have shape ({self.vector_size},), got {key.shape}")
                mean += weights[position] * key
                total_weight += abs(weights[position])
            elif self.has_index_for(key):
                mean += weights[position] * self.get_vector(key, norm=pre_normalize)
                total_weight += abs(weights[position])
            elif not ignore_missing:
                raise KeyError(f"Key {key!r} not present in the vocabulary of {len(self)} keys")
        if total_weight > 0:
            mean = mean / total_weight
        if post_normalize:
            mean = _unitvec(mean).astype(REAL)
        return mean

    def most_similar(self, positive=None, negative=None, topn: int | None = 10, clip_start: int = 0,
                     clip_end: int | None = None, restrict_vocab: int | None = None, indexer=None):
        """3CosAdd (Mikolov et al. 2013): the keys nearest in cosine to the mean of the unit vectors of `positive`
        minus those of `negative`.

        `positive` / `negative` hold keys, vectors, or (key, weight) pairs (default weights +1 / -1); a single key or
        vector is accepted too. Query keys are not returned. With `topn=None` the cosine with every key (in the
        searched range) is returned instead. `restrict_vocab=N` searches only the first N keys.
        """
        if isinstance(topn, Integral) and topn < 1:
            return []
        _check_restrict_vocab(restrict_vocab)
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        self.fill_norms()
        clip_end = clip_end or len(self._vectors)
        if restrict_vocab:
            clip_start, clip_end = 0, restrict_vocab

        keys = []
        weight = np.concatenate((np.ones(len(positive)), -1.0 * np.ones(len(negative))))
        for position, item in enumerate(positive + negative):
            if isinstance(item, _EXTENDED_KEY_TYPES):
                keys.append(item)
            else:
                keys.append(item[0])
                weight[position] = item[1]

        mean = self.get_mean_vector(keys, weight, pre_normalize=True, post_normalize=True, ignore_missing=False)
        query_indices = [self.get_index(key) for key in keys if isinstance(key, _KEY_TYPES) and self.has_index_for(key)]
        if indexer is not None and isinstance(topn, int):
            return indexer.most_similar(mean, topn)

        dists = np.dot(self._vectors[clip_start:clip_end], mean) / self._safe_norms()[clip_start:clip_end]
        if not topn:
            return dists
        best = _top_indices(dists, topn + len(query_indices))
        excluded = set(query_indices)
        result = [
            (self.index_to_key[index + clip_start], float(dists[index]))
            for index in best if (index + clip_start) not in excluded
        ]
        return result[:topn]

    def similar_by_key(self, key, topn: int | None = 10, restrict_vocab: int | None = None):
        """The `topn` keys nearest to `key` in cosine similarity."""
        return self.most_similar(positive=[key], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_word(self, word, topn: int | None = 10, restrict_vocab: int | None = None):
        """Alias of `similar_by_key`."""
        return self.similar_by_key(word, topn, restrict_vocab)

    def similar_by_vector(self, vector, topn: int | None = 10, restrict_vocab: int | None = None):
        """The `topn` keys nearest to a vector in cosine similarity (no key is excluded)."""
        return self.most_similar(positive=[np.asarray(vector)], topn=topn, restrict_vocab=restrict_vocab)

    def most_similar_cosmul(self, positive=None, negative=None, topn: int | None = 10,
                            restrict_vocab: int | None = None):
        """3CosMul (Levy & Goldberg 2014, eq. 4): argmax_x prod_p cos'(x, p) / (prod_n cos'(x, n) + 1e-6), with
        cosines shifted to [0, 1] by cos' = (1 + cos) / 2 (their footnote 7).

        Keys are taken as unit vectors, vectors as given; query keys are not returned. With one positive key the
        ranking is the one of `most_similar`.
        """
        if isinstance(topn, Integral) and topn < 1:
            return []
        _check_restrict_vocab(restrict_vocab)
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        self.fill_norms()
        query_indices = {
            self.get_index(word) for word in positive + negative
            if isinstance(word, _KEY_TYPES) and self.has_index_for(word)
        }
        positive = [self.get_vector(w, norm=True) if isinstance(w, _KEY_TYPES) else np.asarray(w) for w in positive]
        negative = [self.get_vector(w, norm=True) if isinstance(w, _KEY_TYPES) else np.asarray(w) for w in negative]
        if not positive:
            raise ValueError("cannot compute similarity with no input")

        end = restrict_vocab or len(self._vectors)
        vectors, norms = self._vectors[:end], self._safe_norms()[:end]
        pos_dists = [((1 + np.dot(vectors, term) / norms) / 2) for term in positive]
        neg_dists = [((1 + np.dot(vectors, term) / norms) / 2) for term in negative]
        dists = np.prod(pos_dists, axis=0) / (np.prod(neg_dists, axis=0) + _COSMUL_EPSILON)
        if not topn:
            return dists
        best = _top_indices(dists, topn + len(query_indices))
        result = [(self.index_to_key[index], float(dists[index])) for index in best if index not in query_indices]
        return result[:topn]

    @staticmethod
    def cosine_similarities(vector_1: np.ndarray, vectors_all: np.ndarray) -> np.ndarray:
        """cos(v, w_j) = v . w_j / (||v|| ||w_j||) for every row w_j (0 where either vector is zero)."""
        norm = np.linalg.norm(vector_1)
        all_norms = np.linalg.norm(vectors_all, axis=1)
        denominators = norm * all_norms
        dot_products = np.dot(vectors_all, vector_1)
        return np.divide(dot_products, denominators, out=np.zeros_like(dot_products), where=denominators > 0)

    def distances(self, word_or_vector, other_words: Iterable = ()) -> np.ndarray:
        """Cosine distances 1 - cos from a key or vector to `other_words` (to every key when empty)."""
        if isinstance(word_or_vector, _KEY_TYPES):
            input_vector = self.get_vector(word_or_vector)
        else:
            input_vector = np.asarray(word_or_vector)
        other_words = list(other_words)
        if not other_words:
            other_vectors = self._vectors
        else:
            other_vectors = self._vectors[[self.get_index(word) for word in other_words]]
        return 1 - self.cosine_similarities(input_vector, other_vectors)

    def distance(self, w1, w2) -> float:
        """Cosine distance 1 - cos(w1, w2)."""
        return 1 - self.similarity(w1, w2)

    def similarity(self, w1, w2) -> float:
        """Cosine similarity cos(w1, w2) = v1 . v2 / (||v1|| ||v2||) of two keys."""
        return float(np.dot(_unitvec(self[w1]), _unitvec(self[w2])))

    def n_similarity(self, ws1, ws2) -> float:
        """Cosine similarity between the mean vectors of two lists of keys."""
        if not (len(ws1) and len(ws2)):
            raise ZeroDivisionError("At least one of the passed lists is empty.")
        mean1 = self.get_mean_vector(ws1, pre_normalize=False, ignore_missing=False)
        mean2 = self.get_mean_vector(ws2, pre_normalize=False, ignore_missing=False)
        return float(np.dot(_unitvec(mean1), _unitvec(mean2)))

    def rank_by_centrality(self, words, use_norm: bool = True) -> list[tuple[float, str]]:
        """(cosine with the normalised centroid, key) for `words`, most central first (missing keys are skipped)."""
        self.fill_norms()
        used_words = [word for word in words if word in self]
        if len(used_words) != len(words):
            logger.warning(f"vectors for words {sorted(set(words) - set(used_words))} are not present in the "
                           "model, ignoring these words")
        if not used_words:
            raise ValueError("cannot select a word from an empty list")
        vectors = np.vstack([self.get_vector(word, norm=use_norm) for word in used_words]).astype(REAL)
        mean = self.get_mean_vector(vectors, post_normalize=True)
        dists = np.dot(vectors, mean)
        return [(float(dist), word) for dist, word in sorted(zip(dists, used_words), reverse=True)]

    def doesnt_match(self, words) -> str:
        """The odd one out: the key furthest (in cosine) from the mean of the unit vectors of `words`."""
        return self.rank_by_centrality(words)[-1][1]

    def most_similar_to_given(self, key1, keys_list):
        """The key of `keys_list` most similar to `key1`."""
        return keys_list[int(np.argmax([self.similarity(key1, key) for key in keys_list]))]

    def closer_than(self, key1, key2) -> list[str]:
        """Every key closer to `key1` than `key2` is."""
        all_distances = self.distances(key1)
        e1_index = self.get_index(key1)
        e2_index = self.get_index(key2)
        closer = np.where(all_distances < all_distances[e2_index])[0]
        return [self.index_to_key[index] for index in closer if index != e1_index]

    def rank(self, key1, key2) -> int:
        """Rank of `key2` among the neighbours of `key1` (1 = nearest)."""
        return len(self.closer_than(key1, key2)) + 1

    # ------------------------------------------------------------------------------------------------------------------
    # Word analogies: a : b :: c : ?
    # ------------------------------------------------------------------------------------------------------------------
    def _ok_vocab(self, restrict_vocab, case_insensitive: bool) -> dict[str, int]:
        """Key (upper-cased when case-insensitive) -> row, over the first `restrict_vocab` keys; the first (most
        frequent) case variant wins, as in gensim."""
        keys = self.index_to_key[:restrict_vocab]
        ok_vocab = {}
        for index in range(len(keys) - 1, -1, -1):
            ok_vocab[keys[index].upper() if case_insensitive else keys[index]] = index
        return ok_vocab

    def _analogy_scores_exact(self, a: int, b: int, c: int, end: int, cosmul: bool) -> np.ndarray:
        """Scores of every candidate in rows [0, end) for one question, with the operations (matrix-vector
        products, float32 rounding) of gensim's `most_similar` / `most_similar_cosmul`."""
        normed, norms, vectors = self.get_normed_vectors(), self._safe_norms()[:end], self._vectors[:end]
        if cosmul:
            shifted = [(1 + np.dot(vectors, normed[i]) / norms) / 2 for i in (b, c, a)]
            return (shifted[0] * shifted[1]) / (shifted[2] + _COSMUL_EPSILON)
        mean = self.get_mean_vector([b, c, a], np.array([1.0, 1.0, -1.0]), post_normalize=True)
        return np.dot(vectors, mean) / norms

    def _analogy_scores_batch(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, end: int, cosmul: bool) -> np.ndarray:
        """(n, end) scores of every candidate for n questions at once: 3CosAdd or 3CosMul as one matrix product."""
        normed, norms, vectors = self.get_normed_vectors(), self._safe_norms()[:end], self._vectors[:end]
        if cosmul:
            n = len(a)
            terms = normed[np.concatenate([b, c, a])]  # (3n, d): the b rows, then c, then a
            shifted = terms @ vectors.T  # (3n, end)
            shifted /= norms
            shifted += 1
            shifted /= 2  # cos' = (1 + cos) / 2 in [0, 1]
            return (shifted[:n] * shifted[n:2 * n]) / (shifted[2 * n:] + REAL(_COSMUL_EPSILON))
        # 3CosAdd query: unit(mean(b_hat, c_hat, -a_hat)), summed in float32 in gensim's order (b, c, then a)
        dtype = vectors.dtype
        mean = normed[b].astype(dtype)
        mean = (mean.astype(np.float64) + normed[c]).astype(dtype)
        mean = (mean.astype(np.float64) - normed[a]).astype(dtype)
        mean = mean.astype(np.float64) / 3.0
        lengths = np.linalg.norm(mean, axis=1, keepdims=True)  # (n, 1)
        query = (mean * (1.0 / np.where(lengths > 0, lengths, 1.0))).astype(REAL)  # (n, d)
        scores = query @ vectors.T  # (n, end)
        scores /= norms
        return scores

    def _analogy_candidates(self, questions: np.ndarray, end: int, cosmul: bool, batch_size: int | None,
                            progress: bool) -> list[list[int]]:
        """For each (a, b, c) row of `questions`, the 5 best candidate rows (queries excluded), best first: the list
        gensim's `most_similar(positive=[b, c], negative=[a], topn=5)` returns."""
        import torch
        from tqdm.auto import tqdm

        keep = _ANALOGY_TOPN + 3  # 5 candidates survive the removal of the 3 query words
        if batch_size is None:
            batch_size = max(1, (1 << 24) // (end * (3 if cosmul else 1)))  # ~64 MiB of scores per batch
        elif not isinstance(batch_size, Integral) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.get_normed_vectors()
        tolerance = _TIE_TOLERANCE * max(1.0, (self.vector_size / 100) ** 0.5)
        candidates: list[list[int]] = []
        exact_reranks = 0
        with tqdm(total=len(questions), desc="analogies", unit="question", disable=not progress) as bar:
            for start in range(0, len(questions), batch_size):
                batch = questions[start:start + batch_size]
                a, b, c = batch[:, 0], batch[:, 1], batch[:, 2]
                if end <= 2 * keep:  # a tiny vocabulary: gensim's per-question products are as fast
                    near_tie, indices = np.ones(len(batch), dtype=bool), None
                else:
                    scores = self._analogy_scores_batch(a, b, c, end, cosmul)  # (n, end)
                    rows = np.arange(len(batch))
                    for column in (a, b, c):
                        scores[rows, column] = -np.inf  # query words are never the answer
                    values, indices = torch.topk(torch.from_numpy(scores), keep, dim=1, largest=True, sorted=True)
                    values, indices = values.numpy(), indices.numpy()
                    # Batched products round differently from gensim's matrix-vector products (by ~1e-7): where two
                    # of the leading scores are that close, the question is ranked again exactly as gensim does.
                    head = values[:, :_ANALOGY_TOPN + 1]
                    gaps = head[:, :-1] - head[:, 1:]
                    near_tie = (gaps <= tolerance * np.maximum(np.abs(head[:, :-1]), 1.0)).any(axis=1)
                    exact_reranks += int(near_tie.sum())
                for row in range(len(batch)):
                    query = (int(a[row]), int(b[row]), int(c[row]))
                    if near_tie[row]:
                        order = _top_indices(self._analogy_scores_exact(*query, end, cosmul), keep)
                    else:
                        order = indices[row]
                    candidates.append([int(i) for i in order if int(i) not in query][:_ANALOGY_TOPN])
                bar.update(len(batch))
        if exact_reranks and end > 2 * keep:
            logger.debug(f"{exact_reranks} analogy questions with near-tied candidates were re-ranked exactly")
        return candidates

    @staticmethod
    def _log_evaluate_word_analogies(section: dict) -> float:
        """Accuracy of one section (0.0 when it has no evaluated question), logged as gensim does."""
        correct, incorrect = len(section["correct"]), len(section["incorrect"])
        if correct + incorrect == 0:
            return 0.0
        score = correct / (correct + incorrect)
        logger.info(f"{section['section']}: {100.0 * score:.1f}% ({correct}/{correct + incorrect})")
        return score

    def evaluate_word_analogies(self, analogies: str | os.PathLike, restrict_vocab: int | None = 300000,
                                case_insensitive: bool = True, dummy4unknown: bool = False,
                                similarity_function: str = "most_similar", batch_size: int | None = None,
                                progress: bool = False, return_stats: bool = False):
        """Accuracy on an analogy test set (Mikolov et al. 2013; word2vec's compute-accuracy), as gensim computes it.

        Each line "a b c d" of the file asks a : b :: c : ?, answered by the best of the 5 nearest keys to the
        query that is not a, b or c; ": name" lines start sections (e.g. the 14 sections of questions-words.txt).

        Args:
            analogies: path of the question file (.gz/.bz2 read transparently).
            restrict_vocab: only the first N keys are candidates, and questions with a word outside them are OOV.
            case_insensitive: compare upper-cased words (the most frequent case variant stands for a word).
            dummy4unknown: count OOV questions as wrong (otherwise they are skipped).
            similarity_function: "most_similar" / "3CosAdd" (vector offset) or "most_similar_cosmul" / "3CosMul".
            batch_size: questions per matrix product (default: about 64 MiB of scores).
            progress: show a tqdm progress bar.
            return_stats: also return {"questions", "oov_questions", "oov_ratio", "evaluated"}.

        Returns:
            `(score, sections)`: the total accuracy and, per section, a dict with 'section', 'correct' and
            'incorrect' (lists of upper-cased (a, b, c, expected) tuples when case-insensitive), followed by a
            'Total accuracy' section over all of them; `(score, sections, stats)` with `return_stats`.
        """
        _check_restrict_vocab(restrict_vocab)
        method = similarity_function.lower() if isinstance(similarity_function, str) else similarity_function
        if method in ("most_similar", "3cosadd"):
            cosmul = False
        elif method in ("most_similar_cosmul", "3cosmul"):
            cosmul = True
        else:
            raise ValueError(f"similarity_function must be 'most_similar' (3CosAdd) or 'most_similar_cosmul' "
                             f"(3CosMul), got {similarity_function!r}")
        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        end = min(len(self), restrict_vocab) if restrict_vocab else len(self)
        logger.info(f"Evaluating word analogies ({'3CosMul' if cosmul else '3CosAdd'}) for top {restrict_vocab} "
                    f"words in the model on {analogies}")

        sections_questions = _read_analogy_file(analogies, case_insensitive)
        # Per section, [words, outcome] in file order: True/False once known, None while the question is unsolved.
        entries: list[list[list]] = [[] for _ in sections_questions]
        questions, pending = [], []  # rows (a, b, c) to solve, and where each one's outcome goes
        n_questions = oov = 0
        for section_number, (_, section_lines) in enumerate(sections_questions):
            for line_no, words in section_lines:
                n_questions += 1
                if any(word not in ok_vocab for word in words):
                    oov += 1
                    if dummy4unknown:
                        logger.debug(f"Zero accuracy for line #{line_no} with OOV words: {' '.join(words)}")
                        entries[section_number].append([words, False])
                    else:
                        logger.debug(f"Skipping line #{line_no} with OOV words: {' '.join(words)}")
                    continue
                questions.append([ok_vocab[words[0]], ok_vocab[words[1]], ok_vocab[words[2]]])
                entries[section_number].append([words, None])
                pending.append(entries[section_number][-1])
        if n_questions == 0:
            raise ValueError(f"{analogies}: no analogy questions found (expected lines 'a b c d' under ': section' "
                             "headers)")

        question_rows = np.asarray(questions, dtype=np.int64).reshape(len(questions), 3)
        candidates = self._analogy_candidates(question_rows, end, cosmul, batch_size, progress)
        keys = self.index_to_key
        for entry, rows in zip(pending, candidates):
            a, b, c, expected = entry[0]
            ignore = {a, b, c}
            predicted = None
            for index in rows:  # the best candidate that is not a case variant of a query word
                predicted = keys[index].upper() if case_insensitive else keys[index]
                if predicted in ok_vocab and predicted not in ignore:
                    break
            entry[1] = predicted == expected

        sections = []
        for (section_name, _), section_entries in zip(sections_questions, entries):
            section = {
                "section": section_name,
                "correct": [words for words, is_correct in section_entries if is_correct],
                "incorrect": [words for words, is_correct in section_entries if not is_correct],
            }
            sections.append(section)
            self._log_evaluate_word_analogies(section)

        total = {
            "section": "Total accuracy",
            "correct": list(itertools.chain.from_iterable(s["correct"] for s in sections)),
            "incorrect": list(itertools.chain.from_iterable(s["incorrect"] for s in sections)),
        }
        oov_ratio = float(oov) / n_questions * 100
        logger.info(f"Quadruplets with out-of-vocabulary words: {oov_ratio:.1f}%")
        if not dummy4unknown:
            logger.info("NB: analogies containing OOV words were skipped from evaluation! To change this behavior, "
                        'use "dummy4unknown=True"')
        score = self._log_evaluate_word_analogies(total)
        sections.append(total)
        if return_stats:
            stats = {"questions": n_questions, "oov_questions": oov, "oov_ratio": oov_ratio,
                     "evaluated": n_questions if dummy4unknown else n_questions - oov}
            return score, sections, stats
        return score, sections

    # ------------------------------------------------------------------------------------------------------------------
    # Word similarity: correlation with human judgements
    # ------------------------------------------------------------------------------------------------------------------
    @staticmethod
    def log_evaluate_word_pairs(pearson, spearman, oov, pairs) -> None:
        logger.info(f"Pearson correlation coefficient against {pairs}: {pearson[0]:.4f}")
        logger.info(f"Spearman rank-order correlation coefficient against {pairs}: {spearman[0]:.4f}")
        logger.info(f"Pairs with unknown words ratio: {oov:.1f}%")

    def evaluate_word_pairs(self, pairs: str | os.PathLike, delimiter: str = "\t", encoding: str = "utf8",
                            restrict_vocab: int | None = 300000, case_insensitive: bool = True,
                            dummy4unknown: bool = False, score_column: int | str | None = None):
        """Pearson and Spearman correlation between the model's cosine similarities and human judgements
        (WordSim-353, Finkelstein et al. 2002; SimLex-999, Hill et al. 2015), as gensim computes them.

        The file has a word pair and a score per line (`delimiter`-separated); '#' lines are comments. A header line
        (one whose score is not a number, e.g. "Word 1<TAB>Word 2<TAB>Human (mean)") is recognised; the score is the
        third column, or the one named "SimLex999" (SimLex-999.txt), or `score_column` (0-based index or header name).

        Returns:
            `((pearson, p_value), (spearman, p_value), oov_ratio)`, the OOV ratio in percent of the pairs.
        """
        _check_restrict_vocab(restrict_vocab)
        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        judgements = _read_word_pairs_file(pairs, delimiter, encoding, score_column)
        similarity_gold, similarity_model = [], []
        oov = 0
        for line_no, word_a, word_b, gold in judgements:
            if case_insensitive:
                word_a, word_b = word_a.upper(), word_b.upper()
            if word_a not in ok_vocab or word_b not in ok_vocab:
                oov += 1
                if dummy4unknown:
                    logger.debug(f"Zero similarity for line #{line_no} with OOV words: {word_a} {word_b}")
                    similarity_model.append(0.0)
                    similarity_gold.append(gold)
                else:
                    logger.debug(f"Skipping line #{line_no} with OOV words: {word_a} {word_b}")
                continue
            similarity_gold.append(gold)
            similarity_model.append(
                np.dot(_unitvec(self._vectors[ok_vocab[word_a]]), _unitvec(self._vectors[ok_vocab[word_b]]))
            )
        if not similarity_gold:
            raise ValueError(f"No valid similarity judgements found in {pairs}: all {len(judgements)} pairs are "
                             f"out-of-vocabulary in {self}")
        if len(similarity_gold) < 2:
            raise ValueError(f"{pairs}: only one pair is in the vocabulary of {self}; a correlation needs at least two")
        from scipy import stats

        spearman = stats.spearmanr(similarity_gold, similarity_model)
        pearson = stats.pearsonr(similarity_gold, similarity_model)
        if dummy4unknown:
            oov_ratio = float(oov) / len(similarity_gold) * 100
        else:
            oov_ratio = float(oov) / (len(similarity_gold) + oov) * 100
        pearson = (float(pearson[0]), float(pearson[1]))
        spearman = (float(spearman[0]), float(spearman[1]))
        self.log_evaluate_word_pairs(pearson, spearman, oov_ratio, pairs)
        return pearson, spearman, oov_ratio

    # ------------------------------------------------------------------------------------------------------------------
    # word2vec.c file formats
    # ------------------------------------------------------------------------------------------------------------------
    def save_word2vec_format(self, fname: str | os.PathLike, fvocab: str | os.PathLike | None = None,
                             binary: bool = False, total_vec: int | None = None, write_header: bool = True,
                             prefix: str = "") -> None:
        """Write the vectors in the format of the original word2vec tool (Mikolov et al. 2013).

        Text: a "V d" header line, then one "word v_1 ... v_d" line per key (values as numpy prints float32, as
        gensim writes them). Binary: the same header, then per key "word " + d little-endian float32 + "\\n" (as
        word2vec.c writes it). Keys are written in row order, UTF-8; .gz/.bz2/.xz names are compressed.
        `fvocab` also writes "word count" lines (needs `counts`); `total_vec` overrides the header's count (for
        files that get more vectors appended); `write_header=False` writes GloVe's header-less text format.
        """
        bad = next((key for key in self.index_to_key if key == "" or _WHITESPACE.search(prefix + key)), None)
        if bad is not None:
            raise ValueError(
                f"cannot save {prefix + bad!r} (row {self.key_to_index[bad]}) in word2vec format: a word that is empty "
                "or contains whitespace cannot be read back (the format separates words and values by spaces)"
            )
        if total_vec is None:
            total_vec = len(self)
        elif total_vec < len(self):
            raise ValueError(f"total_vec ({total_vec}) is smaller than the number of vectors written ({len(self)})")
        if fvocab is not None:
            if self.counts is None:
                raise ValueError("cannot write fvocab: these KeyedVectors have no counts")
            logger.info(f"storing vocabulary in {fvocab}")
            with _open_for_writing(fvocab) as vout:
                for key, count in zip(self.index_to_key, self.counts.tolist()):
                    vout.write(f"{prefix}{key} {count}\n".encode())
        logger.info(f"storing {total_vec}x{self.vector_size} projection weights into {fname}")
        with _open_for_writing(fname) as fout:
            if write_header:
                fout.write(f"{total_vec} {self.vector_size}\n".encode())
            if binary:
                little_endian = self._vectors.astype("<f4", copy=False)
                for key, row in zip(self.index_to_key, little_endian):
                    fout.write(f"{prefix}{key} ".encode() + row.tobytes() + b"\n")
            else:
                for key, row in zip(self.index_to_key, self._vectors):
                    fout.write(f"{prefix}{key} {' '.join(map(str, row))}\n".encode())

    @classmethod
    def load_word2vec_format(cls, fname: str | os.PathLike, fvocab: str | os.PathLike | None = None,
                             binary: bool = False, encoding: str = "utf8", unicode_errors: str = "strict",
                             limit: int | None = None, datatype=REAL, no_header: bool = False) -> KeyedVectors:
        """Read a file in the format of the original word2vec tool (text or binary, see `save_word2vec_format`).

        Args:
            fname: the file (.gz/.bz2/.xz decompressed transparently).
            fvocab: optional "word count" file (word2vec.c's -save-vocab) for `counts`.
            binary: the binary format (float32 vectors) instead of text.
            encoding, unicode_errors: how words are decoded ('replace' or 'ignore' for words that word2vec.c cut in
                the middle of a multi-byte character).
            limit: read only the first N vectors.
            datatype: dtype of the loaded vectors.
            no_header: a text file without the "V d" line (GloVe); sizes come from a first pass over the file.

        Malformed files raise `Word2VecFormatError` naming the file and line (text) or vector and byte offset
        (binary). A word that repeats keeps its first vector (with a warning), as in gensim and word2vec.c.
        """
        if limit is not None and (not isinstance(limit, Integral) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
        counts_by_key = _read_fvocab(fvocab, unicode_errors) if fvocab is not None else None
        path = os.fspath(fname)
        logger.info(f"loading projection weights from {path}")
        with _open(path, "rb") as fin:
            if no_header:
                if binary:
                    raise ValueError(f"{path}: no_header is only available for text-format files (a binary file "
                                     "cannot be read without knowing its vector size)")
                vocab_size, vector_size = _detect_sizes_text(fin, path, limit, encoding, unicode_errors)
                fin.seek(0)
                first_line_no = 1
            else:
                vocab_size, vector_size = _read_header(fin, path, encoding)
                first_line_no = 2
            declared = vocab_size
            if limit is not None:
                vocab_size = min(vocab_size, limit)
            check_trailing = limit is None or limit >= declared
            if binary:
                keys, vectors, origins = _read_binary_vectors(
                    fin, path, vocab_size, vector_size, datatype, encoding, unicode_errors, check_trailing, declared)
            else:
                keys, vectors, origins = _read_text_vectors(
                    fin, path, vocab_size, vector_size, first_line_no, datatype, encoding, unicode_errors,
                    check_trailing, declared, no_header)
        row = _first_non_finite_row(vectors)
        if row is not None:
            raise Word2VecFormatError(f"{path}, {origins[row]}: the vector of {keys[row]!r} holds NaN or infinity")
        counts = None
        if counts_by_key is not None:
            missing = [key for key in keys if key not in counts_by_key]
            if missing:
                logger.warning(f"vocabulary file {fvocab} is incomplete: {len(missing)} words are missing (e.g. "
                               f"{missing[:5]}); their count is 0")
            counts = np.array([counts_by_key.get(key, 0) for key in keys], dtype=np.int64)
        logger.info(f"loaded {vectors.shape} matrix of type {vectors.dtype} from {path}")
        return cls(keys, vectors, counts)

    # ------------------------------------------------------------------------------------------------------------------
    # Native format
    # ------------------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, compress: bool = False) -> None:
        """Save to one .npz file (keys as UTF-8 JSON, vectors, counts), readable without pickle by `load`."""
        arrays: dict[str, Any] = {
            "format_version": np.array(_NATIVE_FORMAT_VERSION),
            "keys_json": np.frombuffer(json.dumps(self.index_to_key, ensure_ascii=False).encode("utf8"), np.uint8),
            "vectors": self._vectors,
        }
        if self.counts is not None:
            arrays["counts"] = self.counts
        with atomic_write(path, "wb") as f:  # a file object: numpy would otherwise append ".npz" to the name
            (np.savez_compressed if compress else np.savez)(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KeyedVectors:
        """Load vectors saved by `save`."""
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{path}: not a KeyedVectors .npz file ({error})") from None
        if not hasattr(data, "files"):  # np.load gives an array for a .npy file
            raise ValueError(f"{path}: a single .npy array, not a KeyedVectors .npz file")
        with data:
            missing = {"format_version", "keys_json", "vectors"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: not a KeyedVectors file (missing {sorted(missing)}); word2vec files are "
                                 "read with KeyedVectors.load_word2vec_format")
            version = int(data["format_version"])
            if version > _NATIVE_FORMAT_VERSION:
                raise ValueError(f"{path}: format version {version} is newer than this hf_models reads "
                                 f"({_NATIVE_FORMAT_VERSION}); upgrade hf_models")
            keys = json.loads(data["keys_json"].tobytes().decode("utf8"))
            vectors = data["vectors"]
            counts = data["counts"] if "counts" in data.files else None
        return cls(keys, vectors, counts)

    # ------------------------------------------------------------------------------------------------------------------
    # PyTorch
    # ------------------------------------------------------------------------------------------------------------------
    def to_embedding(self, keys_or_vocab=None, freeze: bool = False, padding_idx: int | None = None,
                     return_missing: bool = False, seed: int = 0):
        """A `torch.nn.Embedding` initialised with these vectors, for a downstream model.

        Args:
            keys_or_vocab: the rows to build: None (every key, in row order), a sequence of keys (row i = key i), a
                mapping key -> row index, or a tokenizer (anything with `get_vocab()`). Keys without a vector (and
                unused rows of a mapping) start from word2vec's initialisation, uniform in [-0.5/d, 0.5/d).
            freeze: do not train the embedding.
            padding_idx: this row is zero and gets no gradient (as in `nn.Embedding`).
            return_missing: also return the list of keys that had no vector.
            seed: seed of the random rows.

        Returns:
            the embedding, or `(embedding, missing_keys)` with `return_missing`.
        """
        import torch

        if keys_or_vocab is None:
            keys_or_vocab = self.index_to_key
        if hasattr(keys_or_vocab, "get_vocab"):
            keys_or_vocab = keys_or_vocab.get_vocab()
        if isinstance(keys_or_vocab, str):
            raise TypeError("to_embedding: keys_or_vocab must be a sequence of keys or a mapping, not a single str")
        if isinstance(keys_or_vocab, Mapping):
            rows_and_keys = []
            for key, index in keys_or_vocab.items():
                if not isinstance(index, Integral) or isinstance(index, bool) or index < 0:
                    raise ValueError(f"to_embedding: the vocabulary maps {key!r} to {index!r}; indices must be "
                                     "non-negative integers")
                rows_and_keys.append((int(index), key))
            num_embeddings = max((index for index, _ in rows_and_keys), default=-1) + 1
        else:
            rows_and_keys = list(enumerate(keys_or_vocab))
            num_embeddings = len(rows_and_keys)
        if num_embeddings == 0:
            raise ValueError("to_embedding: the vocabulary is empty")
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"to_embedding: padding_idx {padding_idx} is out of range for {num_embeddings} rows")

        d = self.vector_size
        generator = torch.Generator().manual_seed(seed)
        weight = (torch.rand(num_embeddings, d, generator=generator) - 0.5) / d  # word2vec's initialisation
        targets, sources, missing = [], [], []
        for index, key in rows_and_keys:
            source = self.key_to_index.get(key, -1) if isinstance(key, str) else -1
            if source >= 0:
                targets.append(index)
                sources.append(source)
            else:
                missing.append(key)
        if targets:
            weight[torch.tensor(targets)] = torch.from_numpy(self._vectors[sources].astype(np.float32))
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        unused = num_embeddings - len({index for index, _ in rows_and_keys})
        if missing or unused:
            logger.warning(f"to_embedding: {len(missing)} of {len(rows_and_keys)} keys have no vector (e.g. "
                           f"{missing[:5]}) and {unused} rows no key; they start random")
        embedding = torch.nn.Embedding.from_pretrained(weight, freeze=freeze, padding_idx=padding_idx)
        return (embedding, missing) if return_missing else embedding


# ----------------------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------------------
def _read_analogy_file(path, case_insensitive: bool) -> list[tuple[str, list[tuple[int, tuple]]]]:
    """Sections of an analogy file: [(name, [(line number, (a, b, c, d)), ...]), ...]."""
    sections: list[tuple[str, list]] = []
    with _open(path, "rb") as fin:
        for line_no, raw in enumerate(fin, start=1):
            line = _decode(raw, "utf8", "strict", f"{path}, line {line_no}")
            if line.startswith(": "):
                sections.append((line.lstrip(": ").strip(), []))
                continue
            words = line.split()
            if not words:
                continue  # blank line
            if not sections:
                raise ValueError(f"{path}, line {line_no}: missing section header (': name') before the first "
                                 f"question {line.strip()!r}")
            if len(words) != 4:
                raise ValueError(f"{path}, line {line_no}: expected 4 words 'a b c d' (a : b :: c : d), got "
                                 f"{len(words)}: {line.strip()!r}")
            if case_insensitive:
                words = [word.upper() for word in words]
            sections[-1][1].append((line_no, tuple(words)))
    return sections


_KNOWN_SCORE_COLUMNS = ("SimLex999",)


def _read_word_pairs_file(path, delimiter: str, encoding: str, score_column) -> list[tuple[int, str, str, float]]:
    """(line number, word 1, word 2, score) of every judgement of a word-similarity file."""
    if isinstance(score_column, bool) or not (score_column is None or isinstance(score_column, (Integral, str))):
        raise TypeError(f"score_column must be a column index, a header name or None, got {score_column!r}")
    if isinstance(score_column, Integral) and score_column < 2:
        raise ValueError(f"score_column must be >= 2 (columns 0 and 1 hold the words), got {score_column}")
    judgements = []
    column = score_column if isinstance(score_column, Integral) else None
    header_seen = False
    with _open(path, "rb") as fin:
        for line_no, raw in enumerate(fin, start=1):
            line = _decode(raw, encoding, "strict", f"{path}, line {line_no}").rstrip("\r\n")
            line = line.removeprefix("\ufeff")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(delimiter)
            if not judgements and not header_seen:
                header = [field.strip() for field in fields]
                guess = column if column is not None else 2
                is_header = len(fields) <= guess or not _is_number(fields[guess])
                if is_header and len(fields) >= 3:
                    header_seen = True
                    if isinstance(score_column, str):
                        if score_column not in header:
                            raise ValueError(f"{path}, line {line_no}: no column named {score_column!r} in the "
                                             f"header {header}")
                        column = header.index(score_column)
                    elif column is None:
                        known = [name for name in _KNOWN_SCORE_COLUMNS if name in header]
                        if known:
                            column = header.index(known[0])
                        elif len(header) == 3:
                            column = 2
                        else:
                            raise ValueError(f"{path}, line {line_no}: cannot tell which of the columns {header} "
                                             "holds the similarity score; pass score_column (index or name)")
                    continue
                if isinstance(score_column, str):
                    raise ValueError(f"{path}: score_column {score_column!r} names a header column but the file has no "
                                     f"header (line {line_no} is data)")
                if column is None:
                    if len(fields) != 3:
                        raise ValueError(
                            f"{path}, line {line_no}: expected 3 {delimiter!r}-separated fields (word 1, word 2, "
                            f"score), got {len(fields)}: {line!r}; pass score_column for files with more columns")
                    column = 2
            if len(fields) <= column:
                raise ValueError(f"{path}, line {line_no}: expected at least {column + 1} {delimiter!r}-separated "
                                 f"fields (the score is column {column}), got {len(fields)}: {line!r}")
            word_a, word_b = fields[0].strip(), fields[1].strip()
            if not word_a or not word_b:
                raise ValueError(f"{path}, line {line_no}: empty word in {line!r}")
            try:
                score = float(fields[column])
            except ValueError:
                raise ValueError(f"{path}, line {line_no}: the score {fields[column]!r} (column {column}) is not a "
                                 "number") from None
            if not np.isfinite(score):
                raise ValueError(f"{path}, line {line_no}: the score {fields[column]!r} is not finite")
            judgements.append((line_no, word_a, word_b, score))
    if not judgements:
        raise ValueError(f"{path}: no word pairs found (expected lines 'word1{delimiter}word2{delimiter}score')")
    return judgements


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_fvocab(fvocab, unicode_errors: str) -> dict[str, int]:
    """word -> count from a "word count" file (word2vec.c's -save-vocab)."""
    counts = {}
    with _open(fvocab, "rb") as fin:
        for line_no, raw in enumerate(fin, start=1):
            line = _decode(raw, "utf8", unicode_errors, f"{fvocab}, line {line_no}").strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise Word2VecFormatError(f"{fvocab}, line {line_no}: expected 'word count', got {line!r}")
            counts.setdefault(parts[0], int(parts[1]))
    return counts


def _read_header(fin, path: str, encoding: str) -> tuple[int, int]:
    """(vocab_size, vector_size) from the "V d" first line."""
    raw = fin.readline()
    if not raw:
        raise Word2VecFormatError(f"{path}: the file is empty (expected a 'vocab_size vector_size' header line)")
    header = _decode(raw, encoding, "strict", f"{path}, line 1").strip()
    parts = header.split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise Word2VecFormatError(
            f"{path}, line 1: expected a header 'vocab_size vector_size' (two integers), got {header[:80]!r}; for a "
            "file without header (GloVe) pass no_header=True, for a binary file binary=True"
        )
    vocab_size, vector_size = int(parts[0]), int(parts[1])
    if vector_size <= 0:
        raise Word2VecFormatError(f"{path}, line 1: the vector size must be positive, got {vector_size}")
    return vocab_size, vector_size


def _detect_sizes_text(fin, path: str, limit, encoding: str, unicode_errors: str) -> tuple[int, int]:
    """(vocab_size, vector_size) of a header-less text file: its number of lines, the width of its first line."""
    vector_size = None
    vocab_size = 0
    for raw in fin:
        if vocab_size == limit:
            break
        if not raw.strip():
            continue  # blank lines (at the end) are not vectors; in the middle the reader reports them
        if vector_size is None:
            line = _decode(raw.rstrip(), encoding, unicode_errors, f"{path}, line 1")
            vector_size = len(line.split(" ")) - 1
            if vector_size <= 0:
                raise Word2VecFormatError(f"{path}, line 1: expected 'word v1 v2 ...', got {line[:80]!r}")
        vocab_size += 1
    if vector_size is None:
        raise Word2VecFormatError(f"{path}: the file is empty")
    return vocab_size, vector_size


def _read_text_vectors(fin, path, vocab_size, vector_size, first_line_no, datatype, encoding, unicode_errors,
                       check_trailing, declared, no_header):
    """Keys, (n, d) vectors and line of origin of each, from "word v1 ... vd" lines."""
    vectors = np.empty((vocab_size, vector_size), dtype=datatype)
    keys, origins, seen = [], [], {}
    for i in range(vocab_size):
        line_no = first_line_no + i
        raw = fin.readline()
        if not raw:
            raise Word2VecFormatError(f"{path}, line {line_no}: unexpected end of file after {i} vectors; the header "
                                      f"declares {declared} (is the count wrong or the file truncated?)")
        if not raw.strip():
            raise Word2VecFormatError(f"{path}, line {line_no}: empty line (expected 'word v1 ... v{vector_size}')")
        parts = _decode(raw.rstrip(), encoding, unicode_errors, f"{path}, line {line_no}").split(" ")
        word, values = parts[0], parts[1:]
        if not word:
            raise Word2VecFormatError(f"{path}, line {line_no}: the line does not start with a word: {raw[:80]!r}")
        if len(values) != vector_size:
            raise Word2VecFormatError(f"{path}, line {line_no}: expected {vector_size} values after the word "
                                      f"{word!r}, found {len(values)}")
        try:
            row = np.array(values, dtype=datatype)
        except ValueError:
            bad = next(value for value in values if not _is_number(value))
            raise Word2VecFormatError(f"{path}, line {line_no}: {bad!r} (a value of {word!r}) is not a number") from None
        if word in seen:
            logger.warning(f"{path}, line {line_no}: duplicate word {word!r} (first on line {seen[word]}); keeping the "
                           "first vector")
            continue
        seen[word] = line_no
        vectors[len(keys)] = row
        keys.append(word)
        origins.append(f"line {line_no}")
    if check_trailing and not no_header:
        line_no = first_line_no + vocab_size
        for raw in fin:
            if raw.strip():
                raise Word2VecFormatError(f"{path}, line {line_no}: the header declares {declared} vectors but the "
                                          "file has more (is the count in the header wrong?)")
            line_no += 1
    return keys, vectors[:len(keys)], origins


def _read_binary_vectors(fin, path, vocab_size, vector_size, datatype, encoding, unicode_errors, check_trailing,
                         declared, chunk_size: int = 1 << 20):
    """Keys, (n, d) vectors and origin of each, from "word " + d little-endian float32 records."""
    vector_bytes = vector_size * 4
    vectors = np.empty((vocab_size, vector_size), dtype=datatype)
    keys, origins, seen = [], [], {}
    buffer = b""
    buffer_offset = fin.tell()  # file offset of buffer[0]
    position = 0
    eof = False
    for i in range(vocab_size):
        while True:
            space = buffer.find(b" ", position)
            if space != -1 and len(buffer) - (space + 1) >= vector_bytes:
                break
            more = b"" if eof else fin.read(chunk_size)
            if not more:
                eof = True
                offset = buffer_offset + position
                if not buffer[position:].strip():
                    raise Word2VecFormatError(
                        f"{path}: unexpected end of file after {i} vectors (byte {offset}); the header declares "
                        f"{declared} (is the count wrong or the file truncated?)")
                what = "a word without its vector" if space == -1 else f"a vector shorter than {vector_size} floats"
                raise Word2VecFormatError(f"{path}, vector #{i + 1} (byte {offset}): the file is truncated ({what})")
            buffer_offset += position
            buffer = buffer[position:] + more
            position = 0
        raw_word = buffer[position:space].lstrip(b"\n")  # word2vec.c ends each vector with a newline
        where = f"vector #{i + 1} (byte {buffer_offset + position})"
        if not raw_word:
            raise Word2VecFormatError(f"{path}, {where}: empty word (is this really a binary word2vec file, with "
                                      f"vector size {vector_size}?)")
        word = _decode(raw_word, encoding, unicode_errors, f"{path}, {where}")
        row = np.frombuffer(buffer, dtype="<f4", count=vector_size, offset=space + 1)
        position = space + 1 + vector_bytes
        if word in seen:
            logger.warning(f"{path}, {where}: duplicate word {word!r} (first as {seen[word]}); keeping the first vector")
            continue
        seen[word] = where
        vectors[len(keys)] = row
        keys.append(word)
        origins.append(where)
    if check_trailing:
        rest = buffer[position:]
        while not rest.strip() and not eof:
            rest = fin.read(chunk_size)
            eof = not rest
        if rest.strip():
            raise Word2VecFormatError(f"{path}: the header declares {declared} vectors but the file has more data after "
                                      "the last one (is the count in the header, or binary=True, wrong?)")
    return keys, vectors[:len(keys)], origins


# ----------------------------------------------------------------------------------------------------------------------
# Vectors from wherever they are kept
# ----------------------------------------------------------------------------------------------------------------------
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma")
# files that hold something else than word vectors (model weights, configs): refused with a hint
_NOT_VECTOR_SUFFIXES = {
    ".safetensors": "model weights", ".pt": "a torch checkpoint", ".pth": "a torch checkpoint",
    ".ckpt": "a checkpoint", ".h5": "Keras/HDF5 weights", ".onnx": "an ONNX model", ".msgpack": "Flax weights",
    ".json": "JSON",
}
_ZIP_MAGIC = b"PK\x03\x04"  # an .npz file (KeyedVectors.save writes one under any name)
_ACCEPTED = ("a folder saved by Word2VecModel.save_pretrained (or a Hub model id), a KeyedVectors .npz file (KeyedVectors."
             "save), or a word2vec-format file (text, or binary when its name ends in .bin; .gz/.bz2/.xz decompressed)")


def is_binary_word2vec_name(path: str | os.PathLike) -> bool:
    """Whether a word2vec file's name says binary: vectors.bin, vectors.bin.gz (text otherwise)."""
    name = os.fspath(path)
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.endswith(".bin")


def _looks_like_hub_name(path: str) -> bool:
    """'name' or 'org/name' without a file extension (anything else is a local path that does not exist)."""
    return (re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", path) is not None
            and not path.endswith((".txt", ".bin", ".vec", ".npz", *_COMPRESSION_SUFFIXES)))


def load_vectors(path: str | os.PathLike, binary: bool | None = None, limit: int | None = None,
                 no_header: bool = False, unicode_errors: str = "strict", fvocab: str | os.PathLike | None = None,
                 **from_pretrained_kwargs) -> KeyedVectors:
    """Word vectors from wherever they are kept, chosen by what `path` is:

    - a folder saved by `Word2VecModel.save_pretrained`, or a Hub model id: the model's `wv` (with the counts);
    - a `KeyedVectors.save` .npz file;
    - any other file: the format of the original word2vec tool (`KeyedVectors.load_word2vec_format`), binary when
      `binary=True` or, with `binary=None`, when the name ends in .bin (vectors.bin, vectors.bin.gz), text otherwise;
      .gz/.bz2/.xz are decompressed.

    Args:
        binary, limit, no_header, unicode_errors, fvocab: how to read a word2vec-format file (see
            `KeyedVectors.load_word2vec_format`); an error for the other kinds of path.
        from_pretrained_kwargs: passed to `Word2VecModel.from_pretrained` for a folder or Hub id (revision, token...).

    Raises:
        FileNotFoundError: nothing at `path` (and, for a Hub id, no model on the Hub), naming the path.
        ValueError: a folder that is not a saved model, a file that holds something other than word vectors
            (weights, pickles, JSON), or word2vec-file options for another kind of path; the message names the path.
        Word2VecFormatError: a malformed word2vec file, naming the file and line (or byte offset).
    """
    name = os.fspath(path)
    word2vec_options = {"binary": binary, "limit": limit, "no_header": no_header or None, "fvocab": fvocab,
                        "unicode_errors": None if unicode_errors == "strict" else unicode_errors}

    def refuse_word2vec_options(kind: str) -> None:
        given = [option for option, value in word2vec_options.items() if value is not None]
        if given:
            raise ValueError(f"{name} is {kind}: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only "
                             "to word2vec-format files")

    def from_model(source: str) -> KeyedVectors:
        from .modeling_word2vec import Word2VecModel

        return Word2VecModel.from_pretrained(source, **from_pretrained_kwargs).wv

    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ValueError(f"{name} is a folder without config.json; expected {_ACCEPTED}")
        refuse_word2vec_options("a model folder")
        logger.info(f"loading the word vectors of the model folder {name}")
        return from_model(name)
    if os.path.isfile(name):
        if from_pretrained_kwargs:
            raise ValueError(f"{name} is a file: {', '.join(from_pretrained_kwargs)} (from_pretrained arguments) apply "
                             "only to model folders and Hub ids")
        base = name
        for suffix in _COMPRESSION_SUFFIXES:
            base = base.removesuffix(suffix)
        suffix = os.path.splitext(base)[1].lower()
        with open(name, "rb") as f:
            magic = f.read(4)
        pickled = len(magic) >= 2 and magic[0] == 0x80 and 2 <= magic[1] <= 5  # pickle protocol 2-5
        if pickled or suffix in _NOT_VECTOR_SUFFIXES or re.fullmatch(r"pytorch_model.*\.bin", os.path.basename(base)):
            kind = "a pickle" if pickled else _NOT_VECTOR_SUFFIXES.get(suffix, "a torch checkpoint")
            hint = ""
            if os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(name)), "config.json")):
                hint = f" (to load the model saved there, pass its folder {os.path.dirname(name) or '.'})"
            elif pickled:
                hint = (" (gensim's Word2Vec.save/KeyedVectors.save write pickles: load it with gensim and convert it "
                        "with KeyedVectors.from_gensim)")
            raise ValueError(f"{name}: unknown word-vectors format ({kind}){hint}; expected {_ACCEPTED}")
        if suffix == ".npz" or magic == _ZIP_MAGIC:
            refuse_word2vec_options("a KeyedVectors .npz file")
            logger.info(f"loading KeyedVectors from {name}")
            return KeyedVectors.load(name)
        if binary is None:
            binary = is_binary_word2vec_name(name)
        logger.info(f"loading {'binary' if binary else 'text'} word2vec vectors from {name}")
        return KeyedVectors.load_word2vec_format(name, fvocab=fvocab, binary=binary, limit=limit,
                                                 no_header=no_header, unicode_errors=unicode_errors)
    if not _looks_like_hub_name(name):
        raise FileNotFoundError(f"{name}: no such file or folder; expected {_ACCEPTED}")
    refuse_word2vec_options("not a local path (read as a Hub model id)")
    logger.info(f"{name} is not a local path: loading it from the Hugging Face Hub")
    try:
        return from_model(name)
    except OSError as error:
        raise FileNotFoundError(f"{name}: no such file or folder, and the Hub gave no model ({error})") from None


__all__ = ["KeyedVectors", "Word2VecFormatError", "is_binary_word2vec_name", "load_vectors"]
