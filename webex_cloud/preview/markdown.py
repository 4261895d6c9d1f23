"""Put untrusted text (resource and service names, values, messages) into Markdown without it becoming
Markdown: a name holding a backtick, a pipe or HTML must read as itself in the comment."""

from __future__ import annotations

import html
import re

_LONGEST_TICKS = re.compile(r"`+")


def code(text: str) -> str:
    """Inline code that survives backticks inside (CommonMark: a longer fence, padded with spaces)."""
    text = text.replace("\r", "").replace("\n", "⏎")
    runs = [len(m) for m in _LONGEST_TICKS.findall(text)]
    fence = "`" * (max(runs, default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or runs else text
    # A pipe ends a table cell even inside code spans (GitHub's table extension).
    return f"{fence}{padded}{fence}".replace("|", "\\|")


def text(value: str) -> str:
    """Plain text: HTML and Markdown punctuation escaped, one line."""
    escaped = html.escape(value.replace("\r", "").replace("\n", " "), quote=False)
    return re.sub(r"([\\`*_{}\[\]()#+!|~>])", r"\\\1", escaped)


_WORD_JOINER = "\u2060"


def defuse_comments(value: str) -> str:
    """No HTML comment can open or close in ``value``: the comment's own markers (how the workflow finds
    the comment and its digest) then occur only where this project writes them. ``<!--`` and ``-->`` get
    an invisible word joiner, so they read the same and match nothing."""
    return value.replace("<!--", f"<!{_WORD_JOINER}--").replace("-->", f"--{_WORD_JOINER}>")


def fenced(value: str, info: str = "text") -> list[str]:
    """A fenced code block that ``value`` cannot close: the fence is longer than any backtick run in it
    (CommonMark: a closing fence needs at least as many backticks as the opening one)."""
    runs = [len(m) for m in _LONGEST_TICKS.findall(value)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [f"{fence}{info}", defuse_comments(value), fence]
