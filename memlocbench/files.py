"""Reading files that may be hostile: a result, manifest or metadata file named ``*.json`` could be a
FIFO (reading it blocks for ever), a link to ``/dev/zero`` (reading it never ends), a dangling link or a
folder. ``read_regular_file`` opens without blocking, checks that what it opened is an ordinary file
of at most ``max_bytes``, and only then reads it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from memlocbench.errors import NotARegularFileError

#: a JSON document memlocbench reads (a result file, metadata, a manifest) is never larger than this
MAX_JSON_BYTES = 64 * 1024 * 1024


def read_regular_file(path: str | Path, max_bytes: int | None = MAX_JSON_BYTES) -> bytes:
    """The bytes of ``path`` if it is an ordinary file (links followed) of at most ``max_bytes`` (None: any
    size); NotARegularFileError naming the path and what it is otherwise. FileNotFoundError passes
    through for a missing path; a dangling link is reported as such."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        if path.is_symlink():
            raise NotARegularFileError(f"{path} is a link to {os.readlink(path)!r}, which does not exist") from None
        raise
    except IsADirectoryError:
        raise NotARegularFileError(f"{path} is a folder, not a file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(f"{path} is {_what(info.st_mode)}, not an ordinary file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise NotARegularFileError(f"{path} is {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        chunks, remaining = [], info.st_size if max_bytes is None else max_bytes + 1
        while remaining > 0:  # bounded: a file that grows while read is cut at the limit
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if max_bytes is not None and len(data) > max_bytes:
            raise NotARegularFileError(f"{path} grew beyond the {max_bytes:,} bytes allowed while it was read")
        return data
    finally:
        os.close(fd)


def _what(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not an ordinary file"
