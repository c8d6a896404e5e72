"""Next sentence prediction (BERT section 3.1, task #2; appendix A.2): "[CLS] A [SEP] B [SEP]" pairs where B is the
true continuation of A half of the time and a span of another document otherwise, as google-research/bert's
`create_pretraining_data.py` builds them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import datasets

NSP_IS_NEXT, NSP_RANDOM_NEXT = 0, 1  # next_sentence_label: 0 = B follows A in the text, 1 = B is a random segment


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


def tokenize_documents(documents: Sequence[Sequence[str]], tokenizer) -> list[list[list[int]]]:
    """Token ids of every sentence (batched through the fast tokenizer, no special tokens); empty ones dropped."""
    sentences = [sentence for document in documents for sentence in document]
    if not sentences:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and (backend.truncation is not None or backend.padding is not None):
        # a tokenizer.json saved with truncation or padding (T5's cuts and pads every text to 256) would apply it to
        # every sentence: a copy without them
        backend = type(backend).from_str(backend.to_str())
        backend.no_truncation()
        backend.no_padding()
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

    tokenized = tokenize_documents(documents, tokenizer)
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


__all__ = ["NSP_IS_NEXT", "NSP_RANDOM_NEXT", "create_nsp_examples", "tokenize_documents"]
