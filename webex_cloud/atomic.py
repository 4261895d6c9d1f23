"""Writing output files so that a reader sees the old file or the new one, never a part of either.

Every command's output (plans, policy config, reports) goes through here: the data is written to a
temporary file in the target's own folder (so the rename stays on one file system), flushed to disk,
then renamed over the target with ``os.replace``, which POSIX makes atomic. A full disk or a killed
process leaves the previous file untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    # mkstemp creates 0600; outputs get the mode a plain open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class OutputError(OSError):
    """An output file cannot be written; the message names it (an OSError, as a write failure is)."""


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, creating its folder; raise OutputError on failure.
    ``mode`` (say 0o600 for a private file): the file never exists with a wider one; default: what a
    plain open() would give it."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder; name a file to write to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _default_mode() if mode is None else mode)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}; the previous file (if any) is unchanged"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):
        # The rename is durable once the folder's entry is on disk too.
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with the UTF-8 ``text`` atomically (see :func:`write_bytes`)."""
    write_bytes(path, text.encode("utf-8"), mode)
