"""Raw text into documents, the input of every pretraining objective: BERT's NSP pairs and MLM segments here, span
corruption (T5) and causal-LM blocks (GPT) beside them.

A document is a list of sentences; objectives that pair or pack sentences never cross a document boundary (BERT
appendix A.2), so the way a file is cut into documents (`document_separator`) matters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..file_utils import GZIP_ERRORS, open_binary

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


def read_text_file(path: Path) -> str:
    """Read a whole UTF-8 file, gzip-compressed or not (a .gz name or gzip's first bytes); a missing, empty, corrupt
    or non-UTF-8 file is an error that names it (and the line)."""
    if not path.exists():
        raise FileNotFoundError(f"text file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    try:
        with open_binary(path) as f:
            data = f.read()
    except GZIP_ERRORS as error:
        raise ValueError(f"text file {path}: corrupt or truncated gzip file ({error})") from None
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


def parse_document_separator(document_separator: str | int) -> str | int:
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
    separator = parse_document_separator(document_separator)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_documents: no file was given")

    documents: list[list[str]] = []
    for path in paths:
        text = read_text_file(path)
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


__all__ = ["parse_document_separator", "read_documents", "read_text_file", "split_into_sentences"]
