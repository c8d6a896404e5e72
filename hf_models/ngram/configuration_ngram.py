"""Configuration of smoothed n-gram language models (Jurafsky & Martin, SLP3 ch. 3; Chen & Goodman 1998)."""

from __future__ import annotations

import math
from numbers import Real

from transformers import PretrainedConfig

SMOOTHINGS = ("mle", "add_k", "kneser_ney", "modified_kneser_ney", "arpa")
# KenLM's `lmplz --discount_fallback` defaults: D1, D2, D3+ for every order whose count-of-counts are unusable.
KENLM_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


class NGramConfig(PretrainedConfig):
    r"""Configuration of `NGramLanguageModel`.

    Each sentence is modelled as `<s> w1 ... wn </s>` (KenLM's convention): `<s>` is context only, never predicted;
    `</s>` is predicted and counts as a token in perplexity. Words outside the vocabulary are `<unk>`.

    Args:
        order: n, the length of the longest n-gram (any n >= 1; 1 is a unigram model).
        smoothing: how probabilities are estimated from counts:
            - "mle": maximum likelihood, p(w|h) = c(hw) / c(h); unseen events get probability 0 (a context never
              seen is replaced by its longest seen suffix, the only reading under which the model is a distribution);
            - "add_k": p(w|h) = (c(hw) + k) / (c(h) + k|V|) at the longest available context (add-one/Laplace for
              k=1); a context never seen gives the uniform 1/|V|;
            - "kneser_ney": interpolated Kneser-Ney (Kneser & Ney 1995) with one absolute discount per order,
              D = n1 / (n1 + 2 n2) over the count-of-counts of the adjusted counts (or `discount`);
            - "modified_kneser_ney": interpolated modified Kneser-Ney (Chen & Goodman 1998) with discounts D1, D2, D3+
              per order, estimated exactly as KenLM's `lmplz` (Heafield et al. 2013);
            - "arpa": probabilities and backoffs read from an ARPA file (the estimator is not known).
        k: the pseudo-count of add-k smoothing (1.0 = Laplace); > 0.
        discount: fixed discount(s) instead of estimating them from count-of-counts: one float in (0, 1] for
            "kneser_ney", or three floats [D1, D2, D3+] (0 <= Dj <= j) for "modified_kneser_ney"; the same for
            every order.
        discount_fallback: what to do for an order whose count-of-counts make the estimated discounts invalid
            (small or artificial data): True (default) substitutes KenLM's `--discount_fallback` values D1=0.5,
            D2=1, D3+=1.5 (0.5 for "kneser_ney") and logs a warning naming the order; False raises a ValueError
            naming the order (lmplz's default); a float (kneser_ney) or three floats (modified_kneser_ney)
            substitute those values. Real corpora (Penn Treebank and up) never need it.
        bos_token, eos_token, unk_token: the sentence-begin, sentence-end and unknown-word symbols.
        min_count: words seen fewer than `min_count` times in the training data become `unk_token`.
        max_vocab_size: keep at most this many words (the most frequent; ties broken by first occurrence), special
            tokens included; the rest become `unk_token`. None = no cap.
        lowercase: lowercase every word before counting and scoring.
        vocab_size: size of the vocabulary, special tokens included (set when the model is fitted or loaded).
        ngram_counts: number of n-grams stored for each order 1..n (set when the model is fitted or loaded; it sizes
            the tables that `from_pretrained` loads).
        discounts: the discounts the model was estimated with, one list per order (set by `fit`; informative).
    """

    model_type = "hf_ngram"

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "modified_kneser_ney",
        k: float = 1.0,
        discount: float | list[float] | None = None,
        discount_fallback: bool | float | list[float] = True,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        unk_token: str = "<unk>",
        min_count: int = 1,
        max_vocab_size: int | None = None,
        lowercase: bool = False,
        vocab_size: int | None = None,
        ngram_counts: list[int] | None = None,
        discounts: list[list[float]] | None = None,
        **kwargs,
    ):
        if not _is_int(order) or order < 1:
            raise ValueError(f"NGramConfig.order must be an integer >= 1, got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"NGramConfig.smoothing must be one of {', '.join(SMOOTHINGS)}; got {smoothing!r}")
        if not _is_real(k) or k <= 0:
            raise ValueError(f"NGramConfig.k (add-k pseudo-count) must be a finite number > 0, got {k!r}")
        discount = self._check_discounts("discount", discount, smoothing)
        if discount_fallback is None:
            discount_fallback = False
        if not isinstance(discount_fallback, bool):
            discount_fallback = self._check_discounts("discount_fallback", discount_fallback, smoothing)
        tokens = {}
        for name, value in (("bos_token", bos_token), ("eos_token", eos_token), ("unk_token", unk_token)):
            if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                raise ValueError(f"NGramConfig.{name} must be a non-empty string without whitespace, got {value!r}")
            if value in tokens:
                raise ValueError(f"NGramConfig.{name} ({value!r}) must differ from NGramConfig.{tokens[value]}")
            tokens[value] = name
        if not _is_int(min_count) or min_count < 1:
            raise ValueError(f"NGramConfig.min_count must be an integer >= 1, got {min_count!r}")
        if max_vocab_size is not None and (not _is_int(max_vocab_size) or max_vocab_size < 4):
            raise ValueError(
                f"NGramConfig.max_vocab_size must be None or an integer >= 4 (the 3 special tokens and a word), "
                f"got {max_vocab_size!r}"
            )
        if not isinstance(lowercase, bool):
            raise TypeError(f"NGramConfig.lowercase must be True or False, got {lowercase!r}")
        if vocab_size is not None and (not _is_int(vocab_size) or vocab_size < 3):
            raise ValueError(f"NGramConfig.vocab_size must be None or an integer >= 3, got {vocab_size!r}")
        if ngram_counts is not None:
            if (
                not isinstance(ngram_counts, (list, tuple))
                or len(ngram_counts) != order
                or not all(_is_int(c) and c >= 0 for c in ngram_counts)
            ):
                raise ValueError(
                    f"NGramConfig.ngram_counts must be None or a list of {order} (order) non-negative integers, "
                    f"got {ngram_counts!r}"
                )
            if vocab_size is not None and ngram_counts[0] != vocab_size:
                raise ValueError(
                    f"NGramConfig.ngram_counts[0] ({ngram_counts[0]} unigrams) must equal NGramConfig.vocab_size "
                    f"({vocab_size})"
                )
            ngram_counts = [int(c) for c in ngram_counts]

        self.order = order
        self.smoothing = smoothing
        self.k = float(k)
        self.discount = discount
        self.discount_fallback = discount_fallback
        self.unk_token = unk_token
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.lowercase = lowercase
        self.vocab_size = vocab_size
        self.ngram_counts = ngram_counts
        self.discounts = discounts
        for name in ("unk_token_id", "bos_token_id", "eos_token_id", "pad_token_id"):
            kwargs.pop(name, None)
        super().__init__(**kwargs)
        self.bos_token = bos_token
        self.eos_token = eos_token
        # the special ids are fixed by the vocabulary (KenLM's numbering): <unk> = 0, <s> = 1, </s> = 2; generate()
        # pads finished rows with </s>
        self.unk_token_id, self.bos_token_id, self.eos_token_id, self.pad_token_id = 0, 1, 2, 2

    def fallback_discounts(self):
        """The discounts that replace invalid estimates (None: raise an error instead)."""
        if self.discount_fallback is False:
            return None
        if self.discount_fallback is True:
            return 0.5 if self.smoothing == "kneser_ney" else list(KENLM_FALLBACK_DISCOUNTS)
        return self.discount_fallback

    @staticmethod
    def _check_discounts(name: str, value, smoothing: str):
        """None, one discount in (0, 1] (kneser_ney) or [D1, D2, D3+] with 0 <= Dj <= j (modified_kneser_ney)."""
        if value is None:
            return None
        if smoothing == "kneser_ney":
            if isinstance(value, (list, tuple)) and len(value) == 1:
                value = value[0]
            if not _is_real(value) or not 0.0 < float(value) <= 1.0:
                raise ValueError(f"NGramConfig.{name} for kneser_ney must be one number in (0, 1], got {value!r}")
            return float(value)
        if smoothing == "modified_kneser_ney":
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(_is_real(d) and 0.0 <= float(d) <= j for j, d in enumerate(value, start=1))
            ):
                raise ValueError(
                    f"NGramConfig.{name} for modified_kneser_ney must be three numbers [D1, D2, D3+] with "
                    f"0 <= D1 <= 1, 0 <= D2 <= 2, 0 <= D3+ <= 3; got {value!r}"
                )
            return [float(d) for d in value]
        raise ValueError(f"NGramConfig.{name} applies to kneser_ney and modified_kneser_ney, not to {smoothing!r}")


__all__ = ["KENLM_FALLBACK_DISCOUNTS", "SMOOTHINGS", "NGramConfig"]
