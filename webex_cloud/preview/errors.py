"""The one error the preview code raises for bad input: it names the input and what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from webex_cloud.config.errors import field_path
from webex_cloud.input_files import MAX_DOCUMENT_BYTES, InputFileError, read_bounded


class PreviewInputError(Exception):
    """An input (preview JSON, plan, checkpoint, backend URL) cannot be used; nothing was written."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")


def from_validation(source: str, error: ValidationError, *, limit: int = 5) -> PreviewInputError:
    """Turn a pydantic error into one readable line per problem (the first few; the count says the rest)."""
    problems = error.errors()
    lines = [f"{field_path(tuple(p['loc'])) or '(document)'}: {p['msg']}" for p in problems[:limit]]
    more = len(problems) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return PreviewInputError(source, "not the expected shape: " + "; ".join(lines))


def decode_text(raw: bytes, source: str) -> str:
    """Bytes of a JSON input as text, or an error that says what the file is and how to fix it.

    JSON is UTF-8 (RFC 8259 section 8.1). Windows PowerShell's ``>`` writes UTF-16 with a byte-order
    mark, and a Latin-1 editor writes bytes that are not UTF-8: both are named, never decoded by guess.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PreviewInputError(
            source,
            "is UTF-16 (as Windows PowerShell's `>` writes it), not UTF-8; write it again with "
            "`| Out-File -Encoding utf8` or from a POSIX shell",
        )
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PreviewInputError(
            source,
            f"is not UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start} (line {line}); "
            "save it as UTF-8",
        ) from None


def parse_json(text: str, source: str, hint: str = "") -> Any:
    """``json.loads`` whose failures (bad syntax, nesting too deep to parse) name the input."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PreviewInputError(
            source, f"not JSON (line {error.lineno}, column {error.colno}: {error.msg}){hint}"
        ) from None
    except RecursionError:
        raise PreviewInputError(
            source, "is nested too deeply to be a plan, preview or checkpoint (JSON depth over ~1000)"
        ) from None


def read_json(path: Path, hint: str = "") -> Any:
    """Read and parse a JSON file; every way it can be unusable is a PreviewInputError."""
    try:
        raw = read_bounded(path, MAX_DOCUMENT_BYTES)
    except InputFileError as error:
        raise PreviewInputError(str(path), f"the file {error}") from None
    except OSError as error:
        raise PreviewInputError(str(path), f"cannot read: {error.strerror or error}{hint}") from None
    return parse_json(decode_text(raw, str(path)), str(path))
