"""GLUE (Wang et al. 2019): sentence and sentence-pair classification and regression, for every model of hf_models
with a sequence-classification head and for transformers' own models.

The data comes from the hub (`nyu-mll/glue`, config = task) or from local files in the forms people have:

- the GLUE data folders (`--data_dir glue_data/MNLI`): the original tsv files of all nine tasks, with or without a
  header row (CoLA's train/dev have none: source, label, original label, sentence), MNLI's dev_matched /
  dev_mismatched, test files without labels; or the hub's parquet files (train-*.parquet, validation_matched-*...);
- single files given by split (`--train_file`, `--validation_file`, ...): tsv (or tab-separated .txt), parquet,
  csv, json or jsonl;
- your own data (no `--task_name`): any of those formats with a header row and your own columns, read with the flags
  of transformers' run_classification.py (`--text_column_names`, `--label_column_name`, ...): see section 2b.

Every source is read into the hub's schema of the task (for example mnli: premise, hypothesis, label, idx), with the
label as the hub's class id (-1 for an unlabelled test split). A malformed file stops with an error naming the file,
the line and the problem.

GPT-family checkpoints (hf_models' GPT; transformers' openai-gpt, gpt2, llama) are fine-tuned with GPT-1's recipe
(Radford et al. 2018, section 3.3): `<start> text <extract>` and `<start> first <delim> second <extract>` (the special
tokens added, or the tokenizer's BOS/EOS reused), the classifier on the extract token, and optionally the auxiliary
language-modelling loss (`--lm_loss_coef`, hf_models' GPTDoubleHeadsModel). See section 4b.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from ..cli_utils import (
    InputError,
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

logger = logging.getLogger("hf_models.tasks.glue")


# ----------------------------------------------------------------------------------------------------------------------
# 1. The nine tasks
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its text fields, its labels, and where its columns sit in the original tsv files."""

    name: str
    text_fields: tuple[str, ...]  # the hub's column names, e.g. ("premise", "hypothesis")
    label_names: tuple[str, ...] | None  # the hub's ClassLabel names by id; None for regression (STS-B)
    tsv_label_values: tuple[str, ...] | None  # how the original tsv writes each label id
    tsv_headers: dict[str, tuple[str, ...]]  # hub field -> header names it has in the original tsv files
    tsv_positions: dict[str, int]  # hub field -> column of a tsv file without a header row (labelled files)
    metric_configs: tuple[str, ...]  # the glue metric config of each evaluation split
    # The user's own data (section 2b): which columns of the files feed `text_fields` and `label`, and how
    custom: bool = False
    problem_type: str | None = None  # single_label_classification, multi_label_classification or regression
    text_columns: tuple[str, ...] = ()  # the files' text columns (several joined into one field when delimited)
    label_column: str = "label"
    text_column_delimiter: str | None = None  # joins the text columns into one text (None: one or two fields)
    id_column: str | None = None  # the files' example id column, written beside the predictions
    removed_columns: tuple[str, ...] = ()  # --remove_columns
    metric_names: tuple[str, ...] = ()  # --metric_name (default: every metric of the problem type)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)


def _task(name, text_fields, label_names, tsv_label_values, headers, positions, metric_configs=None) -> GlueTask:
    return GlueTask(name, tuple(text_fields), label_names, tsv_label_values, headers, positions,
                    tuple(metric_configs or (name,)))


GLUE_TASKS: dict[str, GlueTask] = {
    "cola": _task("cola", ["sentence"], ("unacceptable", "acceptable"), ("0", "1"),
                  {"sentence": ("sentence",), "label": ("label",)}, {"label": 1, "sentence": 3}),
    "sst2": _task("sst2", ["sentence"], ("negative", "positive"), ("0", "1"),
                  {"sentence": ("sentence",), "label": ("label",)}, {"sentence": 0, "label": 1}),
    "mrpc": _task("mrpc", ["sentence1", "sentence2"], ("not_equivalent", "equivalent"), ("0", "1"),
                  {"sentence1": ("#1 String", "sentence1"), "sentence2": ("#2 String", "sentence2"),
                   "label": ("Quality", "label")},
                  {"label": 0, "sentence1": 3, "sentence2": 4}),
    "qqp": _task("qqp", ["question1", "question2"], ("not_duplicate", "duplicate"), ("0", "1"),
                 {"question1": ("question1",), "question2": ("question2",), "label": ("is_duplicate", "label")},
                 {"question1": 3, "question2": 4, "label": 5}),
    "stsb": _task("stsb", ["sentence1", "sentence2"], None, None,
                  {"sentence1": ("sentence1",), "sentence2": ("sentence2",), "label": ("score", "label")},
                  {"sentence1": 7, "sentence2": 8, "label": 9}),
    "mnli": _task("mnli", ["premise", "hypothesis"], ("entailment", "neutral", "contradiction"),
                  ("entailment", "neutral", "contradiction"),
                  {"premise": ("sentence1", "premise"), "hypothesis": ("sentence2", "hypothesis"),
                   "label": ("gold_label", "label")},
                  {"premise": 8, "hypothesis": 9, "label": -1}, ("mnli_matched", "mnli_mismatched")),
    "qnli": _task("qnli", ["question", "sentence"], ("entailment", "not_entailment"), ("entailment", "not_entailment"),
                  {"question": ("question",), "sentence": ("sentence",), "label": ("label",)},
                  {"question": 1, "sentence": 2, "label": 3}),
    "rte": _task("rte", ["sentence1", "sentence2"], ("entailment", "not_entailment"), ("entailment", "not_entailment"),
                 {"sentence1": ("sentence1",), "sentence2": ("sentence2",), "label": ("label",)},
                 {"sentence1": 1, "sentence2": 2, "label": 3}),
    "wnli": _task("wnli", ["sentence1", "sentence2"], ("not_entailment", "entailment"), ("0", "1"),
                  {"sentence1": ("sentence1",), "sentence2": ("sentence2",), "label": ("label",)},
                  {"sentence1": 1, "sentence2": 2, "label": 3}),
}
# Other names people use for the tasks (the GLUE folder names, "sts-b", ...)
TASK_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "mnli-mm": "mnli"}


def get_task(name: str) -> GlueTask:
    """The GlueTask called `name` (case-insensitive; GLUE folder names such as SST-2 and STS-B work too)."""
    key = name.lower()
    key = TASK_ALIASES.get(key, key)
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; choose one of {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[key]


# ----------------------------------------------------------------------------------------------------------------------
# 2. Reading local files into the hub's schema
# ----------------------------------------------------------------------------------------------------------------------
def _features(task: GlueTask) -> datasets.Features:
    """The hub's features of the task: text fields, label (ClassLabel, or float32 for STS-B), idx."""
    feats = {f: datasets.Value("string") for f in task.text_fields}
    if task.is_multi_label:  # multi-hot over the label names (all -1: unlabelled)
        feats["label"] = datasets.Sequence(datasets.Value("float32"), length=len(task.label_names))
    elif task.is_regression:
        feats["label"] = datasets.Value("float32")
    else:
        feats["label"] = datasets.ClassLabel(names=list(task.label_names))
    feats["idx"] = datasets.Value("int32")
    return datasets.Features(feats)


def parse_label(task: GlueTask, value: Any, where: str) -> float | int:
    """The hub's label of one raw value (tsv text, class name, or class id; a class id may be -1, the hub's mark of
    an unlabelled test example, but an STS-B score must lie in [0, 5])."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise ValueError(f"{where}: the label is empty")
    if task.is_regression and task.custom:
        score = _number(value)
        if score is None or not math.isfinite(score):
            raise InputError(f"{where}: {value!r} is not a number (a regression label)")
        return score
    if task.is_regression:
        try:
            score = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: STS-B score {value!r} is not a number") from None
        if not 0.0 <= score <= 5.0:  # -1 too: an unlabelled test file has no label column, not -1 scores
            raise ValueError(f"{where}: STS-B score {str(value).strip()} is outside [0, 5]")
        return score
    if task.custom:  # your own data: labels by name, as the data writes them
        name = label_name(value)
        if name in task.label_names:
            return task.label_names.index(name)
        raise InputError(f"{where}: unknown label {name!r}; the labels of {task.name} are {list(task.label_names)}")
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and float(value).is_integer()):
        label = int(value)
        if label == -1 or 0 <= label < task.num_labels:
            return label
        raise ValueError(f"{where}: label id {label} is outside 0..{task.num_labels - 1} of {task.name}")
    text = str(value).strip()
    if text in task.tsv_label_values:
        return task.tsv_label_values.index(text)
    if text in task.label_names:
        return task.label_names.index(text)
    allowed = sorted(set(task.tsv_label_values) | set(task.label_names))
    raise ValueError(f"{where}: unknown {task.name} label {text!r}; expected one of {allowed}")


def _column_index(task: GlueTask, header: list[str], path: Path) -> tuple[dict[str, int], bool] | None:
    """Field -> column of a header row, and whether the file is labelled; None if the row is not a header."""
    found = {}
    for name, candidates in task.tsv_headers.items():
        for candidate in candidates:
            if candidate in header:
                found[name] = header.index(candidate)
                break
    if not all(f in found for f in task.text_fields):
        return None
    if "index" in header:
        found["idx"] = header.index("index")
    elif "idx" in header:
        found["idx"] = header.index("idx")
    elif "id" in header and task.name == "qqp":
        found["idx"] = header.index("id")
    return found, "label" in found


def _format_suffix(path: str | os.PathLike) -> str:
    """The suffix that says a file's format, past a .gz: '.tsv' for dev.tsv and dev.tsv.gz."""
    name = Path(path).name.lower()
    return Path(name.removesuffix(".gz")).suffix


def read_glue_tsv(path: str | os.PathLike, task: GlueTask | str, require_labels: bool = False) -> datasets.Dataset:
    """A GLUE tsv file (with or without a header row, labelled or a test file) as a Dataset in the hub's schema.

    A header row without a label column is a test file (labels -1), unless `require_labels` (a training or evaluation
    split): then it is an error naming the columns found and the label column names expected. A row with more
    tab-separated fields than the header (or the task's layout without a header) has is an error, not a truncation.
    """
    task = get_task(task) if isinstance(task, str) else task
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows: dict[str, list] = {f: [] for f in (*task.text_fields, "label", "idx")}
    lines = read_text(path, error=InputError).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    first = lines[0].rstrip("\r").split("\t")
    header = _column_index(task, first, path)
    if header is not None:
        columns, labelled = header
        start = 1
        if require_labels and not labelled:
            raise ValueError(
                f"{path}: the header has no {task.name} label column (columns: {first}; expected one of "
                f"{list(task.tsv_headers['label'])}), but this split needs labels"
            )
        width, layout = len(first), f"the header has {len(first)}"
    elif _looks_like_header(task, first):  # a header, but not the task's: say so, not "unknown label 'document'"
        raise InputError(header_problem(path, task, first))
    else:  # no header row: the original labelled layout of the task (CoLA train/dev)
        columns, labelled, start = dict(task.tsv_positions), True, 0
        if all(c >= 0 for c in columns.values()):  # the layout fixes the number of fields
            width = max(columns.values()) + 1
            layout = f"the {task.name} layout without a header has {width}"
        else:  # a label counted from the end (MNLI): the first row gives the number of fields
            width, layout = len(first), f"line 1 has {len(first)}"
    needed = max((c if c >= 0 else len(first) + c) for c in columns.values()) + 1
    empty: dict[str, list[str]] = {}
    for line_number, line in enumerate(lines[start:], start=start + 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")
        where = f"{path}, line {line_number}"
        if len(cells) < needed:
            raise ValueError(
                f"{where}: {len(cells)} tab-separated columns, but the {task.name} layout needs at least {needed} "
                f"({', '.join(f'{k}=column {v + 1 if v >= 0 else v}' for k, v in columns.items())})"
            )
        if len(cells) > width:
            raise ValueError(f"{where}: {len(cells)} tab-separated fields, but {layout} (a stray tab in the text?)")
        for name in task.text_fields:
            text = cells[columns[name]]
            if not text.strip():
                empty.setdefault(name, []).append(f"line {line_number}")
            rows[name].append(text)
        rows["label"].append(parse_label(task, cells[columns["label"]], where) if labelled else -1)
        if "idx" in columns:
            try:
                rows["idx"].append(int(cells[columns["idx"]]))
            except ValueError:
                raise ValueError(f"{where}: index {cells[columns['idx']]!r} is not an integer") from None
        else:
            rows["idx"].append(len(rows["idx"]))
    if not rows["idx"]:
        raise InputError(f"{path}: no examples (only {'a header row' if start else 'blank lines'}); a split needs at "
                         "least one example line")
    report_empty_texts(path, empty)
    return datasets.Dataset.from_dict(rows, features=_features(task))


def report_empty_texts(path, empty: dict[str, list[str]]) -> None:
    """One warning per text field that is empty in some examples (`empty`: field -> where, as 'line 7'). Every reader
    (tsv, txt, csv, json, jsonl, parquet; GLUE or your own data) does the same: an empty or missing text is kept as
    an empty text (the example stays, the model sees only its special tokens), and said so here."""
    for name, places in empty.items():
        shown = ", ".join(places[:5]) + (", ..." if len(places) > 5 else "")
        logger.warning(f"{path}: {len(places)} example(s) with an empty {name} ({shown}): kept as empty texts "
                       "(every format does the same); remove those lines to leave them out")


def _looks_like_header(task: GlueTask, first: list[str]) -> bool:
    """Whether a first row that is not the task's header is a header row all the same (of other columns): a cell
    names one of the task's columns, or the cell where the task's layout puts the label is no label."""
    known = {"label", "idx", "index", "id"} | {c for names in task.tsv_headers.values() for c in names}
    if any(cell.strip() in known for cell in first):
        return True
    position = task.tsv_positions.get("label")
    if position is None or not -len(first) <= position < len(first):
        return False
    try:
        parse_label(task, first[position], "")
    except ValueError:
        return True
    return False


def header_problem(path, task: GlueTask, first: list[str]) -> str:
    """The message for a header row without the task's columns."""
    expected = " and ".join(f"{name} ({' or '.join(task.tsv_headers[name])})" if len(task.tsv_headers[name]) > 1
                            else name for name in (*task.text_fields, "label"))
    return (f"{path}, line 1: the header row ({', '.join(c.strip() for c in first)}) does not name {task.name}'s "
            f"columns ({expected}): for your own data leave out --task_name and name the columns with "
            "--text_column_names and --label_column_name")


def read_glue_table(path: str | os.PathLike, task: GlueTask | str, require_labels: bool = False) -> datasets.Dataset:
    """A parquet, csv, json or jsonl file whose columns are the hub's (e.g. sentence1, sentence2, label).

    Without a `label` column (or with label -1, the hub's test splits) the examples are unlabelled, unless
    `require_labels` (a training or evaluation split): then that is an error naming the file and the columns.
    """
    task = get_task(task) if isinstance(task, str) else task
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = _format_suffix(path)
    builder = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}.get(suffix)
    if builder is None:
        raise ValueError(f"{path}: unsupported extension {suffix!r} (tsv, parquet, csv, json or jsonl)")
    text = None if builder == "parquet" else read_text(path, error=InputError)  # a corrupt .gz or non-UTF-8 bytes: named here
    if text is not None and not text.strip():
        raise InputError(f"{path}: no examples (the file is empty)")
    try:
        raw = datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as error:  # datasets buries the bad row in a DatasetGenerationError: find it here
        problem = None if text is None else _table_problem(text, builder)
        if problem is None:
            cause = error.__cause__ or error.__context__ or error
            first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            problem = f"cannot be read as {suffix.lstrip('.')} ({type(cause).__name__}: {first_line})"
        raise InputError(f"{path}: {problem}") from error
    if len(raw) == 0:
        raise InputError(f"{path}: no examples (a header or structure, but no rows)")
    # Line numbers as people see them: csv has a header row, jsonl one record per line, parquet rows count from 0.
    line_of = {"csv": lambda i: f"line {i + 2}", "json": lambda i: f"line {i + 1}", "parquet": lambda i: f"row {i}"}
    missing = [f for f in task.text_fields if f not in raw.column_names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} for {task.name} (columns: {raw.column_names}; expected "
                         f"{list(task.text_fields)} and optionally label, idx)")
    if require_labels and "label" not in raw.column_names:
        raise ValueError(f"{path}: no label column for {task.name} (columns: {raw.column_names}; expected 'label'), "
                         f"but this split needs labels")
    rows: dict[str, list] = {f: [] for f in (*task.text_fields, "label", "idx")}
    labels = raw["label"] if "label" in raw.column_names else [-1] * len(raw)
    idxs = raw["idx"] if "idx" in raw.column_names else list(range(len(raw)))
    for i in range(len(raw)):
        where = f"{path}, {line_of[builder](i)}"
        if require_labels and labels[i] == -1:
            raise ValueError(f"{where}: label -1 marks an unlabelled example, but this split needs labels")
        rows["label"].append(-1 if labels[i] == -1 else parse_label(task, labels[i], where))
        rows["idx"].append(int(idxs[i]))
    empty: dict[str, list[str]] = {}
    for name in task.text_fields:
        column = raw[name]
        for i, text in enumerate(column):
            if text is None or not str(text).strip():
                empty.setdefault(name, []).append(line_of[builder](i))
        rows[name] = ["" if t is None else str(t) for t in column]
    report_empty_texts(path, empty)
    return datasets.Dataset.from_dict(rows, features=_features(task))


def _table_problem(text: str, builder: str) -> str | None:
    """'line N: what is wrong' for the first malformed line of a csv or json/jsonl text (what datasets reports only
    as a DatasetGenerationError), 'no examples' for one without rows; None when Python's parsers find nothing."""
    if builder == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header, line, rows = None, 1, 0
        try:
            for row in reader:
                if header is None:
                    header = row
                elif row and len(row) != len(header):
                    return (f"line {line}: {len(row)} comma-separated fields where the header has {len(header)} "
                            "(quote a field that holds a comma, and double the quotes inside it)")
                elif any(cell.strip() for cell in row):
                    rows += 1
                line = reader.line_num + 1
        except csv.Error as error:
            if "end of data" in str(error):
                return f"line {line}: a quoted field that starts on this line is never closed"
            return f"line {reader.line_num}: malformed csv ({error})"
        return None if rows else "no examples (a header row, but no data rows)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":  # not one JSON value: JSON lines, one object per line
            return f"line {error.lineno}: not valid JSON ({error.msg})"
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as line_error:
                return f"line {number}: not valid JSON ({line_error.msg}, column {line_error.colno})"
        unit = "line"
    else:
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))  # {"data": [...]}
        records = list(enumerate(data, start=1)) if isinstance(data, list) else [(1, data)]
        unit = "record" if isinstance(data, list) else "line"
    if not records:
        return "no examples (no records)"
    for number, record in records:
        if not isinstance(record, dict):
            return f"{unit} {number}: expected a JSON object with the task's fields, got {type(record).__name__}"
    return None


def read_glue_file(path: str | os.PathLike, task: GlueTask | str, require_labels: bool = False) -> datasets.Dataset:
    """Any local GLUE file: tsv or tab-separated txt (the GLUE folders) or the hub's schema in parquet, csv, json or
    jsonl; for your own data (a task from `user_task`), any of those with the task's columns (`read_user_file`).

    `require_labels`: the split trains or is scored, so a file without a label column is an error (not a test file).
    """
    task = get_task(task) if isinstance(task, str) else task
    if task.custom:
        return read_user_file(path, task, require_labels)
    if _format_suffix(path) in (".tsv", ".txt"):  # .txt: a tab-separated file, as corpora such as NSMC are published
        return read_glue_tsv(path, task, require_labels)
    return read_glue_table(path, task, require_labels)


# ----------------------------------------------------------------------------------------------------------------------
# 2b. Your own data: any csv, tsv, tab-separated .txt, json, jsonl or parquet file with a header
# ----------------------------------------------------------------------------------------------------------------------
# Without --task_name the files are the user's own (a Korean review corpus such as NSMC: id, document, label): the text
# columns (--text_column_names, else inferred), the label column (--label_column_name, default "label"), the labels as
# they are written (ids in sorted order), and the problem type (single-label, multi-label when the labels are lists,
# regression when they are fractional numbers or --do_regression) make a GlueTask with `custom=True`, which the rest
# of this module runs as it runs the nine GLUE tasks, scored by accuracy/F1 or correlations instead of the GLUE
# metrics. Errors read "FILE, line N, field F: problem".
TABLE_FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# columns that identify an example rather than hold its text
ID_COLUMNS = ("id", "idx", "index", "guid", "uid", "example_id")
# names the dataset's own columns take; a text column may not be called so
RESERVED_COLUMNS = ("label", "idx", "input_ids", "attention_mask", "token_type_ids", "labels")
# the column that carries the files' example ids beside the model's inputs (removed before the Trainer sees them)
ID_FIELD = "example_id"
# the evaluation metrics of each problem type (the first is the main one); --metric_name picks among them
USER_METRICS = {
    "single_label_classification": ("accuracy", "macro_f1", "weighted_f1", "matthews_correlation"),
    "multi_label_classification": ("micro_f1", "macro_f1", "subset_accuracy"),
    "regression": ("pearson", "spearmanr", "mse", "mae"),
}
PROBLEM_TYPES = tuple(USER_METRICS)
_SPLIT_WORDS = ("train", "training", "dev", "valid", "validation", "val", "test", "eval", "predict")


@dataclass
class RawTable:
    """A file's header and rows as written (values not yet interpreted), with where each row is, as 'line 5'."""

    path: str
    columns: list[str]
    rows: list[dict[str, Any]]
    where: list[str]
    header_where: str = "line 1"


def read_raw_table(path: str | os.PathLike) -> RawTable:
    """The header and rows of a csv, tsv, tab-separated .txt, json (a list of objects, or {"data": [...]}), jsonl or
    parquet file. Text tables keep every cell as written (a string); json and parquet keep their types (lists for
    multi-label labels, numbers)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = TABLE_FORMATS.get(_format_suffix(path))
    if kind is None:
        raise InputError(f"{path}: unsupported extension {_format_suffix(path)!r} (csv, tsv, txt (tab-separated), "
                         "json, jsonl or parquet)")
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq

            records = pq.read_table(str(path)).to_pylist()
        except Exception as error:  # noqa: BLE001 - any unreadable parquet is the user's file problem
            raise InputError(f"{path}: cannot be read as parquet ({type(error).__name__}: "
                             f"{(str(error).splitlines() or [''])[0]})") from None
        columns = list(records[0]) if records else []
        return _checked_table(RawTable(str(path), columns, records, [f"row {i}" for i in range(len(records))],
                                       "the schema"))
    text = read_text(path, error=InputError)
    if kind == "json":
        return _checked_table(_json_table(path, text))
    lines = text.split("\n")
    if not text.strip():
        raise InputError(f"{path}: no examples (the file is empty)")
    if kind == "tsv":
        header = [c.strip() for c in lines[0].rstrip("\r").split("\t")]
        rows, where = [], []
        for number, line in enumerate(lines[1:], start=2):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != len(header):
                raise InputError(f"{path}, line {number}: {len(cells)} tab-separated fields where the header "
                                 f"({', '.join(header)}) has {len(header)}"
                                 + (" (a stray tab in the text?)" if len(cells) > len(header) else ""))
            rows.append(dict(zip(header, cells)))
            where.append(f"line {number}")
        return _checked_table(RawTable(str(path), header, rows, where))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, rows, where = None, [], []
    line = 1
    try:
        for cells in reader:
            if header is None:
                header = [c.strip() for c in cells]
            elif cells and any(c.strip() for c in cells):
                if len(cells) != len(header):
                    raise InputError(f"{path}, line {line}: {len(cells)} comma-separated fields where the header "
                                     f"({', '.join(header)}) has {len(header)} (quote a field that holds a comma, "
                                     "and double the quotes inside it)")
                rows.append(dict(zip(header, cells)))
                where.append(f"line {line}")
            line = reader.line_num + 1
    except csv.Error as error:
        if "end of data" in str(error):
            raise InputError(f"{path}, line {line}: a quoted field that starts on this line is never closed") from None
        raise InputError(f"{path}, line {reader.line_num}: malformed csv ({error})") from None
    return _checked_table(RawTable(str(path), header or [], rows, where))


def _json_table(path: Path, text: str) -> RawTable:
    """A json file (a list of objects, or one key holding that list) or JSON lines (one object per line)."""
    if not text.strip():
        raise InputError(f"{path}: no examples (the file is empty)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise InputError(f"{path}, line {error.lineno}: not valid JSON ({error.msg})") from None
        records, where = [], []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as line_error:
                raise InputError(f"{path}, line {number}: not valid JSON ({line_error.msg}, column "
                                 f"{line_error.colno})") from None
            where.append(f"line {number}")
    else:
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))  # {"data": [...]}
        if isinstance(data, list):
            records, where = data, [f"record {i}" for i in range(1, len(data) + 1)]
        else:
            records, where = [data], ["line 1"]
    columns: dict[str, None] = {}
    for record, place in zip(records, where):
        if not isinstance(record, dict):
            raise InputError(f"{path}, {place}: expected a JSON object (column: value), got {type(record).__name__}")
        columns.update(dict.fromkeys(record))
    return RawTable(str(path), list(columns), records, where, where[0] if where else "line 1")


def _checked_table(table: RawTable) -> RawTable:
    duplicates = sorted({c for c in table.columns if table.columns.count(c) > 1})
    if duplicates:
        raise InputError(f"{table.path}, {table.header_where}: the header names {duplicates} more than once")
    if not table.rows:
        raise InputError(f"{table.path}: no examples (a header, but no rows)")
    return table


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _split_names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _number(value) -> float | None:
    """A label value as a number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def label_name(value) -> str:
    """A class label as the data writes it: the text stripped, an integer without '.0', True/False as written."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def sorted_label_names(names) -> list[str]:
    """The label names in id order: numerically when every name is an integer ('2' before '10'), else sorted as
    text. A stable order: the same data gives the same ids in every run and for every split."""
    names = set(names)
    if names and all(re.fullmatch(r"[+-]?\d+", name) for name in names):
        return sorted(names, key=lambda name: (int(name), name))
    return sorted(names)


def dataset_display_name(data_args) -> str:
    """The name the outputs and the results table give the user's data: the hub dataset's name, or the training (or
    else first) file's stem without a split word ('ratings_train.txt' -> 'ratings'; 'nsmc/train.tsv' -> 'nsmc')."""
    if data_args.dataset_name:
        return data_args.dataset_name.rstrip("/").split("/")[-1]
    files = data_args.split_files()
    path = Path(files.get("train") or next(iter(files.values())))
    stem = Path(path.name.removesuffix(".gz")).stem
    words = "|".join(_SPLIT_WORDS)
    name = re.sub(rf"(^|[._-])({words})([._-]?\d*)?$", "", stem, flags=re.IGNORECASE)
    name = re.sub(rf"^({words})[._-]", "", name, flags=re.IGNORECASE) if name else name
    if not name:
        name = path.resolve().parent.name or stem
    return re.sub(r"[^\w.-]+", "_", name) or "data"


def user_task(tables: dict[str, RawTable], data_args, labelled_splits=("train",), model_config=None) -> GlueTask:
    """The GlueTask of the user's files (split -> RawTable): text columns, label column, problem type and labels.

    The labels and the problem type come from the data when training (`model_config` None): the names as written,
    sorted (numerically for integers), over every labelled split; single-label, multi-label when the label values are
    lists, regression when they are numbers with a fraction or with --do_regression. A model evaluated without
    training (`model_config`) brings its own: config.id2label (renamed by --label_mapping) and config.problem_type.
    """
    first = tables.get("train") or next(iter(tables.values()))
    label_column = data_args.label_column_name or "label"
    removed = tuple(_split_names(data_args.remove_columns))
    for name in removed:
        if name not in first.columns:
            raise InputError(f"{first.path}, {first.header_where}: --remove_columns names {name!r}, which is not a "
                             f"column (columns: {', '.join(first.columns)})")
    if label_column in removed:
        raise InputError(f"--remove_columns removes the label column {label_column!r}")
    for split, table in tables.items():
        if label_column not in table.columns and split in labelled_splits:
            hint = ("give its name with --label_column_name" if data_args.label_column_name is None else
                    "check --label_column_name")
            raise InputError(f"{table.path}, {table.header_where}, field {label_column}: the header "
                             f"({', '.join(map(str, table.columns))}) has no label column {label_column!r} and this "
                             f"split needs labels; {hint} (the first line of the file must name the columns)")
    text_columns = _split_names(data_args.text_column_names)
    if text_columns:
        for split, table in tables.items():
            missing = [c for c in text_columns if c not in table.columns]
            if missing:
                raise InputError(f"{table.path}, {table.header_where}, field {missing[0]}: --text_column_names names "
                                 f"a column the header lacks (columns: {', '.join(map(str, table.columns))})")
    else:
        text_columns = _infer_text_columns(first, label_column, removed)
    clash = [c for c in text_columns if c == label_column or c in removed]
    if clash:
        raise InputError(f"--text_column_names: {clash[0]!r} is also the label column or a removed column")
    delimiter = data_args.text_column_delimiter
    if delimiter is None and len(text_columns) > 2:
        delimiter = " "
    if delimiter is not None and len(text_columns) > 1:
        text_fields = ("text",)
    else:
        delimiter = None
        text_fields = tuple(text_columns)
        reserved = [c for c in text_fields if c in RESERVED_COLUMNS or c == ID_FIELD]
        if reserved:
            raise InputError(f"{first.path}, {first.header_where}, field {reserved[0]}: a text column may not be "
                             f"called {reserved[0]!r} (a name the model's inputs use); rename it in the header")
    id_column = next((c for c in first.columns if c.lower() in ID_COLUMNS and c not in text_columns
                      and c != label_column and c not in removed), None)
    name = dataset_display_name(data_args)

    labelled = {split: t for split, t in tables.items() if label_column in t.columns}
    if model_config is not None:
        label_names, problem_type = _model_labels(model_config, data_args, labelled)
    else:
        label_names, problem_type = _data_labels(labelled, label_column, data_args.do_regression)
    metric_names = _metric_names(data_args.metric_name, problem_type)
    return GlueTask(name, text_fields, None if label_names is None else tuple(label_names),
                    None if label_names is None else tuple(label_names),
                    {field: (field,) for field in text_fields} | {"label": (label_column,)}, {}, ("user",),
                    custom=True, problem_type=problem_type, text_columns=tuple(text_columns),
                    label_column=label_column, text_column_delimiter=delimiter, id_column=id_column,
                    removed_columns=removed, metric_names=metric_names)


def _infer_text_columns(table: RawTable, label_column: str, removed: tuple[str, ...]) -> list[str]:
    """The text columns of a file without --text_column_names: every column but the label, an id and the removed
    ones whose values are text (not all numbers); one or two of them (a sentence, or a sentence pair)."""
    candidates = []
    for column in table.columns:
        if column == label_column or column in removed or column.lower() in ID_COLUMNS:
            continue
        values = [row.get(column) for row in table.rows[:1000]]
        present = [v for v in values if not _is_missing(v)]
        if present and all(isinstance(v, str) for v in present) and not all(_number(v) is not None for v in present):
            candidates.append(column)
    if not candidates:
        raise InputError(f"{table.path}, {table.header_where}: no text column found among "
                         f"{', '.join(map(str, table.columns))} (the label column is {label_column!r}); name it with "
                         "--text_column_names")
    if len(candidates) > 2:
        raise InputError(f"{table.path}, {table.header_where}: several columns could hold the text "
                         f"({', '.join(candidates)}); choose with --text_column_names (comma-separated; two are a "
                         "sentence pair, more are joined with --text_column_delimiter) or drop some with "
                         "--remove_columns")
    logger.info(f"{table.path}: text column(s) {', '.join(candidates)} (inferred; --text_column_names chooses others)")
    return candidates


def _data_labels(tables: dict[str, RawTable], label_column: str, do_regression: bool | None
                 ) -> tuple[list[str] | None, str]:
    """(label names in id order or None for regression, problem type) from the labelled files."""
    values = [(table, place, row.get(label_column)) for table in tables.values()
              for row, place in zip(table.rows, table.where)]
    present = [(t, p, v) for t, p, v in values if not _is_missing(v)]
    if not present:
        raise InputError(f"{next(iter(tables.values())).path}: every label is empty")
    lists = [isinstance(v, (list, tuple)) for _, _, v in present]
    if any(lists):
        if do_regression:
            raise InputError("--do_regression: the labels are lists (multi-label classification), not numbers")
        table, place, value = present[lists.index(False)] if not all(lists) else (None, None, None)
        if table is not None:
            raise InputError(f"{table.path}, {place}, field {label_column}: a single label {value!r} where other "
                             "rows hold lists of labels (multi-label); write every label as a list")
        problem_type = "multi_label_classification"
        names = sorted_label_names(label_name(v) for _, _, labels in present for v in labels)
    else:
        numbers = [_number(v) for _, _, v in present]
        fractional = all(n is not None for n in numbers) and any(
            (isinstance(v, (float, np.floating)) or (isinstance(v, str) and not re.fullmatch(r"\s*[+-]?\d+\s*", v)))
            for _, _, v in present)
        regression = fractional if do_regression is None else do_regression
        if regression:
            for (table, place, value), number in zip(present, numbers):
                if number is None or not math.isfinite(number):
                    raise InputError(f"{table.path}, {place}, field {label_column}: {value!r} is not a number "
                                     "(a regression label)")
            logger.info(f"labels: numbers (regression{', inferred' if do_regression is None else ''})")
            return None, "regression"
        problem_type = "single_label_classification"
        names = sorted_label_names(label_name(v) for _, _, v in present)
    if len(names) < 2:
        logger.warning(f"only one label ({names}) in the labelled files: a classifier cannot learn anything from them")
    train = tables.get("train")
    if train is not None and len(tables) > 1:
        in_train = set()
        for row in train.rows:
            value = row.get(label_column)
            if not _is_missing(value):
                in_train.update(label_name(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
        unseen = [n for n in names if n not in in_train]
        if unseen:
            logger.warning(f"labels {unseen} are not in {train.path}: the model cannot learn them")
    shown = names if len(names) <= 20 else names[:20] + ["..."]
    logger.info(f"labels: {len(names)} classes {shown} ({problem_type.replace('_', ' ')}), ids in sorted order")
    return names, problem_type


def _model_labels(config, data_args, tables: dict[str, RawTable]) -> tuple[list[str] | None, str]:
    """(label names in the model's id order or None, problem type) of a model evaluated without training, its
    names renamed by --label_mapping into the data's."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type is None:
        problem_type = "regression" if config.num_labels == 1 else None
        if problem_type is None:
            label_column = data_args.label_column_name or "label"
            lists = any(isinstance(row.get(label_column), (list, tuple)) for t in tables.values() for row in t.rows)
            problem_type = "multi_label_classification" if lists else "single_label_classification"
    if problem_type == "regression":
        return None, problem_type
    mapping = parse_label_mapping(data_args.label_mapping)
    names = [mapping.get(str(config.id2label[i]), str(config.id2label[i])) for i in range(config.num_labels)]
    return names, problem_type


def _metric_names(text: str | None, problem_type: str) -> tuple[str, ...]:
    available = USER_METRICS[problem_type]
    names = _split_names(text)
    aliases = {"f1": "micro_f1" if problem_type == "multi_label_classification" else "macro_f1",
               "pearsonr": "pearson", "spearman": "spearmanr", "mcc": "matthews_correlation"}
    names = [aliases.get(n.lower(), n.lower()) for n in names]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InputError(f"--metric_name {unknown[0]!r}: not a metric of {problem_type.replace('_', ' ')} (choose "
                         f"from {', '.join(available)})")
    return tuple(dict.fromkeys(names)) or available


def user_table_dataset(table: RawTable, task: GlueTask, require_labels: bool = False) -> datasets.Dataset:
    """One split of the user's data as a Dataset: the text fields, `label` (a class id, a multi-hot vector or a
    number; -1, all -1 or NaN when unlabelled), `idx` (the row's position) and the files' example id."""
    path = table.path
    for column in task.text_columns:
        if column not in table.columns:
            raise InputError(f"{path}, {table.header_where}, field {column}: the header has no such column "
                             f"(columns: {', '.join(map(str, table.columns))})")
    labelled = task.label_column in table.columns
    if require_labels and not labelled:
        raise InputError(f"{path}, {table.header_where}, field {task.label_column}: the header "
                         f"({', '.join(map(str, table.columns))}) has no label column {task.label_column!r}, but this "
                         "split needs labels; name it with --label_column_name")
    rows: dict[str, list] = {f: [] for f in (*task.text_fields, "label", "idx", ID_FIELD)}
    empty: dict[str, list[str]] = {}
    index = {name: i for i, name in enumerate(task.label_names or ())}
    unlabelled = [-1.0] * len(index) if task.is_multi_label else (math.nan if task.is_regression else -1)
    for position, (row, place) in enumerate(zip(table.rows, table.where)):
        texts = []
        for column in task.text_columns:
            value = row.get(column)
            if isinstance(value, (list, dict)):
                raise InputError(f"{path}, {place}, field {column}: a text must be a string, not a "
                                 f"{type(value).__name__}")
            text = "" if _is_missing(value) else str(value)
            if not text.strip():
                empty.setdefault(column, []).append(place)
            texts.append(text)
        if task.text_column_delimiter is not None:
            texts = [task.text_column_delimiter.join(t for t in texts if t.strip())]
        for name, text in zip(task.text_fields, texts):
            rows[name].append(text)
        value = row.get(task.label_column) if labelled else None
        if _is_missing(value):
            if require_labels:
                raise InputError(f"{path}, {place}, field {task.label_column}: the label is empty, but this split "
                                 "needs labels")
            rows["label"].append(unlabelled)
        else:
            rows["label"].append(_user_label(task, value, index, f"{path}, {place}, field {task.label_column}"))
        rows["idx"].append(position)
        identifier = row.get(task.id_column) if task.id_column else None
        rows[ID_FIELD].append("" if identifier is None else str(identifier))
    report_empty_texts(path, empty)
    features = _features(task)
    features[ID_FIELD] = datasets.Value("string")
    return datasets.Dataset.from_dict(rows, features=features)


def _user_label(task: GlueTask, value, index: dict[str, int], where: str):
    if task.is_regression:
        number = _number(value)
        if number is None or not math.isfinite(number):
            raise InputError(f"{where}: {value!r} is not a number (a regression label)")
        return number
    known = list(index)
    if task.is_multi_label:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: {value!r} is not a list of labels (multi-label)")
        hot = [0.0] * len(index)
        for item in value:
            name = label_name(item)
            if name not in index:
                raise InputError(f"{where}: unknown label {name!r} (the labels: {known})")
            hot[index[name]] = 1.0
        return hot
    if isinstance(value, (list, tuple)):
        raise InputError(f"{where}: a list of labels {value!r} in single-label data")
    name = label_name(value)
    if name not in index:
        raise InputError(f"{where}: unknown label {name!r}; the labels are {known} (a model evaluated without "
                         "training knows its own labels: rename them with --label_mapping model_label=data_label)")
    return index[name]


def read_user_file(path: str | os.PathLike, task: GlueTask, require_labels: bool = False) -> datasets.Dataset:
    """A file of the user's data (see `user_task`) as a Dataset."""
    return user_table_dataset(read_raw_table(path), task, require_labels)


def read_user_texts(path: str | os.PathLike, data_args) -> list[str]:
    """The texts of a user's file, read with the flags of run_glue (--text_column_names, --label_column_name,
    --remove_columns, --text_column_delimiter): both texts of a pair, each joined text, empty ones left out. For a
    vocabulary learnt from scratch (create_rnn_checkpoint), so the labels need not be there or be consistent."""
    table = read_raw_table(path)
    label_column = data_args.label_column_name or "label"
    removed = tuple(_split_names(data_args.remove_columns))
    columns = _split_names(data_args.text_column_names) or _infer_text_columns(table, label_column, removed)
    for column in columns:
        if column not in table.columns:
            raise InputError(f"{table.path}, {table.header_where}, field {column}: --text_column_names names a "
                             f"column the header lacks (columns: {', '.join(map(str, table.columns))})")
    texts = []
    for row in table.rows:
        values = ["" if _is_missing(row.get(c)) else str(row.get(c)) for c in columns]
        if data_args.text_column_delimiter is not None and len(columns) > 1 or len(columns) > 2:
            values = [(data_args.text_column_delimiter or " ").join(v for v in values if v.strip())]
        texts += [v for v in values if v.strip()]
    return texts


def is_labelled(task: GlueTask, label) -> bool:
    """Whether one example's label is a label (not the mark of an unlabelled example: -1, all -1, NaN)."""
    if task.is_multi_label:
        return bool(len(label)) and label[0] >= 0
    if task.is_regression and task.custom:
        return not math.isnan(label)
    return label != -1


# Files of a GLUE data folder for each split: the original tsv names, then the hub's parquet names.
_SPLIT_FILES = {
    "train": ("train.tsv", "train-*.parquet"),
    "validation": ("dev.tsv", "validation-*.parquet"),
    "validation_matched": ("dev_matched.tsv", "validation_matched-*.parquet"),
    "validation_mismatched": ("dev_mismatched.tsv", "validation_mismatched-*.parquet"),
    "test": ("test.tsv", "test-*.parquet"),
    "test_matched": ("test_matched.tsv", "test_matched-*.parquet"),
    "test_mismatched": ("test_mismatched.tsv", "test_mismatched-*.parquet"),
}


def find_split_files(data_dir: str | os.PathLike) -> dict[str, str]:
    """Split name -> file of a GLUE task folder (original tsv or the hub's parquet files)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir}: no such folder")
    found = {}
    for split, patterns in _SPLIT_FILES.items():
        for pattern in patterns:
            matches = sorted(glob.glob(str(data_dir / pattern)))
            if len(matches) > 1:
                raise ValueError(f"{data_dir}: several files for the {split} split: {matches} (give them by name)")
            if matches:
                found[split] = matches[0]
                break
    if not found:
        raise FileNotFoundError(f"{data_dir}: no GLUE files (train.tsv, dev.tsv, dev_matched.tsv, test.tsv or the "
                                f"hub's *.parquet files)")
    return found


# ----------------------------------------------------------------------------------------------------------------------
# 3. Arguments
# ----------------------------------------------------------------------------------------------------------------------
# GPT-1's input transformation (section 4b): the model types it is on for by default, the tokens it adds
GPT_MODEL_TYPES = ("hf_gpt", "openai-gpt", "gpt2", "llama")
GPT_SPECIAL_TOKENS = {"start": "<|start|>", "delimiter": "<|delim|>", "extract": "<|extract|>"}
GPT_PAD_TOKEN = "<|pad|>"
INPUT_TRANSFORMATIONS = ("auto", "gpt", "none")
GPT_SPECIAL_TOKEN_MODES = ("add", "reuse")


@dataclass
class GlueDataArguments:
    """Which GLUE task, or your own data (no --task_name), where it is, and how to tokenize it."""

    task_name: str | None = field(
        default=None, metadata={"help": f"The GLUE task: {', '.join(GLUE_TASKS)}. Leave it out for your own data "
                                        "(--train_file ... with --text_column_names, --label_column_name)."}
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset (e.g. nyu-mll/glue); its config is --dataset_config_name or "
                                        "the task name. Without --task_name, also the name your data has in the "
                                        "outputs (else the training file's stem: ratings_train.txt -> ratings)."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset config (default: the task)."})
    data_dir: str | None = field(
        default=None, metadata={"help": "A GLUE task folder: train.tsv, dev.tsv (MNLI: dev_matched.tsv, "
                                        "dev_mismatched.tsv), test.tsv, or the hub's parquet files."}
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Train file: tsv, tab-separated txt, csv, json, jsonl or parquet (your own "
                                        "data: with a header row naming the columns)."}
    )
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation file (MNLI: the matched one)."}
    )
    validation_mismatched_file: str | None = field(default=None, metadata={"help": "MNLI's mismatched validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Test file (labels optional; MNLI: matched)."})
    test_mismatched_file: str | None = field(default=None, metadata={"help": "MNLI's mismatched test file."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example after truncation, specials included."})
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every example to max_seq_length (default: pad each batch to its longest)."}
    )
    label_mapping: str | None = field(
        default=None,
        metadata={"help": "Evaluate a model trained on another task: model label -> dataset label, as "
                          "'not_equivalent=not_duplicate,equivalent=duplicate' (e.g. an MRPC model on QQP)."},
    )
    input_transformation: str = field(
        default="auto",
        metadata={"help": "GPT-1's input transformation (Radford et al. 2018, section 3.3): 'gpt' wraps a sentence as "
                          "<start> text <extract> and a pair as <start> first <delim> second <extract>, and the "
                          "classifier reads the extract token; 'none' gives the tokenizer's own format; 'auto' (the "
                          "default): what a checkpoint fine-tuned by this command recorded in its config.json, else "
                          "'gpt' for GPT-family checkpoints (hf_gpt, openai-gpt, gpt2, llama) and 'none' for the "
                          "others (BERT: [CLS] a [SEP] b [SEP])."},
    )
    gpt_special_tokens: str | None = field(
        default=None,
        metadata={"help": "The start, delimiter and extract tokens of --input_transformation gpt: 'add' (new tokens "
                          f"{GPT_SPECIAL_TOKENS['start']} {GPT_SPECIAL_TOKENS['delimiter']} "
                          f"{GPT_SPECIAL_TOKENS['extract']}, with new embedding rows, as GPT-1) or 'reuse' (the "
                          "tokenizer's BOS as start and its EOS as delimiter and extract: no new rows). Default: "
                          "what the checkpoint recorded, else 'add'. A tokenizer without a pad token gets "
                          f"{GPT_PAD_TOKEN} either way."},
    )
    # Your own data (no --task_name), with the flags of transformers' examples/pytorch/text-classification/
    # run_classification.py
    text_column_names: str | None = field(
        default=None,
        metadata={"help": "Your own data: the text column(s), comma-separated (default: the columns that hold text, "
                          "other than the label and an id column). Two are a sentence pair (as GLUE's), more are "
                          "joined into one text with --text_column_delimiter."},
    )
    text_column_delimiter: str | None = field(
        default=None,
        metadata={"help": "Your own data: join the text columns into one text with this string (default: two columns "
                          "are a sentence pair; three or more are joined with a space)."},
    )
    label_column_name: str | None = field(
        default=None, metadata={"help": "Your own data: the label column (default: label). Its values are the label "
                                        "names the model keeps (config.id2label), ids in sorted order (numerically for "
                                        "integers); lists of labels make a multi-label task."}
    )
    remove_columns: str | None = field(
        default=None, metadata={"help": "Your own data: columns to ignore, comma-separated."}
    )
    do_regression: bool | None = field(
        default=None, metadata={"help": "Your own data: regression (true) or classification (false); default: "
                                        "inferred (regression when the labels are numbers with a fraction)."}
    )
    metric_name: str | None = field(
        default=None,
        metadata={"help": "Your own data: the metric(s) to report, comma-separated (default: all of the problem type): "
                          f"single-label {', '.join(USER_METRICS['single_label_classification'])}; multi-label "
                          f"{', '.join(USER_METRICS['multi_label_classification'])}; regression "
                          f"{', '.join(USER_METRICS['regression'])}. 'f1' is macro_f1 (micro_f1 for multi-label)."},
    )
    shuffle_train_dataset: bool = field(default=False, metadata={"help": "Shuffle the training examples once."})
    shuffle_seed: int = field(default=42, metadata={"help": "Seed of --shuffle_train_dataset."})
    lm_loss_coef: float = field(
        default=0.0,
        metadata={"help": "GPT-1's auxiliary language-modelling loss weight lambda (section 3.2; 0.5 in the paper): "
                          "> 0 fine-tunes hf_models' GPTDoubleHeadsModel, loss = classification loss + lambda x LM "
                          "loss on the input tokens (padding ignored); 0 (the default) is plain "
                          "GPTForSequenceClassification. hf_models' GPT only (transformers' GPT classes have no such "
                          "head: use --implementation hf_models)."},
    )

    def __post_init__(self):
        # your own data: the task is made from the files when they are read (`user_task`)
        self.task = get_task(self.task_name) if self.task_name else None
        self.task_name = self.task.name if self.task else None
        user_flags = [name for name in ("text_column_names", "text_column_delimiter", "label_column_name",
                                        "remove_columns", "do_regression", "metric_name")
                      if getattr(self, name) is not None]
        if self.task is not None and user_flags:
            raise InputError(f"--{user_flags[0]} is for your own data: leave out --task_name {self.task_name} (GLUE "
                             "files have their known columns and metrics)")
        if self.task is None and not (self.train_file or self.validation_file or self.test_file or self.dataset_name):
            raise InputError("no data: give --task_name with --data_dir for a GLUE task, or your own files with "
                             "--train_file/--validation_file/--test_file (or a hub --dataset_name)")
        if self.task is None and self.data_dir:
            raise InputError("--data_dir is a GLUE task folder (with --task_name); give your own files with "
                             "--train_file, --validation_file and --test_file")
        if self.input_transformation not in INPUT_TRANSFORMATIONS:
            raise InputError(f"--input_transformation must be one of {', '.join(INPUT_TRANSFORMATIONS)}, got "
                             f"{self.input_transformation!r}")
        if self.gpt_special_tokens is not None and self.gpt_special_tokens not in GPT_SPECIAL_TOKEN_MODES:
            raise InputError(f"--gpt_special_tokens must be one of {', '.join(GPT_SPECIAL_TOKEN_MODES)}, got "
                             f"{self.gpt_special_tokens!r}")
        if not math.isfinite(self.lm_loss_coef) or self.lm_loss_coef < 0:
            raise InputError(f"--lm_loss_coef must be a finite number >= 0 (0: no auxiliary LM loss), got "
                             f"{self.lm_loss_coef}")
        if self.max_seq_length < 3:
            raise ValueError(f"--max_seq_length must be >= 3, got {self.max_seq_length}")
        if self.task_name != "mnli" and (self.validation_mismatched_file or self.test_mismatched_file):
            raise ValueError("--validation_mismatched_file/--test_mismatched_file are for MNLI only")

    def split_files(self) -> dict[str, str]:
        """Split name -> local file, from --data_dir and the per-split file arguments (the latter win)."""
        files = find_split_files(self.data_dir) if self.data_dir else {}
        mnli = self.task_name == "mnli"
        given = {
            "train": self.train_file,
            "validation_matched" if mnli else "validation": self.validation_file,
            "validation_mismatched": self.validation_mismatched_file,
            "test_matched" if mnli else "test": self.test_file,
            "test_mismatched": self.test_mismatched_file,
        }
        files.update({split: path for split, path in given.items() if path})
        return files


# ----------------------------------------------------------------------------------------------------------------------
# 4. Loading, tokenizing, scoring
# ----------------------------------------------------------------------------------------------------------------------
def load_glue_splits(data_args: GlueDataArguments, model_args: ModelArguments | None = None,
                     labelled_splits: tuple[str, ...] | list[str] = ("train",)) -> datasets.DatasetDict:
    """The task's splits (train, validation[_matched/_mismatched], test[...]) in the hub's schema.

    A local file of a split in `labelled_splits` (training, evaluation with metrics) must have labels: a file without
    a label column is an error there, while a test file without one is read as unlabelled (labels -1).
    """
    if data_args.task is None or data_args.task.custom:
        return load_user_splits(data_args, model_args, labelled_splits)
    task = data_args.task
    if data_args.dataset_name:
        raw = datasets.load_dataset(
            data_args.dataset_name, data_args.dataset_config_name or task.name,
            cache_dir=model_args.cache_dir if model_args else None, token=model_args.token if model_args else None,
        )
        missing = [f for f in task.text_fields if f not in raw[next(iter(raw))].column_names]
        if missing:
            raise ValueError(f"hub dataset {data_args.dataset_name}: no column(s) {missing} for {task.name}")
        return raw
    files = data_args.split_files()
    if not files:
        raise ValueError("no data: give --dataset_name, --data_dir or --train_file/--validation_file/--test_file")
    return datasets.DatasetDict({split: read_glue_file(path, task, require_labels=split in labelled_splits)
                                 for split, path in files.items()})


def load_user_splits(data_args: GlueDataArguments, model_args: ModelArguments | None = None,
                     labelled_splits=("train",), model_config=None) -> datasets.DatasetDict:
    """Your own data (no --task_name): the files (or a hub dataset's splits) read, their task made (`user_task`,
    set as `data_args.task`) and each split converted to a Dataset. `model_config`: the labels of a model evaluated
    without training."""
    if data_args.dataset_name:
        hub = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name,
                                    cache_dir=model_args.cache_dir if model_args else None,
                                    token=model_args.token if model_args else None)
        tables = {split: RawTable(f"{data_args.dataset_name} ({split})", list(d.column_names), d.to_list(),
                                  [f"row {i}" for i in range(len(d))], "the columns") for split, d in hub.items()}
    else:
        tables = {split: read_raw_table(path) for split, path in data_args.split_files().items()}
    task = data_args.task
    if task is None or not task.custom:
        task = user_task(tables, data_args, labelled_splits, model_config)
        data_args.task = task
    return datasets.DatasetDict({split: user_table_dataset(table, task, require_labels=split in labelled_splits)
                                 for split, table in tables.items()})


def evaluation_splits(task: GlueTask, splits, kind: str) -> list[tuple[str, str]]:
    """(split name, metric key prefix) of the evaluation ('validation') or test ('test') splits present."""
    if task.name == "mnli" and not task.custom:
        names = [(f"{kind}_matched", "eval" if kind == "validation" else "predict"),
                 (f"{kind}_mismatched", "eval_mismatched" if kind == "validation" else "predict_mismatched")]
    else:
        names = [(kind, "eval" if kind == "validation" else "predict")]
    return [(split, prefix) for split, prefix in names if split in splits]


def tokenize_function(tokenizer, task: GlueTask, max_seq_length: int, padding: bool | str):
    """A batched map function: one sentence, or a sentence pair with segment ids, cut to max_seq_length."""

    def tokenize(batch):
        texts = [batch[f] for f in task.text_fields]
        return tokenizer(*texts, padding=padding, max_length=max_seq_length, truncation=True)

    return tokenize


# ----------------------------------------------------------------------------------------------------------------------
# 4b. GPT-1's input transformation (Radford et al. 2018, section 3.3)
# ----------------------------------------------------------------------------------------------------------------------
# config.json key under which a fine-tuned checkpoint records the input format it was trained with
INPUT_FORMAT_KEY = "glue_input_format"


def is_gpt_family(config) -> bool:
    """Whether a config is a GPT-family decoder (hf_models' GPT, or transformers' openai-gpt, gpt2, llama)."""
    return getattr(config, "model_type", None) in GPT_MODEL_TYPES


def saved_input_format(config, model_source: str | None) -> dict | None:
    """The input format a checkpoint fine-tuned by run_glue recorded (`glue_input_format` in its config.json), or None.

    Read from the folder's config.json itself when it is local: converting a config between the two libraries'
    classes (gpt2 <-> hf_gpt) keeps only the architecture's fields."""
    record = None
    path = os.path.join(model_source, "config.json") if model_source and os.path.isdir(model_source) else None
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8-sig") as f:
                record = json.load(f).get(INPUT_FORMAT_KEY)
        except (OSError, ValueError, AttributeError):
            record = None
    if record is None:
        record = getattr(config, INPUT_FORMAT_KEY, None)
    if record is None:
        return None
    if not isinstance(record, dict) or record.get("transformation") not in ("gpt", "none") or (
            record["transformation"] == "gpt"
            and not all(isinstance(record.get(k), str) and record[k] for k in GPT_SPECIAL_TOKENS)):
        raise InputError(f"{path or model_source}: {INPUT_FORMAT_KEY} must be {{'transformation': 'none'}} or "
                         f"{{'transformation': 'gpt', 'start': ..., 'delimiter': ..., 'extract': ...}}, got {record!r}")
    return dict(record)


def resolve_input_format(data_args: GlueDataArguments, config, tokenizer, model_source: str | None) -> dict | None:
    """The input format of this run: {'transformation': 'gpt', 'start', 'delimiter', 'extract'} (token strings),
    {'transformation': 'none'} for a GPT-family model fed the tokenizer's own format, or None (another family, as
    before: nothing changes for BERT and the others)."""
    saved = saved_input_format(config, model_source)
    mode = data_args.input_transformation
    if mode == "auto":
        mode = saved["transformation"] if saved else ("gpt" if is_gpt_family(config) else "none")
    elif saved and saved["transformation"] != mode:
        logger.warning(f"{model_source} was fine-tuned with --input_transformation {saved['transformation']}, but "
                       f"this run uses --input_transformation {mode}: its classifier sees inputs of another form")
    if mode == "none":
        return {"transformation": "none"} if is_gpt_family(config) or saved else None
    if not is_gpt_family(config) and not saved:
        logger.warning(f"--input_transformation gpt on a {config.model_type} model: its classifier reads the position "
                       "its own head pools (BERT: the first token), not necessarily the extract token")
    if data_args.gpt_special_tokens is None and saved and saved["transformation"] == "gpt":
        return {"transformation": "gpt", **{k: saved[k] for k in GPT_SPECIAL_TOKENS}}
    special = data_args.gpt_special_tokens or "add"
    if special == "add":
        tokens = dict(GPT_SPECIAL_TOKENS)
    else:
        missing = [name for name in ("bos_token", "eos_token") if getattr(tokenizer, name, None) is None]
        if missing:
            raise InputError(f"{model_source or 'the tokenizer'}: --gpt_special_tokens reuse needs the tokenizer's BOS "
                             f"and EOS tokens, but it has no {' and no '.join(missing)}; use --gpt_special_tokens add")
        tokens = {"start": tokenizer.bos_token, "delimiter": tokenizer.eos_token, "extract": tokenizer.eos_token}
    if saved and saved["transformation"] == "gpt" and any(saved[k] != tokens[k] for k in GPT_SPECIAL_TOKENS):
        logger.warning(f"{model_source} was fine-tuned with the special tokens "
                       f"{[saved[k] for k in GPT_SPECIAL_TOKENS]}, this run uses {[tokens[k] for k in GPT_SPECIAL_TOKENS]}")
    return {"transformation": "gpt", **tokens}


def prepare_gpt_model(tokenizer, model, input_format: dict) -> list[str]:
    """Give the tokenizer the tokens of `input_format` and a pad token, and the model their embedding rows.

    Missing start, delimiter and extract tokens are added as special tokens (never split, skipped by decode). A
    tokenizer without a pad token gets `<|pad|>`, a token of its own rather than EOS: transformers' decoder
    classifiers (GPT2ForSequenceClassification, LlamaFor...) find the extract token as the last token that is not
    pad_token_id, so a pad equal to EOS would hide a final EOS (`--gpt_special_tokens reuse`); hf_models' GPT pools
    by the attention mask, and never reads the pad row. New rows come from `model.resize_token_embeddings` (the mean
    and covariance of the others); the model's config gets the pad id and records the input format, so evaluating the
    saved checkpoint feeds it the same form. Returns the tokens added."""
    added = []
    if input_format["transformation"] == "gpt":
        vocab = tokenizer.get_vocab()
        new = [input_format[k] for k in GPT_SPECIAL_TOKENS if input_format[k] not in vocab]
        new = list(dict.fromkeys(new))
        if new:
            tokenizer.add_tokens(new, special_tokens=True)
            added += new
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": GPT_PAD_TOKEN})
        added.append(GPT_PAD_TOKEN)
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer))
        logger.info(f"Added the tokens {added} to the tokenizer; the model's embeddings grow from {rows} to "
                    f"{len(tokenizer)} rows")
    model.config.pad_token_id = tokenizer.pad_token_id
    setattr(model.config, INPUT_FORMAT_KEY, dict(input_format))
    return added


def gpt_tokenize_function(tokenizer, task: GlueTask, max_seq_length: int, padding: bool | str, input_format: dict):
    """A batched map function for GPT-1's input transformation (section 3.3): `<start> text <extract>`, or
    `<start> first <delim> second <extract>` for a pair, the texts tokenized without the tokenizer's own special
    tokens and cut (the longer first, as `truncation="longest_first"`) so that the extract token always stays: the
    classifier reads its final state."""
    start, delimiter, extract = (tokenizer.convert_tokens_to_ids(input_format[k]) for k in GPT_SPECIAL_TOKENS)
    keep_end = getattr(tokenizer, "truncation_side", "right") == "left"

    def cut(ids: list[int], keep: int) -> list[int]:
        return ids[len(ids) - keep:] if keep_end else ids[:keep]

    def tokenize(batch):
        # verbose=False: the texts are cut just below, so the tokenizer's "longer than the maximum" warning misleads
        texts = [tokenizer(batch[f], add_special_tokens=False, verbose=False)["input_ids"] for f in task.text_fields]
        input_ids = []
        if len(texts) == 1:
            budget = max_seq_length - 2  # start, extract
            for a in texts[0]:
                input_ids.append([start, *cut(a, min(len(a), budget)), extract])
        else:
            budget = max_seq_length - 3  # start, delimiter, extract
            for a, b in zip(*texts):
                keep_a, keep_b = _longest_first(len(a), len(b), budget)
                input_ids.append([start, *cut(a, keep_a), delimiter, *cut(b, keep_b), extract])
        features = {"input_ids": input_ids, "attention_mask": [[1] * len(ids) for ids in input_ids]}
        if padding == "max_length":
            features = dict(tokenizer.pad(features, padding="max_length", max_length=max_seq_length))
        return features

    return tokenize


def _longest_first(length_a: int, length_b: int, budget: int) -> tuple[int, int]:
    """How many tokens of each text to keep so that both fit `budget`: the longer is cut first, down to the shorter's
    length, then both in turn."""
    excess = length_a + length_b - budget
    if excess <= 0:
        return length_a, length_b
    cut = min(excess, abs(length_a - length_b))
    if length_a >= length_b:
        length_a -= cut
    else:
        length_b -= cut
    rest = excess - cut
    return length_a - (rest + 1) // 2, length_b - rest // 2


def parse_label_mapping(text: str | None) -> dict[str, str]:
    """'a=b,c=d' -> {'a': 'b', 'c': 'd'}: model label names to dataset label names."""
    if not text:
        return {}
    mapping = {}
    for pair in text.split(","):
        if "=" not in pair:
            raise ValueError(f"--label_mapping: {pair!r} is not model_label=dataset_label")
        model_label, dataset_label = (s.strip() for s in pair.split("=", 1))
        mapping[model_label] = dataset_label
    return mapping


def model_to_dataset_ids(config, task: GlueTask, label_mapping: dict[str, str]) -> np.ndarray | None:
    """Model class id -> task class id, by label name (None when they are the same list); error when they differ."""
    if task.is_regression:
        if config.num_labels != 1:
            raise ValueError(f"{task.name} is a regression task but the model has {config.num_labels} labels")
        return None
    model_names = [str(config.id2label[i]) for i in range(config.num_labels)]
    if model_names == list(task.label_names) and not label_mapping:
        return None
    mapped = [label_mapping.get(name, name) for name in model_names]
    unknown = [f"{m}->{d}" if m != d else m for m, d in zip(model_names, mapped) if d not in task.label_names]
    if unknown:
        raise ValueError(
            f"the model's labels {model_names} are not {task.name}'s {list(task.label_names)}: {unknown} have no "
            f"{task.name} label. Give --label_mapping model_label=dataset_label,... (e.g. an MRPC model on QQP: "
            f"not_equivalent=not_duplicate,equivalent=duplicate)"
        )
    return np.array([task.label_names.index(d) for d in mapped])


def predictions_to_labels(logits: np.ndarray, task: GlueTask, id_map: np.ndarray | None) -> np.ndarray:
    """Scores (STS-B) or task class ids from the model's logits (batch, num_labels)."""
    if task.is_regression:
        return np.squeeze(logits, axis=-1) if logits.ndim == 2 else logits
    if task.is_multi_label:  # each label on its own: sigmoid(logit) > 0.5
        return (logits > 0).astype(np.float32)
    ids = np.argmax(logits, axis=-1)
    return ids if id_map is None else id_map[ids]


def compute_glue_metrics(task: GlueTask, metric_config: str, predictions, references) -> dict[str, float]:
    """The task's GLUE metric(s) through the local evaluate module, plus `combined_score` when there are several.
    Your own data: `compute_user_metrics`."""
    if task.custom:
        return compute_user_metrics(task, predictions, references)
    from ..metrics import load_metric

    result = load_metric("glue", metric_config).compute(predictions=predictions, references=references)
    if len(result) > 1:
        result["combined_score"] = float(np.mean(list(result.values())))
    return result


def compute_user_metrics(task: GlueTask, predictions, references) -> dict[str, float]:
    """The metrics of your own data (scikit-learn, scipy), those of --metric_name or all of the problem type:
    single-label accuracy, macro/weighted F1 (over the labels present in gold or predictions) and Matthews
    correlation; multi-label micro/macro F1 and subset accuracy (every label right); regression Pearson, Spearman,
    MSE and MAE."""
    from sklearn import metrics as skm

    predictions, references = np.asarray(predictions), np.asarray(references)
    result: dict[str, float] = {}
    for name in task.metric_names or USER_METRICS[task.problem_type]:
        if name == "accuracy":
            value = skm.accuracy_score(references, predictions)
        elif name == "subset_accuracy":
            value = float(np.mean(np.all(references.astype(bool) == predictions.astype(bool), axis=-1)))
        elif name.endswith("_f1"):
            value = skm.f1_score(references.astype(int), predictions.astype(int), average=name[:-3],
                                 zero_division=0)
        elif name == "matthews_correlation":
            value = skm.matthews_corrcoef(references, predictions)
        elif name in ("pearson", "spearmanr"):
            from scipy import stats

            if np.ptp(predictions) == 0 or np.ptp(references) == 0:
                value = math.nan  # undefined for a constant: written as null, with a warning
            else:
                fn = stats.pearsonr if name == "pearson" else stats.spearmanr
                value = fn(predictions, references)[0]
        elif name == "mse":
            value = skm.mean_squared_error(references, predictions)
        else:  # mae
            value = skm.mean_absolute_error(references, predictions)
        result[name] = float(value)
    return result


def write_glue_predictions(path: str | os.PathLike, task: GlueTask, idx, predictions, gold=None,
                           extra_columns: dict[str, list[str]] | None = None) -> None:
    """The GLUE submission format: `index<TAB>prediction` (labels as the GLUE tsv files write them), gold optional,
    then any `extra_columns` (name -> a text per example, e.g. a T5's raw generations; tabs and line breaks in them
    become spaces)."""
    extra_columns = extra_columns or {}
    with atomic_write(path) as f:  # whole or not at all
        f.write("\t".join(["index", "prediction", *(["label"] if gold is not None else []), *extra_columns]) + "\n")
        for i, (index, prediction) in enumerate(zip(idx, predictions)):
            cells = [str(int(index)), format_label(task, prediction)]
            if gold is not None:
                cells.append(format_label(task, gold[i]))
            cells += [" ".join(str(texts[i]).replace("\t", " ").splitlines()) for texts in extra_columns.values()]
            f.write("\t".join(cells) + "\n")


def format_label(task: GlueTask, value) -> str:
    """A label as the GLUE tsv files write it (a score with 3 decimals for STS-B)."""
    if task.is_regression:
        return f"{float(value):.3f}"
    if task.is_multi_label:  # the names of the labels on, comma-separated
        return ",".join(name for name, on in zip(task.label_names, value) if on > 0.5)
    return task.tsv_label_values[int(value)]


def read_glue_predictions(path: str | os.PathLike, task: GlueTask) -> dict[int, float | int]:
    """A predictions file in the GLUE submission format (index, prediction; header optional) as index -> label."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    predictions = {}
    for line_number, line in enumerate(read_text(path, error=InputError).split("\n"), start=1):
        cells = line.rstrip("\r\n").split("\t")
        if line_number == 1 and cells[0].lower() in ("index", "idx", "id"):
            continue
        if not line.strip():
            continue
        where = f"{path}, line {line_number}"
        if len(cells) < 2:
            raise ValueError(f"{where}: expected index<TAB>prediction, got {line.rstrip()!r}")
        try:
            index = int(cells[0])
        except ValueError:
            raise ValueError(f"{where}: index {cells[0]!r} is not an integer") from None
        if index in predictions:
            raise ValueError(f"{where}: index {index} appears twice")
        predictions[index] = parse_label(task, cells[1], where)
    return predictions


def score_predictions_file(predictions_file: str, data_file: str, task: GlueTask | str,
                           mismatched: bool = False) -> dict[str, float]:
    """The GLUE metric of a predictions file against a labelled data file, matched by index."""
    task = get_task(task) if isinstance(task, str) else task
    gold = read_glue_file(data_file, task, require_labels=True)
    predictions = read_glue_predictions(predictions_file, task)
    missing = [i for i in gold["idx"] if i not in predictions]
    if missing:
        raise ValueError(f"{predictions_file}: no prediction for {len(missing)} of the {len(gold)} examples of "
                         f"{data_file} (first missing index: {missing[0]})")
    extra = set(predictions) - set(gold["idx"])
    if extra:
        raise ValueError(f"{predictions_file}: {len(extra)} indices are not in {data_file} (e.g. {min(extra)})")
    if any(label == -1 for label in gold["label"]):
        raise ValueError(f"{data_file}: has unlabelled examples (a test file?); it cannot be scored")
    config = task.metric_configs[1 if mismatched else 0]
    preds = [predictions[i] for i in gold["idx"]]
    return compute_glue_metrics(task, config, preds, gold["label"])


# ----------------------------------------------------------------------------------------------------------------------
# 5. The run: fine-tune, evaluate, predict
# ----------------------------------------------------------------------------------------------------------------------
def _check_double_heads(model_args: ModelArguments, config, lm_loss_coef: float) -> None:
    """--lm_loss_coef > 0 needs hf_models' GPTDoubleHeadsModel: an InputError for any other class."""
    if config.model_type == "hf_gpt":
        return
    source = model_args.model_name_or_path
    if is_gpt_family(config):
        raise InputError(f"--lm_loss_coef {lm_loss_coef}: the auxiliary LM loss needs hf_models' GPTDoubleHeadsModel, "
                         f"but {source} runs through transformers' {config.model_type} classes here (--implementation "
                         f"{model_args.implementation}), which have no such head; use --implementation hf_models, "
                         "or --lm_loss_coef 0")
    raise InputError(f"--lm_loss_coef {lm_loss_coef}: the auxiliary LM loss is GPT-1's fine-tuning of a GPT "
                     f"(hf_models' GPTDoubleHeadsModel), but {source} is a {config.model_type} model; leave "
                     "--lm_loss_coef at 0")


class LossPartsLoggingMixin:
    """For a `transformers.Trainer` subclass: a model whose outputs hold `classification_loss` and `lm_loss`
    (GPTDoubleHeadsModel) gets their means logged beside the total `loss` (= classification_loss + lm_loss_coef x
    lm_loss), over the same training steps and averaged over the processes as the Trainer averages the loss."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        if model.training and isinstance(outputs, dict):
            parts = [outputs.get(name) for name in ("classification_loss", "lm_loss")]
            if all(part is not None for part in parts):
                sums = getattr(self, "_loss_parts", None)
                step = torch.stack([part.detach().float() for part in parts])
                self._loss_parts = step if sums is None else sums + step
                self._loss_parts_count = getattr(self, "_loss_parts_count", 0) + 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs, *args, **kwargs):
        sums = getattr(self, "_loss_parts", None)
        if "loss" in logs and sums is not None:
            means = self.accelerator.gather((sums / self._loss_parts_count)[None]).mean(dim=0)
            logs = {**logs, "classification_loss": float(means[0]), "lm_loss": float(means[1])}
            self._loss_parts, self._loss_parts_count = None, 0
        return super().log(logs, *args, **kwargs)


def _model_columns(dataset, keep_labels: bool = True):
    """A split without the columns the model does not take: idx, the files' example ids, and the labels unless
    `keep_labels`."""
    drop = [c for c in ("idx", ID_FIELD) if c in dataset.column_names] + ([] if keep_labels else ["label"])
    return dataset.remove_columns(drop)


def _select(dataset, max_samples: int | None):
    return dataset if max_samples is None else dataset.select(range(min(max_samples, len(dataset))))


@releases_output_dirs
def run_glue(model_args: ModelArguments, data_args: GlueDataArguments, run_args: RunArguments,
             training_args) -> dict[str, float]:
    """Fine-tune (--do_train), evaluate on dev (--do_eval) and predict test (--do_predict) one GLUE task.

    Writes the model, `{train,eval,predict}_results.json`, `all_results.json`, the predictions of every evaluated
    split in the GLUE submission format (`eval_predictions_<task>.tsv`, `predict_results_<task>.tsv`) and a row per
    evaluated split in the results table. Returns all metrics.
    """
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )

    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise ValueError("nothing to do: give --do_train, --do_eval and/or --do_predict")
    labelled_splits = ["train"]  # a train file is always for training; dev files are scored with --do_eval
    if training_args.do_eval:
        labelled_splits += ["validation", "validation_matched", "validation_mismatched"]
    # The data first: a problem with it is the user's to fix, reported as one line before anything else is logged
    if data_args.task is None or data_args.task.custom:  # your own data: a model that is not trained has its labels
        model_config = None if training_args.do_train else load_config(model_args)
        raw = load_user_splits(data_args, model_args, labelled_splits, model_config)
    else:
        raw = load_glue_splits(data_args, model_args, labelled_splits)
    task = data_args.task
    logger.info(f"Training/evaluation parameters {training_args}")
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)
    set_seed(training_args.seed)
    if training_args.do_train and "train" not in raw:
        raise ValueError(f"--do_train needs a train split (found {list(raw)})")
    eval_splits = evaluation_splits(task, raw, "validation") if training_args.do_eval else []
    if training_args.do_eval and not eval_splits:
        raise ValueError(f"--do_eval needs a validation split (found {list(raw)})")
    test_splits = evaluation_splits(task, raw, "test") if training_args.do_predict else []
    if training_args.do_predict and not test_splits:
        raise ValueError(f"--do_predict needs a test split (found {list(raw)})")

    # An encoder-decoder (T5) is fine-tuned text-to-text: T5's task prefixes in, the label words out (text_to_text.py)
    config = load_config(model_args, finetuning_task=task.name)
    from .text_to_text import is_text_to_text, run_text_to_text

    if is_text_to_text(config):
        if task.custom and task.problem_type != "single_label_classification":
            raise InputError(f"{model_args.model_name_or_path} is an encoder-decoder, fine-tuned text-to-text: its "
                             f"targets are label words, so it takes single-label data, not "
                             f"{task.problem_type.replace('_', ' ')}; use an encoder (BERT) or a GPT checkpoint")
        if task.custom:  # the text-to-text runner takes the text fields, label and idx
            raw = datasets.DatasetDict({split: d.remove_columns([ID_FIELD]) for split, d in raw.items()})
        return run_text_to_text(model_args, data_args, run_args, training_args, config, raw, eval_splits, test_splits,
                                last_checkpoint)

    # The config carries the task's labels when training; an already fine-tuned model keeps its own for evaluation.
    if training_args.do_train:
        label_fields = (
            {"num_labels": 1, "problem_type": "regression"} if task.is_regression else
            {"num_labels": task.num_labels, "id2label": dict(enumerate(task.label_names)),
             "label2id": {name: i for i, name in enumerate(task.label_names)},
             "problem_type": task.problem_type or "single_label_classification"}
        )
        config = load_config(model_args, finetuning_task=task.name, **label_fields)
    tokenizer = load_tokenizer(model_args)
    # GPT-1's recipe: the input transformation (GPT family by default) and the auxiliary LM loss (--lm_loss_coef)
    input_format = resolve_input_format(data_args, config, tokenizer,
                                        model_args.config_name or model_args.model_name_or_path)
    double_heads = data_args.lm_loss_coef > 0
    if double_heads:
        _check_double_heads(model_args, config, data_args.lm_loss_coef)
        from ..gpt import GPTDoubleHeadsModel

        config.lm_loss_coef = data_args.lm_loss_coef
        model = load_model(GPTDoubleHeadsModel, model_args, config)
    else:
        model = load_model(AutoModelForSequenceClassification, model_args, config)
    if input_format is not None:
        added = prepare_gpt_model(tokenizer, model, input_format)
        unseen = [token for token in added if token != GPT_PAD_TOKEN]
        if unseen and not training_args.do_train:
            logger.warning(f"{model_args.model_name_or_path} was not fine-tuned with the tokens {unseen}: their "
                           "embeddings are new and untrained (fine-tune it with --do_train first)")
    id_map = model_to_dataset_ids(model.config, task, parse_label_mapping(data_args.label_mapping))
    if task.custom and not task.is_regression and model.config.problem_type not in (None, task.problem_type):
        raise InputError(f"{model_args.model_name_or_path} was fine-tuned for {model.config.problem_type}, but the "
                         f"data is {task.problem_type}")
    # A pretrained tokenizer that cannot spell the data: [UNK] for many words (an uncased BERT on Korean, say)
    from ..tokenization import warn_unknown_tokens

    sample_split = "train" if "train" in raw and training_args.do_train else next(iter(raw))
    sample = _select(raw[sample_split], 1000)
    warn_unknown_tokens(tokenizer, [t for name in task.text_fields for t in sample[name]],
                        f"{model_args.tokenizer_name or model_args.model_name_or_path} on {sample_split}")
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and data_args.max_seq_length > max_positions:
        raise ValueError(f"--max_seq_length {data_args.max_seq_length} exceeds the model's max_position_embeddings "
                         f"({max_positions})")

    padding = "max_length" if data_args.pad_to_max_length else False
    if input_format is not None and input_format["transformation"] == "gpt":
        tokenize = gpt_tokenize_function(tokenizer, task, data_args.max_seq_length, padding, input_format)
    else:
        tokenize = tokenize_function(tokenizer, task, data_args.max_seq_length, padding)
    limits = {"train": run_args.max_train_samples}
    limits.update({split: run_args.max_eval_samples for split, _ in eval_splits})
    limits.update({split: run_args.max_predict_samples for split, _ in test_splits})
    processed = {}
    with training_args.main_process_first(desc="tokenizing the dataset"):
        for split, limit in limits.items():
            if split not in raw or (split == "train" and not training_args.do_train):
                continue
            dataset = raw[split]
            if split == "train" and data_args.shuffle_train_dataset:
                dataset = dataset.shuffle(seed=data_args.shuffle_seed)
            dataset = _select(dataset, limit)
            processed[split] = dataset.map(
                tokenize, batched=True, num_proc=run_args.preprocessing_num_workers,
                remove_columns=list(task.text_fields), desc=f"Tokenizing {split}",
            )
            if input_format is not None and len(processed[split]):
                logger.info(f"{split}, first example as the model reads it: "
                            f"{tokenizer.decode(processed[split][0]['input_ids'])!r}")
            lengths = [len(ids) for ids in processed[split]["input_ids"][:2000]]
            truncated = sum(n >= data_args.max_seq_length for n in lengths)
            logger.info(f"{split}: {len(dataset)} examples; of the first {len(lengths)}, {truncated} reach "
                        f"max_seq_length={data_args.max_seq_length}")
    if training_args.do_train and id_map is not None:
        raise ValueError("--label_mapping is for evaluating a model trained on another task, not for training")

    def compute_metrics(prediction):
        preds = predictions_to_labels(prediction.predictions, task, id_map)
        return compute_glue_metrics(task, task.metric_configs[0], preds, prediction.label_ids)

    collator = None if data_args.pad_to_max_length else DataCollatorWithPadding(
        tokenizer, pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None
    )
    train_dataset = processed.get("train")
    # GPTDoubleHeadsModel: its forward also names `lm_labels`, which the batches do not hold (they would make the
    # Trainer think an evaluation batch unlabelled: no loss, no metrics); only its classification logits are
    # predictions (lm_logits, batch x seq x vocab, would be gathered for nothing).
    ignore_keys = None
    if double_heads:
        if training_args.label_names is None:
            training_args.label_names = ["labels"]
        ignore_keys = ["lm_logits", "classification_loss", "lm_loss", "hidden_states", "attentions"]

    class GlueTrainer(SafeSavingMixin, InOrderEvaluationMixin, Trainer):
        """Trainer whose predictions come back in dataset order (the predictions files pair them with idx)."""

    trainer_class = GlueTrainer
    if double_heads:
        class GlueDoubleHeadsTrainer(LossPartsLoggingMixin, GlueTrainer):
            """GlueTrainer that logs both parts of GPT-1's fine-tuning loss beside their sum."""

        trainer_class = GlueDoubleHeadsTrainer
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=_model_columns(train_dataset) if train_dataset is not None else None,
        eval_dataset=_model_columns(processed[eval_splits[0][0]]) if eval_splits else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )
    # A classifier's loss is a mean over its batch. A forward(**kwargs) (transformers' BertForSequenceClassification,
    # GPT2ForSequenceClassification, ...) makes the Trainer believe it normalises by num_items_in_batch: it would skip
    # the division by the gradient accumulation steps and multiply the loss by the number of processes.
    trainer.model_accepts_loss_kwargs = False

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint, ignore_keys_for_eval=ignore_keys)
        trainer.save_model()
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(train_dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))  # strict JSON: NaN -> null
        trainer.save_state()
        results.update(metrics)

    impl = implementation_name(trainer.model)
    trainer.compute_metrics = None  # from here on each split is scored with its own metric config
    for kind, splits in (("eval", eval_splits), ("predict", test_splits)):
        for split, prefix in splits:
            dataset = processed[split]
            labelled = all(is_labelled(task, label) for label in dataset["label"])
            if kind == "eval" and not labelled:
                raise ValueError(f"the {split} split has unlabelled examples: it cannot be evaluated")
            # With a label mapping the model's classes are not the dataset's: no loss against the dataset's ids.
            keep_labels = labelled and id_map is None
            output = trainer.predict(_model_columns(dataset, keep_labels),
                                     metric_key_prefix=prefix, ignore_keys=ignore_keys)
            metrics = dict(output.metrics)
            preds = predictions_to_labels(output.predictions, task, id_map)
            if labelled:
                metric_config = task.metric_configs[1 if split.endswith("mismatched") else 0]
                scores = compute_glue_metrics(task, metric_config, preds, dataset["label"])
                metrics.update({f"{prefix}_{k}": v for k, v in scores.items()})
            metrics[f"{prefix}_samples"] = len(dataset)
            trainer.log_metrics(prefix, metrics)
            trainer.save_metrics(prefix, json_safe(metrics, f"{prefix}_results.json"))  # strict JSON: NaN -> null
            results.update(metrics)
            file_name = f"{'eval_predictions' if kind == 'eval' else 'predict_results'}_{task.name}"
            file_name += "_mismatched" if split.endswith("mismatched") else ""
            if training_args.should_save:
                ids = ({task.id_column: dataset[ID_FIELD]} if task.custom and task.id_column else None)
                write_glue_predictions(Path(training_args.output_dir) / f"{file_name}.tsv", task, dataset["idx"],
                                       preds, gold=dataset["label"] if labelled else None, extra_columns=ids)
            if labelled:
                record_results(training_args, run_args, task=task.name, split=split,
                               model_name=model_args.model_name_or_path, implementation=impl,
                               examples=len(dataset),
                               metrics={k[len(prefix) + 1:]: v for k, v in metrics.items()
                                        if k.startswith(prefix + "_")})
    if training_args.should_save:
        write_json(os.path.join(training_args.output_dir, "all_results.json"), results)  # strict JSON: NaN -> null
    if training_args.push_to_hub and training_args.do_train:
        if task.custom:
            trainer.push_to_hub(finetuned_from=model_args.model_name_or_path, tasks="text-classification",
                                dataset_tags=task.name, dataset=task.name)
        else:
            trainer.push_to_hub(finetuned_from=model_args.model_name_or_path, tasks="text-classification",
                                dataset_tags="glue", dataset_args=task.name, dataset=f"GLUE {task.name.upper()}")
    return results


__all__ = [
    "GLUE_TASKS",
    "USER_METRICS",
    "GlueDataArguments",
    "GlueTask",
    "RawTable",
    "compute_glue_metrics",
    "compute_user_metrics",
    "dataset_display_name",
    "find_split_files",
    "get_task",
    "is_labelled",
    "load_glue_splits",
    "load_user_splits",
    "model_to_dataset_ids",
    "parse_label",
    "read_glue_file",
    "read_glue_predictions",
    "read_glue_table",
    "read_glue_tsv",
    "read_raw_table",
    "read_user_file",
    "read_user_texts",
    "run_glue",
    "score_predictions_file",
    "sorted_label_names",
    "user_task",
    "write_glue_predictions",
]
