"""Reading an input file the user names: a regular file of bounded size, or a one-line refusal.

``--plan /dev/zero`` would otherwise read forever, a FIFO would block the command until a writer
appears, and a multi-gigabyte file would be read whole before anything could say it is not a plan.
Every reader of a user-named file (stack and catalog YAML, plans, previews, policy config) goes
through :func:`read_bounded`; each wraps :class:`InputFileError` in its own error type, which names
the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Stack files, catalog files and policy config: far larger than any real one."""
MAX_DOCUMENT_BYTES: Final = 512 * 1024 * 1024
"""Plans, previews and state exports: a 10,000-resource stack's plan is a few tens of MB."""


class InputFileError(ValueError):
    """The file cannot be used as input; the message says why, to follow "the file" (``is a folder; ...``)."""


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes, without blocking on special files."""
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputFileError(f"cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
            )
            raise InputFileError(f"is {kind}; name a regular file")
        if info.st_size > limit:
            raise InputFileError(f"is {info.st_size} bytes; files larger than {limit} are refused")
        with os.fdopen(fd, "rb", closefd=True) as stream:
            fd = -1
            data = stream.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise InputFileError(f"grew past {limit} bytes while being read")
    return data
