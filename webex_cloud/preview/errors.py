"""The one error the preview code raises for bad input: it names the input and what is wrong with it."""

from __future__ import annotations

from pydantic import ValidationError

from webex_cloud.config.errors import field_path


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
