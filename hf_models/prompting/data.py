"""Evaluation data for in-context learning: every source read into one small record, `Example` (lm-evaluation-harness's
"doc"): named text fields for the templates, the options to rank (or None), and the gold answer.

Readers for the files of `../shared/data/reasoning` (GSM8K; Kojima et al. 2022's copies of MultiArith, AddSub, SingleEq,
AQuA, StrategyQA, CommonsenseQA, BIG-bench date understanding, coin flip, last letters), LAMBADA (OpenAI's jsonl), GLUE
SST-2 and RTE (the package's GLUE readers), and a user's json / jsonl / tsv file with named fields. A malformed file
stops with one `InputError` naming the file, the line (or example) and the field.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cli_utils import InputError
from ..file_utils import read_text

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(eq=False)
class Example:
    """One evaluation item, lm-evaluation-harness's "doc": template fields, options to rank, the gold answer."""

    fields: dict[str, str]
    options: list[str] | None = None  # the continuations to rank by log-likelihood; None for generation tasks
    gold: int | str = ""  # index into `options`, or the answer text a generation must match
    where: str = ""  # "FILE, line N": names the example in errors and results
    extra: dict[str, Any] = field(default_factory=dict)  # anything else the source holds (equations, ids)

    @property
    def key(self) -> tuple:
        """What makes two examples the same question (lm-evaluation-harness compares docs by value)."""
        return (tuple(sorted(self.fields.items())), tuple(self.options or ()), self.gold)

    @property
    def answer(self) -> str:
        """The gold answer as text: the gold option, or the answer string."""
        return self.options[self.gold] if self.options is not None else str(self.gold)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "options": self.options, "gold": self.gold, "where": self.where}


# ----------------------------------------------------------------------------------------------------------------------
# Small helpers: JSON records, fields, numbers
# ----------------------------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    """A whole-file JSON document; a syntax error names the line and column."""
    try:
        return json.loads(read_text(path, error=InputError))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})") from None


def _read_json_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, record) of each non-empty line of a JSON-lines file."""
    records = []
    for number, line in enumerate(read_text(path, error=InputError).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise InputError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
    return records


def _field(record: Any, name: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    """record[name], checked: the record is an object, the field is there and of the expected type."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object with field {name!r}, got {type(record).__name__}")
    if name not in record:
        raise InputError(f"{where}: no field {name!r} (fields: {sorted(record)})")
    value = record[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise InputError(f"{where}: field {name!r} must be {names}, got {value!r:.80}")
    if isinstance(value, str) and not value.strip():
        raise InputError(f"{where}: field {name!r} is empty")
    return value


def _path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


def _non_empty(examples: list[Example], path: Path) -> list[Example]:
    if not examples:
        raise InputError(f"{path}: no examples in the file")
    return examples


def normalize_number(text: str | float) -> str:
    """A number as the answer string Kojima et al. compare: commas and $ dropped, a trailing ".0"/"." removed
    ("1,000.0" -> "1000", "$5" -> "5", "11.50" -> "11.5")."""
    text = str(text).strip().replace(",", "").replace("$", "").rstrip(".")
    if "." in text and text.replace("-", "", 1).replace(".", "", 1).isdigit():
        text = text.rstrip("0").rstrip(".")
    return text


def choices_text(options: list[str]) -> str:
    """Kojima et al.'s multiple-choice line: "Answer Choices: (A) bank (B) library ..."."""
    return "Answer Choices:" + "".join(f" ({LETTERS[i]}) {option}" for i, option in enumerate(options))


def _multiple_choice(question: str, options: list[str], gold: int, where: str, **extra_fields) -> Example:
    fields = {"question": question, "choices": choices_text(options), "label": LETTERS[gold], "answer": options[gold]}
    fields.update(extra_fields)
    return Example(fields, list(options), gold, where)


# ----------------------------------------------------------------------------------------------------------------------
# The reasoning data (../shared/data/reasoning)
# ----------------------------------------------------------------------------------------------------------------------
def gsm8k_gold(solution: str, where: str = "GSM8K answer") -> str:
    """GSM8K's final answer (Cobbe et al. 2021): the number after "#### " at the end of the solution, commas dropped."""
    if "####" not in solution:
        raise InputError(f"{where}: the answer has no '#### N' final answer line")
    return normalize_number(solution.split("####")[-1])


def read_gsm8k(path: str | os.PathLike) -> list[Example]:
    """GSM8K jsonl (Cobbe et al. 2021): fields question, answer (the worked solution, "#### N" at its end), target (N)."""
    path = _path(path)
    examples = []
    for number, record in _read_json_lines(path):
        where = f"{path}, line {number}"
        question, solution = _field(record, "question", where), _field(record, "answer", where)
        target = gsm8k_gold(solution, f"{where}, field 'answer'")
        examples.append(Example({"question": question.strip(), "answer": solution, "target": target}, None,
                                target, where))
    return _non_empty(examples, path)


def read_arithmetic(path: str | os.PathLike) -> list[Example]:
    """MultiArith, AddSub or SingleEq (the MAWPS json lists Kojima et al. 2022 evaluate): sQuestion, lSolutions[0]."""
    path = _path(path)
    data = _read_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of problems (sQuestion, lSolutions), got {type(data).__name__}")
    examples = []
    for index, record in enumerate(data):
        where = f"{path}, example {index}"
        question = _field(record, "sQuestion", where)
        solutions = _field(record, "lSolutions", where, list)
        if not solutions or isinstance(solutions[0], bool) or not isinstance(solutions[0], (int, float, str)):
            raise InputError(f"{where}: field 'lSolutions' must hold the answer as its first item, got {solutions!r}")
        target = normalize_number(solutions[0])
        examples.append(Example({"question": question.strip(), "target": target}, None, target, where,
                                {"equations": record.get("lEquations")}))
    return _non_empty(examples, path)


def read_aqua(path: str | os.PathLike) -> list[Example]:
    """AQuA-RAT jsonl (Ling et al. 2017): question, options ["A)...", ...], correct letter, rationale."""
    path = _path(path)
    examples = []
    for number, record in _read_json_lines(path):
        where = f"{path}, line {number}"
        question = _field(record, "question", where)
        raw = _field(record, "options", where, list)
        options = []
        for i, option in enumerate(raw):
            prefix = f"{LETTERS[i]})"
            if not isinstance(option, str) or not option.startswith(prefix):
                raise InputError(f"{where}: field 'options' item {i} must start with {prefix!r}, got {option!r:.60}")
            options.append(option[len(prefix):].strip())
        correct = _field(record, "correct", where).strip()
        if correct not in LETTERS[:len(options)]:
            raise InputError(f"{where}: field 'correct' must be one of {', '.join(LETTERS[:len(options)])}, got "
                             f"{correct!r}")
        examples.append(_multiple_choice(question.strip(), options, LETTERS.index(correct), where,
                                         rationale=str(record.get("rationale", ""))))
    return _non_empty(examples, path)


def read_commonsenseqa(path: str | os.PathLike) -> list[Example]:
    """CommonsenseQA jsonl (Talmor et al. 2019): question.stem, question.choices [{label, text}], answerKey."""
    path = _path(path)
    examples = []
    for number, record in _read_json_lines(path):
        where = f"{path}, line {number}"
        question = _field(record, "question", where, dict)
        stem = _field(question, "stem", f"{where}, field 'question'")
        choices = _field(question, "choices", f"{where}, field 'question'", list)
        labels, options = [], []
        for i, choice in enumerate(choices):
            at = f"{where}, field 'question.choices' item {i}"
            labels.append(_field(choice, "label", at))
            options.append(_field(choice, "text", at))
        if labels != list(LETTERS[:len(labels)]):
            raise InputError(f"{where}: field 'question.choices' labels must be A, B, C, ... in order, got {labels}")
        key = _field(record, "answerKey", where)
        if key not in labels:
            raise InputError(f"{where}: field 'answerKey' {key!r} is not one of the labels {labels}")
        examples.append(_multiple_choice(stem.strip(), options, labels.index(key), where,
                                         concept=str(question.get("question_concept", ""))))
    return _non_empty(examples, path)


def read_bigbench(path: str | os.PathLike, shuffle_seed: int | None = None) -> list[Example]:
    """A BIG-bench json task (Srivastava et al. 2022): `examples` with input and target_scores (the option with score
    1 is gold). BIG-bench date understanding lists the gold first, so Kojima et al. shuffle the options:
    `shuffle_seed` shuffles each example's options with its own `random.Random(f"{seed}:{index}")`."""
    path = _path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise InputError(f"{path}: expected a BIG-bench task (a JSON object with an 'examples' list)")
    examples = []
    for index, record in enumerate(data["examples"]):
        where = f"{path}, example {index}"
        question = _field(record, "input", where)
        scores = _field(record, "target_scores", where, dict)
        options = list(scores)
        best = [o for o in options if scores[o] == 1]
        if len(options) < 2 or len(best) != 1:
            raise InputError(f"{where}: field 'target_scores' must give score 1 to exactly one of two or more options, "
                             f"got {scores!r:.120}")
        if shuffle_seed is not None:
            random.Random(f"{shuffle_seed}:{index}").shuffle(options)
        extra = {"rationale": record["target"]} if isinstance(record.get("target"), str) else {}
        examples.append(_multiple_choice(question.strip(), options, options.index(best[0]), where, **extra))
    return _non_empty(examples, path)


def read_strategyqa(path: str | os.PathLike) -> list[Example]:
    """StrategyQA (Geva et al. 2021) in BIG-bench form: yes/no questions, options Yes and No (gold compared without
    case with an extracted "yes"/"no")."""
    examples = read_bigbench(path)
    for example in examples:
        if sorted(example.options) != ["No", "Yes"]:
            raise InputError(f"{example.where}: field 'target_scores' must have the options Yes and No, got "
                             f"{example.options}")
    return examples


def read_symbolic(path: str | os.PathLike) -> list[Example]:
    """Wei et al.'s symbolic tasks as Kojima et al. ship them (coin flip, last letter concatenation): `examples` with
    question and answer."""
    path = _path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise InputError(f"{path}: expected a JSON object with an 'examples' list of question/answer objects")
    examples = []
    for index, record in enumerate(data["examples"]):
        where = f"{path}, example {index}"
        question, answer = _field(record, "question", where), _field(record, "answer", where)
        examples.append(Example({"question": question.strip(), "answer": answer.strip()}, None, answer.strip(),
                                where))
    return _non_empty(examples, path)


# ----------------------------------------------------------------------------------------------------------------------
# LAMBADA and GLUE
# ----------------------------------------------------------------------------------------------------------------------
def read_lambada_examples(path: str | os.PathLike) -> list[Example]:
    """LAMBADA (Paperno et al. 2016; OpenAI's detokenised test jsonl): context = all but the last word, target = " " +
    the last word (lm-evaluation-harness's lambada_openai split)."""
    from ..tasks.causal_lm import lambada_split, read_lambada

    path = _path(path)
    examples = []
    for index, passage in enumerate(read_lambada(path)):
        context, target = lambada_split(passage)
        examples.append(Example({"text": passage, "context": context, "target": target}, None, target,
                                f"{path}, passage {index + 1}"))
    return _non_empty(examples, path)


GLUE_VERBALIZERS = {  # lm-evaluation-harness's glue tasks: the option text of each label id
    "sst2": ["negative", "positive"],
    "rte": ["True", "False"],  # 0 = entailment -> True
}


def read_glue_examples(path: str | os.PathLike, task: str) -> list[Example]:
    """A labelled GLUE file (tsv, or the hub's columns in parquet/csv/json) of SST-2 or RTE through
    `hf_models.tasks.glue.read_glue_file`; options are lm-evaluation-harness's verbalizers, gold the label id."""
    from ..tasks import glue

    spec = glue.get_task(task)
    if spec.name not in GLUE_VERBALIZERS:
        raise InputError(f"GLUE task {task!r} has no prompt verbalizers here; choose one of {sorted(GLUE_VERBALIZERS)}")
    path = _path(path)
    try:
        dataset = glue.read_glue_file(path, spec, require_labels=True)
    except InputError:
        raise
    except ValueError as error:
        raise InputError(str(error)) from None
    options = GLUE_VERBALIZERS[spec.name]
    examples = []
    for index, row in enumerate(dataset):
        label = int(row["label"])
        if label < 0:
            raise InputError(f"{path}, example {index}: unlabelled (label -1); prompting needs a labelled split")
        fields = {name: row[name] for name in spec.text_fields}
        fields["answer"] = options[label]
        examples.append(Example(fields, list(options), label,
                                f"{path}, example {index}", {"idx": row["idx"]}))
    return _non_empty(examples, path)


# ----------------------------------------------------------------------------------------------------------------------
# A user's file with named fields
# ----------------------------------------------------------------------------------------------------------------------
def _user_records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) of a json list (or {"examples": [...]}), a jsonl file, or a tsv file with a header row."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        return [(f"{path}, line {n}", r) for n, r in _read_json_lines(path)]
    if name.endswith(".json"):
        data = _read_json(path)
        if isinstance(data, dict) and isinstance(data.get("examples"), list):
            data = data["examples"]
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of objects (or an object with an 'examples' list)")
        return [(f"{path}, example {i}", r) for i, r in enumerate(data)]
    if name.endswith((".tsv", ".txt")):
        lines = read_text(path, error=InputError).splitlines()
        if not lines:
            raise InputError(f"{path}: the file is empty")
        header = lines[0].split("\t")
        records = []
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != len(header):
                raise InputError(f"{path}, line {number}: {len(cells)} tab-separated fields, but the header has "
                                 f"{len(header)} ({', '.join(header)})")
            records.append((f"{path}, line {number}", dict(zip(header, cells))))
        return records
    raise InputError(f"{path}: unknown format; give a .json, .jsonl or .tsv file (optionally .gz)")


def read_examples(path: str | os.PathLike, fields: list[str], answer_field: str,
                  options_field: str | None = None, options: list[str] | None = None) -> list[Example]:
    """A user's json / jsonl / tsv file: the template `fields`, the gold in `answer_field`, and the options either per
    example (`options_field`: a JSON list, or "|"-separated in a tsv) or fixed for the task (`options`). With options,
    the gold may be an option index, a letter A-Z or the option's text."""
    path = _path(path)
    examples = []
    for where, record in _user_records(path):
        values = {name: str(_field(record, name, where, (str, int, float))) for name in fields}
        raw_gold = _field(record, answer_field, where, (str, int, float))
        example_options = options
        if options_field is not None:
            raw = _field(record, options_field, where, (list, str))
            example_options = raw.split("|") if isinstance(raw, str) else raw
            if len(example_options) < 2 or not all(isinstance(o, str) and o.strip() for o in example_options):
                raise InputError(f"{where}: field {options_field!r} must hold two or more non-empty option texts, "
                                 f"got {raw!r:.80}")
        if example_options is None:
            gold: int | str = str(raw_gold).strip()
        else:
            gold = _gold_index(raw_gold, example_options, f"{where}, field {answer_field!r}")
        values.setdefault("answer", example_options[gold] if example_options else gold)
        if example_options is not None:
            values.setdefault("choices", choices_text(example_options))
            values.setdefault("label", LETTERS[gold])
        examples.append(Example(values, list(example_options) if example_options else None, gold, where))
    return _non_empty(examples, path)


def _gold_index(raw: str | float, options: list[str], where: str) -> int:
    text = str(raw).strip()
    if text in options:
        return options.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(options):
        return int(text)
    if len(text) == 1 and text in LETTERS[:len(options)]:
        return LETTERS.index(text)
    raise InputError(f"{where}: {text!r} is neither one of the options {options} nor an index 0..{len(options) - 1} "
                     f"or a letter A..{LETTERS[len(options) - 1]}")


__all__ = [
    "GLUE_VERBALIZERS",
    "LETTERS",
    "Example",
    "choices_text",
    "gsm8k_gold",
    "normalize_number",
    "read_aqua",
    "read_arithmetic",
    "read_bigbench",
    "read_commonsenseqa",
    "read_examples",
    "read_glue_examples",
    "read_gsm8k",
    "read_lambada_examples",
    "read_strategyqa",
    "read_symbolic",
]
