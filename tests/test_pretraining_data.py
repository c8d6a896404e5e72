"""BERT pretraining data (hf_models.pretraining): documents, NSP sentence pairs, the 80/10/10 MLM collator and
the evaluation metrics.

The NSP tests use synthetic documents whose words name their place, "d{document}w{position}", and a tokenizer whose
vocabulary holds every such word whole: each token of an example tells where in which document it came from, so
"B is the true continuation of A" and "B comes from another document" are checked exactly.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from transformers import BertTokenizer
from transformers.trainer_utils import EvalPrediction

from hf_models import BertConfig, BertForPreTraining
from hf_models.pretraining import (
    IGNORE_INDEX,
    DataCollatorForBertPretraining,
    compute_pretraining_metrics,
    create_mlm_examples,
    create_nsp_examples,
    preprocess_logits_for_metrics,
    read_documents,
    split_into_sentences,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
WORD = re.compile(r"d(\d+)w(\d+)")


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------------------
def make_documents(num_documents: int, seed: int = 0, sentences=(4, 14), words=(3, 12)) -> list[list[str]]:
    """Documents of sentences whose words are d{document}w{running position in the document}."""
    rng = random.Random(seed)
    documents = []
    for d in range(num_documents):
        position, document = 0, []
        for _ in range(rng.randint(*sentences)):
            length = rng.randint(*words)
            document.append(" ".join(f"d{d}w{position + k}" for k in range(length)))
            position += length
        documents.append(document)
    return documents


def positional_tokenizer(documents) -> BertTokenizer:
    words = sorted({w for document in documents for sentence in document for w in sentence.split()})
    return BertTokenizer(vocab={token: i for i, token in enumerate(SPECIALS + words)}, model_max_length=512)


@pytest.fixture(scope="module")
def documents():
    return make_documents(50, sentences=(40, 80))


@pytest.fixture(scope="module")
def tokenizer(documents):
    return positional_tokenizer(documents)


@pytest.fixture(scope="module")
def examples(documents, tokenizer):
    return create_nsp_examples(documents, tokenizer, max_seq_length=48, short_seq_prob=0.1, seed=0, dupe_factor=3)


def split_pair(input_ids):
    """[CLS] A [SEP] B [SEP] -> (A, B)."""
    assert input_ids[0] == CLS and input_ids[-1] == SEP
    first_sep = input_ids.index(SEP)
    return input_ids[1:first_sep], input_ids[first_sep + 1:-1]


def places(tokenizer, ids):
    """(document, position) of each token."""
    return [tuple(map(int, WORD.fullmatch(token).groups())) for token in tokenizer.convert_ids_to_tokens(ids)]


# ----------------------------------------------------------------------------------------------------------------------
# read_documents
# ----------------------------------------------------------------------------------------------------------------------
def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_documents_blank_line(tmp_path):
    path = write(tmp_path, "a.txt", "First sentence.\nSecond one.\n\nAnother document.\n\n\n  \nThird doc, line 1.\nline 2\n")
    assert read_documents(path) == [
        ["First sentence.", "Second one."],
        ["Another document."],
        ["Third doc, line 1.", "line 2"],
    ]


def test_read_documents_wikitext(tmp_path):
    text = (
        " \n = Homarus gammarus = \n \n Homarus gammarus is a lobster . It is blue . \n \n"
        " = = Description = = \n \n It may grow large . \n = = = Claws = = = \n The claws differ . \n"
        " = Frank Headlam = \n \n Frank was a commander . \n"
    )
    path = write(tmp_path, "wiki.txt", text)
    assert read_documents(path, "wikitext") == [
        ["Homarus gammarus is a lobster . It is blue .", "It may grow large .", "The claws differ ."],
        ["Frank was a commander ."],
    ]
    assert read_documents(path, "wikitext", split_sentences=True)[0][:3] == [
        "Homarus gammarus is a lobster .", "It is blue .", "It may grow large ."
    ]
    # text before the first heading is a document of its own
    assert read_documents(write(tmp_path, "w2.txt", "intro line\n = Title = \nbody\n"), "wikitext") == [
        ["intro line"], ["body"]
    ]


def test_read_documents_every_n_lines(tmp_path):
    path = write(tmp_path, "ptb.txt", "\n".join(f"sentence {i}" for i in range(7)) + "\n\n")
    assert read_documents(path, 3) == [
        ["sentence 0", "sentence 1", "sentence 2"], ["sentence 3", "sentence 4", "sentence 5"], ["sentence 6"]
    ]
    assert read_documents(path, "3") == read_documents(path, 3)  # as given on a command line


def test_read_documents_several_files_and_korean(tmp_path):
    first = write(tmp_path, "ko.txt", "\ufeff자연어 처리는 재미있다. 정말 그렇다!\n\n한국어 문서 둘째.\n")
    second = write(tmp_path, "en.txt", "An English document.\n")
    assert read_documents([first, str(second)], split_sentences=True) == [
        ["자연어 처리는 재미있다.", "정말 그렇다!"], ["한국어 문서 둘째."], ["An English document."]
    ]


def test_split_into_sentences_keeps_initials():
    assert split_into_sentences("It is related to H. americanus . It may grow! Really? 자연어 처리는 재미있다. 끝") == [
        "It is related to H. americanus .", "It may grow!", "Really?", "자연어 처리는 재미있다.", "끝"
    ]


def test_read_documents_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        read_documents(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        read_documents(write(tmp_path, "empty.txt", ""))
    with pytest.raises(ValueError, match="blank.txt holds no usable text"):
        read_documents(write(tmp_path, "blank.txt", "\n \n\t\n"))
    with pytest.raises(ValueError, match="headings.txt holds no usable text"):
        read_documents(write(tmp_path, "headings.txt", " = A = \n = = B = = \n"), "wikitext")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("one\ntwo\n\nfour caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt is not UTF-8: line 4"):
        read_documents(latin1)
    good = write(tmp_path, "good.txt", "text\n")
    for bad in ("paragraph", 0, -2, True):
        with pytest.raises(ValueError, match="document_separator"):
            read_documents(good, bad)
    with pytest.raises(ValueError, match="no file"):
        read_documents([])


def test_read_documents_reads_gzip_and_names_a_corrupt_one(tmp_path):
    """A valid gzip-compressed UTF-8 file is read as its text (not called "not UTF-8"), whatever its name; a truncated
    or corrupt one is one error naming the file."""
    import gzip

    text = "first sentence.\nsecond one.\n\nanother document caf\u00e9.\n"
    expected = read_documents(write(tmp_path, "plain.txt", text))
    data = gzip.compress(text.encode("utf-8"))
    for name in ("docs.txt.gz", "docs.txt"):
        (tmp_path / name).write_bytes(data)
        assert read_documents(tmp_path / name) == expected
    big = gzip.compress(("a sentence of text.\n" * 20000).encode("utf-8"))
    for name, content in {"truncated.gz": big[: len(big) // 2], "corrupt.gz": big[:10] + b"\x00" * 40 + big[50:],
                          "plain_named.gz": b"not compressed\n"}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: corrupt or truncated gzip file"):
            read_documents(tmp_path / name)
    (tmp_path / "empty.txt.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(ValueError, match="empty.txt.gz is empty"):
        read_documents(tmp_path / "empty.txt.gz")


def test_read_documents_wikitext2(shared_data_dir):
    valid = shared_data_dir / "wikitext2" / "valid.txt"
    documents = read_documents(valid, "wikitext")
    assert len(documents) == 60  # one per " = Title = " heading of the validation split
    assert documents[0][0].startswith("Homarus gammarus , known as the European lobster")


# ----------------------------------------------------------------------------------------------------------------------
# create_nsp_examples
# ----------------------------------------------------------------------------------------------------------------------
def test_nsp_example_structure(examples):
    assert examples.column_names == ["input_ids", "token_type_ids", "special_tokens_mask", "next_sentence_label"]
    assert len(examples) > 1000
    for example in examples:
        ids, types, special = example["input_ids"], example["token_type_ids"], example["special_tokens_mask"]
        assert len(ids) == len(types) == len(special) <= 48
        a, b = split_pair(ids)
        assert len(a) >= 1 and len(b) >= 1
        assert ids.count(SEP) == 2 and ids.count(CLS) == 1 and PAD not in ids
        assert types == [0] * (len(a) + 2) + [1] * (len(b) + 1)  # [CLS] A [SEP] -> 0, B [SEP] -> 1
        assert special == [int(i in (CLS, SEP)) for i in ids]


def test_nsp_true_next_is_the_continuation_and_random_next_another_document(examples, tokenizer):
    counts = {0: 0, 1: 0}
    untruncated_true_next = 0
    for example in examples:
        a, b = (places(tokenizer, part) for part in split_pair(example["input_ids"]))
        # each segment is a contiguous run of one document (truncation only trims its ends)
        for segment in (a, b):
            assert len({d for d, _ in segment}) == 1
            assert [p for _, p in segment] == list(range(segment[0][1], segment[0][1] + len(segment)))
        label = example["next_sentence_label"]
        counts[label] += 1
        if label == 0:
            assert a[0][0] == b[0][0] and b[0][1] > a[-1][1]  # same document, B after A
            if len(example["input_ids"]) < 48:  # not truncated: B starts right where A ends
                assert b[0][1] == a[-1][1] + 1
                untruncated_true_next += 1
        else:
            assert a[0][0] != b[0][0]  # B comes from a different document
    assert counts[0] > 300 and counts[1] > 300 and untruncated_true_next > 50


def test_nsp_uses_every_sentence_once_per_pass(documents, tokenizer):
    """Sentences after A that a random B displaced are put back and start the next pair: no text is skipped."""
    examples = create_nsp_examples(documents, tokenizer, max_seq_length=48, seed=0)
    total = sum(len(sentence.split()) for document in documents for sentence in document)
    covered = set()
    for example in examples:
        a, b = (places(tokenizer, part) for part in split_pair(example["input_ids"]))
        covered.update(a)
        if example["next_sentence_label"] == 0:
            covered.update(b)
    # all but the tokens trimmed to fit (~7% here); without the put-back about 30% of the text is never used
    assert len(covered) / total > 0.88


def test_nsp_label_balance(documents, tokenizer, examples):
    # nsp_probability random next, up to the few one-sentence chunks at document ends that can only be random
    # (~2% more here; ~2000 examples, so 3 standard deviations of the share are ~0.03)
    labels = np.asarray(examples["next_sentence_label"])
    assert abs(labels.mean() - 0.5) < 0.05, labels.mean()
    for probability in (0.2, 0.0):
        other = create_nsp_examples(documents, tokenizer, max_seq_length=48, nsp_probability=probability, seed=1,
                                    dupe_factor=3)
        assert abs(np.mean(other["next_sentence_label"]) - probability) < 0.05, probability


def test_nsp_lengths_and_short_sequences(documents, tokenizer):
    full = create_nsp_examples(documents, tokenizer, max_seq_length=64, short_seq_prob=0.0, seed=0)
    lengths = np.array([len(ids) for ids in full["input_ids"]])
    assert lengths.max() == 64 and np.median(lengths) == 64  # packed up to the target length
    short = create_nsp_examples(documents, tokenizer, max_seq_length=64, short_seq_prob=1.0, seed=0)
    short_lengths = np.array([len(ids) for ids in short["input_ids"]])
    assert short_lengths.max() <= 64 and short_lengths.mean() < lengths.mean() - 10
    assert len(short) > len(full)


def test_nsp_is_seeded_and_dupe_factor_adds_passes(documents, tokenizer):
    first = create_nsp_examples(documents, tokenizer, max_seq_length=32, seed=3)
    assert create_nsp_examples(documents, tokenizer, max_seq_length=32, seed=3)["input_ids"] == first["input_ids"]
    assert create_nsp_examples(documents, tokenizer, max_seq_length=32, seed=4)["input_ids"] != first["input_ids"]
    twice = create_nsp_examples(documents, tokenizer, max_seq_length=32, seed=3, dupe_factor=2)
    assert 1.8 * len(first) < len(twice) < 2.2 * len(first)


def test_nsp_needs_two_documents_and_valid_arguments(documents, tokenizer):
    with pytest.raises(ValueError, match="at least 2 documents"):
        create_nsp_examples(documents[:1], tokenizer)
    with pytest.raises(ValueError, match="at least 2 documents"):
        create_nsp_examples([documents[0], ["   "]], tokenizer)
    with pytest.raises(ValueError, match="max_seq_length"):
        create_nsp_examples(documents, tokenizer, max_seq_length=4)
    with pytest.raises(ValueError, match="nsp_probability"):
        create_nsp_examples(documents, tokenizer, nsp_probability=1.5)


def test_mlm_examples_pack_whole_sentences_of_one_document(documents, tokenizer):
    """create_mlm_examples: "[CLS] s1 s2 ... [SEP]" segments of one document's consecutive sentences, every token once."""
    dataset = create_mlm_examples(documents, tokenizer, max_seq_length=40)
    seen = []
    for example in dataset:
        ids = example["input_ids"]
        assert ids[0] == CLS and ids[-1] == SEP and 3 <= len(ids) <= 40
        assert example["special_tokens_mask"] == [1] + [0] * (len(ids) - 2) + [1]
        where = places(tokenizer, ids[1:-1])
        assert len({d for d, _ in where}) == 1, "a segment crosses a document boundary"
        assert [p for _, p in where] == list(range(where[0][1], where[0][1] + len(where))), "not consecutive"
        seen.extend(where)
    expected = [(d, p) for d, document in enumerate(documents) for p in range(sum(len(s.split()) for s in document))]
    assert sorted(seen) == expected  # every token of every document, exactly once
    # sentences are not split between segments unless one is longer than a segment
    long_sentence = [["a " * 0 + " ".join(f"d0w{k}" for k in range(100))]]
    pieces = create_mlm_examples(long_sentence, tokenizer, max_seq_length=40)
    assert [len(ids) for ids in pieces["input_ids"]] == [40, 40, 26]
    with pytest.raises(ValueError, match="max_seq_length must leave room"):
        create_mlm_examples(documents, tokenizer, max_seq_length=2)


# ----------------------------------------------------------------------------------------------------------------------
# DataCollatorForBertPretraining
# ----------------------------------------------------------------------------------------------------------------------
PIECE_VOCAB = SPECIALS + ["the", "cat", "dog", "ran", "play", "##ing", "##ed", "un", "##believ", "##able", "##s",
                          "fast", "jump", "over", "a", "lazy", "quick", "brown", "fox", "##y"] + \
              [f"w{i}" for i in range(80)]


@pytest.fixture(scope="module")
def piece_tokenizer():
    return BertTokenizer(vocab={token: i for i, token in enumerate(PIECE_VOCAB)})


def random_pairs(num, seed=0, vocab_size=len(PIECE_VOCAB)):
    """[CLS] A [SEP] B [SEP] examples of random ordinary tokens and random lengths."""
    rng = random.Random(seed)
    examples = []
    for _ in range(num):
        a = [rng.randrange(5, vocab_size) for _ in range(rng.randint(1, 30))]
        b = [rng.randrange(5, vocab_size) for _ in range(rng.randint(1, 30))]
        ids = [CLS, *a, SEP, *b, SEP]
        examples.append({
            "input_ids": ids,
            "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
            "special_tokens_mask": [int(i in (CLS, SEP)) for i in ids],
            "next_sentence_label": rng.randint(0, 1),
        })
    return examples


def test_collator_pads_and_keeps_segments(piece_tokenizer):
    examples = random_pairs(5)
    batch = DataCollatorForBertPretraining(piece_tokenizer, seed=0, pad_to_multiple_of=8)(examples)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    lengths = [len(e["input_ids"]) for e in examples]
    assert batch["input_ids"].shape == (5, -(-max(lengths) // 8) * 8)
    assert all(t.dtype == torch.long for t in batch.values())
    for row, example in enumerate(examples):
        n = lengths[row]
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
        assert (batch["input_ids"][row, n:] == PAD).all() and (batch["labels"][row, n:] == IGNORE_INDEX).all()
        assert batch["token_type_ids"][row, :n].tolist() == example["token_type_ids"]
        assert (batch["token_type_ids"][row, n:] == 0).all()
    assert batch["next_sentence_label"].tolist() == [e["next_sentence_label"] for e in examples]


def test_collator_80_10_10_rule(piece_tokenizer):
    """15% of the ordinary tokens selected; of those 80% [MASK], 10% a random ordinary token, 10% unchanged."""
    examples = random_pairs(4000, seed=1)
    collator = DataCollatorForBertPretraining(piece_tokenizer, mlm_probability=0.15, seed=0)
    selected = candidates = masked = randomized = kept = 0
    for start in range(0, len(examples), 64):
        chunk = examples[start:start + 64]
        batch = collator(chunk)
        original = DataCollatorForBertPretraining(piece_tokenizer)._pad(chunk)["input_ids"]
        special = (original == CLS) | (original == SEP) | (original == PAD)
        chosen = batch["labels"] != IGNORE_INDEX
        assert not (chosen & special).any(), "a special or padding token was selected"
        assert torch.equal(batch["labels"][chosen], original[chosen])  # labels: the original token
        assert torch.equal(batch["input_ids"][~chosen], original[~chosen])  # nothing else changes
        # exactly round(15% of each sequence's ordinary tokens), at least one
        per_row = (~special).sum(1)
        assert torch.equal(chosen.sum(1), torch.round(per_row * 0.15).clamp(min=1).long())
        out = batch["input_ids"][chosen]
        selected += int(chosen.sum())
        candidates += int((~special).sum())
        masked += int((out == MASK).sum())
        kept += int((out == original[chosen]).sum())
        replaced = (out != MASK) & (out != original[chosen])
        randomized += int(replaced.sum())
        assert (out[replaced] >= 5).all(), "a random replacement drew a special token"
    assert abs(selected / candidates - 0.15) < 0.005
    # ~18,000 selected tokens: 3 standard deviations of a 10% share are ~0.007
    assert abs(masked / selected - 0.8) < 0.015
    assert abs(randomized / selected - 0.1 * (1 - 1 / 95)) < 0.015
    assert abs(kept / selected - 0.1 * (1 + 1 / 95)) < 0.015


def test_collator_random_tokens_cover_the_vocabulary(piece_tokenizer):
    collator = DataCollatorForBertPretraining(piece_tokenizer, mlm_probability=1.0, seed=0)
    collator.mask_replace_prob, collator.random_replace_prob = 0.0, 1.0  # every selected token replaced at random
    batch = collator([{"input_ids": [CLS] + [10] * 200 + [SEP]}] * 20)
    drawn = batch["input_ids"][:, 1:-1]
    assert drawn.min() >= 5 and len(drawn.unique()) > 90  # all 95 ordinary tokens, never a special one


def test_collator_mlm_only_examples_without_segments(piece_tokenizer):
    ids = piece_tokenizer(["the quick brown fox", "a lazy dog ran over the cat fast"])["input_ids"]
    batch = DataCollatorForBertPretraining(piece_tokenizer, seed=0)([{"input_ids": i} for i in ids])
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert (batch["token_type_ids"] == 0).all()
    # special tokens are found from their ids when the examples have no special_tokens_mask
    chosen = batch["labels"] != IGNORE_INDEX
    assert not chosen[:, 0].any() and chosen.sum(1).tolist() == [1, 1]
    assert not (chosen & (batch["attention_mask"] == 0)).any()


def test_collator_is_seeded(piece_tokenizer):
    examples = random_pairs(16, seed=2)
    first = DataCollatorForBertPretraining(piece_tokenizer, seed=7)(examples)
    again = DataCollatorForBertPretraining(piece_tokenizer, seed=7)(examples)
    other = DataCollatorForBertPretraining(piece_tokenizer, seed=8)(examples)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["labels"], other["labels"])


def words_of(tokens):
    """Group token positions into words: a token and the "##" pieces that follow it."""
    words = []
    for position, token in enumerate(tokens):
        if token.startswith("##") and words and tokens[position - 1] not in ("[CLS]", "[SEP]"):
            words[-1].append(position)
        elif token not in ("[CLS]", "[SEP]", "[PAD]"):
            words.append([position])
    return words


def test_whole_word_masking(piece_tokenizer):
    texts = ["the cat un ##believ ##able ##s play ##ing fast jump ##ed over a lazy dog ##s quick brown fox ##y"] * 3
    rng = random.Random(0)
    examples = []
    for _ in range(1500):
        words = texts[0].replace(" ##", "##").split()
        a, b = rng.sample(words, rng.randint(2, 8)), rng.sample(words, rng.randint(2, 8))
        tokens = ["[CLS]", *" ".join(a).replace("##", " ##").split(), "[SEP]", *" ".join(b).replace("##", " ##").split(), "[SEP]"]
        examples.append({"input_ids": piece_tokenizer.convert_tokens_to_ids(tokens)})
    collator = DataCollatorForBertPretraining(piece_tokenizer, whole_word_masking=True, seed=0)
    selected_tokens = candidate_tokens = 0
    fates = {"mask": 0, "other": 0}
    for start in range(0, len(examples), 50):
        chunk = examples[start:start + 50]
        batch = collator(chunk)
        for row, example in enumerate(chunk):
            tokens = piece_tokenizer.convert_ids_to_tokens(example["input_ids"])
            chosen = (batch["labels"][row] != IGNORE_INDEX).tolist()
            out = batch["input_ids"][row].tolist()
            assert not any(chosen[i] for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]"))
            for word in words_of(tokens):
                picks = {chosen[i] for i in word}
                assert len(picks) == 1, f"word {[tokens[i] for i in word]} partly selected"
                if chosen[word[0]]:
                    masks = {out[i] == MASK for i in word}
                    assert len(masks) == 1, "pieces of one word got different treatments"
                    fates["mask" if masks.pop() else "other"] += 1
            selected_tokens += sum(chosen)
            candidate_tokens += sum(t not in ("[CLS]", "[SEP]") for t in tokens)
            assert sum(chosen) >= 1
    # words are added while they fit the 15% budget (at least one word per sequence, even a long one)
    assert 0.14 < selected_tokens / candidate_tokens < 0.22
    assert abs(fates["mask"] / (fates["mask"] + fates["other"]) - 0.8) < 0.03


def test_collator_errors(piece_tokenizer):
    no_mask = BertTokenizer(vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])},
                            mask_token=None)
    with pytest.raises(ValueError, match="mask_token"):
        DataCollatorForBertPretraining(no_mask)
    collator = DataCollatorForBertPretraining(piece_tokenizer)
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match="example 1 .* no input_ids"):
        collator([{"input_ids": [CLS, 5, SEP]}, {"token_type_ids": [0, 0]}])
    with pytest.raises(ValueError, match="mlm_probability"):
        DataCollatorForBertPretraining(piece_tokenizer, mlm_probability=0.0)


def test_static_masking_of_an_evaluation_set(examples, tokenizer):
    collator = DataCollatorForBertPretraining(tokenizer, seed=0)
    subset = examples.select(range(300))
    masked = collator.mask_dataset(subset, seed=5)
    assert masked["labels"] == collator.mask_dataset(subset, seed=5)["labels"]  # reproducible
    assert masked["labels"] != collator.mask_dataset(subset, seed=6)["labels"]
    for original, row in zip(subset, masked):
        chosen = [label != IGNORE_INDEX for label in row["labels"]]
        assert len(row["labels"]) == len(original["input_ids"]) and any(chosen)
        assert [l for l, c in zip(row["labels"], chosen) if c] == [i for i, c in zip(original["input_ids"], chosen) if c]
    # the collator only pads a pre-masked example: same masks at every evaluation
    batch = collator([masked[i] for i in range(4)])
    assert batch["labels"][0, :len(masked[0]["labels"])].tolist() == masked[0]["labels"]
    assert batch["input_ids"][0, :len(masked[0]["input_ids"])].tolist() == masked[0]["input_ids"]


# ----------------------------------------------------------------------------------------------------------------------
# Through the model, and the metrics
# ----------------------------------------------------------------------------------------------------------------------
def test_examples_and_collator_feed_bert_for_pretraining(examples, tokenizer):
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    model = BertForPreTraining(config)
    batch = DataCollatorForBertPretraining(tokenizer, seed=0)([examples[i] for i in range(8)])
    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    model.eval()
    with torch.no_grad():
        outputs = model(**batch)
    assert outputs.prediction_logits.shape == (*batch["input_ids"].shape, len(tokenizer))


def test_metrics_match_a_direct_computation():
    torch.manual_seed(0)
    vocab, batches = 11, []
    for seq in (6, 9):  # batches of different lengths, concatenated with -100 padding as Trainer does
        logits = (torch.randn(4, seq, vocab), torch.randn(4, 2))
        labels = torch.full((4, seq), IGNORE_INDEX)
        labels[:, 1:4] = torch.randint(0, vocab, (4, 3))
        labels[0, 1] = logits[0][0, 1].argmax()  # at least one right answer
        nsp = torch.randint(0, 2, (4,))
        batches.append((logits, labels, nsp))
    preds = [preprocess_logits_for_metrics(lg, (lb, nsp)) for lg, lb, nsp in batches]
    assert preds[0][0].shape == (4, 6) and preds[0][2].shape == (4,)

    def pad(tensors):
        width = max(t.shape[1] for t in tensors)
        return np.concatenate([np.pad(t.numpy(), ((0, 0), (0, width - t.shape[1])), constant_values=-100) for t in tensors])

    prediction = EvalPrediction(
        predictions=(pad([p[0] for p in preds]), pad([p[1] for p in preds]),
                     np.concatenate([p[2].numpy() for p in preds]), np.concatenate([p[3].numpy() for p in preds])),
        label_ids=(pad([b[1] for b in batches]), np.concatenate([b[2].numpy() for b in batches])),
    )
    metrics = compute_pretraining_metrics(prediction)

    # a masked LM alone (BertForMaskedLM: one logits tensor, one labels tensor) gets the same MLM metrics, no NSP
    mlm_only = [preprocess_logits_for_metrics(lg[0], lb) for lg, lb, _ in batches]
    assert len(mlm_only[0]) == 2
    mlm_metrics = compute_pretraining_metrics(EvalPrediction(
        predictions=(pad([p[0] for p in mlm_only]), pad([p[1] for p in mlm_only])),
        label_ids=pad([b[1] for b in batches]),
    ))
    assert not any(key.startswith("nsp") for key in mlm_metrics)
    for key in ("mlm_loss", "mlm_accuracy", "mlm_perplexity", "num_masked_tokens"):
        assert mlm_metrics[key] == pytest.approx(metrics[key])

    all_logits = torch.cat([lg[0][lb != IGNORE_INDEX] for lg, lb, _ in batches])
    all_labels = torch.cat([lb[lb != IGNORE_INDEX] for _, lb, _ in batches])
    nsp_logits = torch.cat([lg[1] for lg, _, _ in batches])
    nsp_labels = torch.cat([nsp for _, _, nsp in batches])
    assert metrics["num_masked_tokens"] == 24
    assert metrics["mlm_loss"] == pytest.approx(torch.nn.functional.cross_entropy(all_logits, all_labels).item(), rel=1e-5)
    assert metrics["mlm_accuracy"] == pytest.approx((all_logits.argmax(-1) == all_labels).float().mean().item())
    assert metrics["mlm_perplexity"] == pytest.approx(np.exp(metrics["mlm_loss"]), rel=1e-5)
    assert metrics["nsp_loss"] == pytest.approx(torch.nn.functional.cross_entropy(nsp_logits, nsp_labels).item(), rel=1e-5)
    assert metrics["nsp_accuracy"] == pytest.approx((nsp_logits.argmax(-1) == nsp_labels).float().mean().item())


def test_tokenize_documents_ignores_truncation_and_padding_saved_in_the_tokenizer():
    """A tokenizer.json saved with truncation and padding (the shared T5 one cuts and pads every text to 256) must not
    cut or pad the pretraining sentences; the tokenizer itself keeps its settings."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from hf_models.pretraining.next_sentence import tokenize_documents

    words = "[PAD] the dog saw a cat and ran far away".split()
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[PAD]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.enable_truncation(max_length=3)
    backend.enable_padding(length=6, pad_id=0, pad_token="[PAD]")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]")
    documents = [["the dog saw a cat and ran far away", "a cat"], ["the dog ran"]]
    assert tokenize_documents(documents, tokenizer) == [[[1, 2, 3, 4, 5, 6, 7, 8, 9], [4, 5]], [[1, 2, 7]]]
    assert tokenizer.backend_tokenizer.truncation is not None and tokenizer.backend_tokenizer.padding is not None
