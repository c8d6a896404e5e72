"""Local data for lm-evaluation-harness: the tasks `lambada_openai_local` and `wikitext_local` run lm_eval's
`lambada_openai` and `wikitext` on files on disk, for machines without the Hugging Face Hub.

- `lambada_openai_local`: OpenAI's detokenised LAMBADA test set, `lambada_test.jsonl` (the file lm_eval's dataset
  `EleutherAI/lambada_openai`, config `default`, is built from: the same SHA-256), one `{"text": ...}` per line.
- `wikitext_local`: a WikiText file (`wiki.test.tokens` / `wiki.test.raw` layout: one paragraph or heading per line)
  split into documents as EleutherAI's `wikitext_document_level` dataset does (`split_wikitext_documents`), then the
  task's own `wikitext_detokenizer` and `process_results` (reproduced here from lm_eval's
  `tasks/wikitext/preprocess_wikitext.py`, version 2.0 of the task, so that this module imports without lm_eval).
  hf_models has the same functions (`hf_models.tasks.causal_lm`, `eval/eval_perplexity.py --task documents`); this
  module keeps its own copies so that lm_eval imports it without hf_models, and `tests/test_zero_shot_gpt.py` checks
  that they give the package's documents, detokenised pages and counts.

Paths: the YAML's `dataset_kwargs.data_file` (relative paths are tried from the working directory, then from the
repository root; the default is the repository's sibling `../shared/data`); `--metadata '{"lambada_file": PATH}'`
or `'{"wikitext_file": PATH}'` on lm_eval's command line replaces it.

Usage (from the repository root):

    python -m lm_eval --include_path benchmarks/lm_eval_tasks --tasks lambada_openai_local,wikitext_local \
        --model hf --model_args pretrained=PATH,dtype=float32,max_length=2048 --device cpu --batch_size 8
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root (benchmarks/lm_eval_tasks/utils.py)


# ----------------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------------
def resolve_data_file(data_file: str | Path) -> Path:
    """`data_file` as given if it exists (absolute, or relative to the working directory), else relative to the
    repository root; a missing file is a FileNotFoundError naming every place looked at."""
    path = Path(data_file).expanduser()
    tried = [path]
    if not path.is_absolute():
        tried.append(ROOT / path)
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"{data_file}: no such file (looked at {', '.join(str(p) for p in tried)}); give the "
                            "file with lm_eval's --metadata '{\"lambada_file\": PATH}' / '{\"wikitext_file\": PATH}'")


def read_lambada_jsonl(path: str | Path) -> list[dict[str, str]]:
    """The records of a LAMBADA JSON-lines file, each `{"text": passage}` as in `EleutherAI/lambada_openai`
    (the passage unchanged: newlines and all); a line that is not such a record is a ValueError naming the line."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise ValueError(f"{path}, line {number}: no string field 'text'")  # noqa: TRY004
            records.append({"text": record["text"]})
    if not records:
        raise ValueError(f"{path}: no LAMBADA passages")
    return records


def split_wikitext_documents(text: str) -> list[str]:
    """The documents (Wikipedia articles) of a WikiText file, as EleutherAI's `wikitext_document_level` dataset
    builds its `page` field: the text split on "\\n"; a line that is a top-level heading (" = Title = ": after
    writing "= = =" as "===" and "= =" as "==", it starts with "= " and ends with " =") starts a new document; the
    lines before it (joined by "\\n") are one document unless they are only whitespace. The last document is always
    kept, even when empty. Section headings (" = = Career = = ") stay inside their document."""
    documents: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        heading = line.replace("= = =", "===").replace("= =", "==").strip()
        if heading.startswith("= ") and heading.endswith(" ="):
            page = "\n".join(lines)
            if page.strip():
                documents.append(page)
            lines = []
        lines.append(line)
    documents.append("\n".join(lines))
    return documents


def read_wikitext_documents(path: str | Path) -> list[dict[str, str]]:
    """The documents of a WikiText file as `{"page": document}` records (the file read as UTF-8 text, as the
    dataset script opens it: universal newlines)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [{"page": page} for page in split_wikitext_documents(text)]


# ----------------------------------------------------------------------------------------------------------------------
# lm_eval's `custom_dataset` hooks: called with the task's metadata and dataset_kwargs, return {split: Dataset}
# ----------------------------------------------------------------------------------------------------------------------
def load_lambada_openai(data_file: str = "../shared/data/lambada/lambada_test.jsonl", lambada_file: str | None = None,
                        **_ignored):
    """lambada_openai's test split from a local `lambada_test.jsonl`."""
    import datasets

    path = resolve_data_file(lambada_file or data_file)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(read_lambada_jsonl(path))})


def load_wikitext_document_level(data_file: str = "../shared/data/wikitext2/test.txt",
                                 wikitext_file: str | None = None, **_ignored):
    """wikitext's test split (documents) from a local WikiText test file."""
    import datasets

    path = resolve_data_file(wikitext_file or data_file)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(read_wikitext_documents(path))})


# ----------------------------------------------------------------------------------------------------------------------
# lm_eval's wikitext task (tasks/wikitext/preprocess_wikitext.py, task version 2.0), unchanged in behaviour
# ----------------------------------------------------------------------------------------------------------------------
def wikitext_detokenizer(doc: dict[str, str]) -> str:
    """Undo WikiText's tokenisation (" @-@ " -> "-", " , " -> ", ", brackets, quotes, headings) as lm_eval's
    wikitext task: this string is what the model scores."""
    string = doc["page"]
    # contractions
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    # number separators
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    # punctuation
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    # double brackets
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def count_words(page: str) -> int:
    """The task's word count: of the page *before* detokenisation, `len(re.split(r"\\s+", page))` (empty strings
    at the ends included, as lm_eval counts them)."""
    return len(re.split(r"\s+", page))


def count_bytes(page: str) -> int:
    """The task's byte count: UTF-8 bytes of the page before detokenisation."""
    return len(page.encode("utf-8"))


def process_results(doc: dict[str, str], results) -> dict[str, tuple[float, int]]:
    """Per document: (log-likelihood of the detokenised page, words or bytes of the original page); lm_eval
    aggregates word_perplexity = exp(-sum ll / sum words), byte_perplexity = exp(-sum ll / sum bytes) and
    bits_per_byte = -sum ll / (sum bytes * ln 2)."""
    (loglikelihood,) = results
    words = count_words(doc["page"])
    num_bytes = count_bytes(doc["page"])
    return {
        "word_perplexity": (loglikelihood, words),
        "byte_perplexity": (loglikelihood, num_bytes),
        "bits_per_byte": (loglikelihood, num_bytes),
    }


# ----------------------------------------------------------------------------------------------------------------------
# In-context learning (benchmarks/prompting_lm_eval.py): SST-2 and GSM8K from local files
# ----------------------------------------------------------------------------------------------------------------------
def read_sst2_tsv(path: str | Path) -> list[dict]:
    """A GLUE SST-2 tsv file (header `sentence<TAB>label`) as the records of the Hub's `nyu-mll/glue` config `sst2`:
    `{"sentence", "label", "idx"}`, read as its builder reads the GLUE tsv (csv.DictReader, tab, QUOTE_NONE: the
    sentence unchanged, its trailing space kept); idx counts the rows from 0. A row without a sentence or an integer
    label is a ValueError naming the line."""
    import csv

    records = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not reader.fieldnames or "sentence" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ValueError(f"{path}, line 1: the header must name the columns sentence and label, got "
                             f"{reader.fieldnames}")
        for index, row in enumerate(reader):
            line = index + 2
            try:
                label = int(row["label"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: label {row['label']!r} is not an integer") from None
            if row["sentence"] is None:
                raise ValueError(f"{path}, line {line}: no sentence")
            records.append({"sentence": row["sentence"], "label": label, "idx": index})
    if not records:
        raise ValueError(f"{path}: no SST-2 rows")
    return records


def read_gsm8k_jsonl(path: str | Path) -> list[dict[str, str]]:
    """GSM8K JSON lines (`openai/gsm8k` config `main`): `{"question", "answer"}` per line, unchanged (the answer is
    the worked solution ending in "#### N"); a line that is not such a record is a ValueError naming the line."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("question", "answer")):
                raise ValueError(f"{path}, line {number}: no string fields 'question' and 'answer'")
            records.append({"question": record["question"], "answer": record["answer"]})
    if not records:
        raise ValueError(f"{path}: no GSM8K problems")
    return records


def load_sst2(data_dir: str = "../shared/data/glue/SST-2", sst2_dir: str | None = None, **_ignored):
    """glue/sst2's train and validation splits from a local GLUE folder (train.tsv, dev.tsv)."""
    import datasets

    folder = sst2_dir or data_dir
    return datasets.DatasetDict({
        split: datasets.Dataset.from_list(read_sst2_tsv(resolve_data_file(str(Path(folder) / name))))
        for split, name in (("train", "train.tsv"), ("validation", "dev.tsv"))
    })


def load_gsm8k(data_dir: str = "../shared/data/reasoning/gsm8k", gsm8k_dir: str | None = None, **_ignored):
    """gsm8k (main)'s train and test splits from a local folder (train.jsonl, test.jsonl)."""
    import datasets

    folder = gsm8k_dir or data_dir
    return datasets.DatasetDict({
        split: datasets.Dataset.from_list(read_gsm8k_jsonl(resolve_data_file(str(Path(folder) / f"{split}.jsonl"))))
        for split in ("train", "test")
    })
