"""Smoothed n-gram language models as a Hugging Face model (Jurafsky & Martin, SLP3 ch. 3; Chen & Goodman 1998).

`NGramLanguageModel.fit` counts the n-grams of a corpus and estimates p(w | h) by MLE, add-k, interpolated Kneser-Ney
or modified Kneser-Ney (exactly as KenLM's lmplz); every estimator is stored in the backoff (ARPA) form, as torch
buffers that `save_pretrained` writes to safetensors, with the vocabulary in `vocab.txt` beside `config.json`. The model
scores and samples text, exports and imports ARPA files (KenLM, SRILM), and is a causal LM for transformers:
`forward(input_ids)` returns logits = log p(next word | previous n-1 words) at every position, so `generate()` works.
"""

from __future__ import annotations

import math
import os
import time
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput
from transformers.utils import cached_file, logging

from .arpa import BackoffTables, read_arpa, write_arpa
from .configuration_ngram import NGramConfig
from .counting import (
    BOS_ID,
    EOS_ID,
    UNK_ID,
    VOCAB_FILE,
    NGramVocabulary,
    build_vocabulary_and_encode,
    count_ngrams,
    encode_corpus,
)

# imported here, not only by arpa.py: transformers 5.0 copies a saved folder's code one relative import deep
from .jit_cache import kernel_cache_dir  # noqa: F401
from .smoothing import (
    add_k,
    adjusted_counts,
    estimate_discounts,
    kneser_ney,
    lmplz_count_of_counts,
    maximum_likelihood,
    to_log10,
)

logger = logging.get_logger(__name__)

LN_10 = math.log(10.0)
_DISTRIBUTION_ROWS = 256  # rows of [rows, V] float64 computed at once by forward()

class TokenScore(NamedTuple):
    """The score of one predicted token: log10 p(token | context), the length of the n-gram that matched, and
    whether the token is out of the vocabulary (scored as `<unk>`)."""

    token: str
    log10_prob: float
    ngram_length: int
    oov: bool


class NGramPreTrainedModel(PreTrainedModel):
    config_class = NGramConfig
    base_model_prefix = "ngram"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Nothing to initialise: the tables are estimated from counts (`fit`) or loaded, never random."""


class NGramLanguageModel(NGramPreTrainedModel, GenerationMixin):
    r"""A smoothed n-gram language model, stored in backoff (ARPA) form.

    Build one with `NGramLanguageModel.fit(sentences_or_files, order=..., smoothing=...)` (or `train_ngram`), load
    one with `from_pretrained(folder)` or `from_arpa(path)`. Sentences are `<s> w1 .. wn </s>`: `<s>` is context only,
    `</s>` is predicted. Probabilities are reported as log10 (`log10_prob`, `score_tokens`, ARPA) or natural logs
    (`log_prob`, the `logits` of `forward`), always named as such.

    Buffers, for every order k = 1..n: `keys_k` (sorted int64 keys id(prefix) * V + last word), `log10_probs_k`
    (float32) and, below the highest order, `log10_backoffs_k` (float32).
    """

    def __init__(self, config: NGramConfig, vocab: NGramVocabulary | None = None):
        super().__init__(config)
        counts = config.ngram_counts or [0] * config.order
        for k in range(1, config.order + 1):
            self.register_buffer(f"keys_{k}", torch.zeros(counts[k - 1], dtype=torch.int64))
            self.register_buffer(f"log10_probs_{k}", torch.zeros(counts[k - 1], dtype=torch.float32))
            if k < config.order:
                self.register_buffer(f"log10_backoffs_{k}", torch.zeros(counts[k - 1], dtype=torch.float32))
        self.vocab = vocab if vocab is not None else NGramVocabulary(
            unk_token=config.unk_token, bos_token=config.bos_token, eos_token=config.eos_token
        )
        self.fit_statistics: dict = {}
        self.post_init()
        if self.generation_config is not None:
            self.generation_config.use_cache = False  # no key/value cache: each step re-reads the last n-1 words

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False

    @property
    def device(self) -> torch.device:
        """Where the tables are (an n-gram model has buffers, no parameters)."""
        return self.keys_1.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the log-probability tables (float32, as ARPA files and KenLM)."""
        return self.log10_probs_1.dtype

    # ------------------------------------------------------------------------------------------------------------------
    # Estimation
    # ------------------------------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, sentences_or_files, config: NGramConfig | None = None, progress: bool = False,
            **config_kwargs) -> NGramLanguageModel:
        """Count the n-grams of a corpus and estimate the model (`config` or NGramConfig(**config_kwargs)).

        `sentences_or_files`: a text file (str or path; one sentence per line, whitespace-separated words, .gz
        allowed), or an iterable of sentences (lists of words or strings) and/or files (`pathlib.Path` items). The
        text is streamed once. `fit_statistics` records the corpus size, n-gram counts, discounts and timings.
        """
        fields = {} if config is None else config.to_dict()
        for key in ("vocab_size", "ngram_counts", "discounts", "model_type", "transformers_version", "architectures",
                    "auto_map"):
            fields.pop(key, None)  # set by the fit, not inputs to it
        config = NGramConfig(**{**fields, **config_kwargs})  # a copy: the caller's config is left as it is
        if config.smoothing == "arpa":
            raise ValueError("NGramConfig.smoothing='arpa' describes a model read from an ARPA file; choose mle, "
                             "add_k, kneser_ney or modified_kneser_ney to fit one")
        started = time.perf_counter()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(desc="Reading sentences", unit=" sentences")
        try:
            vocab, corpus, first_occurrence = build_vocabulary_and_encode(
                sentences_or_files, unk_token=config.unk_token, bos_token=config.bos_token,
                eos_token=config.eos_token, lowercase=config.lowercase, min_count=config.min_count,
                max_vocab_size=config.max_vocab_size, progress=bar,
            )
        finally:
            if bar is not None:
                bar.close()
        encoded = time.perf_counter()
        counts = count_ngrams(corpus, config.order, len(vocab))
        counted = time.perf_counter()
        probabilities, backoffs, discounts = _estimate(config, counts, first_occurrence)
        tables = BackoffTables(len(vocab), [t.keys for t in counts], to_log10(probabilities), to_log10(backoffs))
        estimated = time.perf_counter()

        config.vocab_size = len(vocab)
        config.discounts = discounts
        model = cls(config, vocab)  # empty buffers: _set_tables stores the tables and config.ngram_counts
        model._set_tables(tables)
        model.fit_statistics = {
            "sentences": corpus.num_sentences,
            "words": int(len(corpus.tokens) - 2 * corpus.num_sentences),
            "vocab_size": len(vocab),
            "unk_tokens": corpus.oov,
            "ngram_counts": tables.ngram_counts,
            "discounts": discounts,
            "read_seconds": encoded - started,
            "count_seconds": counted - encoded,
            "estimate_seconds": estimated - counted,
            "build_seconds": estimated - started,
        }
        logger.info(
            f"Fitted a {config.order}-gram {config.smoothing} model on {corpus.num_sentences:,} sentences "
            f"({model.fit_statistics['words']:,} words, vocabulary {len(vocab):,}) in {estimated - started:.2f}s; "
            f"n-grams per order: {tables.ngram_counts}"
        )
        return model

    # ------------------------------------------------------------------------------------------------------------------
    # Tables
    # ------------------------------------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self.config.ngram_counts is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError("the n-gram model holds no tables yet: build it with NGramLanguageModel.fit(...) or load "
                             "one with from_pretrained(...) / from_arpa(...)")

    def _set_tables(self, tables: BackoffTables) -> None:
        """Store `tables` in the buffers (and their sizes in the config, so from_pretrained can allocate them)."""
        if tables.order != self.config.order:
            raise ValueError(f"tables of order {tables.order} for a model of order {self.config.order}")
        for k in range(1, tables.order + 1):  # the buffers share the arrays' memory (no copy when already contiguous)
            self.register_buffer(f"keys_{k}", torch.from_numpy(_writable(tables.keys[k - 1], np.int64)))
            self.register_buffer(f"log10_probs_{k}", torch.from_numpy(_writable(tables.log10_probs[k - 1], np.float32)))
            if k < tables.order:
                self.register_buffer(f"log10_backoffs_{k}",
                                     torch.from_numpy(_writable(tables.log10_backoffs[k - 1], np.float32)))
        self.config.vocab_size = tables.vocab_size
        self.config.ngram_counts = tables.ngram_counts

    def tables(self) -> BackoffTables:
        """The backoff tables as numpy arrays (views of the buffers when they are on the CPU)."""
        self._check_fitted()
        order = self.config.order

        def array(name):
            return getattr(self, name).detach().cpu().numpy()

        return BackoffTables(
            self.config.vocab_size,
            [array(f"keys_{k}") for k in range(1, order + 1)],
            [array(f"log10_probs_{k}") for k in range(1, order + 1)],
            [array(f"log10_backoffs_{k}") for k in range(1, order)],
        )

    # ------------------------------------------------------------------------------------------------------------------
    # Words <-> ids
    # ------------------------------------------------------------------------------------------------------------------
    def _words(self, sentence) -> list[str]:
        if isinstance(sentence, str):
            words = sentence.split()
        elif isinstance(sentence, (list, tuple)):
            words = list(sentence)
            for word in words:
                if not isinstance(word, str):
                    raise TypeError(f"a sentence is a string or a list of words (strings); got the item {word!r}")
        else:
            raise TypeError(f"a sentence is a string or a list of words; got {type(sentence).__name__}")
        return [w.lower() for w in words] if self.config.lowercase else words

    def encode(self, sentence, add_special_tokens: bool = False) -> list[int]:
        """Word ids of a sentence (a string split on whitespace, or a list of words); unknown words -> `<unk>`."""
        ids = self.vocab.encode(self._words(sentence)).tolist()
        return [BOS_ID, *ids, EOS_ID] if add_special_tokens else ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The words of `ids` joined by spaces (without `<s>`, `</s>` if `skip_special_tokens`)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        words = self.vocab.decode(ids)
        if skip_special_tokens:
            words = [w for w, i in zip(words, ids) if int(i) not in (BOS_ID, EOS_ID)]
        return " ".join(words)

    def _sentence_stream(self, sentence, bos: bool, eos: bool):
        words = self._words(sentence)
        if self.config.bos_token in words or self.config.eos_token in words:
            raise ValueError(f"the sentence contains {self.config.bos_token} or {self.config.eos_token}: use the "
                             "bos/eos arguments instead")
        ids = self.vocab.encode(words)
        tokens = np.concatenate([[BOS_ID] if bos else [], ids, [EOS_ID] if eos else []]).astype(np.int64)
        history = np.arange(len(tokens), dtype=np.int64)
        first = 1 if bos else 0
        return words, tokens, history, first

    # ------------------------------------------------------------------------------------------------------------------
    # Scoring
    # ------------------------------------------------------------------------------------------------------------------
    def score_tokens(self, sentence, bos: bool = True, eos: bool = True) -> list[TokenScore]:
        """log10 p of every predicted token of a sentence (the words, then `</s>` if `eos`), given `<s>` if `bos`.

        Each item also gives the length of the longest stored n-gram used (as KenLM's `full_scores`) and whether the
        word is out of the vocabulary.
        """
        self._check_fitted()
        words, tokens, history, first = self._sentence_stream(sentence, bos, eos)
        log10_p, length = self.tables().score(tokens, history)
        shown = words + ([self.config.eos_token] if eos else [])
        return [
            TokenScore(word, float(log10_p[j]), int(length[j]), bool(tokens[j] == UNK_ID))
            for word, j in zip(shown, range(first, len(tokens)))
        ]

    def log10_prob(self, sentence, bos: bool = True, eos: bool = True) -> float:
        """log10 p(sentence) = sum of log10 p(w_i | w_{i-n+1} .. w_{i-1}) over the words and `</s>`."""
        self._check_fitted()
        _, tokens, history, first = self._sentence_stream(sentence, bos, eos)
        log10_p, _ = self.tables().score(tokens, history)
        return float(log10_p[first:].sum())

    def log_prob(self, sentence, bos: bool = True, eos: bool = True) -> float:
        """Natural log p(sentence) (= log10_prob * ln 10)."""
        return self.log10_prob(sentence, bos=bos, eos=eos) * LN_10

    def perplexity(self, sentences_or_file, exclude_oov: bool = False) -> dict:
        """Perplexity 10^(-sum log10 p / tokens) over sentences (a text file, or sentences/files as in `fit`).

        Tokens are the words and one `</s>` per sentence. Out-of-vocabulary words are scored as `<unk>` and counted
        (KenLM's convention; the count `oov` includes the literal unknown token); `exclude_oov=True` leaves them out
        of the sum and of the token count (SRILM's convention). A token of probability 0 (MLE) makes the perplexity
        inf; `zero_probability_tokens` says how many there were.
        """
        self._check_fitted()
        corpus = encode_corpus(sentences_or_file, self.vocab, lowercase=self.config.lowercase)
        started = time.perf_counter()
        log10_p, _ = self.tables().score(corpus.tokens, corpus.history)
        predicted = corpus.predicted
        oov = corpus.tokens[predicted] == UNK_ID
        scored = predicted[~oov] if exclude_oov else predicted
        total = float(log10_p[scored].sum())
        tokens = len(scored)
        perplexity = 10.0 ** (-total / tokens) if tokens else float("nan")
        return {
            "perplexity": perplexity,
            "log10_prob": total,
            "log_prob": total * LN_10,
            "tokens": tokens,
            "sentences": corpus.num_sentences,
            "oov": int(oov.sum()),
            "oov_excluded": exclude_oov,
            "zero_probability_tokens": int(np.isneginf(log10_p[scored]).sum()),
            "score_seconds": time.perf_counter() - started,
        }

    def next_word_distribution(self, context="", top_k: int | None = None, bos: bool = True) -> list[tuple[str, float]]:
        """p(w | context) for every word w that can follow (all but `<s>`), most probable first; `top_k` keeps the
        first k. `context` is the beginning of a sentence (after `<s>` if `bos`): a string or a list of words."""
        self._check_fitted()
        _, tokens, history, _ = self._sentence_stream(context, bos, eos=False)
        if len(tokens) == 0:  # no context at all: the unigram distribution
            tokens, history = np.array([BOS_ID]), np.array([0])
            log10_p = self.tables().log10_probs[0].astype(np.float64).copy()
            log10_p[BOS_ID] = -np.inf
        else:
            log10_p = self.tables().distributions(tokens, history, [len(tokens) - 1])[0]
        order = np.argsort(-log10_p, kind="stable")
        order = order[order != BOS_ID]
        if top_k is not None:
            if not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
            order = order[:top_k]
        return [(self.vocab.id_to_word[i], float(10.0 ** log10_p[i])) for i in order]

    # ------------------------------------------------------------------------------------------------------------------
    # transformers interface
    # ------------------------------------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CausalLMOutput | tuple:
        """logits[b, t] = log p(w | input_ids[b, t-n+2 .. t]) for every word w (natural logs, normalised).

        A `<s>` in the input starts a sentence (no context reaches before it); positions after a masked one
        (attention_mask = 0, e.g. left padding) start afresh. With `labels`, the loss is the mean negative log
        likelihood of labels[:, 1:] given positions :-1 (-100 is ignored), as for any causal LM.
        """
        self._check_fitted()
        if input_ids is None:
            raise ValueError("NGramLanguageModel.forward needs input_ids (an n-gram model has no embeddings)")
        ids = input_ids.detach().cpu().numpy().astype(np.int64)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {tuple(ids.shape)}")
        vocab_size = self.config.vocab_size
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"input_ids must be word ids in [0, {vocab_size}), got values in [{ids.min()}, "
                             f"{ids.max()}]")
        batch, length = ids.shape
        mask = None if attention_mask is None else attention_mask.detach().cpu().numpy().astype(bool)
        history = _histories(ids, mask)
        keep = length if not logits_to_keep else min(int(logits_to_keep), length)
        tokens, history = ids.reshape(-1), history.reshape(-1)
        positions = (np.arange(batch)[:, None] * length + np.arange(length - keep, length)[None, :]).reshape(-1)
        tables = self.tables()
        logits = torch.empty(len(positions), vocab_size, dtype=torch.float32)
        for start in range(0, len(positions), _DISTRIBUTION_ROWS):
            rows = positions[start:start + _DISTRIBUTION_ROWS]
            logits[start:start + len(rows)] = torch.from_numpy(tables.distributions(tokens, history, rows) * LN_10)
        logits = logits.view(batch, keep, vocab_size).to(input_ids.device)

        loss = None
        if labels is not None:
            if keep != length:
                raise ValueError("labels need the logits of every position (logits_to_keep=0)")
            targets = labels[:, 1:].reshape(-1).to(logits.device)
            loss = F.nll_loss(logits[:, :-1].reshape(-1, vocab_size), targets, ignore_index=-100)
        if return_dict is False or (return_dict is None and not self.config.return_dict):
            return (loss, logits) if loss is not None else (logits,)
        return CausalLMOutput(loss=loss, logits=logits)

    def generate(self, inputs=None, *args, **kwargs):
        """Text in, text out (`generate_text`) for a string or a list of words; transformers' `generate` for a tensor
        of input_ids (e.g. `model.generate(torch.tensor([[bos_id]]), max_new_tokens=10, do_sample=False)`)."""
        if isinstance(inputs, (str, list, tuple)):
            return self.generate_text(inputs, *args, **kwargs)
        seed = kwargs.pop("seed", None)
        if seed is None:
            return super().generate(inputs, *args, **kwargs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return super().generate(inputs, *args, **kwargs)

    def generate_text(self, prompt="", max_new_tokens: int = 20, do_sample: bool = True, temperature: float = 1.0,
                      top_k: int | None = None, seed: int | None = None, allow_unk: bool = True):
        """Continue a sentence word by word from p(w | last n-1 words) until `</s>` or `max_new_tokens` words.

        Greedy (argmax, ties to the lower id) when `do_sample` is False; otherwise samples from p^(1/temperature),
        restricted to the `top_k` most probable words if given, with numpy's generator seeded by `seed`. Returns the
        new words (without `</s>`): a string for a string prompt, a list for a list.
        """
        self._check_fitted()
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
        if do_sample and (not isinstance(temperature, (int, float)) or not temperature > 0):
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        rng = np.random.default_rng(seed)
        _, tokens, _, _ = self._sentence_stream(prompt, bos=True, eos=False)
        tables = self.tables()
        new: list[int] = []
        for _ in range(max_new_tokens):
            history = np.arange(len(tokens), dtype=np.int64)
            log_p = tables.distributions(tokens, history, [len(tokens) - 1])[0] * LN_10
            if not allow_unk:
                log_p[UNK_ID] = -np.inf
            if not do_sample:
                word = int(np.argmax(log_p))
            else:
                scores = log_p / float(temperature)
                if top_k is not None and top_k < len(scores):
                    threshold = np.partition(scores, -top_k)[-top_k]
                    scores[scores < threshold] = -np.inf
                probabilities = np.exp(scores - scores.max())
                word = int(rng.choice(len(scores), p=probabilities / probabilities.sum()))
            if word == EOS_ID:
                break
            new.append(word)
            tokens = np.append(tokens, word)
        words = self.vocab.decode(new)
        return " ".join(words) if isinstance(prompt, str) else words

    # ------------------------------------------------------------------------------------------------------------------
    # Saving and loading
    # ------------------------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save config.json, the tables (model.safetensors), vocab.txt, the code (for trust_remote_code) and a card.

        push_to_hub saves through this method too, so the vocabulary is uploaded with the model. A README.md already
        in the folder is the user's and is left as it is.
        """
        self._check_fitted()
        if len(self.vocab) != self.config.vocab_size:
            raise ValueError(f"the vocabulary has {len(self.vocab)} words but config.vocab_size is "
                             f"{self.config.vocab_size}")
        if self._auto_class is not None:
            self.config.auto_map = dict(AUTO_MAP)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            self.vocab.save(os.path.join(save_directory, VOCAB_FILE))
            card = os.path.join(save_directory, "README.md")
            if not os.path.exists(card):
                with open(card, "w", encoding="utf-8") as f:
                    f.write(self._model_card())
        return result

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load a saved model (folder or hub name, with its vocab.txt), or an ARPA file (`.arpa`, `.arpa.gz`)."""
        name = os.fspath(pretrained_model_name_or_path)
        if name.endswith((".arpa", ".arpa.gz")) and os.path.isfile(name):
            return cls.from_arpa(name)
        model = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        hub_kwargs = {key: kwargs[key] for key in ("cache_dir", "force_download", "local_files_only", "token",
                                                    "revision", "subfolder") if key in kwargs}
        vocab_file = cached_file(pretrained_model_name_or_path, VOCAB_FILE, **hub_kwargs)
        config = model.config
        model.vocab = NGramVocabulary.load(vocab_file, unk_token=config.unk_token, bos_token=config.bos_token,
                                           eos_token=config.eos_token)
        if len(model.vocab) != config.vocab_size:
            raise ValueError(f"{vocab_file}: {len(model.vocab)} words, but config.vocab_size is {config.vocab_size}")
        return model

    @classmethod
    def from_arpa(cls, path: str | os.PathLike, unk_token: str = "<unk>", bos_token: str = "<s>",
                  eos_token: str = "</s>") -> NGramLanguageModel:
        """Read an ARPA file (KenLM, SRILM or `save_arpa`; gzip allowed): same scores as the file's own toolkit."""
        words, tables = read_arpa(path, unk_token=unk_token, bos_token=bos_token, eos_token=eos_token)
        config = NGramConfig(order=tables.order, smoothing="arpa", unk_token=unk_token, bos_token=bos_token,
                             eos_token=eos_token, vocab_size=len(words))  # ngram_counts: set by _set_tables
        vocab = NGramVocabulary(words[3:], unk_token=unk_token, bos_token=bos_token, eos_token=eos_token)
        model = cls(config, vocab)
        model._set_tables(tables)
        return model

    def save_arpa(self, path: str | os.PathLike) -> None:
        """Write the model as an ARPA file (gzip-compressed if `path` ends in .gz), readable by KenLM and SRILM.

        Every smoothing has an exact backoff form (see hf_models.ngram.smoothing), so every model can be exported;
        a probability of 0 (MLE) is written -99, SRILM's log10 0.
        """
        c = self.config
        write_arpa(path, self.tables(), self.vocab.id_to_word,
                   header_comment=f"hf_models n-gram language model: order={c.order} smoothing={c.smoothing}")

    def _model_card(self) -> str:
        c = self.config
        counts = ", ".join(f"{k}-grams: {n:,}" for k, n in enumerate(c.ngram_counts or [], start=1))
        return f"""---
library_name: transformers
tags:
- hf_models
- n-gram
- {c.model_type}
pipeline_tag: text-generation
---

# {c.order}-gram language model ({c.smoothing})

A smoothed n-gram language model saved by hf_models: order {c.order}, smoothing `{c.smoothing}`, vocabulary of
{c.vocab_size:,} words (`vocab.txt`), {counts}. The tables are in backoff (ARPA) form in `model.safetensors`.

```python
from hf_models.ngram import NGramLanguageModel

model = NGramLanguageModel.from_pretrained("path/to/this/folder")
model.perplexity("test.txt")
model.save_arpa("model.arpa")  # for KenLM or SRILM
```
"""


NGramForCausalLM = NGramLanguageModel


def _writable(array: np.ndarray, dtype) -> np.ndarray:
    """`array` as a contiguous writable array of `dtype` (itself when it already is one, a copy otherwise)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    return array if array.flags.writeable else array.copy()


def _histories(ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """For every position of a [batch, length] id matrix, how many previous tokens may serve as context.

    A segment starts at the beginning of each row, at every `<s>`, and after every masked position.
    """
    batch, length = ids.shape
    starts = ids == BOS_ID
    starts[:, 0] = True
    if mask is not None:
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}")
        starts[:, 1:] |= ~mask[:, :-1]
    index = np.broadcast_to(np.arange(length), (batch, length))
    last_start = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    return index - last_start


def _estimate(config: NGramConfig, tables, first_occurrence: np.ndarray):
    """(probabilities, backoffs, discounts) of the configured smoothing."""
    if config.smoothing == "mle":
        probabilities, backoffs = maximum_likelihood(tables)
        return probabilities, backoffs, None
    if config.smoothing == "add_k":
        probabilities, backoffs = add_k(tables, config.k)
        return probabilities, backoffs, None
    modified = config.smoothing == "modified_kneser_ney"
    adjusted = adjusted_counts(tables)
    stats = lmplz_count_of_counts(tables, adjusted, first_occurrence)
    discounts = estimate_discounts(adjusted, modified, fixed=config.discount, fallback=config.fallback_discounts(),
                                   stats=stats)
    probabilities, backoffs = kneser_ney(tables, adjusted, discounts)
    shown = [[float(x) for x in (d[1:] if modified else d[1:2])] for d in discounts]
    return probabilities, backoffs, shown


def train_ngram(sentences_or_files, order: int = 3, smoothing: str = "modified_kneser_ney", progress: bool = False,
                **config_kwargs) -> NGramLanguageModel:
    """Fit an n-gram language model: `NGramLanguageModel.fit(sentences_or_files, NGramConfig(order, smoothing, ...))`."""
    return NGramLanguageModel.fit(sentences_or_files, NGramConfig(order=order, smoothing=smoothing, **config_kwargs),
                                  progress=progress)


# ----------------------------------------------------------------------------------------------------------------------
# The heads, declared once: the Auto registration (hf_models.auto), config.json's `auto_map` and the exports
# (`__all__` here, in hf_models.ngram and in hf_models) all derive from HEADS. A new head is one more entry.
# ----------------------------------------------------------------------------------------------------------------------
HEADS = {  # transformers' Auto class -> the head it builds for an hf_ngram config (one class serves both)
    "AutoModel": NGramLanguageModel,
    "AutoModelForCausalLM": NGramLanguageModel,
}


# Copied from hf_models.bert.modeling_bert._auto_map
def _auto_map(config_class: type, heads: dict[str, type]) -> dict[str, str]:
    """config.json's `auto_map`: AutoConfig and every head as "module.Class" of the code saved with the weights."""
    entries = {"AutoConfig": config_class, **heads}
    return {auto_name: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto_name, cls in entries.items()}


# Copied from hf_models.bert.modeling_bert._register_for_auto_classes
def _register_for_auto_classes(config_class: type, heads: dict[str, type]) -> None:
    """`register_for_auto_class` for the config and every head: save_pretrained then copies the code files."""
    config_class.register_for_auto_class()
    for auto_name, cls in heads.items():  # a class under several Auto classes keeps the last one
        cls.register_for_auto_class(auto_name)


AUTO_MAP = _auto_map(NGramConfig, HEADS)
_register_for_auto_classes(NGramConfig, HEADS)

__all__ = ["NGramForCausalLM", "NGramPreTrainedModel", "TokenScore", "train_ngram"]
__all__ += [cls.__name__ for cls in dict.fromkeys(HEADS.values())]
