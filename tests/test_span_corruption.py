"""T5's span corruption (hf_models.pretraining.span_corruption): the length computation against a brute-force reading
of T5's definition, the noise mask's exact counts and its distribution (every mask equally likely; span statistics on
real text), exact reconstruction of real blocks from input + target, agreement with transformers' Flax example
(benchmarks/bench_span_corruption.py holds its numpy code, Apache-2.0) on the same masks and the same random draws,
seeds and DataLoader workers, Korean text, and every error."""

from __future__ import annotations

import json
import math
from collections import Counter

import datasets
import numpy as np
import pytest
import torch
from conftest import requires_shared_data, shared_data_dir
from scipy import stats

from benchmarks.bench_span_corruption import (
    FlaxDataCollatorForT5MLM,
    shift_tokens_right,
)
from hf_models.pretraining import (
    DataCollatorForSpanCorruption,
    compute_input_and_target_lengths,
    create_span_corruption_examples,
    group_texts,
    random_spans_noise_mask,
    read_documents,
    sentinel_token_ids,
    spans_to_sentinels,
)

T5_SENTINEL_0 = 32099  # <extra_id_0> of the T5 vocabulary (read from the tokenizer by the code, checked here)


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures: a tokenizer without shared data, the real T5 tokenizer and WikiText-2 blocks
# ----------------------------------------------------------------------------------------------------------------------
def word_tokenizer(words, num_sentinels: int = 100, sentinels_first: bool = False):
    """A small word-level fast tokenizer with `<pad>`, `</s>`, `<unk>` and `<extra_id_N>` sentinels (at the start of
    the vocabulary when sentinels_first, else at its end as in T5)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    sentinels = [f"<extra_id_{i}>" for i in range(num_sentinels)]
    specials = ["<pad>", "</s>", "<unk>"]
    ordered = (specials + sentinels + list(words)) if sentinels_first else (specials + list(words) + sentinels[::-1])
    vocab = {token: index for index, token in enumerate(dict.fromkeys(ordered))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=sentinels,
    )


@pytest.fixture(scope="module")
def small_tokenizer():
    return word_tokenizer([f"w{i}" for i in range(200)])


@pytest.fixture(scope="module")
def t5_tokenizer():
    from transformers import AutoTokenizer

    path = shared_data_dir() / "tokenizers" / "t5"
    if not path.is_dir():
        pytest.skip("../shared/data/tokenizers/t5 not found: the real T5 vocabulary is in the shared data folder")
    return AutoTokenizer.from_pretrained(str(path))


@pytest.fixture(scope="module")
def wikitext_blocks(t5_tokenizer):
    """WikiText-2 (valid) as blocks of 568 T5 tokens: (batch, 568) int64."""
    documents = read_documents([shared_data_dir() / "wikitext2" / "valid.txt"], "wikitext")
    dataset = create_span_corruption_examples(documents, t5_tokenizer, 568)
    return np.array(dataset["input_ids"], dtype=np.int64)


def reconstruct(inputs, targets, sentinels: set[int], eos: int) -> list[int]:
    """Put every sentinel's span (from the target) back in its place in the input; drop the final EOS."""
    assert inputs[-1] == eos and targets[-1] == eos
    spans, current = {}, None
    for token in targets[:-1]:
        if token in sentinels:
            assert token not in spans, "a sentinel appears twice in the target"
            current = spans[token] = []
        else:
            assert current is not None, "the target does not start with a sentinel"
            current.append(token)
    out = []
    for token in inputs[:-1]:
        out.extend(spans.pop(token) if token in sentinels else [token])
    assert not spans, "a span of the target has no sentinel in the input"
    return out


def mask_runs(mask) -> list[tuple[bool, int]]:
    """(is_noise, length) of each run of a 1-D mask."""
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((bool(mask[start]), i - start))
            start = i
    return runs


# ----------------------------------------------------------------------------------------------------------------------
# Lengths
# ----------------------------------------------------------------------------------------------------------------------
def brute_force_lengths(inputs_length: int, density: float, mean: float) -> tuple[int, int]:
    """T5's definition read literally: the longest raw block, growing from inputs_length one token at a time, whose
    corrupted input (kept tokens + a sentinel per noise span + EOS) still has at most inputs_length tokens."""

    def corrupted(tokens):
        noise = round(tokens * density)
        spans = round(noise / mean)
        return tokens - noise + spans + 1, noise + spans + 1

    fits = [t for t in range(inputs_length, 4 * inputs_length)
            if all(corrupted(u)[0] <= inputs_length for u in range(inputs_length, t + 1))]
    tokens = max(fits)
    targets = corrupted(tokens)[1]
    if density == 0.5 and targets > inputs_length:
        tokens, targets = tokens - 1, targets - 1
    return tokens, targets


def test_t5_lengths_for_512(small_tokenizer):
    assert compute_input_and_target_lengths(512) == (568, 114)
    collator = DataCollatorForSpanCorruption.for_input_length(small_tokenizer, 512)
    assert (collator.tokens_length, collator.input_length, collator.target_length) == (568, 512, 114)
    assert compute_input_and_target_lengths(512, 0.15, 3.0) == brute_force_lengths(512, 0.15, 3.0)


@pytest.mark.parametrize("density,mean", [(0.15, 3.0), (0.3, 3.0), (0.15, 8.0), (0.5, 3.0), (0.1, 1.5)])
@pytest.mark.parametrize("inputs_length", [16, 64, 100, 128, 177, 256, 1024])
def test_lengths_match_brute_force(inputs_length, density, mean):
    assert compute_input_and_target_lengths(inputs_length, density, mean) == \
        brute_force_lengths(inputs_length, density, mean)


def test_no_block_fits_when_every_span_is_one_token():
    """Mean span length 1: each noise token becomes a sentinel and EOS is added, so every input outgrows its block."""
    with pytest.raises(ValueError, match=r"^inputs_length 16: no block gives corrupted inputs that short"):
        compute_input_and_target_lengths(16, 0.25, 1.0)


@pytest.mark.parametrize("inputs_length", [32, 64, 128, 512, 600])
def test_collator_output_has_the_computed_lengths(small_tokenizer, inputs_length):
    """The corrupted input of a tokens_length block is inputs_length long; one more raw token would overflow it."""
    tokens_length, targets_length = compute_input_and_target_lengths(inputs_length)
    collator = DataCollatorForSpanCorruption(small_tokenizer, tokens_length, seed=0)
    batch = collator([{"input_ids": list(range(3, 3 + tokens_length))}] * 2)
    assert batch["input_ids"].shape == (2, inputs_length)
    assert batch["labels"].shape == (2, targets_length)
    longer = DataCollatorForSpanCorruption(small_tokenizer, tokens_length + 1, seed=0)
    assert longer.input_length > inputs_length


# ----------------------------------------------------------------------------------------------------------------------
# The noise mask
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length,density,mean", [(568, 0.15, 3.0), (114, 0.15, 3.0), (50, 0.3, 2.0), (20, 0.5, 1.0),
                                                 (7, 0.15, 3.0), (2, 0.15, 3.0), (1000, 0.15, 10.0)])
def test_noise_mask_counts(length, density, mean):
    """Exactly round(length * density) noise tokens (at least 1, at most length - 1) in exactly round(noise / mean)
    spans (at least 1); spans alternate starting with non-noise, so the block ends in noise."""
    noise = min(max(round(length * density), 1), length - 1)
    spans = max(round(noise / mean), 1)
    masks = random_spans_noise_mask(length, density, mean, np.random.default_rng(0), batch_size=50)
    assert masks.shape == (50, length) and masks.dtype == bool
    for mask in masks:
        runs = mask_runs(mask)
        assert sum(n for is_noise, n in runs if is_noise) == noise
        assert [is_noise for is_noise, _ in runs] == [False, True] * spans
    single = random_spans_noise_mask(length, density, mean, 1)
    assert single.shape == (length,) and single.sum() == noise


def test_every_mask_is_equally_likely():
    """40 tokens at 0.15 and mean 3: 6 noise tokens in 2 spans: 5 ways to cut the noise x 33 ways to cut the 34
    non-noise tokens = 165 masks, each to be drawn with probability 1/165 (chi-square, fixed seed)."""
    rng = np.random.default_rng(0)
    masks = random_spans_noise_mask(40, 0.15, 3.0, rng, batch_size=33000)
    counts = Counter(map(bytes, np.packbits(masks, axis=1)))
    assert len(counts) == 165
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_batched_masks_are_independent_rows():
    """Rows of a batch are not copies of each other, and the first and last tokens are fixed (non-noise, noise)."""
    masks = random_spans_noise_mask(568, rng=np.random.default_rng(3), batch_size=64)
    assert len({bytes(np.packbits(row)) for row in masks}) == 64
    assert not masks[:, 0].any() and masks[:, -1].all()
    position_rate = masks[:, 1:-1].mean()
    assert abs(position_rate - 83 / 566) < 0.02  # the other 83 noise tokens over the 566 inner positions


@requires_shared_data
def test_noise_statistics_on_real_text(t5_tokenizer, wikitext_blocks):
    """On WikiText-2 blocks of 568 T5 tokens: recover each block's noise mask from the collator's input and target;
    the density is 85/568 ~ 0.15 and the mean span length 85/28 ~ 3 in every block, and the span lengths follow the
    law of a uniformly random cut of 85 tokens into 28 non-empty spans, P(L = k) = C(84 - k, 26) / C(84, 27)."""
    collator = DataCollatorForSpanCorruption(t5_tokenizer, 568, seed=0)
    sentinels = set(collator.sentinel_ids.tolist())
    span_lengths, densities = [], []
    for start in range(0, len(wikitext_blocks), 64):
        blocks = wikitext_blocks[start:start + 64]
        batch = collator([{"input_ids": row.tolist()} for row in blocks])
        for inputs, targets in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
            lengths, current = [], 0
            for token in targets[:-1]:
                if token in sentinels:
                    if current:
                        lengths.append(current)
                    current = 0
                else:
                    current += 1
            lengths.append(current)
            span_lengths.extend(lengths)
            densities.append(sum(lengths) / 568)
            assert len(lengths) == 28 and min(lengths) >= 1
    assert len(densities) > 300  # WikiText-2 valid holds ~490 blocks
    assert abs(np.mean(densities) - 0.15) < 0.002 and np.ptp(densities) == 0
    assert abs(np.mean(span_lengths) - 3.0) < 0.05
    observed = Counter(span_lengths)
    expected = {k: math.comb(84 - k, 26) / math.comb(84, 27) for k in range(1, 59)}
    total_variation = 0.5 * sum(abs(observed[k] / len(span_lengths) - p) for k, p in expected.items())
    assert total_variation < 0.03  # ~14k spans: sampling noise of the TV distance is ~0.01
    assert abs(observed[1] / len(span_lengths) - expected[1]) < 0.015  # ~32% of the spans are single tokens


# ----------------------------------------------------------------------------------------------------------------------
# Reconstruction
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_reconstruction_on_real_text(t5_tokenizer, wikitext_blocks):
    """Every WikiText-2 block comes back exactly from its input and target; inputs 512 and targets 114 tokens; the
    sentinels are <extra_id_0>, <extra_id_1>, ... in order, in both."""
    collator = DataCollatorForSpanCorruption(t5_tokenizer, 568, seed=1)
    sentinels = set(collator.sentinel_ids.tolist())
    assert collator.sentinel_ids[0] == T5_SENTINEL_0 == t5_tokenizer.convert_tokens_to_ids("<extra_id_0>")
    in_order = [t5_tokenizer.convert_tokens_to_ids(f"<extra_id_{i}>") for i in range(28)]
    eos = t5_tokenizer.eos_token_id
    for start in range(0, len(wikitext_blocks), 64):
        blocks = wikitext_blocks[start:start + 64]
        batch = collator([{"input_ids": row.tolist()} for row in blocks])
        assert batch["input_ids"].shape == (len(blocks), 512) and batch["labels"].shape == (len(blocks), 114)
        assert batch["input_ids"].dtype == torch.long and (batch["attention_mask"] == 1).all()
        for block, inputs, targets in zip(blocks.tolist(), batch["input_ids"].tolist(), batch["labels"].tolist()):
            assert reconstruct(inputs, targets, sentinels, eos) == block
            assert [t for t in inputs if t in sentinels] == in_order
            assert [t for t in targets if t in sentinels] == in_order
    text = t5_tokenizer.decode(batch["labels"][0])
    assert text.startswith("<extra_id_0>") and text.endswith("</s>")


def test_target_lists_each_sentinel_then_its_span(small_tokenizer):
    """A hand-made mask: 'a b [c d] e [f]' -> input 'a b <0> e <1> </s>', target '<0> c d <1> f </s>'."""
    tokens = small_tokenizer.convert_tokens_to_ids(["w1", "w2", "w3", "w4", "w5", "w6"])
    mask = np.array([[0, 0, 1, 1, 0, 1]], dtype=bool)
    collator = DataCollatorForSpanCorruption(small_tokenizer, 6, noise_density=0.5, mean_noise_span_length=1.5)
    inputs, targets = collator.corrupt(np.array([tokens]), mask)
    s0, s1 = small_tokenizer.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_1>"])
    eos = small_tokenizer.eos_token_id
    assert inputs.tolist() == [[tokens[0], tokens[1], s0, tokens[4], s1, eos]]
    assert targets.tolist() == [[s0, tokens[2], tokens[3], s1, tokens[5], eos]]


def test_decoder_input_ids_are_labels_shifted_right(small_tokenizer):
    collator = DataCollatorForSpanCorruption(small_tokenizer, 40, decoder_start_token_id=0, seed=0)
    batch = collator([{"input_ids": list(range(3, 43))}] * 3)
    assert (batch["decoder_input_ids"][:, 0] == 0).all()
    assert torch.equal(batch["decoder_input_ids"][:, 1:], batch["labels"][:, :-1])
    assert "decoder_input_ids" not in DataCollatorForSpanCorruption(small_tokenizer, 40)([{"input_ids": range(3, 43)}])


# ----------------------------------------------------------------------------------------------------------------------
# Agreement with transformers' Flax example (run_t5_mlm_flax.py)
# ----------------------------------------------------------------------------------------------------------------------
def flax_collator(tokenizer, tokens_length, density=0.15, mean=3.0, seed=None):
    ours = DataCollatorForSpanCorruption(tokenizer, tokens_length, density, mean, decoder_start_token_id=0, seed=seed)
    return ours, FlaxDataCollatorForT5MLM(
        tokenizer=tokenizer, noise_density=density, mean_noise_span_length=mean, input_length=ours.input_length,
        target_length=ours.target_length, pad_token_id=tokenizer.pad_token_id, decoder_start_token_id=0,
    )


@pytest.mark.parametrize("tokens_length,density,mean", [(568, 0.15, 3.0), (114, 0.15, 3.0), (60, 0.3, 2.0)])
def test_same_masks_give_the_flax_examples_inputs_and_labels(small_tokenizer, tokens_length, density, mean):
    """Masks from the Flax example's own sampler and from ours go through its create_sentinel_ids/filter_input_ids
    and through ours: identical input_ids and labels. So do masks that start with noise or have extra spans (one row
    at a time, all sentinels available), and blocks holding the pad id 0."""
    ours, flax = flax_collator(small_tokenizer, tokens_length, density, mean)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 200, (16, tokens_length))  # 0 is <pad>: must survive in both
    np.random.seed(0)
    flax_masks = np.asarray([flax.random_spans_noise_mask(tokens_length) for _ in range(16)])
    for mask in (flax_masks, random_spans_noise_mask(tokens_length, density, mean, rng, batch_size=16)):
        inputs, labels = ours.corrupt(ids, mask)
        assert np.array_equal(inputs, flax.filter_input_ids(ids, flax.create_sentinel_ids(mask.astype(np.int8))))
        assert np.array_equal(labels, flax.filter_input_ids(ids, flax.create_sentinel_ids((~mask).astype(np.int8))))
    all_sentinels = sentinel_token_ids(small_tokenizer)
    eos = small_tokenizer.eos_token_id
    for shift in (1, -1, 5):
        for row, mask in zip(ids, np.roll(flax_masks, shift, axis=1)):
            row, mask = row[None], mask[None]
            for side in (mask, ~mask):
                expected = flax.filter_input_ids(row, flax.create_sentinel_ids(side.astype(np.int8)))
                assert np.array_equal(spans_to_sentinels(row, side, all_sentinels, eos), expected)


@pytest.mark.parametrize("tokens_length", [568, 60])
def test_same_random_draws_give_the_flax_examples_batches(small_tokenizer, monkeypatch, tokens_length):
    """One example per batch, the Flax example's np.random.shuffle drawing from the same numpy Generator as ours:
    the whole batches (masks, input_ids, labels, decoder_input_ids) are identical, call after call."""
    ours, flax = flax_collator(small_tokenizer, tokens_length, seed=7)
    monkeypatch.setattr(np.random, "shuffle", np.random.default_rng(7).shuffle)
    data = np.random.default_rng(1).integers(3, 200, (25, tokens_length))
    for row in data:
        example = [{"input_ids": row.tolist()}]
        expected, got = flax(example), ours(example)
        for key in ("input_ids", "labels", "decoder_input_ids"):
            assert np.array_equal(got[key].numpy(), expected[key]), key
    assert np.array_equal(
        shift_tokens_right(got["labels"].numpy(), 0, 0), got["decoder_input_ids"].numpy()
    )


# ----------------------------------------------------------------------------------------------------------------------
# Seeds and DataLoader workers
# ----------------------------------------------------------------------------------------------------------------------
def test_seed_reproducibility(small_tokenizer):
    examples = [{"input_ids": list(range(3, 3 + 114))}] * 4
    a = DataCollatorForSpanCorruption(small_tokenizer, 114, seed=3)
    b = DataCollatorForSpanCorruption(small_tokenizer, 114, seed=3)
    first, second = a(examples), a(examples)
    assert torch.equal(first["input_ids"], b(examples)["input_ids"])
    assert torch.equal(second["labels"], b(examples)["labels"])
    assert not torch.equal(first["input_ids"], second["input_ids"])  # dynamic: new masks every batch
    assert not torch.equal(first["input_ids"], DataCollatorForSpanCorruption(small_tokenizer, 114, seed=4)(
        examples)["input_ids"])
    unseeded = DataCollatorForSpanCorruption(small_tokenizer, 114)  # draws from torch's global RNG
    torch.manual_seed(0)
    x = unseeded(examples)["input_ids"]
    torch.manual_seed(0)
    assert torch.equal(x, unseeded(examples)["input_ids"])


class _Repeat(torch.utils.data.Dataset):
    def __init__(self, block, n):
        self.block, self.n = block, n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return {"input_ids": self.block}


@pytest.mark.parametrize("seed", [5, None])
def test_dataloader_workers_draw_different_reproducible_masks(small_tokenizer, seed):
    """Two workers each hold a copy of the collator: their masks must differ (not repeat each other), differ between
    epochs, and be the same again when the run is repeated with the same torch seed."""
    collator = DataCollatorForSpanCorruption(small_tokenizer, 114, seed=seed)
    loader = torch.utils.data.DataLoader(
        _Repeat(list(range(3, 117)), 8), batch_size=2, num_workers=2, collate_fn=collator,
        multiprocessing_context="fork",
    )

    def run():
        torch.manual_seed(0)
        return [torch.cat([batch["input_ids"] for batch in loader]) for _epoch in range(2)]

    first = run()
    rows = [tuple(row.tolist()) for epoch in first for row in epoch]
    assert len(set(rows)) == len(rows)  # 16 rows from 2 workers x 2 epochs, no repeats
    assert all(torch.equal(a, b) for a, b in zip(first, run()))


def test_corrupt_dataset_is_static_and_passes_through(small_tokenizer):
    collator = DataCollatorForSpanCorruption(small_tokenizer, 114, seed=0)
    dataset = datasets.Dataset.from_dict({"input_ids": [list(range(3, 117)), list(range(50, 164))]})
    fixed = collator.corrupt_dataset(dataset, seed=1)
    again = collator.corrupt_dataset(dataset, seed=1)
    assert fixed["input_ids"] == again["input_ids"] and fixed["labels"] == again["labels"]
    assert [len(ids) for ids in fixed["input_ids"]] == [collator.input_length] * 2
    batch = collator([fixed[0], fixed[1]])
    assert batch["input_ids"].tolist() == fixed["input_ids"] and batch["labels"].tolist() == fixed["labels"]
    sentinels = set(collator.sentinel_ids.tolist())
    eos = small_tokenizer.eos_token_id
    for block, inputs, labels in zip(dataset["input_ids"], fixed["input_ids"], fixed["labels"]):
        assert reconstruct(inputs, labels, sentinels, eos) == block


def test_batch_trains_the_t5_model(small_tokenizer):
    """The batch is what hf_models' T5ForConditionalGeneration takes: a finite loss that a step lowers."""
    from hf_models import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(
        vocab_size=len(small_tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
    ))
    collator = DataCollatorForSpanCorruption(small_tokenizer, 64, seed=0)
    batch = collator([{"input_ids": list(range(3, 67))}] * 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        loss = model(**batch).loss
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert math.isfinite(losses[0]) and losses[-1] < losses[0]


# ----------------------------------------------------------------------------------------------------------------------
# Packing, sentinels from the tokenizer, Korean
# ----------------------------------------------------------------------------------------------------------------------
def test_group_texts_with_datasets_map():
    dataset = datasets.Dataset.from_dict({"input_ids": [list(range(i * 10, i * 10 + 7)) for i in range(9)]})
    blocks = dataset.map(group_texts, batched=True, batch_size=4, fn_kwargs={"tokens_length": 5})
    stream = [t for ids in dataset["input_ids"][:4] for t in ids]
    assert blocks["input_ids"][:5] == [stream[i:i + 5] for i in range(0, 25, 5)]  # 28 tokens -> 5 blocks, 3 dropped
    assert all(len(ids) == 5 for ids in blocks["input_ids"])
    assert group_texts({"input_ids": [[1, 2]], "attention_mask": [[1, 1]]}, 3) == {"input_ids": [],
                                                                                  "attention_mask": []}


def test_examples_from_documents_follow_each_document_with_eos(small_tokenizer):
    documents = [["w1 w2 w3", "w4"], ["w5 w6"], ["w7 w8 w9 w10"]]
    dataset = create_span_corruption_examples(documents, small_tokenizer, 4)
    ids = small_tokenizer.convert_tokens_to_ids
    eos = small_tokenizer.eos_token_id
    stream = ids(["w1", "w2", "w3", "w4"]) + [eos] + ids(["w5", "w6"]) + [eos] + ids(["w7", "w8", "w9", "w10"]) + [eos]
    assert dataset["input_ids"] == [stream[0:4], stream[4:8], stream[8:12]]  # the last partial block is dropped


def test_documents_ignore_the_backends_saved_truncation_and_padding():
    """A tokenizer.json may carry truncation and padding (the shared T5 one: 256); blocks must hold every token of
    every document and no padding."""
    tokenizer = word_tokenizer([f"w{i}" for i in range(20)])
    tokenizer.backend_tokenizer.enable_truncation(3)
    tokenizer.backend_tokenizer.enable_padding(length=6, pad_id=0, pad_token="<pad>")
    documents = [["w1 w2 w3 w4 w5"], ["w6 w7 w8 w9"]]
    dataset = create_span_corruption_examples(documents, tokenizer, 5)
    ids = tokenizer.convert_tokens_to_ids
    eos = tokenizer.eos_token_id
    assert dataset["input_ids"] == [ids(["w1", "w2", "w3", "w4", "w5"]), [eos, *ids(["w6", "w7", "w8", "w9"])]]


def test_sentinels_come_from_the_tokenizer_wherever_they_are(small_tokenizer):
    """Sentinels at the start of the vocabulary (not T5's end): the collator still uses <extra_id_k> for span k."""
    tokenizer = word_tokenizer([f"w{i}" for i in range(50)], num_sentinels=30, sentinels_first=True)
    ids = sentinel_token_ids(tokenizer)
    assert ids.tolist() == tokenizer.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(30)]) == \
        list(range(3, 33))
    assert sentinel_token_ids(small_tokenizer)[0] == len(small_tokenizer) - 1  # T5's layout: counting down
    collator = DataCollatorForSpanCorruption(tokenizer, 114, seed=0)
    block = tokenizer.convert_tokens_to_ids([f"w{i % 50}" for i in range(114)])
    batch = collator([{"input_ids": block}])
    assert reconstruct(batch["input_ids"][0].tolist(), batch["labels"][0].tolist(), set(ids.tolist()),
                       tokenizer.eos_token_id) == block
    assert batch["labels"][0, 0] == tokenizer.convert_tokens_to_ids("<extra_id_0>") == 3


@requires_shared_data
def test_korean_text_round_trips():
    """KLUE-NLI premises through a Unigram tokenizer trained on them (with sentinels): blocks corrupt and come back
    exactly, and decode to the Korean text."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    records = json.loads((shared_data_dir() / "klue" / "klue-nli-v1.1_dev.json").read_text(encoding="utf-8"))
    premises = sorted({record["premise"] for record in records})[:1500]
    sentinels = [f"<extra_id_{i}>" for i in range(100)]
    backend = Tokenizer(models.Unigram())
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    from tokenizers import decoders

    backend.decoder = decoders.Metaspace()
    backend.train_from_iterator(premises, trainers.UnigramTrainer(
        vocab_size=2000, special_tokens=["<pad>", "</s>", "<unk>", *sentinels], unk_token="<unk>"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>", additional_special_tokens=sentinels)
    dataset = create_span_corruption_examples([[p] for p in premises], tokenizer, 568)
    blocks = dataset["input_ids"][:16]
    collator = DataCollatorForSpanCorruption(tokenizer, 568, seed=0)
    batch = collator([{"input_ids": ids} for ids in blocks])
    sentinel_set = set(collator.sentinel_ids.tolist())
    for block, inputs, labels in zip(blocks, batch["input_ids"].tolist(), batch["labels"].tolist()):
        restored = reconstruct(inputs, labels, sentinel_set, tokenizer.eos_token_id)
        assert restored == block
        assert tokenizer.decode(restored, skip_special_tokens=True) == tokenizer.decode(block, skip_special_tokens=True)
    text = tokenizer.decode(blocks[0], skip_special_tokens=True)
    assert sum("\uac00" <= ch <= "\ud7a3" for ch in text) > 100  # Hangul syllables, not <unk>
    assert premises[0] in tokenizer.decode(blocks[0], skip_special_tokens=True).replace("  ", " ") or \
        premises[0][:10] in text


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("density", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), "0.15", True])
def test_noise_density_outside_0_1(small_tokenizer, density):
    with pytest.raises(ValueError, match=r"^noise_density must be a number in \(0, 1\)"):
        DataCollatorForSpanCorruption(small_tokenizer, 568, noise_density=density)
    with pytest.raises(ValueError, match="noise_density"):
        random_spans_noise_mask(568, density, 3.0, 0)
    with pytest.raises(ValueError, match="noise_density"):
        compute_input_and_target_lengths(512, density)


@pytest.mark.parametrize("mean", [0.5, 0, -3, float("nan")])
def test_mean_noise_span_length_below_1(small_tokenizer, mean):
    with pytest.raises(ValueError, match="^mean_noise_span_length must be a number >= 1"):
        DataCollatorForSpanCorruption(small_tokenizer, 568, mean_noise_span_length=mean)
    with pytest.raises(ValueError, match="mean_noise_span_length"):
        random_spans_noise_mask(568, 0.15, mean, 0)
    with pytest.raises(ValueError, match="mean_noise_span_length"):
        compute_input_and_target_lengths(512, 0.15, mean)


def test_tokenizer_without_enough_sentinels():
    few = word_tokenizer(["a", "b"], num_sentinels=10)
    with pytest.raises(ValueError, match=r"^tokenizer: has 10 sentinel tokens .* makes 28 noise spans.*<extra_id_27>"):
        DataCollatorForSpanCorruption(few, 568)
    none = word_tokenizer(["a", "b"], num_sentinels=0)
    with pytest.raises(ValueError, match=r"^tokenizer: has 0 sentinel tokens"):
        DataCollatorForSpanCorruption(none, 568)
    DataCollatorForSpanCorruption(few, 100)  # 15 noise tokens in 5 spans: 10 sentinels are enough


def test_t5_vocabulary_has_100_sentinels_for_2000_tokens_not_2100(small_tokenizer):
    DataCollatorForSpanCorruption(small_tokenizer, 2000)  # 300 noise tokens in 100 spans
    with pytest.raises(ValueError, match="has 100 sentinel tokens .* 105 noise spans"):
        DataCollatorForSpanCorruption(small_tokenizer, 2100)


def test_tokenizer_without_eos():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "<extra_id_0>": 1},
                                                                                    unk_token="<unk>")))
    with pytest.raises(ValueError, match="^tokenizer: has no eos_token"):
        DataCollatorForSpanCorruption(tokenizer, 10)


@pytest.mark.parametrize("tokens_length", [0, 1, -5, 2.5, None, True])
def test_tokens_length_not_an_integer_of_at_least_2(small_tokenizer, tokens_length):
    with pytest.raises(ValueError, match="^tokens_length must be an integer >= 2"):
        DataCollatorForSpanCorruption(small_tokenizer, tokens_length)


@pytest.mark.parametrize("tokens_length", [2, 3, 4, 6])
def test_block_too_short_for_a_span(small_tokenizer, tokens_length):
    """round(n * 0.15) noise tokens make round(noise / 3) = 0 spans: too short for the noise density."""
    with pytest.raises(ValueError, match=rf"^tokens_length {tokens_length} is too short for noise_density 0.15"):
        DataCollatorForSpanCorruption(small_tokenizer, tokens_length)
    DataCollatorForSpanCorruption(small_tokenizer, 10)  # round(1.5) = 2 noise tokens in round(2/3) = 1 span


def test_too_many_spans_for_the_non_noise_tokens(small_tokenizer):
    with pytest.raises(ValueError, match="gives 90 noise spans in 100 tokens but only 10 non-noise tokens"):
        DataCollatorForSpanCorruption(small_tokenizer, 100, noise_density=0.9, mean_noise_span_length=1.0)
    with pytest.raises(ValueError, match="^length must be an integer >= 2"):
        random_spans_noise_mask(1, 0.15, 3.0, 0)


def test_example_of_the_wrong_length(small_tokenizer):
    collator = DataCollatorForSpanCorruption(small_tokenizer, 568)
    good = {"input_ids": list(range(3, 571))}
    with pytest.raises(ValueError, match=r"^example 1 of the batch: input_ids has 500 tokens, but this collator "
                                         r"expects 568 \(tokens_length 568"):
        collator([good, {"input_ids": list(range(500))}])
    with pytest.raises(ValueError, match=r"^example 0 of the batch: input_ids has \(2, 284\) tokens"):
        collator([{"input_ids": np.zeros((2, 284), dtype=np.int64)}])
    with pytest.raises(ValueError, match=r"^example 0 of the batch has no input_ids"):
        collator([{"ids": [1]}])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match="^input_ids: token ids must be integers"):
        collator([{"input_ids": [0.5] * 568}])
    with pytest.raises(ValueError, match=r"^example 0 of the batch: labels has 3 tokens, but this collator expects "
                                         r"114"):
        collator([{"input_ids": list(range(512)), "labels": [1, 2, 3]}])


def test_documents_too_short_for_a_block(small_tokenizer):
    with pytest.raises(ValueError, match=r"^documents: hold 4 tokens, fewer than tokens_length=568"):
        create_span_corruption_examples([["w1 w2 w3"]], small_tokenizer, 568)


def test_masks_with_unequal_span_counts_are_refused(small_tokenizer):
    mask = np.zeros((2, 10), dtype=bool)
    mask[0, 3] = mask[1, 3] = mask[1, 6] = True  # 10 kept tokens in both rows: one and two one-token spans
    with pytest.raises(ValueError, match="^noise_mask has 2 spans in a row but only 1 sentinel ids are given"):
        spans_to_sentinels(np.zeros((1, 10), dtype=np.int64), mask[1:], np.arange(1), 1)
    mask[1, 7] = True  # row 1 now keeps 9
    with pytest.raises(ValueError, match="^noise_mask: every row of a batch must keep the same number of tokens"):
        spans_to_sentinels(np.zeros((2, 10), dtype=np.int64), mask, np.arange(5), 1)
