"""Corpora for word2vec: streamed text files (gensim's `LineSentence` / `PathLineSentences`) or any re-iterable of
token lists, checked before training so that a wrong input fails with a clear message instead of training on
characters or on an exhausted generator.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

MAX_SENTENCE_LENGTH = 10_000  # gensim's and word2vec.c's MAX_SENTENCE_LEN
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def open_text(path: str | os.PathLike, encoding: str = "utf-8") -> io.TextIOBase:
    """Open a plain, .gz, .bz2 or .xz text file for reading, decoded as `encoding`."""
    opener = _OPENERS.get(Path(path).suffix.lower())
    if opener is None:
        return open(path, encoding=encoding)
    return opener(path, "rt", encoding=encoding)


def _expand_paths(path_or_paths) -> list[Path]:
    """The files named, a folder standing for all its files (sorted; hidden files skipped)."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        path_or_paths = [path_or_paths]
    files: list[Path] = []
    for entry in path_or_paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise FileNotFoundError(f"corpus folder {path} holds no files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"corpus file {path} does not exist")
    if not files:
        raise ValueError("LineSentence needs at least one file or folder")
    return files


class LineSentence:
    """Sentences streamed from text files, one sentence per line, tokens separated by whitespace (gensim).

    The files are read line by line on every pass, never loaded whole. Lines longer than `max_sentence_length`
    tokens are split into several sentences; empty lines are skipped.

    Args:
        path_or_paths: a file (plain, .gz, .bz2 or .xz), a folder (all its files, in name order) or a list of them.
        lowercase: lowercase every token.
        max_sentence_length: longest sentence handed to training.
        limit: read at most this many lines of each file (None: all).
        encoding: text encoding of the files (UTF-8 by default).
    """

    def __init__(
        self,
        path_or_paths,
        lowercase: bool = False,
        max_sentence_length: int = MAX_SENTENCE_LENGTH,
        limit: int | None = None,
        encoding: str = "utf-8",
    ):
        if not isinstance(max_sentence_length, int) or max_sentence_length < 1:
            raise ValueError(f"max_sentence_length must be a positive integer, got {max_sentence_length!r}")
        self.paths = _expand_paths(path_or_paths)
        self.lowercase = lowercase
        self.max_sentence_length = max_sentence_length
        self.limit = limit
        self.encoding = encoding

    def __repr__(self) -> str:
        names = ", ".join(str(p) for p in self.paths[:3]) + (", ..." if len(self.paths) > 3 else "")
        return f"LineSentence({names})"

    def __iter__(self) -> Iterator[list[str]]:
        step = self.max_sentence_length
        for path in self.paths:
            with open_text(path, self.encoding) as f:
                line_no = 0
                try:
                    for line_no, line in enumerate(f, start=1):
                        if self.limit is not None and line_no > self.limit:
                            break
                        if self.lowercase:
                            line = line.lower()
                        tokens = line.split()
                        for start in range(0, len(tokens), step):
                            yield tokens[start:start + step]
                except UnicodeDecodeError as error:
                    bad_line = _first_undecodable_line(path, self.encoding) or line_no + 1
                    raise ValueError(
                        f"{path}, line {bad_line}: not valid {self.encoding} text ({error.reason}); pass "
                        "encoding=... for files in another encoding"
                    ) from None
                except (OSError, EOFError) as error:
                    raise ValueError(f"{path}, line {line_no + 1}: cannot read the file ({error})") from None


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The number of the first line of `path` that does not decode as `encoding` (text IO decodes in chunks)."""
    opener = _OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return line_no
    return None


def as_corpus(corpus, lowercase: bool = False, max_sentence_length: int = MAX_SENTENCE_LENGTH) -> Iterable[list[str]]:
    """A re-iterable corpus of token lists from a path, a list of paths, or a re-iterable of token lists.

    A one-shot iterator (a generator, a file object) is refused: vocabulary building and every epoch read the
    corpus again. A sentence that is a str rather than a list of tokens is refused too (it would train on
    characters).
    """
    if isinstance(corpus, (str, os.PathLike)):
        return LineSentence(corpus, lowercase=lowercase, max_sentence_length=max_sentence_length)
    if isinstance(corpus, (list, tuple)) and corpus and all(isinstance(c, (str, os.PathLike)) for c in corpus):
        if all(Path(c).exists() for c in corpus):
            return LineSentence(corpus, lowercase=lowercase, max_sentence_length=max_sentence_length)
        raise TypeError(
            "corpus is a list of str, not of token lists: split each sentence (e.g. [line.split() for line in "
            "lines]), or pass paths of files that exist (not found: "
            f"{next(str(c) for c in corpus if not Path(c).exists())!r})"
        )
    if iter(corpus) is corpus:
        raise TypeError(
            f"corpus is a one-shot iterator ({type(corpus).__name__}); word2vec reads the corpus once per epoch plus "
            "once for the vocabulary: pass a list of token lists, a LineSentence, or any object whose __iter__ "
            "starts again"
        )
    first = next(iter(corpus), None)
    if isinstance(first, str):
        raise TypeError(
            f"corpus sentences must be lists of tokens, the first one is a str ({first[:40]!r}): split it "
            "(e.g. [line.split() for line in lines]) or pass a LineSentence"
        )
    if first is not None and not hasattr(first, "__iter__"):
        raise TypeError(f"corpus sentences must be lists of tokens, the first one is a {type(first).__name__}")
    if lowercase:
        return _Lowercased(corpus)
    return corpus


class _Lowercased:
    """A corpus of token lists with every token lowercased on the fly."""

    def __init__(self, corpus):
        self.corpus = corpus

    def __iter__(self):
        for sentence in self.corpus:
            yield [token.lower() for token in sentence]


__all__ = ["MAX_SENTENCE_LENGTH", "LineSentence", "as_corpus", "open_text"]
