"""Opening the text files the library reads: plain, or gzip-compressed when the name ends in .gz or the file starts
with gzip's magic bytes (a compressed file under another name is still read, not called "not UTF-8")."""

from __future__ import annotations

import gzip
import os
import zlib
from typing import BinaryIO

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


__all__ = ["GZIP_ERRORS", "GZIP_MAGIC", "is_gzip", "open_binary"]
