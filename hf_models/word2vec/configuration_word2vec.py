"""word2vec configuration (Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector Space";
Mikolov et al. 2013b, "Distributed Representations of Words and Phrases and their Compositionality").

The fields and their defaults are gensim 4.x's `Word2Vec` parameters (which are word2vec.c's, except the learning
rate of CBOW: 0.025 for both architectures), with clearer names for the two switches: `architecture` instead of
`sg` and `objective` instead of `hs`/`negative`. gensim's spellings are accepted too (`sg=1`, `hs=1`).
"""

from __future__ import annotations

import math
from typing import ClassVar

from transformers import PretrainedConfig

ARCHITECTURES = ("skipgram", "cbow")
OBJECTIVES = ("negative_sampling", "hierarchical_softmax", "full_softmax")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Word2VecConfig(PretrainedConfig):
    r"""Configuration of hf_models' word2vec (`Word2VecModel`).

    Args:
        vocab_size: number of words V in the vocabulary (set from the corpus by `build_vocab`; 0 before).
        vector_size: dimension d of the word vectors (gensim `vector_size`, word2vec.c `-size`).
        window: maximum distance between the centre word and a context word (word2vec.c `-window`).
        architecture: "skipgram" (predict each context word from the centre word) or "cbow" (predict the centre
            word from the bag of its context words). gensim's `sg=1` / `sg=0` are accepted.
        objective: how p(word | input) is trained: "negative_sampling" (Mikolov 2013b eq. 4), "hierarchical_softmax"
            (a binary decision per node on the word's Huffman path) or "full_softmax" (cross-entropy over all V
            words, the lecture's objective, O(V) per prediction). gensim's `hs=1` / `negative=0` are accepted.
        negative: noise words drawn per prediction for negative sampling (word2vec.c `-negative`).
        ns_exponent: exponent of the unigram counts of the noise distribution (0.75 in the paper).
        cbow_mean: CBOW input is the mean (True) or the sum (False) of the context vectors.
        sample: subsampling threshold t of frequent words (Mikolov 2013b sec. 2.3, gensim's formula); 0 disables it.
        min_count: words seen fewer times than this are dropped from the vocabulary.
        max_vocab_size: while scanning the corpus, prune the rarest words whenever the vocabulary grows beyond this
            (bounds memory like gensim's `max_vocab_size`); None for no limit.
        max_final_vocab: keep at most this many words, raising the effective min_count (gensim's semantics).
        alpha: initial learning rate.
        min_alpha: final learning rate; the rate decays linearly from alpha to min_alpha over all training words.
        epochs: passes over the corpus.
        seed: seed of the weight initialisation and of the training random numbers.
        shrink_windows: sample the effective window uniformly from 1..window for each centre word (word2vec.c's
            dynamic window, which weights nearer words more); False uses the full window.
        lowercase: lowercase every token when building the vocabulary and training.
        batch_words: words per job handed to a training thread (gensim's `batch_words`).
        max_sentence_length: longer sentences are split into pieces of this many words (gensim's 10000).
    """

    model_type = "hf_word2vec"
    attribute_map: ClassVar[dict[str, str]] = {"hidden_size": "vector_size"}

    def __init__(
        self,
        vocab_size: int = 0,
        vector_size: int = 100,
        window: int = 5,
        architecture: str = "skipgram",
        objective: str = "negative_sampling",
        negative: int = 5,
        ns_exponent: float = 0.75,
        cbow_mean: bool = True,
        sample: float = 1e-3,
        min_count: int = 5,
        max_vocab_size: int | None = None,
        max_final_vocab: int | None = None,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        epochs: int = 5,
        seed: int = 1,
        shrink_windows: bool = True,
        lowercase: bool = False,
        batch_words: int = 10000,
        max_sentence_length: int = 10000,
        **kwargs,
    ):
        # gensim's spellings of the two switches
        if "sg" in kwargs:
            sg = kwargs.pop("sg")
            if sg not in (0, 1):
                raise ValueError(f"Word2VecConfig.sg must be 0 (CBOW) or 1 (skip-gram), got {sg!r}")
            architecture = "skipgram" if sg else "cbow"
        if "hs" in kwargs:
            hs = kwargs.pop("hs")
            if hs not in (0, 1):
                raise ValueError(f"Word2VecConfig.hs must be 0 or 1, got {hs!r}")
            if hs:  # gensim trains hs and negative sampling side by side when both are on; here one objective rules
                objective = "hierarchical_softmax"
        if objective == "negative_sampling" and negative == 0:
            raise ValueError(
                "Word2VecConfig.negative must be a positive integer with objective='negative_sampling', got 0 "
                "(for gensim's hs=1, negative=0 pass objective='hierarchical_softmax')"
            )

        if architecture not in ARCHITECTURES:
            raise ValueError(f"Word2VecConfig.architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"Word2VecConfig.objective must be one of {OBJECTIVES}, got {objective!r}")
        for name, value, low in (
            ("vocab_size", vocab_size, 0),
            ("vector_size", vector_size, 1),
            ("window", window, 1),
            ("negative", negative, 0),
            ("min_count", min_count, 1),
            ("epochs", epochs, 1),
            ("batch_words", batch_words, 1),
            ("max_sentence_length", max_sentence_length, 1),
        ):
            if not _is_int(value) or value < low:
                kind = "a positive integer" if low == 1 else "a non-negative integer"
                raise ValueError(f"Word2VecConfig.{name} must be {kind}, got {value!r}")
        for name, value in (("max_vocab_size", max_vocab_size), ("max_final_vocab", max_final_vocab)):
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"Word2VecConfig.{name} must be None or a positive integer, got {value!r}")
        if not _is_int(seed):
            raise ValueError(f"Word2VecConfig.seed must be an integer, got {seed!r}")
        for name, value in (("ns_exponent", ns_exponent), ("sample", sample), ("alpha", alpha),
                            ("min_alpha", min_alpha)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"Word2VecConfig.{name} must be a number, got {value!r}")
        if sample < 0:
            raise ValueError(f"Word2VecConfig.sample must be >= 0 (0 disables subsampling), got {sample!r}")
        if alpha <= 0:
            raise ValueError(f"Word2VecConfig.alpha must be > 0, got {alpha!r}")
        if not 0 <= min_alpha <= alpha:
            raise ValueError(f"Word2VecConfig.min_alpha must be in [0, alpha={alpha}], got {min_alpha!r}")
        for name, value in (("cbow_mean", cbow_mean), ("shrink_windows", shrink_windows), ("lowercase", lowercase)):
            if value not in (True, False, 0, 1):
                raise ValueError(f"Word2VecConfig.{name} must be a boolean, got {value!r}")
        if objective == "hierarchical_softmax" and 0 < vocab_size < 2:
            raise ValueError(
                f"Word2VecConfig.vocab_size must be at least 2 for objective='hierarchical_softmax' (the Huffman "
                f"tree of V words has V-1 inner nodes), got {vocab_size}"
            )

        self.vocab_size = vocab_size
        self.vector_size = vector_size
        self.window = window
        self.architecture = architecture
        self.objective = objective
        self.negative = negative
        self.ns_exponent = float(ns_exponent)
        self.cbow_mean = bool(cbow_mean)
        self.sample = float(sample)
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.max_final_vocab = max_final_vocab
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        self.epochs = epochs
        self.seed = seed
        self.shrink_windows = bool(shrink_windows)
        self.lowercase = bool(lowercase)
        self.batch_words = batch_words
        self.max_sentence_length = max_sentence_length
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)

    @property
    def sg(self) -> int:
        """gensim's switch: 1 for skip-gram, 0 for CBOW."""
        return int(self.architecture == "skipgram")

    @property
    def hs(self) -> int:
        """gensim's switch: 1 for hierarchical softmax."""
        return int(self.objective == "hierarchical_softmax")


__all__ = ["ARCHITECTURES", "OBJECTIVES", "Word2VecConfig"]
