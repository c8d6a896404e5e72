"""Reading and writing the library's files.

Reading: plain, or gzip-compressed when the name ends in .gz or the file starts with gzip's magic bytes (a compressed
file under another name is still read, not called "not UTF-8").

Writing: every save appears whole or not at all (`atomic_write` for a file, `staged_folder` for the files of a
saved model, `replace_folder` for a checkpoint swapped in whole), so a kill or a full disk never leaves a truncated
file that a later run would read as if it were complete.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
# what reading a corrupt or truncated gzip stream raises
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether `path` is gzip-compressed: its name ends in .gz or it starts with gzip's magic bytes."""
    if str(path).endswith(".gz"):
        return True
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """`path` opened for reading bytes, decompressed on the fly when it is gzip (reads may raise GZIP_ERRORS)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def read_text(path: str | os.PathLike, encoding: str = "utf-8", error: type[Exception] = ValueError,
              encoding_flag: str | None = None) -> str:
    """The whole text of a file, gzip-compressed or not (a .gz name or gzip's first bytes); a UTF-8 byte-order mark
    is dropped (MRPC's header starts with one). A corrupt or truncated gzip file, or bytes that are not `encoding`,
    raise `error` naming the file and the line, with the command that converts it (and the command-line flag that
    names another encoding, `encoding_flag`, when there is one)."""
    try:
        with open_binary(path) as f:
            data = f.read()
    except GZIP_ERRORS as err:
        raise error(f"{path}: corrupt or truncated gzip file ({type(err).__name__}: {err}); decompress it with "
                    "gunzip to see, or fetch it again") from None
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    try:
        return data.decode("utf-8-sig" if utf8 else encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        name = os.path.basename(path)
        flag = f"give the file's encoding with {encoding_flag} (e.g. latin-1), or " if encoding_flag else ""
        raise error(f"{path}: line {line}: not {'UTF-8' if utf8 else encoding} (byte(s) "
                    f"{data[err.start:err.end]!r}, {err.reason}); {flag}convert it, e.g. `iconv -f latin1 -t utf-8 "
                    f"{name} > utf8-{name}`") from None


__all__ = ["GZIP_ERRORS", "GZIP_MAGIC", "is_gzip", "open_binary", "read_text"]


# ----------------------------------------------------------------------------------------------------------------------
# Writing: a file or a folder appears whole or not at all
# ----------------------------------------------------------------------------------------------------------------------
STAGING_PREFIX = ".hf_models-staging-"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
                 ) -> Iterator[IO]:
    """Open `path` for writing so that it appears whole or not at all: the data go to a temporary file beside it,
    flushed to disk and renamed over `path` when the block ends without error (a kill, a full disk or an exception
    leaves the previous `path`, or none, never a truncated one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private to the user
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _move_tree(source: Path, target: Path, marker: str | None) -> None:
    """Move every file of `source` into `target` with os.replace (each file whole), subfolders merged, `marker`
    (a file name at the top level) last: when it appears, every other file is in place."""
    target.mkdir(parents=True, exist_ok=True)
    entries = sorted(source.iterdir(), key=lambda p: p.name == marker)
    for entry in entries:
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if destination.is_dir():
                _move_tree(entry, destination, None)
                continue
        os.replace(entry, destination)


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike, marker: str | None = "config.json") -> Iterator[Path]:
    """A fresh staging folder inside `folder` to save into (e.g. `model.save_pretrained(staging)`); when the block
    ends without error its files replace those of `folder` one by one, each renamed whole, `marker` last (the file
    that makes the folder loadable: config.json for a model). An error leaves `folder` as it was."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=STAGING_PREFIX))
    try:
        yield staging
        _move_tree(staging, folder, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(folder: str | os.PathLike, build: Callable[[Path], None]) -> Path:
    """Build a new version of `folder` (e.g. a checkpoint) and swap it in whole: `build(path)` writes into
    `folder.tmp`, then the old folder is renamed `folder.old`, the new one renamed into place, and the old one
    deleted. A kill at any point leaves `folder` or `folder.old` complete (see `complete_folder`)."""
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def complete_folder(folder: str | os.PathLike, is_complete: Callable[[Path], bool]) -> Path | None:
    """The complete version of a folder written by `replace_folder`: `folder` itself, else `folder.old` when a kill
    came between the two renames; None when neither is complete."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if candidate.is_dir() and is_complete(candidate):
            return candidate
    return None


__all__ += ["STAGING_PREFIX", "atomic_write", "complete_folder", "replace_folder", "staged_folder"]
