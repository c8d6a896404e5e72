"""Named-entity recognition on CoNLL-2003 (Tjong Kim Sang & De Meulder 2003) and corpora in its format: reading the
data, aligning word tags to sub-word tokens, fine-tuning any token-classification model with `transformers.Trainer`,
and scoring entities exactly as the shared task's conlleval.pl does.

The pieces, in the order a run uses them:

- readers: CoNLL column files (`read_conll_file`: one word per line, blank lines between sentences, `-DOCSTART-`
  lines between documents), csv/json/jsonl records with a list of words and a list of tags (`read_records_file`),
  and hub datasets (`--dataset_name conll2003`, tags as ClassLabel ids). Every tag is checked, and a file that is
  malformed stops the run with an error naming the file, the line and the problem (`ConllFormatError`).
- tags: CoNLL-2003 is published in IOB1 (`I-ORG` opens an entity unless it follows another ORG word; `B-` only
  separates two adjacent entities of one type). `to_iob2` rewrites a tag sequence into IOB2 (`B-` on every entity's
  first word), the entities unchanged, so that a model learns one unambiguous tag for "first word of an entity". Which
  words form an entity is decided by the chunk rules (`--chunk_rules`): `conlleval` (the default) is conlleval.pl's
  startOfChunk/endOfChunk, which read IOB1, IOB2 and IOE but not IOBES (its `S-` is no single-word entity there:
  `S-PER S-PER` is one entity, and `E-PER B-PER` continues one); `iobes` reads `S-` as a one-word entity and `B-` as
  always opening one (seqeval's default rules). Data with `S-`/`E-` tags that the two read differently gets a warning.
- alignment: words go through the tokenizer with `is_split_into_words=True`; `word_ids()` says which word each
  sub-token came from. The first sub-token of a word carries the word's label, the others -100 (ignored by the loss)
  or, with `--label_all_tokens`, the word's label too (`B-X` becoming `I-X`, as in transformers' run_ner).
- scoring: a word's prediction is the prediction at its first sub-token; words without one (cut off by
  `max_seq_length`, or that tokenize to nothing) are predicted `O` and still scored, so the scores are those of the
  whole file. Entity precision/recall/F1 come from the local seqeval metric (`hf_models.metrics.load_metric
  ("seqeval")`) with the same chunk rules, and the token accuracy is conlleval's: every `-DOCSTART-` line of the
  predictions file counts as a token tagged O (conlleval.pl counts it; only blank lines and lines starting with `-X-`
  are boundaries), so the numbers equal conlleval.pl's on the written predictions file.
- `run_ner`: train (`--do_train`), evaluate on the validation set (`--do_eval`), predict the test set
  (`--do_predict`), with resumable output folders, JSON metrics, predictions in conlleval's column format and a row
  in the results table. `training/run_ner.py` and `eval/eval_conll.py` are its command lines.

Any model with a token-classification head works: `AutoModelForTokenClassification` loads hf_models' BERT or
transformers' own class (`--implementation`), and the model only needs `forward(input_ids, attention_mask, labels)`
with labels -100 ignored.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_utils import InputError, input_paths, json_safe, releases_output_dirs
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

logger = logging.getLogger("hf_models.tasks.conll")

IGNORE_INDEX = -100  # label of the tokens the loss and the metric skip (special tokens, continuation sub-tokens)
DOCSTART = "-DOCSTART-"  # CoNLL's document separator line
TAG_SCHEMES = ("iob2", "as_is")
CHUNK_RULES = ("conlleval", "iobes")  # how tags group into entities: conlleval.pl's rules, or IOBES (seqeval's)
BOUNDARY = "-X-"  # conlleval.pl's sentence boundary: a line whose first field is -X- is no token
RECORD_SUFFIXES = (".csv", ".json", ".jsonl")
TASK = "ner"

_TAG_PATTERN = re.compile(r"O|[BIES]-\S+")
_FIELD_SEPARATOR = re.compile(r"[ \t]+")  # only ASCII blanks: a word may hold any other character, e.g. U+200B
_DEFAULT_LABEL_NAME = re.compile(r"LABEL_\d+")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class DataArguments:
    """Which NER data to train and evaluate on, how to read it, and how to turn words into model inputs."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub dataset, e.g. conll2003 (splits train/validation/test, tags as ClassLabel ids). A "
                          "--train_file/--validation_file/--test_file given as well replaces that split."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of the hub dataset."})
    train_file: str | None = field(
        default=None,
        metadata={"help": "Training data: a CoNLL column file (e.g. eng.train), or .csv/.json/.jsonl records with "
                          "a list of words and a list of tags (string tags or ids)."},
    )
    validation_file: str | None = field(default=None, metadata={"help": "Validation data (e.g. eng.testa)."})
    test_file: str | None = field(default=None, metadata={"help": "Test data (e.g. eng.testb)."})
    text_column_name: str | None = field(
        default=None, metadata={"help": "Field of the words in hub/csv/json data (default: tokens)."}
    )
    label_column_name: str | None = field(
        default=None, metadata={"help": "Field of the tags in hub/csv/json data (default: ner_tags)."}
    )
    word_column: int = field(default=0, metadata={"help": "Column of the word in CoNLL column files (0 = first)."})
    tag_column: int = field(
        default=-1, metadata={"help": "Column of the NER tag in CoNLL column files (-1 = last, as in CoNLL-2003)."}
    )
    tag_scheme: str = field(
        default="iob2",
        metadata={"help": "'iob2': rewrite the tags as IOB2 (B- on the first word of every entity; CoNLL-2003 is "
                          "published in IOB1), the entities unchanged; 'as_is': keep the tags of the files."},
    )
    chunk_rules: str = field(
        default="conlleval",
        metadata={"help": "How tags group into entities, for --tag_scheme iob2 and for scoring: 'conlleval' (conlleval."
                          "pl's rules: IOB1, IOB2 and IOE; S- is not a one-word entity, E-X B-X is one entity) or "
                          "'iobes' (S- is a one-word entity, B- always opens one, E- closes one: seqeval's rules)."},
    )
    tag_names: str | None = field(
        default=None,
        metadata={"help": "Comma-separated tag names for data whose tags are ids (id i is the i-th name), e.g. "
                          "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC. Default: the checkpoint's id2label."},
    )
    file_encoding: str = field(default="utf-8", metadata={"help": "Text encoding of the data files."})
    max_seq_length: int | None = field(
        default=None,
        metadata={"help": "Most sub-word tokens per sentence (default: the model's limit). Longer sentences are "
                          "truncated; the words cut off are counted, and predicted O when evaluating."},
    )
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every sentence to max_seq_length (default: pad each batch to its longest)."}
    )
    label_all_tokens: bool = field(
        default=False,
        metadata={"help": "Train on every sub-token of a word (B-X becomes I-X after the first), not just the first. "
                          "Evaluation always reads each word's first sub-token."},
    )
    return_entity_level_metrics: bool = field(
        default=False,
        metadata={"help": "Report precision/recall/F1/number for every entity type as well as overall."},
    )

    def __post_init__(self):
        if self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"--tag_scheme must be one of {', '.join(TAG_SCHEMES)}, got {self.tag_scheme!r}")
        check_chunk_rules(self.chunk_rules)
        if self.max_seq_length is not None and self.max_seq_length < 3:
            raise ValueError(f"--max_seq_length must leave room for special tokens and a word, got {self.max_seq_length}")
        if self.word_column == self.tag_column:
            raise ValueError(f"--word_column and --tag_column are both {self.word_column}")

    def files(self) -> dict[str, str]:
        """split -> local file, for the splits given as files."""
        given = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        return {split: path for split, path in given.items() if path is not None}

    def tag_name_list(self) -> list[str] | None:
        """--tag_names as a list (None when not given)."""
        if self.tag_names is None:
            return None
        names = [name.strip() for name in self.tag_names.split(",")]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise ValueError(f"--tag_names must be distinct non-empty names separated by commas, got {self.tag_names!r}")
        return names


# ----------------------------------------------------------------------------------------------------------------------
# Tags: IOB1 / IOB2 / IOE / IOBES and conlleval's chunk rules
# ----------------------------------------------------------------------------------------------------------------------
def split_tag(tag: str) -> tuple[str, str]:
    """('B', 'PER') for 'B-PER'; ('O', '') for 'O'."""
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def tag_problem(tag: Any) -> str | None:
    """Why `tag` is not a NER tag ('O', or B-/I-/E-/S- and an entity type), or None when it is one."""
    if not isinstance(tag, str):
        return f"tag {tag!r} is not a string"
    if _TAG_PATTERN.fullmatch(tag):
        return None
    if tag[:2] in ("B-", "I-", "E-", "S-"):
        return f"invalid tag {tag!r}: no entity type after {tag[:2]!r}"
    return f"invalid tag {tag!r}: expected O, or B-, I-, E- or S- followed by an entity type (e.g. I-PER)"


def check_chunk_rules(chunk_rules: str) -> None:
    """A clear error for chunk rules other than CHUNK_RULES."""
    if chunk_rules not in CHUNK_RULES:
        raise ValueError(f"--chunk_rules must be one of {', '.join(CHUNK_RULES)}, got {chunk_rules!r}")


def starts_entity(previous_prefix: str, prefix: str, previous_type: str, entity_type: str,
                  chunk_rules: str = "conlleval") -> bool:
    """Whether a tag opens an entity: conlleval.pl's startOfChunk ('conlleval'), or seqeval's, which adds IOBES
    ('iobes': S- and B- always open one, and I-/E- open one after E-, S- or O).

    With the tags of CoNLL files (O, B-, I-, E-, S-) each rule set's endOfChunk ends an entity exactly where the next
    one starts or an O comes, so the starts alone say where the entities are.
    """
    if chunk_rules == "iobes":
        if prefix in ("B", "S"):
            return True
        if previous_prefix in ("E", "S", "O") and prefix in ("I", "E"):
            return True
    else:  # conlleval.pl knows B-, I- and E-; an S- opens an entity only after O or another type
        if prefix == "B" and previous_prefix in ("B", "I", "O"):
            return True
        if previous_prefix in ("E", "O") and prefix in ("I", "E"):
            return True
    return prefix != "O" and previous_type != entity_type


def to_iob2(tags: list[str], chunk_rules: str = "conlleval") -> list[str]:
    """The same entities written in IOB2: B- on the first word of every entity, I- on the words after it; the
    entities are found with `chunk_rules` ('conlleval' or 'iobes', see `starts_entity`)."""
    check_chunk_rules(chunk_rules)
    converted = []
    previous_prefix, previous_type = "O", ""
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == "O":
            converted.append("O")
        elif starts_entity(previous_prefix, prefix, previous_type, entity_type, chunk_rules):
            converted.append(f"B-{entity_type}")
        else:
            converted.append(f"I-{entity_type}")
        previous_prefix, previous_type = prefix, entity_type
    return converted


def warn_if_read_as_iobes_differs(sentences: list[Sentence], chunk_rules: str,
                                  predictions: list[list[str]] | None = None) -> None:
    """Under conlleval's rules, warn when the tags (gold, and predicted when given) of some sentence group into other
    entities than IOBES would make of them (only S-/E- tags can), naming the file and line of the first."""
    if chunk_rules != "conlleval":  # IOBES was asked for
        return
    sequences = [(sentence, sentence.tags, "") for sentence in sentences]
    if predictions is not None:
        sequences += [(sentence, tags, "predicted ") for sentence, tags in zip(sentences, predictions)]
    for sentence, tags, what in sequences:
        if not any(tag[:2] in ("S-", "E-") for tag in tags):
            continue
        ours, iobes = to_iob2(tags, "conlleval"), to_iob2(tags, "iobes")
        if ours != iobes:
            i = next(i for i, (a, b) in enumerate(zip(ours, iobes)) if a != b)
            logger.warning(f"{sentence.where(i)}: the {what}tags {' '.join(tags[max(i - 1, 0):i + 1])!r} are read as "
                           "conlleval.pl reads them (--chunk_rules conlleval), which does not know IOBES: S-X S-X or "
                           "E-X B-X is one entity there; pass --chunk_rules iobes if the tags are IOBES")
            return


# ----------------------------------------------------------------------------------------------------------------------
# Reading: CoNLL column files, csv/json/jsonl records, hub datasets
# ----------------------------------------------------------------------------------------------------------------------
class ConllFormatError(InputError):
    """A data file that cannot be read as NER data; the message names the file, the line and the problem."""


@dataclass
class Sentence:
    """One sentence of a NER corpus: its words, their tags, and where it came from (for error messages)."""

    tokens: list[str]
    tags: list[str]
    source: str  # the file (or hub dataset and split) it was read from
    line: int  # 1-based line of its first word (column files, jsonl, csv), record number (json) or row (hub)
    unit: str = "line"  # what `line` counts: "line", "record" or "row"
    word_per_line: bool = False  # column files: word i is on line `line + i`
    docstart: bool = False  # a -DOCSTART- line came just before it (kept in the predictions file)

    def where(self, i: int | None = None) -> str:
        """'FILE: line N' of word i (or of the sentence when i is None)."""
        if i is None:
            return f"{self.source}: {self.unit} {self.line}"
        if self.word_per_line:
            return f"{self.source}: line {self.line + i}"
        return f"{self.source}: {self.unit} {self.line}, word {i + 1}"


def _format_suffix(path: str | os.PathLike) -> str:
    """The suffix that says a file's format, past a .gz: '.jsonl' for train.jsonl and train.jsonl.gz."""
    return Path(Path(path).name.lower().removesuffix(".gz")).suffix


def _column_blocks(path: str | os.PathLike, encoding: str, min_columns: int,
                   docstarts: list[tuple[int, list[str]]] | None = None,
                   boundary: str | None = None) -> Iterator[tuple[int, bool, list]]:
    """(line of the first word, after a -DOCSTART-?, rows of fields) for every sentence of a column file.

    Blank lines end sentences, `-DOCSTART-` lines end documents (and sentences; each is appended to `docstarts` as
    (line, fields) when a list is given), and so do lines whose first field is `boundary`; every other line must have
    as many fields as the file's first word line.
    """
    columns = first_row_line = None
    rows: list[list[str]] = []
    start, docstart, after_docstart = 0, False, False
    text = read_text(path, encoding, error=ConllFormatError, encoding_flag="--file_encoding")
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip(" \t\r")
        first = line.split(None, 1)[0] if line else None
        if first is None or first == DOCSTART or (boundary is not None and first == boundary):
            if rows:
                yield start, docstart, rows
                rows = []
            if first == DOCSTART:
                after_docstart = True
                if docstarts is not None:
                    docstarts.append((number, _FIELD_SEPARATOR.split(line)))
            continue
        fields = _FIELD_SEPARATOR.split(line)
        if columns is None:
            if len(fields) < min_columns:
                raise ConllFormatError(
                    f"{path}: line {number}: {len(fields)} column(s); a word line needs at least {min_columns} "
                    "(the word and its tag, separated by spaces or tabs)"
                )
            columns, first_row_line = len(fields), number
        elif len(fields) != columns:
            raise ConllFormatError(
                f"{path}: line {number}: {len(fields)} column(s) where the lines before have {columns} (line "
                f"{first_row_line} set the number); each word line has the same columns, a blank line ends a sentence"
            )
        if not rows:
            start, docstart, after_docstart = number, after_docstart, False
        rows.append(fields)
    if rows:
        yield start, docstart, rows


def _check_column(path, column: int, columns: int, what: str) -> None:
    """A clear error when a chosen column does not exist in a file of `columns` columns."""
    if not -columns <= column < columns:
        raise ConllFormatError(f"{path}: the {what} column is {column} but the file has {columns} columns")


def read_conll_file(path: str | os.PathLike, word_column: int = 0, tag_column: int = -1,
                    encoding: str = "utf-8") -> list[Sentence]:
    """The sentences of a CoNLL column file (one word per line, tag in `tag_column`), tags checked, as written."""
    sentences = []
    for start, docstart, rows in _column_blocks(path, encoding, min_columns=2):
        if not sentences:
            _check_column(path, word_column, len(rows[0]), "word")
            _check_column(path, tag_column, len(rows[0]), "tag")
        sentence = Sentence(
            tokens=[row[word_column] for row in rows],
            tags=[row[tag_column] for row in rows],
            source=str(path),
            line=start,
            word_per_line=True,
            docstart=docstart,
        )
        _check_tags(sentence, sentence.tags)
        sentences.append(sentence)
    if not sentences:
        raise ConllFormatError(f"{path}: no examples, no sentence found (expected word lines with a tag, blank "
                               "lines between sentences)")
    return sentences


def read_predictions_file(path: str | os.PathLike, encoding: str = "utf-8") -> tuple[list[Sentence], list[list[str]]]:
    """conlleval's input: (sentences with their gold tags, predicted tags) from the last two columns of each line."""
    predictions_file = read_conlleval_file(path, encoding)
    return predictions_file.sentences, predictions_file.predictions


@dataclass
class PredictionsFile:
    """A file in conlleval's columns as conlleval.pl reads it: the sentences (gold tags), the predicted tags, and the
    `-DOCSTART-` lines, which conlleval.pl counts as tokens (tagged O O)."""

    sentences: list[Sentence]
    predictions: list[list[str]]
    docstart_lines: int = 0

    @property
    def tokens(self) -> int:
        """The tokens conlleval.pl counts: every word line, and every -DOCSTART- line."""
        return sum(len(sentence.tokens) for sentence in self.sentences) + self.docstart_lines


def read_conlleval_file(path: str | os.PathLike, encoding: str = "utf-8") -> PredictionsFile:
    """A predictions file (`word ... gold predicted` per line) read as conlleval.pl reads it: blank lines and lines
    whose first field is `-X-` are sentence boundaries; a `-DOCSTART-` line is a token and must end in `O O`."""
    sentences, predictions, docstarts = [], [], []
    for start, docstart, rows in _column_blocks(path, encoding, min_columns=2, docstarts=docstarts, boundary=BOUNDARY):
        sentence = Sentence(
            tokens=[row[0] if len(row) > 2 else "_" for row in rows],
            tags=[row[-2] for row in rows],
            source=str(path),
            line=start,
            word_per_line=True,
            docstart=docstart,
        )
        predicted = [row[-1] for row in rows]
        _check_tags(sentence, sentence.tags)
        _check_tags(sentence, predicted, "predicted ")
        sentences.append(sentence)
        predictions.append(predicted)
    if not sentences:
        raise ConllFormatError(f"{path}: no examples, no sentence found (expected lines 'word gold predicted', "
                               "blank lines between sentences)")
    for number, fields in docstarts:
        if fields[-2:] != ["O", "O"]:
            raise ConllFormatError(
                f"{path}: line {number}: a {DOCSTART} line must end in the gold and predicted tags 'O O' (conlleval.pl "
                f"scores it as a token), got {' '.join(fields[1:]) or 'no tags'!r}"
            )
    return PredictionsFile(sentences, predictions, len(docstarts))


def _check_tags(sentence: Sentence, tags: list, what: str = "") -> None:
    """Stop at the first tag that is not a NER tag, naming its file and line."""
    for i, tag in enumerate(tags):
        problem = tag_problem(tag)
        if problem is not None:
            raise ConllFormatError(f"{sentence.where(i)}: {what}{problem}")


def _parse_list_cell(value: Any) -> Any:
    """A csv cell holding a list: JSON or Python literal ('["EU", "rejects"]'), else words separated by blanks."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pass
    return text.split()


def _records(path: str | os.PathLike, encoding: str) -> Iterator[tuple[str, int, dict]]:
    """(unit, number, record) for every record of a .csv, .json (a list, or {"data": [...]}) or .jsonl file."""
    suffix = _format_suffix(path)
    text = read_text(path, encoding, error=ConllFormatError, encoding_flag="--file_encoding")
    if suffix == ".jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConllFormatError(f"{path}: line {number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise ConllFormatError(f"{path}: line {number}: expected a JSON object, got {type(record).__name__}")
            yield "line", number, record
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConllFormatError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise ConllFormatError(f"{path}: expected a JSON list of records (or {{\"data\": [...]}}), got "
                                   f"{type(data).__name__}; one object per line goes in a .jsonl file")
        for number, record in enumerate(data, start=1):
            if not isinstance(record, dict):
                raise ConllFormatError(f"{path}: record {number}: expected an object, got {type(record).__name__}")
            yield "record", number, record
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ConllFormatError(f"{path}: line {reader.line_num}: {error}") from None
            yield "line", reader.line_num, record  # the line the record ends on (its only one, unless quoted newlines)
    else:
        raise ConllFormatError(f"{path}: records must be .csv, .json or .jsonl, got {suffix!r}")


def _tag_names(raw_tags: list, id_to_label: list[str] | None, where) -> list:
    """String tags from tags that may be ids (ints, or digit strings in csv files)."""
    names = []
    for i, tag in enumerate(raw_tags):
        if isinstance(tag, bool):
            raise ConllFormatError(f"{where(i)}: tag {tag!r} is neither a tag name nor an id")
        if isinstance(tag, int) or (isinstance(tag, str) and tag.isdigit()):
            if id_to_label is None:
                raise ConllFormatError(
                    f"{where(i)}: tag {tag!r} is an id, and no label names are known to map ids to: pass "
                    "--tag_names O,B-PER,... (id i is the i-th name), or evaluate a checkpoint whose config has id2label"
                )
            if not 0 <= int(tag) < len(id_to_label):
                raise ConllFormatError(f"{where(i)}: tag id {tag} is out of range: {len(id_to_label)} label names known")
            tag = id_to_label[int(tag)]
        names.append(tag)
    return names


def read_records_file(path: str | os.PathLike, text_column: str = "tokens", label_column: str = "ner_tags",
                      id_to_label: list[str] | None = None, encoding: str = "utf-8") -> list[Sentence]:
    """The sentences of a .csv/.json/.jsonl file of records with a list of words and a list of tags (names or ids)."""
    sentences = []
    for unit, number, record in _records(path, encoding):
        for column in (text_column, label_column):
            if column not in record:
                raise ConllFormatError(
                    f"{path}: {unit} {number}: no field {column!r} (fields: {', '.join(map(str, record))}); choose "
                    "them with --text_column_name and --label_column_name"
                )
        tokens, raw_tags = _parse_list_cell(record[text_column]), _parse_list_cell(record[label_column])
        for column, value in ((text_column, tokens), (label_column, raw_tags)):
            if not isinstance(value, (list, tuple)):
                raise ConllFormatError(f"{path}: {unit} {number}: field {column!r} is not a list")
        if len(tokens) != len(raw_tags):
            raise ConllFormatError(f"{path}: {unit} {number}: {len(tokens)} words in {text_column!r} but "
                                   f"{len(raw_tags)} tags in {label_column!r}")
        if not tokens:
            continue
        sentence = Sentence(tokens=[str(token) for token in tokens], tags=[], source=str(path), line=number, unit=unit)
        sentence.tags = _tag_names(list(raw_tags), id_to_label, sentence.where)
        _check_tags(sentence, sentence.tags)
        sentences.append(sentence)
    if not sentences:
        raise ConllFormatError(f"{path}: no examples, no sentence found")
    return sentences


def read_ner_file(path: str | os.PathLike, data_args: DataArguments,
                  id_to_label: list[str] | None = None) -> list[Sentence]:
    """A NER file as `data_args` says to read it (format from the suffix), tags converted per --tag_scheme."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NER data file not found: {path}")
    if _format_suffix(path) in RECORD_SUFFIXES:
        sentences = read_records_file(
            path, data_args.text_column_name or "tokens", data_args.label_column_name or "ner_tags", id_to_label,
            data_args.file_encoding,
        )
    else:
        sentences = read_conll_file(path, data_args.word_column, data_args.tag_column, data_args.file_encoding)
    return apply_tag_scheme(sentences, data_args.tag_scheme, data_args.chunk_rules)


def apply_tag_scheme(sentences: list[Sentence], tag_scheme: str, chunk_rules: str = "conlleval") -> list[Sentence]:
    """The sentences with their tags rewritten as IOB2 ('iob2', entities found with `chunk_rules`) or left as they
    are ('as_is'); a warning when `chunk_rules` group some S-/E- tags differently from the other rules."""
    warn_if_read_as_iobes_differs(sentences, chunk_rules)
    if tag_scheme == "iob2":
        for sentence in sentences:
            sentence.tags = to_iob2(sentence.tags, chunk_rules)
    return sentences


def load_hub_splits(data_args: DataArguments, model_args: ModelArguments, splits: list[str],
                    id_to_label: list[str] | None) -> tuple[dict[str, list[Sentence]], list[str] | None]:
    """({split: sentences}, the ClassLabel names of the tags or None) of a hub dataset, through datasets.load_dataset."""
    import datasets

    raw = datasets.load_dataset(
        data_args.dataset_name, data_args.dataset_config_name, cache_dir=model_args.cache_dir, token=model_args.token
    )
    result, class_names = {}, None
    for split in splits:
        if split not in raw:
            raise ValueError(f"dataset {data_args.dataset_name} has no {split!r} split (it has {', '.join(raw)}); "
                             f"give --{split}_file")
        dataset = raw[split]
        text_column = data_args.text_column_name or "tokens"
        label_column = data_args.label_column_name or "ner_tags"
        for column in (text_column, label_column):
            if column not in dataset.column_names:
                raise ValueError(f"dataset {data_args.dataset_name} ({split}) has no column {column!r} (columns: "
                                 f"{', '.join(dataset.column_names)}); choose with --text_column_name/--label_column_name")
        inner = getattr(dataset.features[label_column], "feature", None)
        names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
        class_names = class_names or names
        source = f"{data_args.dataset_name}[{split}]"
        sentences = []
        for row, (tokens, tags) in enumerate(zip(dataset[text_column], dataset[label_column]), start=1):
            if not tokens:
                continue
            sentence = Sentence(tokens=list(tokens), tags=[], source=source, line=row, unit="row")
            sentence.tags = _tag_names(list(tags), names or id_to_label, sentence.where)
            _check_tags(sentence, sentence.tags)
            sentences.append(sentence)
        result[split] = apply_tag_scheme(sentences, data_args.tag_scheme, data_args.chunk_rules)
    return result, class_names


# ----------------------------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------------------------
def build_label_list(sentences: list[Sentence], iob2: bool = False) -> list[str]:
    """The tags of a training set: 'O' first (always: words without a prediction are O), then the others sorted
    (the same ids in every run and process).

    With `iob2`, every entity type seen gets both B- and I- (a type seen only in one-word entities can still be
    continued at test time).
    """
    tags = {tag for sentence in sentences for tag in sentence.tags}
    if iob2:
        types = {split_tag(tag)[1] for tag in tags} - {""}
        tags |= {f"{prefix}-{entity_type}" for entity_type in types for prefix in "BI"}
    return ["O"] + sorted(tags - {"O"})


def checkpoint_label_list(config) -> list[str] | None:
    """The label names a checkpoint's head predicts (config.id2label), or None when it names none (LABEL_0, ...)."""
    id2label = getattr(config, "id2label", None) or {}
    names = [id2label.get(i, id2label.get(str(i))) for i in range(len(id2label))]
    if not names or any(name is None for name in names) or all(_DEFAULT_LABEL_NAME.fullmatch(n) for n in names):
        return None
    return names


def check_known_labels(sentences: list[Sentence], label_list: list[str], whose: str) -> None:
    """Stop at the first tag outside the model's label set, naming its file and line."""
    known = set(label_list)
    for sentence in sentences:
        for i, tag in enumerate(sentence.tags):
            if tag not in known:
                raise ConllFormatError(
                    f"{sentence.where(i)}: tag {tag!r} is not in {whose} labels ({', '.join(label_list)}); a model "
                    "cannot predict a tag it was not trained on (check --tag_scheme and that this file matches the "
                    "training data)"
                )


def choose_label_list(train: list[Sentence] | None, dataset_names: list[str] | None,
                      checkpoint_labels: list[str] | None, model_args: ModelArguments, num_checkpoint_labels: int,
                      tag_scheme: str = "iob2") -> list[str]:
    """The label ids of the run: the training data's tags (the checkpoint's order when it has the same set), or,
    without training, the checkpoint's labels."""
    if train is not None:
        labels = dataset_names or build_label_list(train, iob2=tag_scheme == "iob2")
        if checkpoint_labels is None:
            return labels
        if set(checkpoint_labels) == set(labels):
            logger.info("The checkpoint's head already predicts these labels: keeping its label ids")
            return checkpoint_labels
        if len(checkpoint_labels) != len(labels) and not model_args.ignore_mismatched_sizes:
            raise ValueError(
                f"{model_args.model_name_or_path}: its head predicts {len(checkpoint_labels)} labels "
                f"({', '.join(checkpoint_labels)}), the training data has {len(labels)} ({', '.join(labels)}); pass "
                "--ignore_mismatched_sizes to start a new head"
            )
        logger.warning(f"{model_args.model_name_or_path}: its head predicted other labels ({', '.join(checkpoint_labels)})"
                       f"; fine-tuning it on {', '.join(labels)}")
        return labels
    if checkpoint_labels is not None:
        return checkpoint_labels
    if dataset_names is not None and len(dataset_names) == num_checkpoint_labels:
        return dataset_names
    raise ValueError(
        f"{model_args.model_name_or_path}: its config names no labels (id2label is LABEL_0, ...), so its predictions "
        "cannot be read as tags: fine-tune it with --do_train first (its labels are saved in its config)"
    )


# ----------------------------------------------------------------------------------------------------------------------
# Words -> sub-word tokens
# ----------------------------------------------------------------------------------------------------------------------
def align_labels(word_ids: list[int | None], word_labels: list[int], label_all_tokens: bool = False,
                 b_to_i: list[int] | None = None) -> list[int]:
    """One label per token: the word's label on its first sub-token; -100 on special tokens and on the other
    sub-tokens, or with `label_all_tokens` the word's label there too (mapped through `b_to_i`: B-X -> I-X)."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE_INDEX)
        elif word != previous:
            labels.append(word_labels[word])
        elif label_all_tokens:
            label = word_labels[word]
            labels.append(b_to_i[label] if b_to_i is not None else label)
        else:
            labels.append(IGNORE_INDEX)
        previous = word
    return labels


def first_subtoken_words(word_ids: list[int | None]) -> list[int]:
    """The words that kept a sub-token, in order (the i-th first sub-token belongs to the i-th of them)."""
    words, previous = [], None
    for word in word_ids:
        if word is not None and word != previous:
            words.append(word)
        previous = word
    return words


def b_to_i_map(label_list: list[str]) -> list[int]:
    """For every label id, the id of the label of a continuation sub-token: I-X for B-X (when I-X exists), else itself."""
    label_to_id = {label: i for i, label in enumerate(label_list)}
    mapping = []
    for label in label_list:
        prefix, entity_type = split_tag(label)
        mapping.append(label_to_id.get(f"I-{entity_type}", label_to_id[label]) if prefix == "B" else label_to_id[label])
    return mapping


def _words_without_token(tokenizer, tokens: list[str], kept: list[int]) -> tuple[int, int]:
    """(words cut off by truncation, words that tokenize to nothing) among the words that kept no sub-token."""
    missing = sorted(set(range(len(tokens))) - set(kept))
    if not missing:
        return 0, 0
    encoding = tokenizer([tokens[w] for w in missing], is_split_into_words=True, add_special_tokens=False)
    with_tokens = len({w for w in encoding.word_ids() if w is not None})
    return with_tokens, len(missing) - with_tokens


def tokenize_and_align(batch: dict[str, list], tokenizer, label_to_id: dict[str, int], max_seq_length: int | None,
                       padding: bool | str = False, label_all_tokens: bool = False,
                       b_to_i: list[int] | None = None) -> dict[str, list]:
    """Tokenize a batch of word lists (is_split_into_words) and align the tags to the sub-tokens (`align_labels`).

    Besides the model inputs and `labels`, returns for every sentence the words that kept a first sub-token
    (`labelled_words`), and how many words were cut by max_seq_length (`words_cut`) or tokenize to nothing
    (`words_empty`), so that evaluation can score every word of the file.
    """
    encodings = tokenizer(
        batch["tokens"],
        is_split_into_words=True,
        truncation=max_seq_length is not None,
        max_length=max_seq_length,
        padding=padding,
    )
    labels, labelled_words, words_cut, words_empty = [], [], [], []
    for i, (tokens, tags) in enumerate(zip(batch["tokens"], batch["ner_tags"])):
        word_ids = encodings.word_ids(i)
        labels.append(align_labels(word_ids, [label_to_id[tag] for tag in tags], label_all_tokens, b_to_i))
        kept = first_subtoken_words(word_ids)
        labelled_words.append(kept)
        cut, empty = _words_without_token(tokenizer, tokens, kept)
        words_cut.append(cut)
        words_empty.append(empty)
    encodings["labels"] = labels
    encodings["labelled_words"] = labelled_words
    encodings["words_cut"] = words_cut
    encodings["words_empty"] = words_empty
    return encodings


@dataclass
class TokenizedSplit:
    """A split ready for Trainer (model inputs and labels) with what scoring it needs to map tokens back to words."""

    name: str
    sentences: list[Sentence]
    dataset: Any  # datasets.Dataset of input_ids, attention_mask, (token_type_ids,) labels
    labelled_words: list[list[int]]
    words_cut: int
    words_empty: int


def tokenize_split(name: str, sentences: list[Sentence], tokenizer, label_list: list[str], data_args: DataArguments,
                   max_seq_length: int | None, label_all_tokens: bool, num_proc: int | None = None) -> TokenizedSplit:
    """A split tokenized and aligned (`tokenize_and_align`), with a warning when words were cut or tokenize to nothing."""
    import datasets

    label_to_id = {label: i for i, label in enumerate(label_list)}
    raw = datasets.Dataset.from_dict({"tokens": [s.tokens for s in sentences], "ner_tags": [s.tags for s in sentences]})
    tokenized = raw.map(
        tokenize_and_align,
        batched=True,
        num_proc=num_proc,
        remove_columns=raw.column_names,
        fn_kwargs={
            "tokenizer": tokenizer,
            "label_to_id": label_to_id,
            "max_seq_length": max_seq_length,
            "padding": "max_length" if data_args.pad_to_max_length else False,
            "label_all_tokens": label_all_tokens,
            "b_to_i": b_to_i_map(label_list),
        },
        desc=f"Tokenizing the {name} sentences",
    )
    word_columns = ["labelled_words", "words_cut", "words_empty"]
    words = tokenized.select_columns(word_columns).to_dict()
    split = TokenizedSplit(
        name=name,
        sentences=sentences,
        dataset=tokenized.remove_columns(word_columns),
        labelled_words=words["labelled_words"],
        words_cut=sum(words["words_cut"]),
        words_empty=sum(words["words_empty"]),
    )
    consequence = "they are not trained on" if name == "train" else "they are predicted O and counted in the scores"
    if split.words_cut:
        truncated = sum(1 for cut in words["words_cut"] if cut)
        logger.warning(f"{name}: {split.words_cut} words of {truncated} sentences longer than max_seq_length="
                       f"{max_seq_length} tokens were cut off: {consequence} (raise --max_seq_length to keep them)")
    if split.words_empty:
        logger.warning(f"{name}: {split.words_empty} words tokenize to no sub-token at all (e.g. zero-width or "
                       f"control characters): {consequence}")
    return split


def resolve_max_seq_length(requested: int | None, tokenizer, config) -> int | None:
    """max_seq_length, capped at what the tokenizer and the model's position embeddings allow (None: no limit)."""
    limits = [tokenizer.model_max_length] if tokenizer.model_max_length < 1_000_000 else []
    if getattr(config, "max_position_embeddings", None):
        limits.append(config.max_position_embeddings)
    limit = min(limits) if limits else None
    if requested is None:
        return limit
    if limit is not None and requested > limit:
        logger.warning(f"--max_seq_length {requested} is more than the model takes ({limit}): using {limit}")
        return limit
    return requested


def load_ner_tokenizer(model_args: ModelArguments):
    """The checkpoint's fast tokenizer, with add_prefix_space=True where a byte-level BPE needs it for word lists.

    Byte-level BPE (GPT-2, RoBERTa) tokenizes "Paris" at the start of a text differently from " Paris" inside it;
    words given one by one must all be tokenized as inside running text, so each gets a space before it.
    """
    from tokenizers import Tokenizer

    tokenizer = load_tokenizer(model_args)
    if not _byte_level_without_prefix_space(_pre_tokenizer_state(tokenizer)):
        return tokenizer
    logger.info("Byte-level pre-tokenizer: using add_prefix_space=True, so that every word is tokenized as it is in "
                "running text")
    tokenizer = load_tokenizer(model_args, add_prefix_space=True)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if _byte_level_without_prefix_space(state.get("pre_tokenizer")):  # a class that does not rebuild its backend
        _set_prefix_space(state["pre_tokenizer"])
        tokenizer.backend_tokenizer.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer
    tokenizer.add_prefix_space = True
    return tokenizer


def _pre_tokenizer_state(tokenizer) -> Any:
    """The tokenizer's pre-tokenizer as tokenizers serializes it (a dict, or None)."""
    return json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer")


def _byte_level_without_prefix_space(node: Any) -> bool:
    """Whether a serialized pre-tokenizer has a ByteLevel step that adds no space before words."""
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel" and not node.get("add_prefix_space", False):
            return True
        return any(_byte_level_without_prefix_space(child) for child in node.values())
    if isinstance(node, list):
        return any(_byte_level_without_prefix_space(child) for child in node)
    return False


def _set_prefix_space(node: Any) -> None:
    """Turn on add_prefix_space in every ByteLevel step of a serialized pre-tokenizer (in place)."""
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel":
            node["add_prefix_space"] = True
        for child in node.values():
            _set_prefix_space(child)
    elif isinstance(node, list):
        for child in node:
            _set_prefix_space(child)


# ----------------------------------------------------------------------------------------------------------------------
# Scoring and writing predictions
# ----------------------------------------------------------------------------------------------------------------------
def word_predictions(prediction_ids: np.ndarray, label_ids: np.ndarray, labelled_words: list[list[int]],
                     references: list[list[str]], id_to_label: list[str]) -> list[list[str]]:
    """Every word's predicted tag: the prediction at its first sub-token (where the label is not -100), 'O' for the
    words that kept no sub-token.

    The gold labels that come back with the predictions must be the sentences' own tags, in order: a check that
    predictions and sentences are in step (e.g. after gathering them from several processes).
    """
    prediction_ids, label_ids = np.asarray(prediction_ids), np.asarray(label_ids)
    if prediction_ids.ndim == 3:  # logits
        prediction_ids = prediction_ids.argmax(-1)
    if len(label_ids) != len(references):
        raise RuntimeError(f"{len(label_ids)} predicted sentences for {len(references)} sentences")
    label_to_id = {label: i for i, label in enumerate(id_to_label)}
    predictions = []
    for i, (words, gold) in enumerate(zip(labelled_words, references)):
        positions = np.flatnonzero(label_ids[i] != IGNORE_INDEX)
        if label_ids[i][positions].tolist() != [label_to_id[gold[word]] for word in words]:
            raise RuntimeError(f"sentence {i}: the labels returned with the predictions are not its tags; predictions "
                               "and sentences are out of step")
        tags = ["O"] * len(gold)
        for word, position in zip(words, positions):
            tags[word] = id_to_label[int(prediction_ids[i, position])]
        predictions.append(tags)
    return predictions


def flatten_results(results: dict[str, Any], entity_level: bool = False) -> dict[str, float]:
    """seqeval's results as flat metrics: precision, recall, f1, accuracy (and TYPE_precision, ... per type)."""
    flat = {
        "precision": results["overall_precision"],
        "recall": results["overall_recall"],
        "f1": results["overall_f1"],
        "accuracy": results["overall_accuracy"],
    }
    if entity_level:
        for entity_type, scores in sorted(results.items()):
            if isinstance(scores, dict):
                flat.update({f"{entity_type}_{name}": value for name, value in scores.items()})
    return flat


def format_report(results: dict[str, Any], sentences: int, tokens: int) -> str:
    """conlleval's summary: overall accuracy, precision, recall, F1, then one line per entity type."""
    lines = [
        (f"processed {tokens} tokens in {sentences} sentences: accuracy {results['overall_accuracy']:.2%}; "
         f"precision {results['overall_precision']:.2%}; recall {results['overall_recall']:.2%}; "
         f"FB1 {100 * results['overall_f1']:.2f}")
    ]
    for entity_type, scores in sorted(results.items()):
        if isinstance(scores, dict):
            lines.append(f"{entity_type:>17}: precision {scores['precision']:7.2%}; recall {scores['recall']:7.2%}; "
                         f"FB1 {100 * scores['f1']:6.2f}  ({scores['number']} in gold)")
    return "\n".join(lines)


def conlleval_accuracy(references: list[list[str]], predictions: list[list[str]], docstart_lines: int = 0) -> float:
    """conlleval.pl's token accuracy: the share of tokens whose predicted tag is the gold tag, where each of the
    `docstart_lines` -DOCSTART- lines of the predictions file is one more token, tagged O O (so right)."""
    right = sum(gold == predicted for reference, prediction in zip(references, predictions)
                for gold, predicted in zip(reference, prediction))
    tokens = sum(len(reference) for reference in references) + docstart_lines
    return (right + docstart_lines) / tokens if tokens else 0.0


def score_tags(references: list[list[str]], predictions: list[list[str]], docstart_lines: int = 0,
               metric=None, **metric_kwargs) -> dict[str, Any]:
    """conlleval.pl's results for predicted against gold tag sequences: entities through the local seqeval metric
    (`metric_kwargs`: chunk_rules, or mode and scheme), token accuracy with the file's -DOCSTART- lines counted."""
    if metric is None:
        from ..metrics import load_metric

        metric = load_metric("seqeval", keep_in_memory=True)
    results = metric.compute(predictions=predictions, references=references, **metric_kwargs)
    results["overall_accuracy"] = conlleval_accuracy(references, predictions, docstart_lines)
    return results


def score_predictions_file(path: str | os.PathLike, encoding: str = "utf-8", chunk_rules: str | None = "conlleval",
                           **metric_kwargs) -> tuple[dict[str, Any], PredictionsFile]:
    """(conlleval.pl's results, the file as read) for a predictions file in conlleval's columns."""
    predictions_file = read_conlleval_file(path, encoding)
    if chunk_rules is not None:
        check_chunk_rules(chunk_rules)
        warn_if_read_as_iobes_differs(predictions_file.sentences, chunk_rules, predictions_file.predictions)
        metric_kwargs["chunk_rules"] = chunk_rules
    results = score_tags([s.tags for s in predictions_file.sentences], predictions_file.predictions,
                         predictions_file.docstart_lines, **metric_kwargs)
    return results, predictions_file


class NerScorer:
    """Trainer's compute_metrics for one split: word tags read off first sub-tokens, scored like conlleval.

    Keeps the word-level predictions and seqeval's full results of its last call (`predictions`, `results`), for
    the predictions file and the per-type report.
    """

    def __init__(self, split: TokenizedSplit, label_list: list[str], entity_level: bool = False,
                 chunk_rules: str = "conlleval"):
        from ..metrics import load_metric

        check_chunk_rules(chunk_rules)
        self.split = split
        self.label_list = list(label_list)
        self.entity_level = entity_level
        self.chunk_rules = chunk_rules
        self.references = [sentence.tags for sentence in split.sentences]
        # the -DOCSTART- lines that write_predictions puts in the predictions file, which conlleval.pl counts as tokens
        self.docstart_lines = sum(sentence.docstart for sentence in split.sentences)
        self.metric = load_metric("seqeval", keep_in_memory=True)  # in memory: no cache-file lock between processes
        self.predictions: list[list[str]] | None = None
        self.results: dict[str, Any] | None = None

    def __call__(self, eval_prediction) -> dict[str, float]:
        self.predictions = word_predictions(
            eval_prediction.predictions,
            eval_prediction.label_ids,
            self.split.labelled_words,
            self.references,
            self.label_list,
        )
        self.results = score_tags(self.references, self.predictions, self.docstart_lines, metric=self.metric,
                                  chunk_rules=self.chunk_rules)
        metrics = flatten_results(self.results, self.entity_level)
        if self.split.words_cut:
            metrics["words_cut"] = self.split.words_cut
        if self.split.words_empty:
            metrics["words_without_token"] = self.split.words_empty
        return metrics


def in_order_trainer_class():
    """transformers.Trainer whose evaluation reads the sentences in file order, even with group_by_length sampling
    (Trainer sorts evaluation batches by length then), so that predictions map back to the sentences' words."""
    from transformers import Trainer

    class InOrderEvaluationTrainer(SafeSavingMixin, InOrderEvaluationMixin, Trainer):
        """Trainer with evaluation in dataset order (what word_predictions needs)."""

    return InOrderEvaluationTrainer


def argmax_logits(logits, labels):
    """Keep only each token's best label id (Trainer then gathers ids, not vocabulary-wide logits)."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def _column_safe(word: str) -> str:
    """A word that stays one column: inner blanks become '_', an empty word '_', and a word conlleval.pl would read
    as a sentence boundary (-X-) gets a '_' before it, so that it is scored."""
    word = "_".join(_FIELD_SEPARATOR.split(word.strip(" \t"))) or "_"
    return f"_{word}" if word == BOUNDARY else word


def write_predictions(path: str | os.PathLike, sentences: list[Sentence], predictions: list[list[str]]) -> Path:
    """Write 'word gold predicted' per line, a blank line after each sentence, -DOCSTART- lines kept: conlleval's input."""
    path = Path(path)
    with atomic_write(path) as f:  # whole or not at all
        for sentence, predicted in zip(sentences, predictions):
            if sentence.docstart:
                f.write(f"{DOCSTART} O O\n\n")
            for word, gold, tag in zip(sentence.tokens, sentence.tags, predicted):
                f.write(f"{_column_safe(word)} {gold} {tag}\n")
            f.write("\n")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Fine-tuning and evaluation
# ----------------------------------------------------------------------------------------------------------------------
SPLIT_PREFIXES = {"validation": "eval", "test": "predict"}


def _check_data_args(data_args: DataArguments, training_args) -> dict[str, str]:
    """The splits this run needs (split -> file, or the hub dataset), checked before anything is written."""
    needed = [split for split, wanted in (("train", training_args.do_train), ("validation", training_args.do_eval),
                                          ("test", training_args.do_predict)) if wanted]
    if not needed:
        raise ValueError("nothing to do: give --do_train, --do_eval and/or --do_predict")
    files = data_args.files()
    for split in needed:
        if split not in files and data_args.dataset_name is None:
            flag = {"train": "--do_train", "validation": "--do_eval", "test": "--do_predict"}[split]
            raise ValueError(f"{flag} needs --{split}_file (or --dataset_name)")
    for split, path in files.items():
        if split in needed and not os.path.isfile(path):
            raise FileNotFoundError(f"--{split}_file not found: {path}")
    return {split: files.get(split, data_args.dataset_name) for split in needed}


def read_splits(data_args: DataArguments, model_args: ModelArguments, run_args: RunArguments, needed: list[str],
                id_to_label: list[str] | None) -> tuple[dict[str, list[Sentence]], list[str] | None]:
    """({split: sentences}, ClassLabel names of a hub dataset or None) for the splits of the run, cut to max_*_samples."""
    files = data_args.files()
    splits = {split: read_ner_file(files[split], data_args, id_to_label) for split in needed if split in files}
    hub_splits = [split for split in needed if split not in files]
    class_names = None
    if hub_splits:
        from_hub, class_names = load_hub_splits(data_args, model_args, hub_splits, id_to_label)
        splits.update(from_hub)
    limits = {"train": run_args.max_train_samples, "validation": run_args.max_eval_samples,
              "test": run_args.max_predict_samples}
    for split, sentences in splits.items():
        if limits[split] is not None:
            splits[split] = sentences[: limits[split]]
        tokens = sum(len(s.tokens) for s in splits[split])
        logger.info(f"{split}: {len(splits[split])} sentences, {tokens} words from {sentences[0].source}")
    return splits, class_names


@releases_output_dirs
def run_ner(model_args: ModelArguments, data_args: DataArguments, run_args: RunArguments, training_args) -> dict:
    """Fine-tune and/or evaluate a token classifier on NER data with `transformers.Trainer`; return the metrics.

    --do_train trains on the train split (resuming from the output folder's last checkpoint) and saves the model,
    its tokenizer and its labels (config.id2label); --do_eval scores the validation split, --do_predict the test
    split. Each scored split gets `{eval,predict}_results.json`, its predictions in conlleval's columns
    (`{eval,predict}_predictions.txt`) and a row in the results table; `all_results.json` gathers every metric.
    """
    from transformers import (
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        default_data_collator,
        set_seed,
    )

    sources = _check_data_args(data_args, training_args)
    logger.info(f"Training/evaluation parameters {training_args}")
    # Every process reads the output folder before any process writes to it.
    last_checkpoint = detect_last_checkpoint(training_args, run_args.overwrite_output_dir,
                                             inputs=input_paths(model_args, data_args))
    wait_for_everyone(training_args)

    checkpoint_config = load_config(model_args)
    checkpoint_labels = checkpoint_label_list(checkpoint_config)
    with training_args.main_process_first(desc="reading the NER data"):
        splits, class_names = read_splits(
            data_args, model_args, run_args, list(sources), data_args.tag_name_list() or checkpoint_labels
        )
    label_list = choose_label_list(
        splits.get("train"), class_names, checkpoint_labels, model_args, checkpoint_config.num_labels,
        data_args.tag_scheme,
    )
    whose = "the training data's" if training_args.do_train else f"the model's ({model_args.model_name_or_path})"
    for split in ("validation", "test"):
        if split in splits:
            check_known_labels(splits[split], label_list, whose)
    logger.info(f"{len(label_list)} labels: {', '.join(label_list)}")

    config = load_config(
        model_args,
        num_labels=len(label_list),
        id2label=dict(enumerate(label_list)),
        label2id={label: i for i, label in enumerate(label_list)},
        finetuning_task=TASK,
    )
    tokenizer = load_ner_tokenizer(model_args)
    max_seq_length = resolve_max_seq_length(data_args.max_seq_length, tokenizer, config)
    set_seed(training_args.seed)  # the same new head in every process and on every resume
    model = load_model(AutoModelForTokenClassification, model_args, config)

    tokenized: dict[str, TokenizedSplit] = {}
    with training_args.main_process_first(desc="tokenizing the NER data"):
        for split, sentences in splits.items():
            # evaluation always labels first sub-tokens only: one prediction per word, as conlleval scores words
            label_all = data_args.label_all_tokens and split == "train"
            tokenized[split] = tokenize_split(split, sentences, tokenizer, label_list, data_args, max_seq_length,
                                              label_all, run_args.preprocessing_num_workers)
    scorers = {split: NerScorer(tokenized[split], label_list, data_args.return_entity_level_metrics,
                                data_args.chunk_rules)
               for split in ("validation", "test") if split in tokenized}

    if data_args.pad_to_max_length:
        collator = default_data_collator
    else:
        multiple = 8 if training_args.fp16 or training_args.bf16 else None
        collator = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=multiple)
    trainer = in_order_trainer_class()(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"].dataset if "train" in tokenized else None,
        eval_dataset=tokenized["validation"].dataset if "validation" in tokenized else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=scorers.get("validation"),
        preprocess_logits_for_metrics=argmax_logits,
    )
    # the tagger's loss is a mean over its batch's tokens: a forward(**kwargs) (transformers' classes) must not make
    # the Trainer skip the division by the gradient accumulation steps (see run_glue)
    trainer.model_accepts_loss_kwargs = False

    results: dict[str, Any] = {}
    if training_args.should_save:
        os.makedirs(training_args.output_dir, exist_ok=True)
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model()  # the model, its labels (config.id2label) and the tokenizer
        metrics = dict(train_result.metrics)
        metrics["train_samples"] = len(tokenized["train"].dataset)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", json_safe(metrics, "train_results.json"))  # strict JSON: NaN -> null
        trainer.save_state()
        results.update({k if k.startswith("train") else f"train_{k}": v for k, v in metrics.items()})

    for split, prefix in SPLIT_PREFIXES.items():
        if split not in scorers:
            continue
        scorer = scorers[split]
        trainer.compute_metrics = scorer
        if split == "validation":
            metrics = trainer.evaluate(metric_key_prefix=prefix)
        else:
            metrics = trainer.predict(tokenized[split].dataset, metric_key_prefix=prefix).metrics
        metrics[f"{prefix}_samples"] = len(tokenized[split].sentences)
        trainer.log_metrics(prefix, metrics)
        trainer.save_metrics(prefix, json_safe(metrics, f"{prefix}_results.json"))  # strict JSON: NaN -> null
        results.update(metrics)
        if trainer.is_world_process_zero():
            sentences = tokenized[split].sentences
            path = write_predictions(os.path.join(training_args.output_dir, f"{prefix}_predictions.txt"), sentences,
                                     scorer.predictions)
            report = format_report(scorer.results, len(sentences),
                                   sum(len(s.tokens) for s in sentences) + scorer.docstart_lines)
            logger.info(f"{split} ({sources[split]}), predictions in {path}:\n{report}")
        record_results(training_args, run_args, TASK, f"{split}: {Path(sources[split]).name}",
                       model_args.model_name_or_path, implementation_name(model), len(tokenized[split].sentences),
                       metrics)

    if training_args.do_train and training_args.push_to_hub:
        card = {"finetuned_from": model_args.model_name_or_path, "tasks": "token-classification",
                "dataset": data_args.dataset_name or Path(sources["train"]).name}
        if data_args.dataset_name is not None:
            card["dataset_tags"] = data_args.dataset_name
        trainer.push_to_hub(**card)
    return results


__all__ = [
    "BOUNDARY",
    "CHUNK_RULES",
    "DOCSTART",
    "IGNORE_INDEX",
    "TAG_SCHEMES",
    "TASK",
    "ConllFormatError",
    "DataArguments",
    "NerScorer",
    "PredictionsFile",
    "Sentence",
    "TokenizedSplit",
    "align_labels",
    "apply_tag_scheme",
    "argmax_logits",
    "b_to_i_map",
    "build_label_list",
    "check_chunk_rules",
    "check_known_labels",
    "checkpoint_label_list",
    "choose_label_list",
    "conlleval_accuracy",
    "first_subtoken_words",
    "flatten_results",
    "format_report",
    "in_order_trainer_class",
    "load_hub_splits",
    "load_ner_tokenizer",
    "read_conll_file",
    "read_conlleval_file",
    "read_ner_file",
    "read_predictions_file",
    "read_records_file",
    "read_splits",
    "resolve_max_seq_length",
    "run_ner",
    "score_predictions_file",
    "score_tags",
    "split_tag",
    "starts_entity",
    "tag_problem",
    "to_iob2",
    "tokenize_and_align",
    "tokenize_split",
    "warn_if_read_as_iobes_differs",
    "word_predictions",
    "write_predictions",
]
