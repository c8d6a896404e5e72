"""T5's span corruption (Raffel et al. 2020, section 3.1.4): contiguous spans of a packed block of text are dropped
from the input, each replaced by one sentinel token (`<extra_id_0>`, `<extra_id_1>`, ...), and the target lists every
sentinel followed by the span it replaced, ending with EOS:

    block   Thank you for inviting me to your party last week .
    input   Thank you <extra_id_0> me to your party <extra_id_1> week . </s>
    target  <extra_id_0> for inviting <extra_id_1> last </s>

The number of noise tokens (round(length * noise_density)) and of spans (round(noise / mean_noise_span_length)) are
fixed by the block length, so every input and every target of a batch has the same length and nothing is padded:
`compute_input_and_target_lengths` gives the block length that yields a wanted input length (568 raw tokens -> 512
input tokens and 114 target tokens). Which tokens are noise is random: `random_spans_noise_mask` cuts the noise and
the non-noise tokens into that many non-empty spans uniformly at random and interleaves them, non-noise first.

The procedure is the t5 library's (`random_spans_helper`, `random_spans_noise_mask`, `noise_span_to_unique_sentinel`,
`nonnoise_span_to_unique_sentinel` in t5/data/preprocessors.py) as transformers' Flax example run_t5_mlm_flax.py
implements it; here the noise masks of a whole batch are drawn at once (numpy over the batch, no loop per example
or token) and sentinel ids come from the tokenizer, wherever its `<extra_id_N>` tokens sit in the vocabulary.

Data pipeline: `group_texts` (for `datasets.map`) or `create_span_corruption_examples` (from `read_documents`'
documents) pack token ids into blocks of `tokens_length`; `DataCollatorForSpanCorruption` corrupts a batch of blocks
anew every time (dynamic, as T5), or once with a fixed seed for an evaluation set (`corrupt_dataset`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import datasets
import numpy as np
import torch

_SENTINEL = re.compile(r"<extra_id_(\d+)>")


# ----------------------------------------------------------------------------------------------------------------------
# Lengths and spans
# ----------------------------------------------------------------------------------------------------------------------
def _check_noise_arguments(noise_density: float, mean_noise_span_length: float) -> None:
    if isinstance(noise_density, bool) or not isinstance(noise_density, (int, float, np.floating)) \
            or not 0.0 < noise_density < 1.0:
        raise ValueError(f"noise_density must be a number in (0, 1), got {noise_density!r}")
    if isinstance(mean_noise_span_length, bool) or not isinstance(mean_noise_span_length, (int, float, np.floating)) \
            or not mean_noise_span_length >= 1.0:
        raise ValueError(f"mean_noise_span_length must be a number >= 1, got {mean_noise_span_length!r}")


def _check_length(name: str, length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(
            f"{name} must be an integer >= 2 (a block needs a noise and a non-noise token), got {length!r}"
        )


def _span_counts(length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int]:
    """(number of noise tokens, number of noise spans) of a block of `length` tokens, as t5's random_spans_noise_mask:
    round(length * density) noise tokens (at least 1, at most length - 1), round(noise / mean) spans (at least 1)."""
    num_noise_tokens = int(np.round(length * noise_density))
    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
    num_noise_spans = max(int(np.round(num_noise_tokens / mean_noise_span_length)), 1)
    return num_noise_tokens, num_noise_spans


def compute_input_and_target_lengths(
    inputs_length: int, noise_density: float = 0.15, mean_noise_span_length: float = 3.0
) -> tuple[int, int]:
    """(tokens_length, targets_length): the raw block length whose corrupted input has `inputs_length` tokens, and the
    target's length (t5's `random_spans_helper`; both count the EOS appended). 512 -> (568, 114) at 0.15 and 3.

    The input keeps the non-noise tokens plus one sentinel per noise span plus EOS; the target holds the noise tokens
    plus one sentinel per span plus EOS. tokens_length is the longest block, counting up from inputs_length, whose
    input still fits in inputs_length.
    """
    _check_noise_arguments(noise_density, mean_noise_span_length)
    _check_length("inputs_length", inputs_length)

    def lengths(tokens_length: int) -> tuple[int, int]:
        num_noise_tokens = round(tokens_length * noise_density)
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = round(num_noise_tokens / mean_noise_span_length)
        return num_nonnoise_tokens + num_noise_spans + 1, num_noise_tokens + num_noise_spans + 1

    tokens_length = int(inputs_length)
    while lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    corrupted_length, targets_length = lengths(tokens_length)
    if corrupted_length > inputs_length:  # e.g. spans of one token: every sentinel replaces one token, EOS adds one
        raise ValueError(
            f"inputs_length {inputs_length}: no block gives corrupted inputs that short at noise_density "
            f"{noise_density} and mean_noise_span_length {mean_noise_span_length} (a block of {tokens_length} tokens "
            f"gives {corrupted_length}): raise mean_noise_span_length"
        )
    # t5's "minor hack": at density 0.5 make the targets as long as the (probably round-numbered) inputs
    if noise_density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _random_segmentation(num_items: int, num_segments: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Start of each segment when `num_items` items are cut into `num_segments` non-empty segments, every cut equally
    likely (t5's _random_segmentation): shuffle num_segments - 1 "a segment starts after this item" flags among the
    num_items - 1 gaps, one row per example. Returns (batch_size, num_segments + 1) int64, starts then num_items."""
    gaps = np.zeros((batch_size, num_items - 1), dtype=bool)
    gaps[:, :num_segments - 1] = True
    gaps = rng.permuted(gaps, axis=1)  # each row shuffled on its own (same draws as Generator.shuffle row by row)
    starts = np.empty((batch_size, num_segments + 1), dtype=np.int64)
    starts[:, 0] = 0
    starts[:, 1:-1] = np.nonzero(gaps)[1].reshape(batch_size, num_segments - 1) + 1  # sorted within each row
    starts[:, -1] = num_items
    return starts


def random_spans_noise_mask(
    length: int,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    rng: np.random.Generator | int | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """T5's noise mask: round(length * noise_density) noise tokens in round(noise / mean_noise_span_length) spans,
    alternating with as many non-noise spans, non-noise first; every such mask is equally likely.

    Args:
        length: tokens in the block (>= 2).
        noise_density, mean_noise_span_length: fraction of noise tokens, in (0, 1); mean span length, >= 1.
        rng: a `numpy.random.Generator` (or a seed); the draws, for one mask, are those of `rng.shuffle` on the noise
            cuts then on the non-noise cuts, as in t5 and run_t5_mlm_flax.py.
        batch_size: None for one mask of shape (length,); else (batch_size, length), drawn at once.

    Returns:
        bool array, True at the noise tokens.
    """
    _check_noise_arguments(noise_density, mean_noise_span_length)
    _check_length("length", length)
    rng = _as_generator(rng)
    num_noise_tokens, num_noise_spans = _span_counts(length, noise_density, mean_noise_span_length)
    num_nonnoise_tokens = length - num_noise_tokens
    if num_noise_spans > num_nonnoise_tokens:
        raise ValueError(
            f"noise_density {noise_density} with mean_noise_span_length {mean_noise_span_length} gives "
            f"{num_noise_spans} noise spans in {length} tokens but only {num_nonnoise_tokens} non-noise tokens to "
            f"separate them: lower noise_density or raise mean_noise_span_length"
        )
    rows = 1 if batch_size is None else int(batch_size)
    noise_starts = _random_segmentation(num_noise_tokens, num_noise_spans, rows, rng)  # (rows, spans + 1)
    nonnoise_starts = _random_segmentation(num_nonnoise_tokens, num_noise_spans, rows, rng)  # (rows, spans + 1)
    # Noise span k comes after non-noise spans 0..k and noise spans 0..k-1: it starts at noise_starts[k] +
    # nonnoise_starts[k + 1] and ends where non-noise span k + 1 starts, at noise_starts[k + 1] +
    # nonnoise_starts[k + 1].
    span_begin = noise_starts[:, :-1] + nonnoise_starts[:, 1:]  # (rows, spans)
    span_end = noise_starts[:, 1:] + nonnoise_starts[:, 1:]  # (rows, spans); the last one is `length`
    step = np.zeros((rows, length + 1), dtype=np.int8)
    row_offsets = np.arange(rows)[:, None] * (length + 1)
    step.ravel()[(span_begin + row_offsets).ravel()] = 1  # begins and ends never coincide: non-noise spans are
    step.ravel()[(span_end + row_offsets).ravel()] = -1  # non-empty
    mask = np.cumsum(step[:, :length], axis=1, dtype=np.int8).astype(bool)  # (rows, length)
    return mask[0] if batch_size is None else mask


# ----------------------------------------------------------------------------------------------------------------------
# Sentinels
# ----------------------------------------------------------------------------------------------------------------------
def sentinel_token_ids(tokenizer) -> np.ndarray:
    """Ids of the tokenizer's sentinels `<extra_id_0>`, `<extra_id_1>`, ... in that order (T5 counts them down from
    the end of its vocabulary: 32099, 32098, ...), up to the first missing number. int64 array, maybe empty."""
    found = {}
    for token, index in tokenizer.get_vocab().items():
        match = _SENTINEL.fullmatch(token)
        if match:
            found[int(match.group(1))] = index
    count = 0
    while count in found:
        count += 1
    return np.array([found[i] for i in range(count)], dtype=np.int64)


def spans_to_sentinels(
    input_ids: np.ndarray, noise_mask: np.ndarray, sentinel_ids: np.ndarray, eos_token_id: int
) -> np.ndarray:
    """Replace each span of `noise_mask` by one sentinel (the k-th span by sentinel_ids[k]), drop the rest of the span,
    append EOS (t5's noise_span_to_unique_sentinel). The input is `(ids, mask)`, the target `(ids, ~mask)`.

    input_ids, noise_mask: (batch, length); every row must keep as many tokens. Returns (batch, kept + 1).
    """
    previous = np.zeros_like(noise_mask)
    previous[:, 1:] = noise_mask[:, :-1]
    span_start = noise_mask & ~previous  # (batch, length): first token of each span
    keep = ~noise_mask | span_start  # what stays: every token outside the spans, and one place per span
    kept = keep.sum(axis=1)
    if (kept != kept[0]).any():
        raise ValueError("noise_mask: every row of a batch must keep the same number of tokens (non-noise + spans)")
    span_index = np.cumsum(span_start, axis=1) - 1  # (batch, length): which span a start token opens
    if span_start.any() and span_index.max() >= len(sentinel_ids):
        raise ValueError(
            f"noise_mask has {span_index.max() + 1} spans in a row but only {len(sentinel_ids)} sentinel ids are given"
        )
    full = np.where(span_start, sentinel_ids[np.maximum(span_index, 0)], input_ids)
    out = np.empty((input_ids.shape[0], int(kept[0]) + 1), dtype=np.int64)
    out[:, :-1] = full[keep].reshape(input_ids.shape[0], -1)
    out[:, -1] = eos_token_id
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Packing
# ----------------------------------------------------------------------------------------------------------------------
def group_texts(examples: Mapping[str, Sequence[Sequence[int]]], tokens_length: int) -> dict[str, list[list[int]]]:
    """Concatenate every column of a batch of tokenized texts and cut it into blocks of `tokens_length` (the remainder
    that does not fill a block is dropped), as run_t5_mlm_flax.py's group_texts. For `datasets.map`:

        tokens_length, _ = compute_input_and_target_lengths(512)
        tokenized = dataset.map(lambda b: tokenizer(b["text"], return_attention_mask=False), batched=True,
                                remove_columns=dataset.column_names)
        blocks = tokenized.map(group_texts, batched=True, fn_kwargs={"tokens_length": tokens_length})
    """
    _check_length("tokens_length", tokens_length)
    concatenated = {key: list(chain.from_iterable(values)) for key, values in examples.items()}
    total = len(next(iter(concatenated.values()), []))
    total = (total // tokens_length) * tokens_length
    return {
        key: [values[i:i + tokens_length] for i in range(0, total, tokens_length)]
        for key, values in concatenated.items()
    }


def create_span_corruption_examples(
    documents: Sequence[Sequence[str]], tokenizer, tokens_length: int = 568
) -> datasets.Dataset:
    """Blocks of `tokens_length` token ids for span corruption: each document (its sentences joined by spaces) is
    tokenized and followed by EOS, the documents are concatenated and cut into blocks; the last partial block is
    dropped. A dataset with one column, `input_ids`."""
    _check_length("tokens_length", tokens_length)
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer: has no eos_token, which ends every document and every input and target")
    texts = [" ".join(sentence.strip() for sentence in document) for document in documents]
    texts = [text for text in texts if text.strip()]
    # through the tokenizer's __call__, not its backend: a saved tokenizer.json may carry truncation and padding
    # settings (the T5 one pads and truncates to 256) that the backend would apply silently
    ids = tokenizer(texts, add_special_tokens=False, truncation=False, padding=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)["input_ids"] if texts else []
    eos = tokenizer.eos_token_id
    blocks = group_texts({"input_ids": [[*document, eos] for document in ids if document]}, tokens_length)
    if not blocks["input_ids"]:
        total = sum(len(document) + 1 for document in ids if document)
        raise ValueError(
            f"documents: hold {total} tokens, fewer than tokens_length={tokens_length}: no span-corruption block "
            f"can be made"
        )
    features = datasets.Features({"input_ids": datasets.List(datasets.Value("int32"))})
    return datasets.Dataset.from_dict(blocks, features=features)


# ----------------------------------------------------------------------------------------------------------------------
# The collator
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class DataCollatorForSpanCorruption:
    """Corrupt a batch of packed blocks by T5's span corruption; the masks are drawn anew for every batch.

    Args:
        tokenizer: the model's tokenizer: its `<extra_id_N>` tokens are the sentinels (at least one per noise span)
            and its eos_token ends inputs and targets.
        tokens_length: length of every block (568 for inputs of 512: `compute_input_and_target_lengths`, or
            `DataCollatorForSpanCorruption.for_input_length`).
        noise_density: fraction of each block's tokens dropped into the target (T5: 0.15).
        mean_noise_span_length: mean length of a dropped span (T5: 3).
        decoder_start_token_id: when given, the batch also holds `decoder_input_ids`, the labels shifted right behind
            it (T5: the pad id 0); T5 models build them from `labels` themselves otherwise.
        return_attention_mask: add `attention_mask` (all ones: nothing is padded).
        seed: seed of the collator's own numpy Generator, for reproducible masks. In DataLoader worker processes the
            generator is reseeded from (seed, the worker's torch seed), so workers and epochs differ, reproducibly
            when torch is seeded. None: every batch draws from torch's global RNG (which `Trainer` seeds, and which
            the DataLoader seeds per worker).

    Examples are mappings with `input_ids` of exactly `tokens_length` ids. Examples that already carry `labels` (a
    pre-corrupted evaluation set, see `corrupt_dataset`) are only stacked. The batch holds `input_ids` (batch,
    input_length), `labels` (batch, target_length), and `attention_mask` / `decoder_input_ids` as asked, all int64
    torch tensors.
    """

    tokenizer: Any = field(repr=False)
    tokens_length: int = 568
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    decoder_start_token_id: int | None = None
    return_attention_mask: bool = True
    seed: int | None = None

    input_length: int = field(init=False)
    target_length: int = field(init=False)
    num_noise_spans: int = field(init=False)
    sentinel_ids: np.ndarray = field(init=False, repr=False)
    eos_token_id: int = field(init=False, repr=False)
    _rng: np.random.Generator | None = field(init=False, repr=False, default=None)
    _rng_worker_seed: int | None = field(init=False, repr=False, default=None)

    def __post_init__(self):
        _check_noise_arguments(self.noise_density, self.mean_noise_span_length)
        _check_length("tokens_length", self.tokens_length)
        raw_noise = int(np.round(self.tokens_length * self.noise_density))
        if raw_noise < 1 or int(np.round(raw_noise / self.mean_noise_span_length)) < 1:
            raise ValueError(
                f"tokens_length {self.tokens_length} is too short for noise_density {self.noise_density} and "
                f"mean_noise_span_length {self.mean_noise_span_length}: it gives {raw_noise} noise tokens in "
                f"{int(np.round(raw_noise / self.mean_noise_span_length))} spans, while span corruption needs one span"
            )
        num_noise_tokens, self.num_noise_spans = _span_counts(
            self.tokens_length, self.noise_density, self.mean_noise_span_length
        )
        if self.num_noise_spans > self.tokens_length - num_noise_tokens:
            random_spans_noise_mask(self.tokens_length, self.noise_density, self.mean_noise_span_length, 0)  # raises
        self.input_length = self.tokens_length - num_noise_tokens + self.num_noise_spans + 1
        self.target_length = num_noise_tokens + self.num_noise_spans + 1

        if getattr(self.tokenizer, "eos_token_id", None) is None:
            raise ValueError("tokenizer: has no eos_token, which ends every span-corruption input and target")
        self.eos_token_id = int(self.tokenizer.eos_token_id)
        sentinels = sentinel_token_ids(self.tokenizer)
        if len(sentinels) < self.num_noise_spans:
            raise ValueError(
                f"tokenizer: has {len(sentinels)} sentinel tokens (<extra_id_0>, <extra_id_1>, ...) but tokens_length "
                f"{self.tokens_length} at noise_density {self.noise_density} and mean_noise_span_length "
                f"{self.mean_noise_span_length} makes {self.num_noise_spans} noise spans, one sentinel each: add "
                f"<extra_id_0> .. <extra_id_{self.num_noise_spans - 1}> as special tokens"
            )
        self.sentinel_ids = sentinels[:self.num_noise_spans]
        if self.seed is not None:
            self._rng = np.random.default_rng(self.seed)

    @classmethod
    def for_input_length(cls, tokenizer, input_length: int = 512, noise_density: float = 0.15,
                         mean_noise_span_length: float = 3.0, **kwargs) -> DataCollatorForSpanCorruption:
        """The collator whose inputs have `input_length` tokens (its blocks: `compute_input_and_target_lengths`)."""
        tokens_length, _ = compute_input_and_target_lengths(input_length, noise_density, mean_noise_span_length)
        return cls(tokenizer, tokens_length, noise_density, mean_noise_span_length, **kwargs)

    # -- randomness ---------------------------------------------------------------------------------------------------
    def _generator(self) -> np.random.Generator:
        """The collator's Generator; per DataLoader worker, reseeded from the worker's seed (copies would repeat)."""
        worker = torch.utils.data.get_worker_info()
        if self.seed is None:  # torch's global RNG decides: seeded by Trainer, and per worker by the DataLoader
            return np.random.default_rng(torch.randint(0, 2**62, (2,)).tolist())
        if worker is not None and self._rng_worker_seed != worker.seed:
            self._rng = np.random.default_rng([self.seed, worker.seed])
            self._rng_worker_seed = worker.seed
        return self._rng

    # -- corruption ---------------------------------------------------------------------------------------------------
    def corrupt(self, input_ids: np.ndarray, noise_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of a (batch, tokens_length) array of blocks; the noise mask is drawn unless given."""
        if noise_mask is None:
            noise_mask = random_spans_noise_mask(
                self.tokens_length, self.noise_density, self.mean_noise_span_length, self._generator(),
                batch_size=input_ids.shape[0],
            )
        inputs = spans_to_sentinels(input_ids, noise_mask, self.sentinel_ids, self.eos_token_id)
        targets = spans_to_sentinels(input_ids, ~noise_mask, self.sentinel_ids, self.eos_token_id)
        return inputs, targets

    def _stack(self, examples: Sequence[Mapping[str, Any]], key: str, length: int) -> np.ndarray:
        """(batch, length) int64 array of the examples' `key` (lists, arrays or tensors of exactly `length` ids)."""
        if not examples:
            raise ValueError("DataCollatorForSpanCorruption got an empty batch")
        rows = []
        for index, example in enumerate(examples):
            if key not in example:
                raise ValueError(f"example {index} of the batch has no {key} (keys: {sorted(example)})")
            ids = example[key]
            size = len(ids) if getattr(ids, "ndim", 1) == 1 else tuple(ids.shape)
            if size != length:
                raise ValueError(
                    f"example {index} of the batch: {key} has {size} tokens, but this collator expects {length} "
                    f"(tokens_length {self.tokens_length}; pack the texts into blocks with group_texts)"
                )
            rows.append(ids)
        stacked = torch.stack(rows).numpy() if isinstance(rows[0], torch.Tensor) else np.array(rows)
        if not np.issubdtype(stacked.dtype, np.integer):
            raise ValueError(f"{key}: token ids must be integers, got dtype {stacked.dtype}")
        return stacked.astype(np.int64, copy=False)

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if examples and "labels" in examples[0]:  # pre-corrupted examples (a static evaluation set)
            inputs = self._stack(examples, "input_ids", self.input_length)
            targets = self._stack(examples, "labels", self.target_length)
        else:
            inputs, targets = self.corrupt(self._stack(examples, "input_ids", self.tokens_length))
        batch = {"input_ids": torch.from_numpy(inputs), "labels": torch.from_numpy(targets)}
        if self.return_attention_mask:
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
        if self.decoder_start_token_id is not None:
            decoder_input_ids = torch.empty_like(batch["labels"])  # (batch, target_length), labels shifted right
            decoder_input_ids[:, 0] = self.decoder_start_token_id
            decoder_input_ids[:, 1:] = batch["labels"][:, :-1]
            batch["decoder_input_ids"] = decoder_input_ids
        return batch

    def corrupt_dataset(self, dataset: datasets.Dataset, seed: int, batch_size: int = 1000) -> datasets.Dataset:
        """Corrupt a `datasets.Dataset` of blocks once with a fixed seed: a static evaluation set, the same at every
        evaluation. Returns it with corrupted `input_ids` and a `labels` column; the collator then only stacks them."""
        rng = np.random.default_rng(seed)

        def corrupt_batch(batch: dict[str, list]) -> dict[str, list]:
            blocks = self._stack([{"input_ids": ids} for ids in batch["input_ids"]], "input_ids", self.tokens_length)
            noise_mask = random_spans_noise_mask(
                self.tokens_length, self.noise_density, self.mean_noise_span_length, rng, batch_size=len(blocks)
            )
            inputs, targets = self.corrupt(blocks, noise_mask)
            return {"input_ids": inputs.tolist(), "labels": targets.tolist()}

        features = dataset.features.copy()
        features["input_ids"] = datasets.List(datasets.Value("int32"))
        features["labels"] = datasets.List(datasets.Value("int32"))
        fingerprint = (f"{dataset._fingerprint}-span-corruption-{seed}-{self.tokens_length}-{self.noise_density}-"
                       f"{self.mean_noise_span_length}")
        return dataset.map(
            corrupt_batch, batched=True, batch_size=batch_size, features=features, new_fingerprint=fingerprint,
            desc="Corrupting the evaluation set",
        )


__all__ = [
    "DataCollatorForSpanCorruption",
    "compute_input_and_target_lengths",
    "create_span_corruption_examples",
    "group_texts",
    "random_spans_noise_mask",
    "sentinel_token_ids",
    "spans_to_sentinels",
]
