"""Throughput of hf_models' span-corruption collator against the procedure of transformers' Flax example
(examples/flax/language-modeling/run_t5_mlm_flax.py, `FlaxDataCollatorForT5MLM`), in the same run, on the same blocks.

Blocks of 568 T5 SentencePiece tokens (-> inputs of 512, targets of 114) are packed from WikiText-2 (valid split);
each collator turns batches of them (lists of ids, as a `datasets.Dataset` hands them to the DataLoader) into
input_ids, labels and decoder_input_ids. Rounds alternate which collator goes first so that drift in machine load hits
both alike; the median examples/s over rounds is reported, with tokens/s (raw block tokens) and the ratio ours/flax.
Measured with one thread (the machine is shared): only ratios from the same run count.

    OMP_NUM_THREADS=1 python benchmarks/bench_span_corruption.py
    OMP_NUM_THREADS=1 python benchmarks/bench_span_corruption.py --batch_sizes 8 --rounds 3 --batches 20   # quick

Writes benchmarks/results/span_corruption_speed.json (and prints a Markdown table).

The reference is the Flax example's numpy code, copied below (`FlaxDataCollatorForT5MLM`, `shift_tokens_right`) from
huggingface/transformers @ 104be98e245914f55716434b8e2591e376860625 (Apache-2.0, Copyright 2021 The HuggingFace Team)
with only `@flax.struct.dataclass` replaced by `@dataclass` and jax-free imports; tests/test_span_corruption.py checks
that hf_models' collator makes the same inputs and labels from the same noise masks (and the same masks from the same
random draws).
"""

# The Flax example below is copied verbatim (typing.List/Dict and its long lines included).
# ruff: noqa: UP006, UP035
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import transformers
from transformers import BatchEncoding, PreTrainedTokenizerBase

if __package__:
    from benchmarks.bench_utils import RESULTS_DIR, ROOT, tidy_command
else:
    from bench_utils import RESULTS_DIR, ROOT, tidy_command

from hf_models.pretraining import read_documents
from hf_models.pretraining.span_corruption import (
    DataCollatorForSpanCorruption,
    compute_input_and_target_lengths,
    create_span_corruption_examples,
)

SHARED = ROOT.parent / "shared" / "data"
RESULT_PATH = RESULTS_DIR / "span_corruption_speed.json"


# ----------------------------------------------------------------------------------------------------------------------
# The reference: transformers/examples/flax/language-modeling/run_t5_mlm_flax.py @ 104be98e (Apache-2.0)
# Copyright 2021 The HuggingFace Team All rights reserved. Licensed under the Apache License, Version 2.0.
# Copied verbatim except `@flax.struct.dataclass` -> `@dataclass`; shift_tokens_right is
# transformers/models/t5/modeling_flax_t5.py's (numpy).
# ----------------------------------------------------------------------------------------------------------------------
def shift_tokens_right(input_ids: np.array, pad_token_id: int, decoder_start_token_id: int) -> np.ndarray:
    """
    Shift input ids one token to the right.
    """
    shifted_input_ids = np.zeros_like(input_ids)
    shifted_input_ids[:, 1:] = input_ids[:, :-1]
    shifted_input_ids[:, 0] = decoder_start_token_id

    shifted_input_ids = np.where(shifted_input_ids == -100, pad_token_id, shifted_input_ids)
    return shifted_input_ids


@dataclass
class FlaxDataCollatorForT5MLM:
    """
    Data collator used for T5 span-masked language modeling.
    It is made sure that after masking the inputs are of length `data_args.max_seq_length` and targets are also of fixed length.
    For more information on how T5 span-masked language modeling works, one can take a look
    at the `official paper <https://arxiv.org/pdf/1910.10683.pdf>`__
    or the `official code for preprocessing <https://github.com/google-research/text-to-text-transfer-transformer/blob/master/t5/data/preprocessors.py>`__ .
    """

    tokenizer: PreTrainedTokenizerBase
    noise_density: float
    mean_noise_span_length: float
    input_length: int
    target_length: int
    pad_token_id: int
    decoder_start_token_id: int

    def __call__(self, examples: List[Dict[str, np.ndarray]]) -> BatchEncoding:
        # convert list to dict and tensorize input
        batch = BatchEncoding(
            {k: np.array([examples[i][k] for i in range(len(examples))]) for k, v in examples[0].items()}
        )

        input_ids = batch["input_ids"]
        batch_size, expandend_input_length = input_ids.shape

        mask_indices = np.asarray([self.random_spans_noise_mask(expandend_input_length) for i in range(batch_size)])
        labels_mask = ~mask_indices

        input_ids_sentinel = self.create_sentinel_ids(mask_indices.astype(np.int8))
        labels_sentinel = self.create_sentinel_ids(labels_mask.astype(np.int8))

        batch["input_ids"] = self.filter_input_ids(input_ids, input_ids_sentinel)
        batch["labels"] = self.filter_input_ids(input_ids, labels_sentinel)

        if batch["input_ids"].shape[-1] != self.input_length:
            raise ValueError(
                f"`input_ids` are incorrectly preprocessed. `input_ids` length is {batch['input_ids'].shape[-1]}, but"
                f" should be {self.input_length}."
            )

        if batch["labels"].shape[-1] != self.target_length:
            raise ValueError(
                f"`labels` are incorrectly preprocessed. `labels` length is {batch['labels'].shape[-1]}, but should be"
                f" {self.target_length}."
            )

        # to check that tokens are correctly preprocessed, one can run `self.tokenizer.batch_decode(input_ids)` and `self.tokenizer.batch_decode(labels)` here...
        batch["decoder_input_ids"] = shift_tokens_right(
            batch["labels"], self.pad_token_id, self.decoder_start_token_id
        )

        return batch

    def create_sentinel_ids(self, mask_indices):
        """
        Sentinel ids creation given the indices that should be masked.
        The start indices of each mask are replaced by the sentinel ids in increasing
        order. Consecutive mask indices to be deleted are replaced with `-1`.
        """
        start_indices = mask_indices - np.roll(mask_indices, 1, axis=-1) * mask_indices
        start_indices[:, 0] = mask_indices[:, 0]

        sentinel_ids = np.where(start_indices != 0, np.cumsum(start_indices, axis=-1), start_indices)
        sentinel_ids = np.where(sentinel_ids != 0, (len(self.tokenizer) - sentinel_ids), 0)
        sentinel_ids -= mask_indices - start_indices

        return sentinel_ids

    def filter_input_ids(self, input_ids, sentinel_ids):
        """
        Puts sentinel mask on `input_ids` and fuse consecutive mask tokens into a single mask token by deleting.
        This will reduce the sequence length from `expanded_inputs_length` to `input_length`.
        """
        batch_size = input_ids.shape[0]

        input_ids_full = np.where(sentinel_ids != 0, sentinel_ids, input_ids)
        # input_ids tokens and sentinel tokens are >= 0, tokens < 0 are
        # masked tokens coming after sentinel tokens and should be removed
        input_ids = input_ids_full[input_ids_full >= 0].reshape((batch_size, -1))
        input_ids = np.concatenate(
            [input_ids, np.full((batch_size, 1), self.tokenizer.eos_token_id, dtype=np.int32)], axis=-1
        )
        return input_ids

    def random_spans_noise_mask(self, length):
        """This function is copy of `random_spans_helper <https://github.com/google-research/text-to-text-transfer-transformer/blob/84f8bcc14b5f2c03de51bd3587609ba8f6bbd1cd/t5/data/preprocessors.py#L2682>`__ .

        Noise mask consisting of random spans of noise tokens.
        The number of noise tokens and the number of noise spans and non-noise spans
        are determined deterministically as follows:
        num_noise_tokens = round(length * noise_density)
        num_nonnoise_spans = num_noise_spans = round(num_noise_tokens / mean_noise_span_length)
        Spans alternate between non-noise and noise, beginning with non-noise.
        Subject to the above restrictions, all masks are equally likely.

        Args:
            length: an int32 scalar (length of the incoming token sequence)
            noise_density: a float - approximate density of output mask
            mean_noise_span_length: a number

        Returns:
            a boolean tensor with shape [length]
        """

        orig_length = length

        num_noise_tokens = int(np.round(length * self.noise_density))
        num_nonnoise_tokens = length - num_noise_tokens
        # avoid degeneracy by ensuring positive numbers of noise and nonnoise tokens.
        num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
        # num_noise_tokens should be less than num_noise_tokens and num_nonnoise_tokens
        num_noise_spans = int(np.round(min(num_noise_tokens, num_nonnoise_tokens) / self.mean_noise_span_length))

        # avoid degeneracy by ensuring positive number of noise spans
        num_noise_spans = max(num_noise_spans, 1)

        # pick the lengths of the noise spans and the non-noise spans
        def _random_segmentation(num_items, num_segments):
            """Partition a sequence of items randomly into non-empty segments.
            Args:
                num_items: an integer scalar > 0
                num_segments: an integer scalar in [1, num_items]
            Returns:
                a Tensor with shape [num_segments] containing positive integers that add
                up to num_items
            """
            mask_indices = np.arange(num_items - 1) < (num_segments - 1)
            np.random.shuffle(mask_indices)
            first_in_segment = np.pad(mask_indices, [[1, 0]])
            segment_id = np.cumsum(first_in_segment)
            # count length of sub segments assuming that list is sorted
            _, segment_length = np.unique(segment_id, return_counts=True)
            return segment_length

        noise_span_lengths = _random_segmentation(num_noise_tokens, num_noise_spans)
        nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens, num_noise_spans)

        interleaved_span_lengths = np.reshape(
            np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1), [num_noise_spans * 2]
        )
        span_starts = np.cumsum(interleaved_span_lengths)[:-1]
        span_start_indicator = np.zeros((length,), dtype=np.int8)
        span_start_indicator[span_starts] = True
        span_num = np.cumsum(span_start_indicator)
        is_noise = np.equal(span_num % 2, 1)

        return is_noise[:orig_length]


# ----------------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------------
def load_blocks(tokenizer_dir: Path, text_file: Path, tokens_length: int):
    """The T5 tokenizer and WikiText-2 packed into blocks of tokens_length ids (lists, as a Dataset yields them)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    documents = read_documents([text_file], "wikitext")
    blocks = create_span_corruption_examples(documents, tokenizer, tokens_length)
    return tokenizer, [{"input_ids": ids} for ids in blocks["input_ids"]]


def make_collators(tokenizer, input_length: int, noise_density: float, mean_noise_span_length: float):
    tokens_length, target_length = compute_input_and_target_lengths(input_length, noise_density, mean_noise_span_length)
    ours = DataCollatorForSpanCorruption(
        tokenizer, tokens_length, noise_density, mean_noise_span_length, decoder_start_token_id=0, seed=0
    )
    flax = FlaxDataCollatorForT5MLM(
        tokenizer=tokenizer, noise_density=noise_density, mean_noise_span_length=mean_noise_span_length,
        input_length=input_length, target_length=target_length, pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=0,
    )
    return ours, flax


def time_collator(collator, examples: list, batch_size: int, num_batches: int) -> float:
    """Examples per second over num_batches consecutive batches (cycling through the blocks)."""
    batches = [
        [examples[(b * batch_size + i) % len(examples)] for i in range(batch_size)] for b in range(num_batches)
    ]
    start = time.perf_counter()
    for batch in batches:
        collator(batch)
    return batch_size * num_batches / (time.perf_counter() - start)


def check_agreement(ours: DataCollatorForSpanCorruption, flax: FlaxDataCollatorForT5MLM, examples: list) -> None:
    """Same noise masks -> the same input_ids and labels (the full check is in tests/test_span_corruption.py)."""
    ids = np.array([example["input_ids"] for example in examples[:8]])
    np.random.seed(1)
    masks = np.asarray([flax.random_spans_noise_mask(ids.shape[1]) for _ in range(len(ids))])
    inputs, labels = ours.corrupt(ids, masks)
    assert (inputs == flax.filter_input_ids(ids, flax.create_sentinel_ids(masks.astype(np.int8)))).all()
    assert (labels == flax.filter_input_ids(ids, flax.create_sentinel_ids((~masks).astype(np.int8)))).all()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer_dir", type=Path, default=SHARED / "tokenizers" / "t5")
    parser.add_argument("--text_file", type=Path, default=SHARED / "wikitext2" / "valid.txt")
    parser.add_argument("--input_length", type=int, default=512)
    parser.add_argument("--noise_density", type=float, default=0.15)
    parser.add_argument("--mean_noise_span_length", type=float, default=3.0)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batches", type=int, default=100, help="batches timed per round and collator")
    parser.add_argument("--output", type=Path, default=RESULT_PATH)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    tokens_length, target_length = compute_input_and_target_lengths(
        args.input_length, args.noise_density, args.mean_noise_span_length
    )
    tokenizer, examples = load_blocks(args.tokenizer_dir, args.text_file, tokens_length)
    ours, flax = make_collators(tokenizer, args.input_length, args.noise_density, args.mean_noise_span_length)
    check_agreement(ours, flax, examples)
    np.random.seed(0)  # the Flax example draws from numpy's global RNG

    results = []
    for batch_size in args.batch_sizes:
        for collator in (ours, flax):  # warm-up
            time_collator(collator, examples, batch_size, 2)
        rates = {"ours": [], "flax": []}
        for round_index in range(args.rounds):
            order = (("ours", ours), ("flax", flax)) if round_index % 2 == 0 else (("flax", flax), ("ours", ours))
            for name, collator in order:
                rates[name].append(time_collator(collator, examples, batch_size, args.batches))
        ours_rate, flax_rate = statistics.median(rates["ours"]), statistics.median(rates["flax"])
        results.append({
            "batch_size": batch_size,
            "ours_examples_per_s": round(ours_rate, 1),
            "flax_examples_per_s": round(flax_rate, 1),
            "ours_tokens_per_s": round(ours_rate * tokens_length),
            "flax_tokens_per_s": round(flax_rate * tokens_length),
            "ratio_ours_over_flax": round(ours_rate / flax_rate, 2),
            "rounds_examples_per_s": {name: [round(r, 1) for r in values] for name, values in rates.items()},
        })
        print(f"batch {batch_size}: ours {ours_rate:.0f} ex/s, flax {flax_rate:.0f} ex/s, "
              f"ratio {ours_rate / flax_rate:.2f}", flush=True)

    command = "OMP_NUM_THREADS=1 " + tidy_command(" ".join([sys.executable, *sys.argv]))
    report = {
        "command": command,
        "settings": {
            "tokens_length": tokens_length, "input_length": args.input_length, "target_length": target_length,
            "noise_density": args.noise_density, "mean_noise_span_length": args.mean_noise_span_length,
            "vocabulary": f"T5 SentencePiece ({len(tokenizer)} tokens), {tidy_command(str(args.tokenizer_dir))}",
            "text": f"{tidy_command(str(args.text_file))}: {len(examples)} blocks",
            "rounds": args.rounds, "batches_per_round": args.batches,
            "statistic": "median examples/s over rounds; rounds alternate which collator goes first",
            "threads": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, torch threads 1",
            "reference": "FlaxDataCollatorForT5MLM (numpy) from transformers examples/flax/language-modeling/"
                         "run_t5_mlm_flax.py @ 104be98e",
            "ours": "hf_models.pretraining.DataCollatorForSpanCorruption (decoder_input_ids and attention_mask on)",
        },
        "versions": {
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"Span-corruption collator, tokens_length {tokens_length} -> inputs {args.input_length}, targets "
          f"{target_length}; {report['settings']['threads']}")
    print()
    print("| batch | ours (examples/s) | Flax example (examples/s) | ours (tokens/s) | Flax example (tokens/s) | ours / Flax |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(f"| {row['batch_size']} | {row['ours_examples_per_s']:,.0f} | {row['flax_examples_per_s']:,.0f} | "
              f"{row['ours_tokens_per_s']:,} | {row['flax_tokens_per_s']:,} | {row['ratio_ours_over_flax']:.2f}x |")
    print(f"\nCommand: `{command}`")
    return report


if __name__ == "__main__":
    main()
