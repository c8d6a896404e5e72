"""BERT pretraining, the data side and the training loop (Devlin et al. 2019, section 3.1 and appendix A).

The pipeline follows google-research/bert `create_pretraining_data.py` and `run_pretraining.py`:

1. `read_documents`: text files -> documents, each a list of sentences (NSP needs document boundaries).
2. `create_nsp_examples`: pack consecutive sentences into "[CLS] A [SEP] B [SEP]" pairs; half of the time B is the
   true continuation of A (next_sentence_label 0), half of the time a span of another document (label 1).
3. `DataCollatorForBertPretraining`: pad a batch and apply the masked-LM rule: select 15% of the tokens; of those
   80% become [MASK], 10% a random token, 10% stay unchanged; the model predicts the original token at each of them.
   The masks are drawn anew for every batch (dynamic masking, Liu et al. 2019), not fixed once as in the original.
4. `run_pretraining`: tokenizer (loaded or trained), datasets, `BertForPreTraining` and `transformers.Trainer`, with
   resumable output folders, MLM/NSP metrics and JSON results; the logic of `training/pretrain_bert.py`.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..tasks.common import detect_last_checkpoint, wait_for_everyone

IGNORE_INDEX = -100  # label of the positions the MLM loss does not see (nn.CrossEntropyLoss's ignore_index)
NSP_IS_NEXT, NSP_RANDOM_NEXT = 0, 1  # next_sentence_label: 0 = B follows A in the text, 1 = B is a random segment

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------------
# 1. Documents
# ----------------------------------------------------------------------------------------------------------------------
# after . ! ? (or their full-width forms) and white space, but not after an initial ("H. americanus", "J. R. R.")
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])(?<!\s[A-Z]\.)(?<!^[A-Z]\.)\s+")


def split_into_sentences(text: str) -> list[str]:
    """Split a paragraph after sentence-final punctuation and white space (a rule, not a trained model)."""
    return [sentence for sentence in (s.strip() for s in _SENTENCE_END.split(text)) if sentence]


def _is_wikitext_heading(line: str) -> int:
    """Heading level of a WikiText line (" = Title = " -> 1, " = = Section = = " -> 2), 0 for a text line."""
    stripped = line.strip()
    if len(stripped) < 3 or not (stripped.startswith("= ") and stripped.endswith(" =")):
        return 0
    level = 0
    while stripped.startswith("= "):
        level += 1
        stripped = stripped[2:]
    return level


def _read_text_file(path: Path) -> str:
    """Read a whole UTF-8 file; a missing, empty or non-UTF-8 file is an error that names it (and the line)."""
    if not path.exists():
        raise FileNotFoundError(f"text file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"text file {path} is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"text file {path} is not UTF-8: line {line_number} has invalid byte(s) "
            f"{data[error.start:error.start + 4]!r}; convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not text


def _parse_document_separator(document_separator: str | int) -> str | int:
    if isinstance(document_separator, bool):
        raise ValueError(f"document_separator must be 'blank_line', 'wikitext' or a positive int, got {document_separator!r}")
    if isinstance(document_separator, str) and document_separator.strip().isdigit():
        document_separator = int(document_separator)
    if isinstance(document_separator, int):
        if document_separator <= 0:
            raise ValueError(f"document_separator as a line count must be positive, got {document_separator}")
        return document_separator
    if document_separator not in ("blank_line", "wikitext"):
        raise ValueError(
            f"document_separator must be 'blank_line', 'wikitext' or a positive number of lines, got {document_separator!r}"
        )
    return document_separator


def read_documents(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    document_separator: str | int = "blank_line",
    split_sentences: bool = False,
) -> list[list[str]]:
    """Read text files into documents, lists of sentences: the input format of BERT's NSP data (appendix A.2).

    Args:
        paths: one or several UTF-8 text files. A document never spans two files.
        document_separator: how documents are delimited in a file:
            - "blank_line": documents are separated by empty lines; each non-empty line is a sentence (or a
              paragraph), the format of google-research/bert's `sample_text.txt`.
            - "wikitext": WikiText's format: a document starts at each top-level heading line (" = Title = ");
              section headings (" = = Section = = ") do not start a document. Headings are dropped (BERT's
              Wikipedia text ignores headers) and blank lines are ignored.
            - an int N (or a string of digits): every N non-empty lines form a document, for corpora with one sentence
              per line and no boundaries, like the Penn Treebank.
        split_sentences: split each line after sentence-final punctuation (., !, ?) followed by a space, for corpora
            whose lines are paragraphs (WikiText). NSP then splits A/B between sentences, not only between paragraphs.

    Returns:
        list of documents; each a non-empty list of non-empty, stripped strings.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: a file is empty, not UTF-8 (names the line) or holds no usable text; no file was given; a bad
            `document_separator`.
    """
    separator = _parse_document_separator(document_separator)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_documents: no file was given")

    documents: list[list[str]] = []
    for path in paths:
        text = _read_text_file(path)
        file_documents: list[list[str]] = []
        current: list[str] = []
        lines_in_current = 0

        def close_document():
            nonlocal current, lines_in_current
            if current:
                file_documents.append(current)
            current, lines_in_current = [], 0

        for line in text.splitlines():
            stripped = line.strip()
            if separator == "wikitext":
                level = _is_wikitext_heading(stripped)
                if level == 1:
                    close_document()
                if level or not stripped:
                    continue
            elif not stripped:
                if separator == "blank_line":
                    close_document()
                continue
            current.extend(split_into_sentences(stripped) if split_sentences else [stripped])
            lines_in_current += 1
            if isinstance(separator, int) and lines_in_current == separator:
                close_document()
        close_document()
        if not file_documents:
            raise ValueError(f"text file {path} holds no usable text (only blank lines or headings)")
        documents.extend(file_documents)
    return documents


# ----------------------------------------------------------------------------------------------------------------------
# 2. Next sentence prediction pairs
# ----------------------------------------------------------------------------------------------------------------------
def _truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random):
    """Trim the longer of A and B one token at a time, at its front or back at random, until A + B fits."""
    a_front = a_back = b_front = b_back = 0  # tokens dropped at each end, applied once at the end (no O(n^2) deletes)
    len_a, len_b = len(tokens_a), len(tokens_b)
    while len_a + len_b > max_num_tokens:
        if len_a > len_b:
            if rng.random() < 0.5:
                a_front += 1
            else:
                a_back += 1
            len_a -= 1
        else:
            if rng.random() < 0.5:
                b_front += 1
            else:
                b_back += 1
            len_b -= 1
    return tokens_a[a_front:len(tokens_a) - a_back], tokens_b[b_front:len(tokens_b) - b_back]


def _instances_from_document(
    documents: list[list[list[int]]],
    document_index: int,
    max_num_tokens: int,
    short_seq_prob: float,
    nsp_probability: float,
    rng: random.Random,
) -> list[tuple[list[int], list[int], int]]:
    """(A, B, is_random_next) pairs from one document, as `create_instances_from_document` of google-research/bert."""
    document = documents[document_index]
    instances = []

    def draw_target_length() -> int:
        # Usually fill the whole sequence; with probability short_seq_prob use a shorter one so the model also sees
        # short inputs, as at fine-tuning time (drawn per pair here, per document in the original code).
        if rng.random() < short_seq_prob:
            return rng.randint(2, max_num_tokens)
        return max_num_tokens

    target_seq_length = draw_target_length()
    current_chunk: list[list[int]] = []  # consecutive sentences (token ids) gathered for the next pair
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        # Close the chunk at the target length, but with two sentences at least when the document has them: a
        # one-sentence chunk can only make a random-next pair, and long sentences would then push the share of
        # random-next pairs far above nsp_probability (the original closes a chunk at the target length alone).
        if i == len(document) - 1 or (current_length >= target_seq_length and len(current_chunk) >= 2):
            # A = the first a_end sentences of the chunk, a_end drawn at random
            a_end = rng.randint(1, len(current_chunk) - 1) if len(current_chunk) >= 2 else 1
            tokens_a = list(itertools.chain.from_iterable(current_chunk[:a_end]))

            if len(current_chunk) == 1 or rng.random() < nsp_probability:
                # Random next: B is a span of another document, starting at a random sentence.
                is_random_next = True
                target_b_length = target_seq_length - len(tokens_a)
                random_index = rng.randrange(len(documents) - 1)
                random_index += random_index >= document_index  # any document but this one
                random_document = documents[random_index]
                tokens_b = []
                for sentence in random_document[rng.randrange(len(random_document)):]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target_b_length:
                        break
                # The chunk's sentences after A were not used: put them back, so they start the next pair.
                i -= len(current_chunk) - a_end
            else:
                # Actual next: B = the rest of the chunk, the sentences that follow A in the document.
                is_random_next = False
                tokens_b = list(itertools.chain.from_iterable(current_chunk[a_end:]))

            tokens_a, tokens_b = _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            instances.append((tokens_a, tokens_b, NSP_RANDOM_NEXT if is_random_next else NSP_IS_NEXT))
            current_chunk, current_length = [], 0
            target_seq_length = draw_target_length()
        i += 1
    return instances


def _tokenize_documents(documents: Sequence[Sequence[str]], tokenizer) -> list[list[list[int]]]:
    """Token ids of every sentence (batched through the fast tokenizer, no special tokens); empty ones dropped."""
    sentences = [sentence for document in documents for sentence in document]
    if not sentences:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer, batched over threads: ~1M words in a few seconds
        ids = [encoding.ids for encoding in backend.encode_batch_fast(sentences, add_special_tokens=False)]
    else:
        ids = tokenizer(sentences, add_special_tokens=False, return_attention_mask=False,
                        return_token_type_ids=False)["input_ids"]
    tokenized, start = [], 0
    for document in documents:
        sentence_ids = [s for s in ids[start:start + len(document)] if s]
        start += len(document)
        if sentence_ids:
            tokenized.append(sentence_ids)
    return tokenized


def create_nsp_examples(
    documents: Sequence[Sequence[str]],
    tokenizer,
    max_seq_length: int = 128,
    short_seq_prob: float = 0.1,
    nsp_probability: float = 0.5,
    seed: int = 42,
    dupe_factor: int = 1,
) -> datasets.Dataset:
    """Sentence pairs "[CLS] A [SEP] B [SEP]" for MLM + NSP pretraining (BERT section 3.1, task #2; appendix A.2).

    Consecutive sentences of a document are packed up to a target length of max_seq_length - 3 tokens (with
    probability `short_seq_prob` a shorter random target); the chunk is split into A and B at a random sentence
    boundary. With probability `nsp_probability` B is replaced by a span of a different document (label 1) and the
    chunk's unused sentences are put back; otherwise B is the true continuation (label 0). A chunk holds two
    sentences at least unless its document has only one left (a one-sentence chunk can only make a random-next
    pair). The pair is trimmed one token at a time, from the front or back of the longer segment at random, to fit.

    Args:
        documents: lists of sentences, as `read_documents` returns them; at least two documents (random next
            segments must come from another document).
        tokenizer: a tokenizer with [CLS] and [SEP] (a fast one is used in batch).
        max_seq_length: length of the longest example, special tokens included.
        short_seq_prob: probability of a shorter target length.
        nsp_probability: probability of a random next segment (0.5 in BERT).
        seed: seed of the `random.Random` that draws lengths, split points and random segments.
        dupe_factor: number of passes over the documents, each with new random pairs.

    Returns:
        a shuffled `datasets.Dataset` with columns input_ids, token_type_ids (0 for [CLS] A [SEP], 1 for B [SEP]),
        special_tokens_mask (1 at [CLS]/[SEP]) and next_sentence_label (0 = B is the next segment, 1 = random).
    """
    if not isinstance(max_seq_length, int) or max_seq_length < 5:
        raise ValueError(f"max_seq_length must be an integer >= 5 ([CLS] A [SEP] B [SEP]), got {max_seq_length!r}")
    for name, value in (("short_seq_prob", short_seq_prob), ("nsp_probability", nsp_probability)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not isinstance(dupe_factor, int) or dupe_factor < 1:
        raise ValueError(f"dupe_factor must be a positive integer, got {dupe_factor!r}")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ValueError("the tokenizer needs a [CLS] (cls_token) and a [SEP] (sep_token) token for BERT pairs")

    tokenized = _tokenize_documents(documents, tokenizer)
    if len(tokenized) < 2:
        raise ValueError(
            f"next sentence prediction needs at least 2 documents with text, got {len(tokenized)}: a random next "
            "segment must come from another document (check document_separator)"
        )

    rng = random.Random(seed)
    max_num_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    pairs = []
    for _ in range(dupe_factor):
        for document_index in range(len(tokenized)):
            pairs.extend(
                _instances_from_document(tokenized, document_index, max_num_tokens, short_seq_prob, nsp_probability, rng)
            )
    rng.shuffle(pairs)

    input_ids, token_type_ids, special_tokens_mask, labels = [], [], [], []
    for tokens_a, tokens_b, label in pairs:
        input_ids.append([cls_id, *tokens_a, sep_id, *tokens_b, sep_id])
        len_a, len_b = len(tokens_a) + 2, len(tokens_b) + 1  # [CLS] A [SEP] | B [SEP]
        token_type_ids.append([0] * len_a + [1] * len_b)
        special_tokens_mask.append([1] + [0] * len(tokens_a) + [1] + [0] * len(tokens_b) + [1])
        labels.append(label)
    features = datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "token_type_ids": datasets.List(datasets.Value("int8")),
            "special_tokens_mask": datasets.List(datasets.Value("int8")),
            "next_sentence_label": datasets.ClassLabel(names=["is_next", "random_next"]),
        }
    )
    return datasets.Dataset.from_dict(
        {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "special_tokens_mask": special_tokens_mask,
            "next_sentence_label": labels,
        },
        features=features,
    )


# ----------------------------------------------------------------------------------------------------------------------
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
# 4. Metrics
# ----------------------------------------------------------------------------------------------------------------------
def preprocess_logits_for_metrics(logits, labels):
    """Reduce BertForPreTraining's eval logits to what the metrics need, batch by batch (keeps eval memory small).

    (batch, seq, vocab) MLM scores and (batch, 2) NSP scores become: the predicted token (batch, seq), the token's
    negative log-likelihood (batch, seq; 0 where not selected), the predicted NSP label and its NLL (batch,).
    """
    prediction_logits, seq_relationship_logits = logits[0], logits[1]  # (batch, seq, vocab), (batch, 2)
    mlm_labels, nsp_labels = labels  # (batch, seq), (batch,)
    selected = mlm_labels != IGNORE_INDEX
    mlm_nll = torch.zeros(mlm_labels.shape, dtype=torch.float32, device=mlm_labels.device)
    mlm_nll[selected] = torch.nn.functional.cross_entropy(  # only the selected rows: (num_selected, vocab)
        prediction_logits[selected].float(), mlm_labels[selected], reduction="none"
    )
    nsp_nll = torch.nn.functional.cross_entropy(seq_relationship_logits.float(), nsp_labels.view(-1), reduction="none")
    return prediction_logits.argmax(dim=-1), mlm_nll, seq_relationship_logits.argmax(dim=-1), nsp_nll


def compute_pretraining_metrics(eval_prediction) -> dict[str, float]:
    """MLM loss, perplexity and accuracy over the selected tokens; NSP loss and accuracy over the examples."""
    mlm_pred, mlm_nll, nsp_pred, nsp_nll = (np.asarray(p) for p in eval_prediction.predictions)
    mlm_labels, nsp_labels = (np.asarray(label) for label in eval_prediction.label_ids)
    selected = mlm_labels != IGNORE_INDEX  # batches padded to different lengths are padded with -100 too
    num_selected = int(selected.sum())
    mlm_loss = float(mlm_nll[selected].mean()) if num_selected else float("nan")
    return {
        "mlm_loss": mlm_loss,
        "mlm_perplexity": float(math.exp(min(mlm_loss, 50.0))) if num_selected else float("nan"),
        "mlm_accuracy": float((mlm_pred[selected] == mlm_labels[selected]).mean()) if num_selected else float("nan"),
        "nsp_loss": float(nsp_nll.mean()),
        "nsp_accuracy": float((nsp_pred.reshape(-1) == nsp_labels.reshape(-1)).mean()),
        "num_masked_tokens": num_selected,
    }


# ----------------------------------------------------------------------------------------------------------------------
# 5. The training run
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class BertPretrainingModelArguments:
    """Which BERT and tokenizer to pretrain: a checkpoint to continue from, or a new model of the given size."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Checkpoint (folder or hub name) to continue pretraining from. Leave out to train from "
                          "scratch with the config fields below."},
    )
    tokenizer_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (folder or hub name). Leave out to use model_name_or_path's, or to train a new "
                          "WordPiece vocabulary of --vocab_size on the train files."},
    )
    vocab_size: int = field(default=30522, metadata={"help": "Size of the WordPiece vocabulary trained when no "
                                                             "tokenizer is given."})
    tokenizer_min_frequency: int = field(default=2, metadata={"help": "Minimum pair frequency of WordPiece merges."})
    do_lower_case: bool = field(default=True, metadata={"help": "Lowercase text in a newly trained tokenizer."})
    hidden_size: int | None = field(default=None, metadata={"help": "d_model of a new model (BertConfig default 768)."})
    num_hidden_layers: int | None = field(default=None, metadata={"help": "Encoder blocks of a new model (12)."})
    num_attention_heads: int | None = field(default=None, metadata={"help": "Attention heads of a new model (12)."})
    intermediate_size: int | None = field(default=None, metadata={"help": "d_ff of a new model (3072)."})
    max_position_embeddings: int | None = field(
        default=None, metadata={"help": "Positions of a new model (512); must be >= max_seq_length."}
    )

    def __post_init__(self):
        overrides = [name for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                       "max_position_embeddings") if getattr(self, name) is not None]
        if self.model_name_or_path is not None and overrides:
            raise ValueError(
                f"--{overrides[0]} sets the size of a new model; it cannot be combined with --model_name_or_path "
                f"({self.model_name_or_path}), whose config fixes the size"
            )
        if self.vocab_size <= 5:
            raise ValueError(f"--vocab_size must be larger than the 5 special tokens, got {self.vocab_size}")


@dataclass
class BertPretrainingDataArguments:
    """Which text to pretrain on and how to turn it into MLM + NSP examples."""

    train_files: list[str] | None = field(default=None, metadata={"help": "UTF-8 text file(s) to pretrain on."})
    validation_files: list[str] | None = field(
        default=None, metadata={"help": "UTF-8 text file(s) to evaluate on; default: a split of the train documents."}
    )
    document_separator: str = field(
        default="blank_line",
        metadata={"help": "'blank_line' (documents separated by empty lines), 'wikitext' (a document per ' = Title = ' "
                          "heading) or a number N (every N lines form a document, e.g. for PTB)."},
    )
    split_sentences: bool = field(
        default=True, metadata={"help": "Split lines into sentences at . ! ? (lines may be paragraphs)."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example, [CLS]/[SEP] included."})
    short_seq_prob: float = field(default=0.1, metadata={"help": "Probability of a shorter example."})
    nsp_probability: float = field(default=0.5, metadata={"help": "Probability that segment B is random."})
    dupe_factor: int = field(
        default=1, metadata={"help": "Passes over the train documents, each with new pairs (evaluation: one pass)."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens selected for MLM."})
    whole_word_masking: bool = field(default=False, metadata={"help": "Mask whole words, not single WordPieces."})
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "Pad batches to a multiple of this."})
    validation_split_percentage: int = field(
        default=5,
        metadata={"help": "Percentage of the train documents held out for evaluation when no validation_files."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep at most this many train examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep at most this many eval examples."})
    preprocessing_seed: int = field(
        default=42, metadata={"help": "Seed of the pair creation, the validation split and the static eval masks."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train into a non-empty output_dir that holds no checkpoint (its files are overwritten), "
                          "or start afresh instead of resuming from its last checkpoint."},
    )

    def __post_init__(self):
        self.document_separator = _parse_document_separator(self.document_separator)
        if not 0 <= self.validation_split_percentage < 100:
            raise ValueError(f"--validation_split_percentage must be in [0, 100), got {self.validation_split_percentage}")
        if not 0.0 < self.mlm_probability <= 1.0:
            raise ValueError(f"--mlm_probability must be in (0, 1], got {self.mlm_probability}")
        if self.max_seq_length < 5:
            raise ValueError(f"--max_seq_length must be >= 5, got {self.max_seq_length}")


def _load_or_train_tokenizer(model_args, data_args, training_args, last_checkpoint):
    """Load the tokenizer, or train a WordPiece vocabulary on the train files (on process 0, then share it)."""
    from transformers import AutoTokenizer

    source = model_args.tokenizer_name_or_path or model_args.model_name_or_path
    if source is None and last_checkpoint is not None and os.path.isfile(os.path.join(last_checkpoint, "tokenizer.json")):
        source = last_checkpoint  # resuming: the vocabulary the checkpoint was trained with
    if source is not None:
        logger.info(f"Loading the tokenizer from {source}")
        return AutoTokenizer.from_pretrained(source)

    from tokenizers import Tokenizer

    from ..tokenization import train_wordpiece_tokenizer, wrap_as_bert_tokenizer
    from .configuration_bert import BertConfig

    # the longest input of the new model (BertConfig's default: 512 positions)
    max_length = model_args.max_position_embeddings or BertConfig().max_position_embeddings
    # WordPiece training is not deterministic (ties are broken by thread order): one process trains, every process
    # uses its vocabulary.
    serialized = [None]
    if training_args.process_index == 0:
        logger.info(f"Training a WordPiece tokenizer (vocab_size={model_args.vocab_size}) on {data_args.train_files}")
        tokenizer = train_wordpiece_tokenizer(
            data_args.train_files, vocab_size=model_args.vocab_size, min_frequency=model_args.tokenizer_min_frequency,
            lowercase=model_args.do_lower_case, max_length=max_length, input_type="files",
        )
        serialized = [tokenizer.backend_tokenizer.to_str()]
    if training_args.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(serialized, src=0)
        if training_args.process_index != 0:
            tokenizer = wrap_as_bert_tokenizer(
                Tokenizer.from_str(serialized[0]), lowercase=model_args.do_lower_case, max_length=max_length
            )
    return tokenizer


def _split_documents(documents: list[list[str]], percentage: int, seed: int):
    """Hold out `percentage`% of the documents (whole documents, so no text is shared with the train set)."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    num_eval = max(2, round(len(documents) * percentage / 100))
    if len(documents) - num_eval < 2:
        raise ValueError(
            f"the train files hold {len(documents)} documents: too few to hold out {percentage}% for evaluation and "
            "keep 2 for training. Give --validation_files, or --validation_split_percentage 0 without --do_eval."
        )
    eval_ids = set(order[:num_eval])
    train = [d for i, d in enumerate(documents) if i not in eval_ids]
    evaluation = [d for i, d in enumerate(documents) if i in eval_ids]
    return train, evaluation


def build_pretraining_datasets(tokenizer, data_args, do_train: bool = True, do_eval: bool = True):
    """Read the text files and build the (train, eval) NSP datasets; the eval set is masked once (static), so every
    evaluation, and every run with the same data and seed, scores the same masked tokens."""
    train_documents = read_documents(data_args.train_files, data_args.document_separator, data_args.split_sentences) \
        if data_args.train_files else None
    eval_documents = None
    if data_args.validation_files:
        eval_documents = read_documents(
            data_args.validation_files, data_args.document_separator, data_args.split_sentences
        )
    elif do_eval:
        if train_documents is None:
            raise ValueError("--do_eval needs --validation_files or --train_files to hold some documents out of")
        if data_args.validation_split_percentage == 0:
            raise ValueError("--do_eval needs --validation_files or a --validation_split_percentage above 0")
        train_documents, eval_documents = _split_documents(
            train_documents, data_args.validation_split_percentage, data_args.preprocessing_seed
        )

    def examples(documents, seed, max_samples, dupe_factor):
        dataset = create_nsp_examples(
            documents, tokenizer, max_seq_length=data_args.max_seq_length, short_seq_prob=data_args.short_seq_prob,
            nsp_probability=data_args.nsp_probability, seed=seed, dupe_factor=dupe_factor,
        )
        if max_samples is not None:
            dataset = dataset.select(range(min(max_samples, len(dataset))))
        return dataset

    train_dataset = eval_dataset = None
    if do_train:
        if train_documents is None:
            raise ValueError("--do_train needs --train_files")
        train_dataset = examples(
            train_documents, data_args.preprocessing_seed, data_args.max_train_samples, data_args.dupe_factor
        )
    if do_eval:
        # one pass (dupe_factor is a training augmentation): the same evaluation set whatever the training setup
        eval_dataset = examples(eval_documents, data_args.preprocessing_seed + 1, data_args.max_eval_samples, 1)
        collator = DataCollatorForBertPretraining(
            tokenizer, data_args.mlm_probability, data_args.whole_word_masking, seed=data_args.preprocessing_seed
        )
        eval_dataset = collator.mask_dataset(eval_dataset, seed=data_args.preprocessing_seed)
    return train_dataset, eval_dataset


def _build_model(model_args, data_args, tokenizer):
    """BertForPreTraining: loaded from a checkpoint, or new, sized by the arguments and the tokenizer's vocabulary."""
    from .configuration_bert import BertConfig
    from .modeling_bert import BertForPreTraining

    if model_args.model_name_or_path is not None:
        model = BertForPreTraining.from_pretrained(model_args.model_name_or_path)
        if len(tokenizer) > model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but {model_args.model_name_or_path} has vocab_size="
                f"{model.config.vocab_size}: use the checkpoint's own tokenizer"
            )
    else:
        sizes = {
            name: getattr(model_args, name)
            for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                         "max_position_embeddings")
            if getattr(model_args, name) is not None
        }
        config = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **sizes)
        model = BertForPreTraining(config)
    if data_args.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(
            f"--max_seq_length {data_args.max_seq_length} is longer than the model's max_position_embeddings="
            f"{model.config.max_position_embeddings}"
        )
    return model


def run_pretraining(model_args, data_args, training_args) -> dict[str, float]:
    """Pretrain BERT with MLM + NSP (Devlin et al. 2019, section 3.1) with `transformers.Trainer`; return the metrics.

    Trains when `training_args.do_train`, evaluates when `do_eval` (both when neither is set). The output folder gets
    the model, the tokenizer, checkpoints (resumed from automatically), `train_results.json`, `eval_results.json`,
    `all_results.json` and `trainer_state.json`; TensorBoard logs with `--report_to tensorboard`.
    """
    from transformers import Trainer, set_seed

    if not training_args.do_train and not training_args.do_eval:
        logger.info("Neither --do_train nor --do_eval given: doing both")
        training_args.do_train = training_args.do_eval = True
    elif not training_args.do_train:
        logger.warning("--do_train not given: evaluating only")
    if training_args.do_train and not data_args.train_files:
        raise ValueError("--do_train needs --train_files")
    if training_args.do_eval and not (data_args.train_files or data_args.validation_files):
        raise ValueError("--do_eval needs --validation_files (or --train_files to hold some documents out of)")
    for path in list(data_args.train_files or []) + list(data_args.validation_files or []):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"text file not found: {path}")

    logger.info(f"Training/evaluation parameters {training_args}")
    # Every process reads the output folder before any process writes to it.
    last_checkpoint = detect_last_checkpoint(training_args, data_args.overwrite_output_dir)
    wait_for_everyone(training_args)

    tokenizer = _load_or_train_tokenizer(model_args, data_args, training_args, last_checkpoint)
    with training_args.main_process_first(desc="building the pretraining datasets"):
        train_dataset, eval_dataset = build_pretraining_datasets(
            tokenizer, data_args, do_train=training_args.do_train, do_eval=training_args.do_eval
        )
    for name, dataset in (("train", train_dataset), ("eval", eval_dataset)):
        if dataset is not None:
            labels = np.asarray(dataset["next_sentence_label"])
            logger.info(f"{name} examples: {len(dataset)} ({labels.mean():.1%} with a random next segment)")

    set_seed(training_args.seed)  # the same new model in every process and on every resume
    model = _build_model(model_args, data_args, tokenizer)
    collator = DataCollatorForBertPretraining(
        tokenizer, data_args.mlm_probability, data_args.whole_word_masking, data_args.pad_to_multiple_of
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_pretraining_metrics if training_args.do_eval else None,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics if training_args.do_eval else None,
    )

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()  # the model and the tokenizer
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(train_dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update({k if k.startswith("train") else f"train_{k}": v for k, v in metrics.items()})
    if training_args.do_eval:
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(eval_dataset)
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)
    return results


__all__ = [
    "BertPretrainingDataArguments",
    "BertPretrainingModelArguments",
    "DataCollatorForBertPretraining",
    "build_pretraining_datasets",
    "compute_pretraining_metrics",
    "create_nsp_examples",
    "preprocess_logits_for_metrics",
    "read_documents",
    "run_pretraining",
    "split_into_sentences",
]
