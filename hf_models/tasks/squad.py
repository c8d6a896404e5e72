"""Extractive question answering on SQuAD v1.1 and v2.0 (Rajpurkar et al. 2016, 2018), the BERT way (Devlin et al.
2019, section 4.2-4.3): the question and the context go in as one sequence pair, a head scores every token as the
start and as the end of the answer, and the answer is the best-scoring valid span of the context.

The pieces, in the order a run uses them (the same steps as transformers' examples/pytorch/question-answering
`run_qa.py` and `utils_qa.py`):

1. reading: `read_squad_file` reads the official nested json (v1.1 and v2.0) and the flat `squad` format of the
   Hugging Face hub (id, title, context, question, answers{text, answer_start}) as csv, json or jsonl, and checks every
   record (fields present, every answer span inside its context and equal to its text); `load_squad_datasets` adds the
   hub names (`--dataset_name squad` / `squad_v2`) for users who are online;
2. preprocessing: `prepare_train_features` / `prepare_validation_features` cut long contexts into overlapping windows
   (`doc_stride`) and map the answer's character span to token positions through the offset mapping;
3. post-processing: `postprocess_qa_predictions` turns start/end logits back into answer texts (n-best spans of at
   most `max_answer_length` tokens, the null answer for v2), `QAPredictions.save` writes the official files;
4. scoring: the local `squad` / `squad_v2` metrics (`hf_models/metrics/`), the official scripts' semantics;
5. `run_qa`: train, evaluate and predict with a `QuestionAnsweringTrainer`, resumable, results as JSON and a row in
   the results table; `evaluate_predictions_file` scores a predictions file like the official scripts.

`split_squad_by_titles` and `make_article_disjoint_split` build the project's article-disjoint split of SQuAD v1.1 dev.
"""

from __future__ import annotations

import ast
import collections
import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers import Trainer
from transformers.trainer_utils import PredictionOutput, speed_metrics

from ..cli_utils import (
    InputError,
    append_results_row,
    input_paths,
    json_safe,
    releases_output_dirs,
    write_json,
)
from ..file_utils import atomic_write, read_text
from ..trainer_utils import (
    InOrderEvaluationMixin,
    ModelArguments,
    RunArguments,
    SafeSavingMixin,
    detect_last_checkpoint,
    implementation_name,
    load_config,
    load_model,
    load_tokenizer,
    record_results,
    wait_for_everyone,
)

logger = logging.getLogger("hf_models.tasks.squad")

SQUAD_FILE_EXTENSIONS = ("json", "jsonl", "csv")
# The columns of a question, as in the hub's `squad` and `squad_v2` datasets
SQUAD_COLUMNS = ("id", "title", "context", "question", "answers")
# Columns that the evaluation features keep for post-processing and that the model does not take
POSTPROCESSING_COLUMNS = ("example_id", "offset_mapping")
# --metric: how answers are scored (the local metric modules of the official scripts, hf_models/metrics/)
QA_METRICS = ("squad", "korquad")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class DataArguments:
    """Which SQuAD data to train, evaluate and predict on, and how to cut it into features and answers."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub dataset to load with datasets.load_dataset (online only), e.g. 'squad' or 'squad_v2'. "
                          "Local files given with --train_file/--validation_file/--test_file replace its splits."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of the hub dataset."})
    train_file: str | None = field(
        default=None,
        metadata={"help": "Training data: official SQuAD json (v1.1 or v2.0), or the flat hub format (id, title, "
                          "context, question, answers{text, answer_start}) as .json, .jsonl or .csv."},
    )
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data (--do_eval), same formats."})
    test_file: str | None = field(
        default=None, metadata={"help": "Prediction data (--do_predict), same formats; answers are optional."}
    )
    version_2_with_negative: bool = field(
        default=False,
        metadata={"help": "SQuAD 2.0: some questions have no answer; the model learns to point at [CLS] for them, "
                          "post-processing may predict no answer, and the squad_v2 metric scores the run."},
    )
    max_seq_length: int = field(
        default=384,
        metadata={"help": "Tokens per feature (question + context window + special tokens); longer contexts are "
                          "split into several features. Capped at the tokenizer's model_max_length."},
    )
    doc_stride: int | None = field(
        default=None,
        metadata={"help": "Tokens shared by two consecutive windows of a long context (default 128, or half of "
                          "--max_seq_length when that is shorter). Extractive models only: an encoder-decoder (T5) "
                          "reads one window, truncated."},
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={"help": "Pad every feature to max_seq_length (default: pad each batch to its longest feature)."},
    )
    n_best_size: int = field(
        default=20, metadata={"help": "Start and end candidates per feature, and answers kept in the n-best file."}
    )
    max_query_length: int | None = field(
        default=None,
        metadata={"help": "Longest question, in tokens: a longer question is truncated to this many tokens (BERT's "
                          "run_squad.py truncates to 64), and the run logs how many were. Default: no limit of its "
                          "own, as transformers' run_qa.py; only a question too long to leave more than --doc_stride "
                          "tokens of the window to its context is truncated, to the longest that does."},
    )
    max_answer_length: int = field(default=30, metadata={"help": "Longest answer, in tokens."})
    null_score_diff_threshold: float = field(
        default=0.0,
        metadata={"help": "SQuAD 2.0: predict no answer when null score - best span score is above this value."},
    )
    metric: str = field(
        default="squad",
        metadata={"help": "How answers are scored: 'squad' (the official SQuAD v1.1 script: word-level F1; with "
                          "--version_2_with_negative the v2.0 script) or 'korquad' (the official KorQuAD 1.0 script: "
                          "character-level F1, its normalisation of quotes and brackets; for Korean, where a "
                          "particle attached to the answer must not make it score 0).",
                  "choices": list(QA_METRICS)},
    )

    def __post_init__(self):
        if self.dataset_name is None and not (self.train_file or self.validation_file or self.test_file):
            raise ValueError("give --dataset_name (hub) or at least one of --train_file, --validation_file, "
                             "--test_file")
        for flag, path in self.files().items():
            name = os.path.basename(path).lower().removesuffix(".gz")  # a .gz file is read decompressed
            extension = name.rsplit(".", 1)[-1] if "." in name else ""
            if extension not in SQUAD_FILE_EXTENSIONS:
                raise ValueError(f"--{flag} {path}: expected a .json, .jsonl or .csv file, got {extension or 'no'} "
                                 "extension")
        self.doc_stride_given = self.doc_stride is not None  # a text-to-text run says it ignores a given stride
        if self.doc_stride is None:
            self.doc_stride = min(128, self.max_seq_length // 2)
        if self.doc_stride < 0 or self.max_seq_length <= 0 or self.doc_stride >= self.max_seq_length:
            raise ValueError(f"need 0 <= --doc_stride < --max_seq_length, got doc_stride {self.doc_stride} and "
                             f"max_seq_length {self.max_seq_length}")
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ValueError("--n_best_size and --max_answer_length must be at least 1")
        if self.max_query_length is not None and self.max_query_length < 1:
            raise ValueError(f"--max_query_length must be at least 1, got {self.max_query_length}")
        metric_name(self.version_2_with_negative, self.metric)  # an unknown metric, or korquad with SQuAD 2.0

    def files(self) -> dict[str, str]:
        """{flag: path} of the local files given."""
        named = {"train_file": self.train_file, "validation_file": self.validation_file, "test_file": self.test_file}
        return {flag: path for flag, path in named.items() if path}


# ----------------------------------------------------------------------------------------------------------------------
# Reading and checking SQuAD files
# ----------------------------------------------------------------------------------------------------------------------
class SquadFormatError(InputError):
    """A SQuAD file that cannot be read as it is: the message names the file, the record and the problem."""


def _format_name(path: str) -> str:
    """The file name, lower case, past a .gz (whose format is that of the name before it)."""
    return os.path.basename(path).lower().removesuffix(".gz")


def squad_features(with_answers: bool = True):
    """The `datasets.Features` of a question: the columns of the hub's `squad` dataset."""
    import datasets

    features = {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
    }
    if with_answers:
        features["answers"] = datasets.Sequence(
            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
        )
    return datasets.Features(features)


def _normalise_answers(answers: Any, where: str) -> dict[str, list]:
    """`answers` as {"text": [...], "answer_start": [...]}, from that form or the official [{text, answer_start}]."""
    if isinstance(answers, list):  # the official nested form: [{"text": ..., "answer_start": ...}, ...]
        texts, starts = [], []
        for i, answer in enumerate(answers):
            if not isinstance(answer, Mapping) or "text" not in answer or "answer_start" not in answer:
                raise SquadFormatError(f"{where}: answer {i} needs the fields 'text' and 'answer_start', got "
                                       f"{answer!r}")
            texts.append(answer["text"])
            starts.append(answer["answer_start"])
        return {"text": texts, "answer_start": starts}
    if isinstance(answers, Mapping):
        for key in ("text", "answer_start"):
            if key not in answers:
                raise SquadFormatError(f"{where}: 'answers' has no field {key!r} (expected {{'text': [...], "
                                       f"'answer_start': [...]}})")
            if not isinstance(answers[key], list):
                raise SquadFormatError(f"{where}: answers[{key!r}] must be a list, got {answers[key]!r}")
        if len(answers["text"]) != len(answers["answer_start"]):
            raise SquadFormatError(f"{where}: answers has {len(answers['text'])} texts but "
                                   f"{len(answers['answer_start'])} answer_start values")
        return {"text": list(answers["text"]), "answer_start": list(answers["answer_start"])}
    raise SquadFormatError(f"{where}: 'answers' must be {{'text': [...], 'answer_start': [...]}} or a list of "
                           f"{{'text', 'answer_start'}}, got {answers!r}")


def check_answers(context: str, answers: dict[str, list], where: str) -> None:
    """Every answer is a non-empty text found in `context` at its answer_start: context[start:start+len] == text."""
    for i, (text, start) in enumerate(zip(answers["text"], answers["answer_start"])):
        label = f"{where}: answer {i}"
        if not isinstance(text, str) or not text:
            raise SquadFormatError(f"{label}: the text must be a non-empty string, got {text!r}")
        if isinstance(start, bool) or not isinstance(start, int):
            raise SquadFormatError(f"{label} ({text!r}): answer_start must be an integer, got {start!r}")
        end = start + len(text)
        if start < 0 or end > len(context):
            raise SquadFormatError(f"{label} ({text!r}): the span [{start}, {end}) lies outside the context "
                                   f"({len(context)} characters)")
        if context[start:end] != text:
            raise SquadFormatError(f"{label}: the text {text!r} does not match the context at answer_start {start} "
                                   f"({context[start:end]!r})")


def _check_record(record: Any, where: str, answers_required: bool) -> dict[str, Any]:
    """One flat question checked and normalised: id, title, context, question (strings) and answers."""
    if not isinstance(record, Mapping):
        raise SquadFormatError(f"{where}: expected an object with the fields {', '.join(SQUAD_COLUMNS)}, "
                               f"got {type(record).__name__}")
    qid = record.get("id")
    if isinstance(qid, (str, int)) and not isinstance(qid, bool) and str(qid) != "":
        where = f"{where} (question id {str(qid)!r})"
    elif qid is not None:
        raise SquadFormatError(f"{where}: the id must be a non-empty string, got {qid!r}")
    required = ("id", "context", "question") + (("answers",) if answers_required else ())
    missing = [key for key in required if key not in record or record[key] is None]
    if missing:
        raise SquadFormatError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    out = {"id": str(qid), "title": record.get("title") or ""}
    for key in ("context", "question"):
        if not isinstance(record[key], str) or not record[key].strip():
            raise SquadFormatError(f"{where}: {key!r} must be a non-empty string, got {record[key]!r}")
        out[key] = record[key]
    if not isinstance(out["title"], str):
        raise SquadFormatError(f"{where}: 'title' must be a string, got {out['title']!r}")
    if "answers" in record and record["answers"] is not None:
        out["answers"] = _normalise_answers(record["answers"], where)
        check_answers(out["context"], out["answers"], where)
    return out


def _read_official(data: dict, path: str, answers_required: bool) -> list[dict[str, Any]]:
    """The questions of an official SQuAD file (data -> articles -> paragraphs -> qas), flattened and checked."""
    records = []
    if not isinstance(data["data"], list):
        raise SquadFormatError(f"{path}: 'data' must be a list of articles")
    # The version decides what an empty answers list means: SQuAD 2.0 marks its unanswerable questions (is_impossible,
    # "version": "v2.0"); in a v1.1 file every question has an answer, and an empty list is a broken record, not a
    # reason to score the whole file as v2.0.
    version = str(data.get("version", "")).strip().lower().lstrip("v")
    declared_v1, declared_v2 = version.split(".")[0] == "1", version.split(".")[0] == "2"
    no_answer_where: tuple[str, str] | None = None  # the first question with an empty answers list
    any_is_impossible = False
    for a, article in enumerate(data["data"]):
        if not isinstance(article, Mapping):
            raise SquadFormatError(f"{path}: article {a}: expected an object with 'title' and 'paragraphs'")
        title = article.get("title")
        article_where = f"{path}: article {a} ({title!r})" if title is not None else f"{path}: article {a}"
        for key in ("title", "paragraphs"):
            if key not in article:
                raise SquadFormatError(f"{article_where}: missing field {key}")
        if not isinstance(article["paragraphs"], list):
            raise SquadFormatError(f"{article_where}: 'paragraphs' must be a list")
        for p, paragraph in enumerate(article["paragraphs"]):
            paragraph_where = f"{article_where}, paragraph {p}"
            if not isinstance(paragraph, Mapping):
                raise SquadFormatError(f"{paragraph_where}: expected an object with 'context' and 'qas'")
            for key in ("context", "qas"):
                if key not in paragraph:
                    raise SquadFormatError(f"{paragraph_where}: missing field {key}")
            if not isinstance(paragraph["qas"], list):
                raise SquadFormatError(f"{paragraph_where}: 'qas' must be a list")
            for q, qa in enumerate(paragraph["qas"]):
                where = f"{paragraph_where}, question {q}"
                if not isinstance(qa, Mapping):
                    raise SquadFormatError(f"{where}: expected an object with 'id', 'question' and 'answers'")
                record = _check_record(
                    {"title": title, "context": paragraph["context"], **qa}, where, answers_required
                )
                impossible = qa.get("is_impossible")
                any_is_impossible = any_is_impossible or impossible is not None
                if "answers" in record and not record["answers"]["text"]:
                    if declared_v1:
                        raise SquadFormatError(
                            f"{where} (question id {record['id']!r}): the file says SQuAD version "
                            f"{data['version']!r}, where every question has an answer, but this one has an empty "
                            "answers list; give its answer, or mark the file as SQuAD 2.0 (\"version\": \"v2.0\", "
                            "\"is_impossible\": true) if the question is meant to be unanswerable")
                    if no_answer_where is None:
                        no_answer_where = (where, record["id"])
                if impossible is not None and "answers" in record:
                    # SQuAD 2.0 marks unanswerable questions; their answers list is empty (see plausible_answers)
                    if impossible and record["answers"]["text"]:
                        raise SquadFormatError(f"{where} (question id {record['id']!r}): is_impossible is true but "
                                               "the question has answers")
                    if not impossible and not record["answers"]["text"]:
                        raise SquadFormatError(f"{where} (question id {record['id']!r}): is_impossible is false but "
                                               "the question has no answer")
                records.append(record)
    if no_answer_where is not None and not declared_v2 and not any_is_impossible:
        where, qid = no_answer_where
        raise SquadFormatError(
            f"{where} (question id {qid!r}): empty answers list in a file that is not SQuAD 2.0 (version "
            f"{data.get('version')!r}, no is_impossible fields); give its answer, or mark the file as SQuAD 2.0 "
            "(\"version\": \"v2.0\", \"is_impossible\": true) if the question is meant to be unanswerable")
    return records


def _parse_csv_answers(row: dict[str, str], where: str) -> Any:
    """A csv row's answers: an 'answers' cell (JSON or Python literal), or 'answers.text' + 'answers.answer_start'."""

    def parse(cell: str, column: str) -> Any:
        for loads in (json.loads, ast.literal_eval):
            try:
                return loads(cell)
            except (ValueError, SyntaxError):
                continue
        raise SquadFormatError(f"{where}: column {column!r} must hold JSON like {{\"text\": [\"...\"], "
                               f"\"answer_start\": [0]}}, got {cell[:80]!r} (write it with json.dumps)")

    if row.get("answers") not in (None, ""):
        return parse(row["answers"], "answers")
    if row.get("answers.text") not in (None, "") or row.get("answers.answer_start") not in (None, ""):
        return {"text": parse(row.get("answers.text") or "[]", "answers.text"),
                "answer_start": parse(row.get("answers.answer_start") or "[]", "answers.answer_start")}
    return None


def _read_flat_records(path: str, answers_required: bool, text: str | None = None) -> list[dict[str, Any]]:
    """The questions of a flat file (hub `squad` columns) as checked records: csv, jsonl, or a json list/`data` list.
    `text`: the file's text when the caller has read it already."""
    records = []
    if text is None:
        text = read_text(path, error=SquadFormatError)
    if _format_name(path).endswith(".csv"):
        with io.StringIO(text, newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            needed = ["id", "context", "question"]
            missing = [c for c in needed if c not in columns]
            has_answers = "answers" in columns or "answers.text" in columns
            if answers_required and not has_answers:
                missing.append("answers")
            if missing:
                raise SquadFormatError(f"{path}: line 1: the header lacks the column{'s' if len(missing) > 1 else ''} "
                                       f"{', '.join(missing)} (found: {', '.join(columns)})")
            line = 2  # the first record starts on the line after the header
            for row in reader:
                where = f"{path}: line {line}"
                if None in row:
                    raise SquadFormatError(f"{where}: more cells than the header has columns")
                record = {k: v for k, v in row.items() if not k.startswith("answers")}
                if has_answers:
                    record["answers"] = _parse_csv_answers(row, where)
                records.append(_check_record(record, where, answers_required))
                line = reader.line_num + 1  # a quoted cell may span several lines
        return records

    as_lines = _format_name(path).endswith(".jsonl")
    if not as_lines:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":  # several JSON values: JSON lines (what Dataset.to_json writes)
                raise SquadFormatError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
            as_lines = True
    if as_lines:
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SquadFormatError(f"{path}: line {line_number}: not valid JSON ({e.msg})") from None
            records.append(_check_record(record, f"{path}: line {line_number}", answers_required))
        return records
    rows = data["data"] if isinstance(data, Mapping) and isinstance(data.get("data"), list) else data
    if not isinstance(rows, list):
        raise SquadFormatError(f"{path}: expected the official SQuAD format ({{'data': [articles]}}), a list of "
                               f"questions, or JSON lines")
    for i, record in enumerate(rows):
        records.append(_check_record(record, f"{path}: record {i}", answers_required))
    return records


def read_squad_file(path: str | os.PathLike, answers_required: bool = True):
    """A SQuAD file as a `datasets.Dataset` with the hub columns id, title, context, question, answers.

    Reads the official nested json of SQuAD v1.1 and v2.0 ({"version", "data": [articles]}) and the flat format of
    the hub's `squad` dataset as .json (a list, {"data": [...]}, or JSON lines), .jsonl or .csv (answers as a JSON
    cell). Every record is checked: the fields are there, ids are unique, and every answer's text is
    context[answer_start : answer_start + len(text)]; otherwise a `SquadFormatError` names the file, the record
    (article and question id, or line) and the problem. With `answers_required=False` (prediction data) a file may
    have no answers at all; the dataset then has no `answers` column.
    """
    import datasets

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SQuAD file not found: {path}")
    records = None
    text = read_text(path, error=SquadFormatError)
    if _format_name(path).endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # perhaps JSON lines: the flat reader says
        is_official = (
            isinstance(data, Mapping)
            and isinstance(data.get("data"), list)
            and any(isinstance(article, Mapping) and "paragraphs" in article for article in data["data"][:1])
        )
        if is_official:
            records = _read_official(data, path, answers_required)
    if records is None:
        records = _read_flat_records(path, answers_required, text)
    if not records:
        raise SquadFormatError(f"{path}: no examples (no questions found)")

    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        if record["id"] in seen:
            raise SquadFormatError(f"{path}: question id {record['id']!r} appears twice (questions "
                                   f"{seen[record['id']]} and {i}); post-processing and scoring go by id")
        seen[record["id"]] = i
    with_answers = ["answers" in record for record in records]
    if any(with_answers) and not all(with_answers):
        first = records[with_answers.index(False)]["id"]
        raise SquadFormatError(f"{path}: question id {first!r} has no answers field while others have one; give "
                               "answers for every question (an empty list for an unanswerable one) or for none")
    columns = {c: [record[c] for record in records] for c in SQUAD_COLUMNS if c in records[0]}
    return datasets.Dataset.from_dict(columns, features=squad_features(with_answers=all(with_answers)))


def unanswerable_ids(dataset) -> list[str]:
    """Ids of the questions without a gold answer (SQuAD 2.0's unanswerable questions)."""
    if "answers" not in dataset.column_names:
        return []
    return [qid for qid, answers in zip(dataset["id"], dataset["answers"]) if len(answers["text"]) == 0]


def load_squad_datasets(data_args: DataArguments, model_args: ModelArguments | None = None,
                        splits: Iterable[str] = ("train", "validation", "test")) -> dict[str, Any]:
    """{split: (Dataset, source)} for the requested splits: the hub dataset's, local files in their place if given.

    `source` names the file or the hub dataset, for messages. A local file is read and checked by `read_squad_file`
    (the test split's answers are optional); the hub's `squad`/`squad_v2` splits are taken as published.
    """
    import datasets

    splits = list(splits)
    out: dict[str, Any] = {}
    if data_args.dataset_name is not None:
        hub = datasets.load_dataset(
            data_args.dataset_name,
            data_args.dataset_config_name,
            cache_dir=model_args.cache_dir if model_args else None,
            token=model_args.token if model_args else None,
        )
        for split in splits:
            if split in hub:
                source = f"{data_args.dataset_name} ({split})"
                dataset = hub[split]
                missing = [c for c in ("id", "context", "question") if c not in dataset.column_names]
                if missing:
                    raise ValueError(f"{source}: no column {', '.join(missing)}; expected the columns of the hub's "
                                     "squad dataset (id, title, context, question, answers)")
                out[split] = (dataset, source)
    for split, path in (("train", data_args.train_file), ("validation", data_args.validation_file),
                        ("test", data_args.test_file)):
        if split in splits and path:
            out[split] = (read_squad_file(path, answers_required=split != "test"), path)
    for split in splits:
        if split not in out:
            flag = {"train": "--train_file", "validation": "--validation_file", "test": "--test_file"}[split]
            where = f"the hub dataset {data_args.dataset_name} has no {split} split" if data_args.dataset_name else ""
            raise ValueError(f"no {split} data: give {flag}" + (f" ({where})" if where else ""))
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Writing and splitting official files
# ----------------------------------------------------------------------------------------------------------------------
def read_squad_articles(path: str | os.PathLike) -> dict[str, Any]:
    """The official SQuAD json ({"version", "data": [articles]}), checked record by record (see `read_squad_file`)."""
    path = os.fspath(path)
    read_squad_file(path)  # raises with file/article/question/problem when malformed
    data = json.loads(read_text(path, error=SquadFormatError))
    if not (isinstance(data, Mapping) and isinstance(data.get("data"), list)
            and all(isinstance(a, Mapping) and "paragraphs" in a for a in data["data"])):
        raise SquadFormatError(f"{path}: not the official SQuAD format ({{'version', 'data': [articles with "
                               "paragraphs]}})")
    return data


def write_squad_json(articles: list[dict[str, Any]], path: str | os.PathLike, version: str = "1.1") -> Path:
    """Write articles in the official SQuAD json format: {"version": ..., "data": [articles]}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:  # whole or not at all
        f.write(json.dumps({"version": version, "data": articles}, ensure_ascii=False) + "\n")
    return path


def count_questions(articles: Iterable[Mapping[str, Any]]) -> int:
    """The number of questions in a list of official-format articles."""
    return sum(len(paragraph["qas"]) for article in articles for paragraph in article["paragraphs"])


def split_squad_by_titles(path: str | os.PathLike, titles: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The official file at `path` split by article: (articles whose title is in `titles`, the other articles).

    Both halves keep the file's version and article order. Every title must be in the file (a title that is not
    there means the two sources do not match).
    """
    data = read_squad_articles(path)
    titles = set(titles)
    present = {article["title"] for article in data["data"]}
    absent = sorted(titles - present)
    if absent:
        raise ValueError(f"{os.fspath(path)}: {len(absent)} of the {len(titles)} titles are not articles of this file: "
                         f"{', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''}")
    version = data.get("version", "1.1")
    selected = [article for article in data["data"] if article["title"] in titles]
    rest = [article for article in data["data"] if article["title"] not in titles]
    return {"version": version, "data": selected}, {"version": version, "data": rest}


def make_article_disjoint_split(v11_file: str | os.PathLike, v2_file: str | os.PathLike,
                                output_dir: str | os.PathLike) -> dict[str, Any]:
    """The project's article-disjoint split of SQuAD v1.1 dev, in official format, with a summary (split.json).

    train.json: the questions of the v1.1 dev articles whose titles are also articles of v2.0 dev (35 of 48);
    validation.json: the questions of the other articles (13, 4557 questions). No article is in both.
    """
    v2_titles = [article["title"] for article in read_squad_articles(v2_file)["data"]]
    train, validation = split_squad_by_titles(v11_file, v2_titles)
    output_dir = Path(output_dir)
    summary = {
        "source": os.fspath(v11_file),
        "titles_from": os.fspath(v2_file),
        "train": {
            "file": str(write_squad_json(train["data"], output_dir / "train.json", train["version"])),
            "articles": len(train["data"]),
            "questions": count_questions(train["data"]),
            "titles": [article["title"] for article in train["data"]],
        },
        "validation": {
            "file": str(write_squad_json(validation["data"], output_dir / "validation.json", validation["version"])),
            "articles": len(validation["data"]),
            "questions": count_questions(validation["data"]),
            "titles": [article["title"] for article in validation["data"]],
        },
    }
    write_json(output_dir / "split.json", summary)
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# Preprocessing: question + context windows, answer spans as token positions
# ----------------------------------------------------------------------------------------------------------------------
def _check_question_lengths(ids: list[str], questions: list[str], tokenizer, max_seq_length: int,
                            doc_stride: int, max_query_length: int | None = None) -> None:
    """Each question leaves more than doc_stride tokens of the window to its context (else windows cannot slide)."""
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for qid, question_ids in zip(ids, tokenizer(questions, add_special_tokens=False)["input_ids"]):
        room = max_seq_length - special - len(question_ids)
        if room <= doc_stride:
            truncated = f" (with --max_query_length {max_query_length})" if max_query_length else ""
            raise ValueError(
                f"question id {qid!r} is {len(question_ids)} tokens long{truncated}: with --max_seq_length "
                f"{max_seq_length} that leaves {room} tokens of each window for the context, which must be more "
                f"than --doc_stride {doc_stride}; raise --max_seq_length, lower --doc_stride or set "
                f"--max_query_length to at most {max_seq_length - special - doc_stride - 1}"
            )


def question_room(tokenizer, max_seq_length: int, doc_stride: int) -> int:
    """The most question tokens that leave more than doc_stride tokens of a window to the context (the limit a
    question is truncated to when --max_query_length is not given)."""
    return max_seq_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride - 1


def truncate_questions(questions: list[str], tokenizer, max_query_length: int) -> tuple[list[str], list[int]]:
    """The questions cut to their first max_query_length tokens (BERT's run_squad.py: `query_tokens[0:
    max_query_length]`), and the indices of those that were cut.

    A question is cut as text, at the end of its max_query_length-th token (offset mapping), so that the tokenizer
    still sees a question + context pair. The question part then has exactly max_query_length tokens, unless that
    token ends inside a character (an uncased BERT splits a Hangul syllable into 2-3 jamo tokens, each mapped to the
    whole syllable) or the shorter text tokenizes differently (a BPE merge across the cut): then the cut moves back a
    token at a time until the text has at most max_query_length tokens.
    """
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out, cut = list(questions), []
    for i, (question, ids, offsets) in enumerate(zip(questions, encoded["input_ids"], encoded["offset_mapping"])):
        if len(ids) <= max_query_length:
            continue
        keep = max_query_length
        text = question[:offsets[keep - 1][1]]
        while keep > 1 and len(tokenizer(text, add_special_tokens=False)["input_ids"]) > max_query_length:
            end = offsets[keep - 1][1]
            while keep > 1 and offsets[keep - 1][1] >= end:  # back to a token that ends before the cut
                keep -= 1
            text = question[:offsets[keep - 1][1]]
        out[i] = text
        cut.append(i)
    return out, cut


def _tokenize_pairs(examples: Mapping[str, list], tokenizer, max_seq_length: int, doc_stride: int,
                    pad_to_max_length: bool, max_query_length: int | None = None):
    """Question + context pairs, the context cut into windows of max_seq_length tokens overlapping by doc_stride;
    questions longer than max_query_length tokens cut to that many (None: kept whole)."""
    pad_on_right = tokenizer.padding_side == "right"  # question first, unless the model pads on the left (XLNet)
    questions = [q.lstrip() for q in examples["question"]]  # leading spaces only waste tokens
    if max_query_length is not None:
        questions, _ = truncate_questions(questions, tokenizer, max_query_length)
    _check_question_lengths(examples["id"], questions, tokenizer, max_seq_length, doc_stride, max_query_length)
    return tokenizer(
        questions if pad_on_right else examples["context"],
        examples["context"] if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",  # only the context is ever cut
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,  # one feature per window
        return_offsets_mapping=True,  # token -> (char_start, char_end) in its own text
        padding="max_length" if pad_to_max_length else False,
    ), (1 if pad_on_right else 0)


def prepare_train_features(examples: Mapping[str, list], tokenizer, max_seq_length: int = 384, doc_stride: int = 128,
                           pad_to_max_length: bool = False, max_query_length: int | None = None) -> dict[str, list]:
    """Training features: question+context windows labelled with the answer's start and end token positions.

    A batch of questions (`datasets.map(batched=True)`) becomes one feature per window. The answer's character span
    [answer_start, answer_start + len(text)) is mapped to the first and last tokens that cover it through the offset
    mapping; a window that does not contain the whole answer, and an unanswerable question, are labelled with the
    [CLS] position (as transformers' run_qa.py `prepare_train_features`). Only the first answer is used. A question
    longer than `max_query_length` tokens is truncated to that many (None: kept whole; one that leaves no more than
    doc_stride tokens to the context is an error).
    """
    tokenized, context_index = _tokenize_pairs(examples, tokenizer, max_seq_length, doc_stride, pad_to_max_length,
                                               max_query_length)
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")  # feature -> the question it comes from
    offset_mapping = tokenized.pop("offset_mapping")  # feature -> [(char_start, char_end)] per token
    tokenized["start_positions"] = []
    tokenized["end_positions"] = []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:  # "no answer" points at [CLS]
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id is not None and tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        sequence_ids = tokenized.sequence_ids(i)  # per token: 0 question, 1 context, None special/padding
        answers = examples["answers"][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:  # unanswerable (SQuAD 2.0)
            tokenized["start_positions"].append(cls_index)
            tokenized["end_positions"].append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        # the window's context tokens: [token_start_index, token_end_index]
        token_start_index = 0
        while sequence_ids[token_start_index] != context_index:
            token_start_index += 1
        token_end_index = len(input_ids) - 1
        while sequence_ids[token_end_index] != context_index:
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            tokenized["start_positions"].append(cls_index)  # the answer is not (wholly) in this window
            tokenized["end_positions"].append(cls_index)
            continue
        # first token that starts after start_char, minus one: the token holding the answer's first character
        while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
            token_start_index += 1
        tokenized["start_positions"].append(token_start_index - 1)
        # last token that ends before end_char, plus one: the token holding the answer's last character
        while offsets[token_end_index][1] >= end_char:
            token_end_index -= 1
        tokenized["end_positions"].append(token_end_index + 1)
    return tokenized


def prepare_validation_features(examples: Mapping[str, list], tokenizer, max_seq_length: int = 384,
                                doc_stride: int = 128, pad_to_max_length: bool = False,
                                max_query_length: int | None = None) -> dict[str, list]:
    """Evaluation features: the same windows, each with its question id and the offsets of its context tokens.

    `example_id` maps a feature back to its question; `offset_mapping` keeps (char_start, char_end) for context
    tokens and None for question, special and padding tokens, so post-processing only ever picks context spans (as
    transformers' run_qa.py `prepare_validation_features`). Questions are truncated as in `prepare_train_features`.
    """
    tokenized, context_index = _tokenize_pairs(examples, tokenizer, max_seq_length, doc_stride, pad_to_max_length,
                                               max_query_length)
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    tokenized["example_id"] = []
    for i in range(len(tokenized["input_ids"])):
        sequence_ids = tokenized.sequence_ids(i)
        tokenized["example_id"].append(examples["id"][sample_mapping[i]])
        tokenized["offset_mapping"][i] = [
            (offset if sequence_ids[k] == context_index else None)
            for k, offset in enumerate(tokenized["offset_mapping"][i])
        ]
    return tokenized


# ----------------------------------------------------------------------------------------------------------------------
# Post-processing: start/end logits -> answer texts
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class QAPredictions:
    """The answers of a post-processed run, in the official formats."""

    predictions: dict[str, str]  # question id -> answer text ("" = no answer, SQuAD 2.0)
    nbest: dict[str, list[dict[str, Any]]]  # question id -> best spans: text, probability, start_logit, end_logit
    null_odds: dict[str, float] | None = None  # SQuAD 2.0: question id -> null score - best span score

    def save(self, output_dir: str | os.PathLike, prefix: str | None = None) -> list[Path]:
        """Write predictions.json, nbest_predictions.json and (SQuAD 2.0) null_odds.json, names prefixed PREFIX_."""
        output_dir = Path(output_dir)
        names = {"predictions": self.predictions, "nbest_predictions": self.nbest}
        if self.null_odds is not None:
            names["null_odds"] = self.null_odds
        paths = []
        for name, obj in names.items():
            path = output_dir / (f"{prefix}_{name}.json" if prefix else f"{name}.json")
            write_json(path, obj)
            paths.append(path)
        logger.info(f"Saved {', '.join(p.name for p in paths)} to {output_dir}")
        return paths


def postprocess_qa_predictions(examples, features, predictions: tuple[np.ndarray, np.ndarray],
                               version_2_with_negative: bool = False, n_best_size: int = 20,
                               max_answer_length: int = 30, null_score_diff_threshold: float = 0.0) -> QAPredictions:
    """Answer texts from start/end logits: the best span over a question's windows (transformers' utils_qa).

    For every window, the `n_best_size` highest start and end logits form candidate spans (start <= end, at most
    `max_answer_length` tokens, both inside the context), scored start_logit + end_logit; the n best over the
    question's windows are kept with their softmax probabilities. SQuAD 2.0 adds the null answer ([CLS], scored by
    its lowest start+end over the windows): the question gets "" when null score - best span score is above
    `null_score_diff_threshold`, and that difference goes to `null_odds`.

    `examples` needs the columns id and context; `features` example_id and offset_mapping (from
    `prepare_validation_features`); `predictions` is (start_logits, end_logits), each (num_features, seq_len).
    """
    if len(predictions) != 2:
        raise ValueError(f"predictions must be (start_logits, end_logits), got {len(predictions)} arrays")
    all_start_logits, all_end_logits = predictions
    if len(all_start_logits) != len(features) or len(all_end_logits) != len(features):
        raise ValueError(f"got logits for {len(all_start_logits)} features, but there are {len(features)} features")
    feature_example_ids = features["example_id"]
    feature_offsets = features["offset_mapping"]
    features_per_example = collections.defaultdict(list)  # question id -> its feature indices, in order
    for i, example_id in enumerate(feature_example_ids):
        features_per_example[example_id].append(i)

    all_predictions: dict[str, str] = {}
    all_nbest: dict[str, list[dict[str, Any]]] = {}
    null_odds: dict[str, float] | None = {} if version_2_with_negative else None
    for example_id, context in zip(examples["id"], examples["context"]):
        min_null_prediction = None
        candidates = []
        for feature_index in features_per_example.get(example_id, []):
            start_logits = all_start_logits[feature_index]  # (seq_len,)
            end_logits = all_end_logits[feature_index]  # (seq_len,)
            offsets = feature_offsets[feature_index]  # (char_start, char_end) of context tokens, None elsewhere

            # the null answer: [CLS] as start and end; its score is the lowest over the windows
            feature_null_score = float(start_logits[0] + end_logits[0])
            if min_null_prediction is None or min_null_prediction["score"] > feature_null_score:
                min_null_prediction = {"offsets": (0, 0), "score": feature_null_score,
                                       "start_logit": float(start_logits[0]), "end_logit": float(end_logits[0])}

            start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()  # best first
            end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    # both ends inside this window's context (padding positions lie past len(offsets))
                    if start_index >= len(offsets) or end_index >= len(offsets):
                        continue
                    if offsets[start_index] is None or offsets[end_index] is None:
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    candidates.append({
                        "offsets": (offsets[start_index][0], offsets[end_index][1]),
                        "score": float(start_logits[start_index] + end_logits[end_index]),
                        "start_logit": float(start_logits[start_index]),
                        "end_logit": float(end_logits[end_index]),
                    })
        if min_null_prediction is None:
            raise ValueError(f"question id {example_id!r} has no feature; were the features made from these examples?")
        null_score = min_null_prediction["score"]
        if version_2_with_negative:
            candidates.append(dict(min_null_prediction))
        nbest = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]
        if version_2_with_negative and not any(c["offsets"] == (0, 0) for c in nbest):
            nbest.append(dict(min_null_prediction))  # keep the null answer to compare against
        for candidate in nbest:
            start_char, end_char = candidate.pop("offsets")
            candidate["text"] = context[start_char:end_char]
        if not nbest or (len(nbest) == 1 and nbest[0]["text"] == ""):
            # no valid span at all (e.g. max_answer_length shorter than every candidate): answer "empty", as utils_qa
            nbest.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})

        # softmax over the n-best scores (shifted by the max for stability)
        scores = np.array([candidate.pop("score") for candidate in nbest])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        all_nbest[example_id] = [
            {"text": c["text"], "probability": float(p), "start_logit": c["start_logit"], "end_logit": c["end_logit"]}
            for c, p in zip(nbest, probabilities)
        ]

        if not version_2_with_negative:
            all_predictions[example_id] = nbest[0]["text"]
            continue
        best_non_null = next(c for c in nbest if c["text"] != "")
        score_diff = null_score - best_non_null["start_logit"] - best_non_null["end_logit"]
        null_odds[example_id] = float(score_diff)
        all_predictions[example_id] = "" if score_diff > null_score_diff_threshold else best_non_null["text"]
    return QAPredictions(predictions=all_predictions, nbest=all_nbest, null_odds=null_odds)


# ----------------------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------------------
def metric_name(version_2_with_negative: bool, metric: str = "squad") -> str:
    """The local metric for the data and --metric: 'squad_v2' when questions may be unanswerable, else `metric`
    ('squad', or 'korquad' for the official KorQuAD 1.0 scores, whose questions all have an answer)."""
    if metric not in QA_METRICS:
        raise ValueError(f"--metric {metric!r}: expected one of {', '.join(QA_METRICS)}")
    if version_2_with_negative:
        if metric != "squad":
            raise ValueError(f"--metric {metric} scores questions that all have an answer (KorQuAD 1.0); it does not "
                             "go with SQuAD 2.0-style data (--version_2_with_negative, or questions without an "
                             "answer), which the squad_v2 metric scores")
        return "squad_v2"
    return metric


def squad_metric_inputs(qa_predictions: QAPredictions, examples,
                        version_2_with_negative: bool) -> tuple[list[dict], list[dict]]:
    """(predictions, references) in the input format of the squad / squad_v2 metrics.

    For SQuAD 2.0 the no-answer score is the null odds (null score - best span score), the score the official
    script reads from its --na-prob-file.
    """
    if version_2_with_negative:
        predictions = [
            {"id": qid, "prediction_text": text, "no_answer_probability": qa_predictions.null_odds[qid]}
            for qid, text in qa_predictions.predictions.items()
        ]
    else:
        predictions = [{"id": qid, "prediction_text": text} for qid, text in qa_predictions.predictions.items()]
    references = [{"id": qid, "answers": answers} for qid, answers in zip(examples["id"], examples["answers"])]
    return predictions, references


def compute_squad_metrics(metric, qa_predictions: QAPredictions, examples, version_2_with_negative: bool,
                          null_score_diff_threshold: float = 0.0) -> dict[str, float]:
    """EM and F1 (and the SQuAD 2.0 breakdown) of post-processed predictions against the examples' answers.

    For SQuAD 2.0 the metric's no-answer threshold is the post-processing's, so a question counts as "no answer"
    exactly when its prediction is "" and the headline scores are those of the predictions file.
    """
    predictions, references = squad_metric_inputs(qa_predictions, examples, version_2_with_negative)
    kwargs = {"no_answer_threshold": null_score_diff_threshold} if version_2_with_negative else {}
    return metric.compute(predictions=predictions, references=references, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# The Trainer
# ----------------------------------------------------------------------------------------------------------------------
class QuestionAnsweringTrainer(SafeSavingMixin, InOrderEvaluationMixin, Trainer):
    """A Trainer whose evaluate/predict turn logits into answers, save them and score them (EM/F1), as run_qa's.

    The evaluation dataset is the features of `prepare_validation_features` (with example_id and offset_mapping, which
    the model does not see); `eval_examples` are the questions they come from. Every process post-processes the
    gathered logits (the metrics must agree across processes, e.g. for load_best_model_at_end); the main process
    writes PREFIX_predictions.json, PREFIX_nbest_predictions.json and (SQuAD 2.0) PREFIX_null_odds.json.
    """

    def __init__(self, *args, eval_examples=None, data_args: DataArguments | None = None, metric=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_examples = eval_examples
        self.data_args = data_args if data_args is not None else DataArguments(validation_file="unused.json")
        self.metric = metric

    def _predict_answers(self, features, examples, description: str, metric_key_prefix: str,
                         ignore_keys=None) -> tuple[QAPredictions, dict[str, float]]:
        """Run the model on the features, post-process, save the answers, and score them when there are answers."""
        self._memory_tracker.start()
        model_inputs = features.remove_columns([c for c in POSTPROCESSING_COLUMNS if c in features.column_names])
        dataloader = self.get_eval_dataloader(model_inputs)
        start_time = time.time()
        output = self.evaluation_loop(dataloader, description=description, prediction_loss_only=False,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        total_batch_size = self.args.eval_batch_size * self.args.world_size
        if f"{metric_key_prefix}_model_preparation_time" in output.metrics:
            start_time += output.metrics[f"{metric_key_prefix}_model_preparation_time"]
        output.metrics.update(speed_metrics(metric_key_prefix, start_time, num_samples=output.num_samples,
                                            num_steps=math.ceil(output.num_samples / total_batch_size)))
        start_logits, end_logits = output.predictions[:2]  # (num_features, seq_len) each, gathered from all processes
        args = self.data_args
        qa_predictions = postprocess_qa_predictions(
            examples, features, (start_logits, end_logits), args.version_2_with_negative, args.n_best_size,
            args.max_answer_length, args.null_score_diff_threshold,
        )
        if self.args.should_save:
            qa_predictions.save(self.args.output_dir, prefix=metric_key_prefix)
        metrics = dict(output.metrics)
        if "answers" in examples.column_names and self.metric is not None:
            scores = compute_squad_metrics(self.metric, qa_predictions, examples, args.version_2_with_negative,
                                           args.null_score_diff_threshold)
            metrics.update({f"{metric_key_prefix}_{k}": v for k, v in scores.items()})
        self._memory_tracker.stop_and_update_metrics(metrics)
        return qa_predictions, metrics

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval",
                 eval_examples=None) -> dict[str, float]:
        """EM/F1 of the model on the evaluation features (logged, passed to the callbacks, returned)."""
        features = self.eval_dataset if eval_dataset is None else eval_dataset
        examples = self.eval_examples if eval_examples is None else eval_examples
        if features is None or examples is None:
            raise ValueError("evaluation needs the evaluation features and the questions they come from")
        _, metrics = self._predict_answers(features, examples, "Evaluation", metric_key_prefix, ignore_keys)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def predict(self, test_dataset, test_examples=None, ignore_keys=None,
                metric_key_prefix: str = "predict") -> PredictionOutput:
        """Answers for the test features (saved; `predictions` is a QAPredictions), EM/F1 when there are answers."""
        if test_examples is None:
            raise ValueError("predict needs test_examples, the questions the test features come from")
        qa_predictions, metrics = self._predict_answers(test_dataset, test_examples, "Prediction", metric_key_prefix,
                                                        ignore_keys)
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, metrics)
        return PredictionOutput(predictions=qa_predictions, label_ids=None, metrics=metrics)


# ----------------------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------------------
def _check_answerability(dataset, source: str, version_2_with_negative: bool) -> None:
    """SQuAD v1.1 runs need an answer for every question; unanswerable ones need --version_2_with_negative."""
    if version_2_with_negative:
        return
    unanswerable = unanswerable_ids(dataset)
    if unanswerable:
        raise ValueError(f"{source}: {len(unanswerable)} questions have no answer (first: question id "
                         f"{unanswerable[0]!r}); pass --version_2_with_negative for SQuAD 2.0-style data")


def _scores_only(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the counts and the metric's name (the results table has its own columns for them)."""
    return {k: v for k, v in metrics.items()
            if not k.endswith(("_examples", "_samples", "_preparation_time", "_metric"))}


def _select(dataset, max_samples: int | None):
    """The first max_samples rows (all when None)."""
    if max_samples is None:
        return dataset
    return dataset.select(range(min(max_samples, len(dataset))))


def _log_truncated_questions(examples, source: str, tokenizer, max_query_length: int, given: bool) -> int:
    """Count (and log) the questions of `examples` longer than max_query_length tokens, which the features truncate."""
    questions = [q.lstrip() for q in examples["question"]]
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    long = [i for i, length in enumerate(lengths) if length > max_query_length]
    if long:
        first = long[0]
        why = (f"longer than --max_query_length {max_query_length}" if given else
               f"too long to leave more than --doc_stride tokens of the window to the context (the longest that "
               f"does is {max_query_length}; --max_query_length sets the limit)")
        logger.warning(f"{source}: {len(long)} of {len(questions)} questions are {why} and are truncated to "
                       f"{max_query_length} tokens (first: question id {examples['id'][first]!r}, "
                       f"{lengths[first]} tokens)")
    return len(long)


def _features(examples, source: str, prepare, tokenizer, data_args: DataArguments, max_seq_length: int,
              run_args: RunArguments, desc: str):
    """examples.map(prepare) in batches, questions truncated to --max_query_length (or to what the window allows);
    an error names the data source."""
    given = data_args.max_query_length is not None
    max_query_length = data_args.max_query_length if given else question_room(tokenizer, max_seq_length,
                                                                                data_args.doc_stride)
    if max_query_length >= 1:  # else no question fits: _check_question_lengths names the flags
        _log_truncated_questions(examples, source, tokenizer, max_query_length, given)
    kwargs = {"tokenizer": tokenizer, "max_seq_length": max_seq_length, "doc_stride": data_args.doc_stride,
              "pad_to_max_length": data_args.pad_to_max_length,
              "max_query_length": max_query_length if max_query_length >= 1 else None}
    try:
        return examples.map(prepare, batched=True, fn_kwargs=kwargs, remove_columns=examples.column_names,
                            num_proc=run_args.preprocessing_num_workers, desc=desc)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from e


@releases_output_dirs
def run_qa(model_args: ModelArguments, data_args: DataArguments, run_args: RunArguments,
           training_args) -> dict[str, float]:
    """Fine-tune and/or evaluate an extractive QA model on SQuAD with a `QuestionAnsweringTrainer`; return metrics.

    --do_train trains on the train split (resuming from the last checkpoint in output_dir), --do_eval scores the
    validation split (EM/F1, eval_predictions.json), --do_predict answers the test split (predict_predictions.json,
    and EM/F1 when it has answers). Metrics go to train/eval/predict_results.json and all_results.json, and every
    scored split appends a row to the results table.
    """
    from transformers import (
        AutoModelForQuestionAnswering,
        DataCollatorWithPadding,
        default_data_collator,
        set_seed,
    )

    from ..metrics import load_metric

    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise ValueError("nothing to do: pass --do_train, --do_eval and/or --do_predict")
    splits = [split for split, wanted in (("train", training_args.do_train), ("validation", training_args.do_eval),
                                          ("test", training_args.do_predict)) if wanted]
    for flag, path in data_args.files().items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--{flag} {path}: file not found")
    raw = load_squad_datasets(data_args, model_args, splits)  # read and checked before anything is written
    for split, (dataset, source) in raw.items():
        if split != "test" or "answers" in dataset.column_names:
            _check_answerability(dataset, source, data_args.version_2_with_negative)

    logger.info(f"Training/evaluation parameters {training_args}")
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)  # every process has read the output folder before any writes to it

    set_seed(training_args.seed)  # the same new QA head in every process and on every resume
    # An encoder-decoder (T5) is fine-tuned text-to-text: "question: ... context: ..." in, the answer text out
    from .text_to_text import is_text_to_text

    config = load_config(model_args)
    if is_text_to_text(config):
        from .text_to_text_tasks import run_text_to_text_qa

        if data_args.max_query_length is not None:
            logger.warning(f"--max_query_length {data_args.max_query_length} is ignored: a text-to-text model "
                           f"({config.model_type}) reads question and context as one text, truncated at "
                           "--max_seq_length")

        return run_text_to_text_qa(model_args, data_args, run_args, training_args, config,
                                   {split: raw[split] for split in splits}, last_checkpoint)
    config = load_config(model_args, num_labels=2)  # a start and an end score per token
    tokenizer = load_tokenizer(model_args)
    model = load_model(AutoModelForQuestionAnswering, model_args, config)
    if data_args.max_seq_length > tokenizer.model_max_length:
        logger.warning(f"--max_seq_length {data_args.max_seq_length} is longer than the tokenizer's model_max_length "
                       f"({tokenizer.model_max_length}); using {tokenizer.model_max_length}")
    max_seq_length = min(data_args.max_seq_length, tokenizer.model_max_length)

    train_features = eval_examples = eval_features = test_examples = test_features = None
    with training_args.main_process_first(desc="tokenizing the questions"):
        if training_args.do_train:
            train_examples, source = raw["train"]
            train_examples = _select(train_examples, run_args.max_train_samples)
            train_features = _features(train_examples, source, prepare_train_features, tokenizer, data_args,
                                       max_seq_length, run_args, "Tokenizing the train questions")
            logger.info(f"train: {len(train_examples)} questions -> {len(train_features)} features")
        if training_args.do_eval:
            eval_examples, source = raw["validation"]
            eval_examples = _select(eval_examples, run_args.max_eval_samples)
            eval_features = _features(eval_examples, source, prepare_validation_features, tokenizer, data_args,
                                      max_seq_length, run_args, "Tokenizing the validation questions")
            logger.info(f"validation: {len(eval_examples)} questions -> {len(eval_features)} features")
        if training_args.do_predict:
            test_examples, source = raw["test"]
            test_examples = _select(test_examples, run_args.max_predict_samples)
            test_features = _features(test_examples, source, prepare_validation_features, tokenizer, data_args,
                                      max_seq_length, run_args, "Tokenizing the test questions")
            logger.info(f"test: {len(test_examples)} questions -> {len(test_features)} features")

    if data_args.pad_to_max_length:
        collator = default_data_collator  # every feature already has max_seq_length tokens
    else:
        collator = DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=8 if (training_args.fp16 or training_args.bf16) else None
        )
    task = metric_name(data_args.version_2_with_negative, data_args.metric)  # the metric, named in results
    metric = load_metric(task)
    logger.info(f"Answers are scored with the {task} metric (hf_models/metrics/{task}.py, the official script's "
                "exact match and F1)")
    trainer = QuestionAnsweringTrainer(
        model=model,
        args=training_args,
        train_dataset=train_features,
        eval_dataset=eval_features,
        eval_examples=eval_examples,
        processing_class=tokenizer,
        data_collator=collator,
        data_args=data_args,
        metric=metric,
    )
    # the span loss is a mean over its batch: a forward(**kwargs) (transformers' classes) must not make the Trainer
    # skip the division by the gradient accumulation steps (see run_glue)
    trainer.model_accepts_loss_kwargs = False

    implementation = implementation_name(model)
    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()  # the model and the tokenizer
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(train_features)
        metrics["train_examples"] = len(train_examples)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))  # strict JSON: NaN -> null
        trainer.save_state()
        results.update(metrics)
    if training_args.do_eval:
        logger.info("*** Evaluate ***")
        metrics = trainer.evaluate()
        metrics["eval_samples"] = len(eval_features)
        metrics["eval_examples"] = len(eval_examples)
        metrics["eval_metric"] = task  # which official script the exact match and F1 are those of
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", json_safe(metrics, "eval_results.json"))  # strict JSON: NaN -> null
        record_results(training_args, run_args, task, "validation", model_args.model_name_or_path, implementation,
                       len(eval_examples), _scores_only(metrics))
        results.update(metrics)
    if training_args.do_predict:
        logger.info("*** Predict ***")
        metrics = trainer.predict(test_features, test_examples).metrics
        metrics["predict_samples"] = len(test_features)
        metrics["predict_examples"] = len(test_examples)
        if "answers" in test_examples.column_names:
            metrics["predict_metric"] = task
        trainer.log_metrics("predict", metrics)
        trainer.save_metrics("predict", json_safe(metrics, "predict_results.json"))  # strict JSON: NaN -> null
        if "answers" in test_examples.column_names:
            record_results(training_args, run_args, task, "test", model_args.model_name_or_path, implementation,
                           len(test_examples), _scores_only(metrics))
        results.update(metrics)

    if training_args.push_to_hub:
        card = {"finetuned_from": model_args.model_name_or_path, "tasks": "question-answering"}
        if data_args.dataset_name is not None:
            card["dataset_tags"] = card["dataset"] = data_args.dataset_name
        trainer.push_to_hub(**card)
    return results


# ----------------------------------------------------------------------------------------------------------------------
# Scoring a predictions file, like the official evaluation scripts
# ----------------------------------------------------------------------------------------------------------------------
def _read_id_map(path: str | os.PathLike, kind: type, what: str) -> dict[str, Any]:
    """A JSON object {question id: value} (answer texts or no-answer scores), checked value by value."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        data = json.loads(read_text(path, error=SquadFormatError))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected a JSON object {{question id: {kind.__name__}}}, got {type(data).__name__}")
    for qid, value in data.items():
        ok = isinstance(value, str) if kind is str else isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise ValueError(f"{path}: question id {qid!r}: expected a {'string' if kind is str else 'number'}, got "
                             f"{value!r}")
    return data


def evaluate_predictions_file(predictions_file: str | os.PathLike, data_file: str | os.PathLike,
                              na_prob_file: str | os.PathLike | None = None, na_prob_thresh: float = 1.0,
                              version_2_with_negative: bool | None = None, metric: str = "squad") -> dict[str, float]:
    """Score predictions.json ({id: answer text}) against a SQuAD file, like the official v1.1 / v2.0 scripts, or
    like the official KorQuAD 1.0 script with `metric="korquad"` (character-level F1; every question answered).

    The version follows the data (v2.0 when some question has no answer) unless given. v1.1: exact_match and f1, a
    question without prediction scoring 0. v2.0: exact, f1, total and the HasAns_/NoAns_ breakdown; with a
    no-answer score file (`na_prob_file`, e.g. null_odds.json) a question whose score is above `na_prob_thresh`
    counts as "no answer", and best_exact/best_f1 with their thresholds are added.
    """
    from ..metrics import load_metric

    examples = read_squad_file(data_file)
    predictions = _read_id_map(predictions_file, str, "predictions")
    v2 = bool(unanswerable_ids(examples)) if version_2_with_negative is None else version_2_with_negative
    if metric != "squad" and v2 and version_2_with_negative is None:
        unanswerable = unanswerable_ids(examples)
        raise ValueError(f"{os.fspath(data_file)}: {len(unanswerable)} questions have no answer (first: question id "
                         f"{unanswerable[0]!r}); --metric {metric} scores data where every question has one "
                         "(KorQuAD 1.0), the default squad metric scores SQuAD 2.0-style data")
    metric = metric_name(v2, metric)
    if not v2:
        _check_answerability(examples, os.fspath(data_file), False)
    ids = examples["id"]
    extra = set(predictions) - set(ids)
    if extra:
        logger.warning(f"{predictions_file}: {len(extra)} predictions for questions that are not in {data_file} "
                       "are ignored")
    missing = [qid for qid in ids if qid not in predictions]
    if not v2:
        if missing:
            logger.warning(f"{predictions_file}: {len(missing)} of {len(ids)} questions of {data_file} have no "
                           f"prediction and score 0 (first: {missing[0]!r})")
        # the official v1.1 script (or KorQuAD 1.0's), questions without prediction scoring 0 (evaluate's compute
        # needs one per question)
        if metric == "korquad":
            from ..metrics.korquad import compute_score
        else:
            from ..metrics.squad import compute_score

        return compute_score({qid: predictions[qid] for qid in ids if qid in predictions},
                             {qid: list(answers["text"]) for qid, answers in zip(ids, examples["answers"])})
    if missing:
        raise ValueError(f"{predictions_file}: no prediction for {len(missing)} of the {len(ids)} questions of "
                         f"{data_file} (first: {missing[0]!r}); SQuAD 2.0 scoring needs one for every question")
    na_probs = {qid: 0.0 for qid in ids}
    if na_prob_file is not None:
        given = _read_id_map(na_prob_file, float, "no-answer score")
        absent = [qid for qid in ids if qid not in given]
        if absent:
            raise ValueError(f"{na_prob_file}: no score for {len(absent)} of the {len(ids)} questions (first: "
                             f"{absent[0]!r})")
        na_probs = {qid: float(given[qid]) for qid in ids}
    scored = [{"id": qid, "prediction_text": predictions[qid], "no_answer_probability": na_probs[qid]} for qid in ids]
    references = [{"id": qid, "answers": answers} for qid, answers in zip(ids, examples["answers"])]
    metrics = load_metric("squad_v2").compute(predictions=scored, references=references,
                                              no_answer_threshold=na_prob_thresh)
    if na_prob_file is None:  # as the official script: the threshold search needs real no-answer scores
        metrics = {k: v for k, v in metrics.items() if not k.startswith("best_")}
    return metrics


def record_file_results(table: str | os.PathLike, task: str, data_file: str, predictions_file: str, examples: int,
                        metrics: dict[str, Any], output_dir: str) -> Path:
    """Append the scores of a predictions file to the results table (model column: the predictions file)."""
    shown = {k: v for k, v in metrics.items() if k != "total"}
    return append_results_row(table, {
        "task": task,
        "split": os.path.basename(os.fspath(data_file)),
        "model": os.fspath(predictions_file),
        "implementation": "predictions file",
        "examples": examples,
        "metrics": shown,
        "output_dir": output_dir,
    })


__all__ = [
    "QA_METRICS",
    "DataArguments",
    "QAPredictions",
    "QuestionAnsweringTrainer",
    "SquadFormatError",
    "check_answers",
    "compute_squad_metrics",
    "count_questions",
    "evaluate_predictions_file",
    "load_squad_datasets",
    "make_article_disjoint_split",
    "metric_name",
    "postprocess_qa_predictions",
    "prepare_train_features",
    "prepare_validation_features",
    "question_room",
    "read_squad_articles",
    "read_squad_file",
    "record_file_results",
    "run_qa",
    "split_squad_by_titles",
    "squad_features",
    "squad_metric_inputs",
    "truncate_questions",
    "unanswerable_ids",
    "write_squad_json",
]
