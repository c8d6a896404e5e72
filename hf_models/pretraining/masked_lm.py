"""Masked language modelling (BERT section 3.1, task #1): select 15% of the tokens; of those 80% become [MASK], 10% a
random token, 10% stay unchanged, and the model predicts the original token at each of them. The masks are drawn
anew for every batch (dynamic masking, Liu et al. 2019); an evaluation set is masked once (`mask_dataset`).

Also here: MLM-only examples (whole sentences packed into "[CLS] ... [SEP]" segments, RoBERTa's DOC-SENTENCES) and
the evaluation metrics of MLM, with NSP's when the model predicts it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np
import torch

from .next_sentence import tokenize_documents

IGNORE_INDEX = -100  # label of the positions the MLM loss does not see (nn.CrossEntropyLoss's ignore_index)


# 3. Masked language modelling
# ----------------------------------------------------------------------------------------------------------------------
class DataCollatorForBertPretraining:
    """Pad a batch and mask it for the MLM task: 15% selected; of those 80% [MASK], 10% random, 10% kept (BERT 3.1).

    Args:
        tokenizer: the model's tokenizer (needs [PAD] and [MASK]); its vocabulary gives the random replacement tokens
            (every id but the special tokens) and the "##" continuation pieces for whole-word masking.
        mlm_probability: fraction of each sequence's (non-special, non-padding) tokens selected for prediction;
            round(p * n) tokens, at least one, are selected per sequence, as in google-research/bert.
        whole_word_masking: select whole words (a token plus its following "##" pieces) instead of single tokens,
            until about `mlm_probability` of the tokens are covered; the 80/10/10 rule is applied per word.
        pad_to_multiple_of: pad the batch length up to a multiple of this (8 helps tensor cores).
        seed: seed of the collator's own torch.Generator, for reproducible masks; None draws from torch's global RNG
            (which `Trainer` seeds).

    Examples are mappings with `input_ids` and optionally `token_type_ids`, `special_tokens_mask`, `attention_mask`
    and `next_sentence_label` (lists, arrays or tensors). Examples that already carry `labels` (a pre-masked,
    static evaluation set, see `mask_dataset`) are only padded. The batch holds `input_ids`, `token_type_ids`,
    `attention_mask`, `labels` (the original id at the selected positions, -100 elsewhere) and `next_sentence_label`
    when the examples have it.
    """

    mask_replace_prob = 0.8  # of the selected tokens: replaced by [MASK]
    random_replace_prob = 0.1  # replaced by a random token; the remaining 10% stay unchanged

    def __init__(
        self,
        tokenizer,
        mlm_probability: float = 0.15,
        whole_word_masking: bool = False,
        pad_to_multiple_of: int | None = None,
        seed: int | None = None,
    ):
        if not 0.0 < mlm_probability <= 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
            raise ValueError(f"pad_to_multiple_of must be a positive integer or None, got {pad_to_multiple_of!r}")
        for name in ("mask_token", "pad_token"):
            if getattr(tokenizer, f"{name}_id", None) is None:
                raise ValueError(f"the tokenizer has no {name}: masked language modelling needs [MASK] and [PAD]")
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.whole_word_masking = whole_word_masking
        self.pad_to_multiple_of = pad_to_multiple_of
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.mask_token_id = tokenizer.mask_token_id
        self.pad_token_id = tokenizer.pad_token_id

        vocab_size = len(tokenizer)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        is_special = torch.zeros(vocab_size, dtype=torch.bool)
        is_special[self.special_ids[self.special_ids < vocab_size]] = True
        self.random_token_ids = torch.nonzero(~is_special).squeeze(1)  # (num_ordinary_tokens,)
        if self.random_token_ids.numel() == 0:
            raise ValueError("the tokenizer's vocabulary holds only special tokens: nothing to draw random tokens from")
        self._is_continuation = None  # (vocab,) bool, "##" pieces; built on first use by whole-word masking

    # -- padding ------------------------------------------------------------------------------------------------------
    def _pad(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Stack the examples into (batch, seq) tensors, padded on the right with [PAD] / segment 0 / mask 0."""
        if not examples:
            raise ValueError("DataCollatorForBertPretraining got an empty batch")
        rows = []
        for index, example in enumerate(examples):
            if "input_ids" not in example:
                raise ValueError(f"example {index} of the batch has no input_ids (keys: {sorted(example)})")
            ids = torch.as_tensor(example["input_ids"], dtype=torch.long).view(-1)
            if ids.numel() == 0:
                raise ValueError(f"example {index} of the batch has empty input_ids")
            rows.append(ids)
        lengths = [len(ids) for ids in rows]
        batch_size, seq_len = len(rows), max(lengths)
        if self.pad_to_multiple_of:
            seq_len = math.ceil(seq_len / self.pad_to_multiple_of) * self.pad_to_multiple_of

        input_ids = torch.full((batch_size, seq_len), self.pad_token_id, dtype=torch.long)
        token_type_ids = torch.zeros((batch_size, seq_len), dtype=torch.long)
        attention_mask = torch.zeros((batch_size, seq_len), dtype=torch.long)
        special = torch.ones((batch_size, seq_len), dtype=torch.bool)  # padding counts as special: never selected
        has_labels = "labels" in examples[0]
        labels = torch.full((batch_size, seq_len), IGNORE_INDEX, dtype=torch.long) if has_labels else None
        for row, (example, ids, length) in enumerate(zip(examples, rows, lengths)):
            input_ids[row, :length] = ids
            attention_mask[row, :length] = (
                torch.as_tensor(example["attention_mask"], dtype=torch.long).view(-1)
                if "attention_mask" in example else 1
            )
            if "token_type_ids" in example:
                token_type_ids[row, :length] = torch.as_tensor(example["token_type_ids"], dtype=torch.long).view(-1)
            if "special_tokens_mask" in example:
                special[row, :length] = torch.as_tensor(example["special_tokens_mask"]).view(-1).bool()
            else:
                special[row, :length] = torch.isin(ids, self.special_ids)
            if has_labels:
                if "labels" not in example:
                    raise ValueError(f"example {row} of the batch has no labels while example 0 has them")
                labels[row, :length] = torch.as_tensor(example["labels"], dtype=torch.long).view(-1)
        special |= attention_mask == 0
        batch = {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "special_tokens_mask": special,
        }
        if has_labels:
            batch["labels"] = labels
        if "next_sentence_label" in examples[0]:
            try:
                batch["next_sentence_label"] = torch.tensor(
                    [int(example["next_sentence_label"]) for example in examples], dtype=torch.long
                )
            except KeyError:
                raise ValueError("some examples of the batch have a next_sentence_label and others do not") from None
        return batch

    # -- selection ----------------------------------------------------------------------------------------------------
    def _num_to_predict(self, num_candidates: torch.Tensor) -> torch.Tensor:
        """round(mlm_probability * n) tokens per sequence, at least one (when the sequence has a candidate)."""
        return torch.round(num_candidates * self.mlm_probability).clamp(min=1).minimum(num_candidates).long()

    def _select_tokens(self, candidates: torch.Tensor) -> torch.Tensor:
        """Choose num_to_predict of each row's candidate tokens uniformly at random."""
        # candidates: (batch, seq) bool
        num_to_predict = self._num_to_predict(candidates.sum(dim=1))  # (batch,)
        keys = torch.rand(candidates.shape, generator=self.generator)
        keys = keys.masked_fill(~candidates, 2.0)  # non-candidates sort last
        rank = keys.argsort(dim=1).argsort(dim=1)  # rank of each token in its row's random order
        return candidates & (rank < num_to_predict[:, None])

    def _word_ids(self, input_ids: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
        """Index of the word each token belongs to: a new word starts at every token that is not a "##" piece."""
        if self._is_continuation is None:
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._is_continuation = torch.tensor([t.startswith("##") for t in tokens], dtype=torch.bool)
        in_vocab = input_ids.clamp(0, len(self._is_continuation) - 1)
        continuation = self._is_continuation[in_vocab] & (input_ids < len(self._is_continuation))
        previous_special = torch.ones_like(special)
        previous_special[:, 1:] = special[:, :-1]
        word_start = ~continuation | special | previous_special  # a "##" piece after [CLS]/[SEP] starts a word
        return word_start.long().cumsum(dim=1) - 1  # (batch, seq)

    def _select_whole_words(self, candidates: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        """Whole-word masking: add random words until num_to_predict tokens are covered, skipping words that overflow."""
        num_to_predict = self._num_to_predict(candidates.sum(dim=1)).tolist()
        selected = torch.zeros_like(candidates)
        for row in range(candidates.shape[0]):
            words, lengths = torch.unique_consecutive(word_ids[row][candidates[row]], return_counts=True)
            if words.numel() == 0:
                continue
            lengths = lengths.tolist()
            chosen, covered = [], 0
            for w in torch.randperm(len(lengths), generator=self.generator).tolist():
                if covered >= num_to_predict[row]:
                    break
                if covered + lengths[w] > num_to_predict[row] and chosen:
                    continue  # this word would overshoot the budget; try a shorter one
                chosen.append(words[w])
                covered += lengths[w]
            selected[row] = candidates[row] & torch.isin(word_ids[row], torch.stack(chosen))
        return selected

    # -- the 80/10/10 rule --------------------------------------------------------------------------------------------
    def mask_tokens(
        self, input_ids: torch.Tensor, special_tokens_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT's masking rule on a padded batch: returns (masked input_ids, labels), labels -100 where not selected."""
        input_ids = input_ids.clone()  # (batch, seq)
        candidates = ~special_tokens_mask.bool()  # never [CLS], [SEP], [PAD] (or any special token)
        if self.whole_word_masking:
            word_ids = self._word_ids(input_ids, ~candidates)
            selected = self._select_whole_words(candidates, word_ids)
            # one draw per word, so all pieces of a word share their fate: [MASK], random or unchanged
            per_word = torch.rand((input_ids.shape[0], int(word_ids.max()) + 1), generator=self.generator)
            draw = per_word.gather(1, word_ids)  # (batch, seq)
        else:
            selected = self._select_tokens(candidates)
            draw = torch.rand(input_ids.shape, generator=self.generator)

        labels = input_ids.masked_fill(~selected, IGNORE_INDEX)  # predict the original token where selected
        to_mask = selected & (draw < self.mask_replace_prob)  # 80%: [MASK]
        to_random = selected & (draw >= self.mask_replace_prob) & (
            draw < self.mask_replace_prob + self.random_replace_prob
        )  # 10%: a random (non-special) token; the other 10% keep the original token
        input_ids[to_mask] = self.mask_token_id
        random_index = torch.randint(
            len(self.random_token_ids), (int(to_random.sum()),), generator=self.generator
        )
        input_ids[to_random] = self.random_token_ids[random_index]
        return input_ids, labels

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self._pad(examples)
        special = batch.pop("special_tokens_mask")
        if "labels" not in batch:  # pre-masked examples (a static evaluation set) are only padded
            batch["input_ids"], batch["labels"] = self.mask_tokens(batch["input_ids"], special)
        return batch

    def mask_dataset(self, dataset: datasets.Dataset, seed: int, batch_size: int = 1000) -> datasets.Dataset:
        """Mask a `datasets.Dataset` once with a fixed seed: a static evaluation set, identical at every evaluation.

        Returns the dataset with masked `input_ids` and a `labels` column; the collator then only pads it.
        """
        collator = DataCollatorForBertPretraining(
            self.tokenizer, self.mlm_probability, self.whole_word_masking, None, seed=seed
        )
        collator._is_continuation = self._is_continuation

        def mask_batch(batch: dict[str, list]) -> dict[str, list]:
            keys = [k for k in ("input_ids", "token_type_ids", "special_tokens_mask") if k in batch]
            examples = [dict(zip(keys, values)) for values in zip(*(batch[k] for k in keys))]
            lengths = [len(example["input_ids"]) for example in examples]
            out = collator(examples)
            return {
                "input_ids": [row[:n].tolist() for row, n in zip(out["input_ids"], lengths)],
                "labels": [row[:n].tolist() for row, n in zip(out["labels"], lengths)],
            }

        features = dataset.features.copy()
        features["labels"] = datasets.List(datasets.Value("int32"))
        fingerprint = f"{dataset._fingerprint}-bert-mlm-{seed}-{self.mlm_probability}-{int(self.whole_word_masking)}"
        return dataset.map(
            mask_batch, batched=True, batch_size=batch_size, features=features, new_fingerprint=fingerprint,
            desc="Masking the evaluation set",
        )


# ----------------------------------------------------------------------------------------------------------------------
# MLM-only examples
# ----------------------------------------------------------------------------------------------------------------------
def create_mlm_examples(
    documents: Sequence[Sequence[str]],
    tokenizer,
    max_seq_length: int = 128,
) -> datasets.Dataset:
    """Single segments "[CLS] s1 s2 ... [SEP]" of whole consecutive sentences of one document, packed up to
    max_seq_length tokens, for masked-LM pretraining without NSP (RoBERTa's DOC-SENTENCES, Liu et al. 2019, 4.2).

    A sentence longer than the segment is cut into pieces of max_seq_length - 2 tokens. Segments never cross a
    document boundary; every token of the documents is in exactly one example.
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must leave room for [CLS], [SEP] and a token, got {max_seq_length}")
    for name in ("cls_token_id", "sep_token_id"):
        if getattr(tokenizer, name, None) is None:
            raise ValueError(f"the tokenizer has no {name.removesuffix('_id')}: MLM segments need [CLS] and [SEP]")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_seq_length - 2  # room for [CLS] and [SEP]
    input_ids: list[list[int]] = []

    def close(segment: list[int]) -> None:
        if segment:
            input_ids.append([cls_id, *segment, sep_id])

    for document in tokenize_documents(documents, tokenizer):
        segment: list[int] = []
        for sentence in document:
            pieces = [sentence[i:i + budget] for i in range(0, len(sentence), budget)]
            for piece in pieces:
                if len(segment) + len(piece) > budget:
                    close(segment)
                    segment = []
                segment = segment + piece
        close(segment)
    if not input_ids:
        raise ValueError("the documents hold no tokens: no MLM example can be made")
    features = datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "special_tokens_mask": datasets.List(datasets.Value("int8")),
        }
    )
    return datasets.Dataset.from_dict(
        {"input_ids": input_ids, "special_tokens_mask": [[1] + [0] * (len(ids) - 2) + [1] for ids in input_ids]},
        features=features,
    )


# ----------------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------------
def preprocess_logits_for_metrics(logits, labels):
    """Reduce the eval logits to what the metrics need, batch by batch (keeps eval memory small).

    MLM scores (batch, seq, vocab) become the predicted token (batch, seq) and its negative log-likelihood (batch,
    seq; 0 where not selected). A model that also predicts NSP (BertForPreTraining: logits = (MLM, NSP), labels =
    (MLM, NSP)) adds the predicted NSP label and its NLL (batch,).
    """
    with_nsp = isinstance(labels, (tuple, list))
    prediction_logits = logits[0] if isinstance(logits, (tuple, list)) else logits  # (batch, seq, vocab)
    mlm_labels = labels[0] if with_nsp else labels  # (batch, seq)
    selected = mlm_labels != IGNORE_INDEX
    mlm_nll = torch.zeros(mlm_labels.shape, dtype=torch.float32, device=mlm_labels.device)
    mlm_nll[selected] = torch.nn.functional.cross_entropy(  # only the selected rows: (num_selected, vocab)
        prediction_logits[selected].float(), mlm_labels[selected], reduction="none"
    )
    if not with_nsp:
        return prediction_logits.argmax(dim=-1), mlm_nll
    seq_relationship_logits, nsp_labels = logits[1], labels[1]  # (batch, 2), (batch,)
    nsp_nll = torch.nn.functional.cross_entropy(seq_relationship_logits.float(), nsp_labels.view(-1), reduction="none")
    return prediction_logits.argmax(dim=-1), mlm_nll, seq_relationship_logits.argmax(dim=-1), nsp_nll


def compute_pretraining_metrics(eval_prediction) -> dict[str, float]:
    """MLM loss, perplexity and accuracy over the selected tokens; NSP loss and accuracy over the examples when the
    model predicts NSP."""
    predictions = [np.asarray(p) for p in eval_prediction.predictions]
    label_ids = eval_prediction.label_ids
    label_ids = [np.asarray(label) for label in label_ids] if isinstance(label_ids, (tuple, list)) else \
        [np.asarray(label_ids)]
    mlm_pred, mlm_nll, mlm_labels = predictions[0], predictions[1], label_ids[0]
    selected = mlm_labels != IGNORE_INDEX  # batches padded to different lengths are padded with -100 too
    num_selected = int(selected.sum())
    mlm_loss = float(mlm_nll[selected].mean()) if num_selected else float("nan")
    metrics = {
        "mlm_loss": mlm_loss,
        "mlm_perplexity": float(math.exp(min(mlm_loss, 50.0))) if num_selected else float("nan"),
        "mlm_accuracy": float((mlm_pred[selected] == mlm_labels[selected]).mean()) if num_selected else float("nan"),
    }
    if len(predictions) == 4:
        nsp_pred, nsp_nll, nsp_labels = predictions[2], predictions[3], label_ids[1]
        metrics["nsp_loss"] = float(nsp_nll.mean())
        metrics["nsp_accuracy"] = float((nsp_pred.reshape(-1) == nsp_labels.reshape(-1)).mean())
    metrics["num_masked_tokens"] = num_selected
    return metrics


__all__ = [
    "IGNORE_INDEX",
    "DataCollatorForBertPretraining",
    "compute_pretraining_metrics",
    "create_mlm_examples",
    "preprocess_logits_for_metrics",
]
