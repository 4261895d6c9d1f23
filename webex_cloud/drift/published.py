"""A drift report as ``drift --json-out`` leaves it for others (the deploy job, the daily fleet run), read
back for the pull-request comment's drift section: "this merge would also revert", the out-of-band
changes of a stack that the next ``pulumi up`` of main's program undoes (webex_cloud/drift/classes.py
``Up``), and the broken rules it leaves as they are (a pod split by a forced move: no input of the
program changed, so ``up`` does not repair it), each with its cause and fix."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from webex_cloud.drift.classes import Side, Up
from webex_cloud.drift.report import FORMAT, TIME_FORMAT
from webex_cloud.input_files import InputFileError, read_bounded

UNDONE_BY_UP: Final = frozenset({Up.REVERT.value, Up.REPLACE.value, Up.RECREATE.value})
"""What ``up`` does to an out-of-band change that undoes it: sets it back, replaces or re-creates it."""
MAX_AGE: Final = dt.timedelta(hours=36)
"""How old a report may be and still stand for the cloud: the daily run's (every 24 h) and the hours of
the day after it; one missed daily run makes every report of the fleet older than this."""


class PublishedReportError(Exception):
    """A drift report that cannot be used; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Undone:
    """One out-of-band change the next ``up`` undoes."""

    kind: str
    name: str
    field: str
    recorded: Any
    observed: Any
    up: str
    acknowledged: str
    message: str


@dataclass(frozen=True)
class Unrepaired:
    """One broken placement or N+1 rule (``live-vs-rules``) that the next ``up`` leaves as it is."""

    kind: str
    name: str
    field: str
    message: str
    cause: str
    """What broke it ("" when drift tells no cause, as for N+1)."""
    fix: str
    acknowledged: str


@dataclass(frozen=True)
class Published:
    stack: str
    sources: Mapping[str, str]
    undone: tuple[Undone, ...]
    unrepaired: tuple[Unrepaired, ...] = ()
    generated: dt.datetime | None = None
    """When drift read the cloud (UTC); None in a report written before drift recorded it."""
    blocking: int = 0
    """Blocking drift no acknowledgement covers: the deploy of this stack stops."""
    counts: Mapping[str, int] = field(default_factory=dict)
    """Drift entries per class (``kind``), every side."""
    could_not_check: tuple[str, ...] = ()

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.generated is None else now - self.generated

    def stale(self, now: dt.datetime, limit: dt.timedelta = MAX_AGE) -> str:
        """Why the report no longer stands for the cloud ("" while it does). The same words for the same
        report at any later ``now``: the comment's digest must not change with the clock."""
        age = self.age(now)
        if age is None:
            return "the report does not say when it was written (drift before it recorded `generated`)"
        if age > limit:
            return (
                f"the report was written at {self.generated:%Y-%m-%d %H:%M} UTC, more than {hours(limit)} "
                "before this check: the cloud may have changed since (is the daily drift run failing?)"
            )
        return ""


def hours(age: dt.timedelta) -> str:
    """An age in whole hours (days past 48 h), as the comment and the fleet summary print it."""
    total = int(age.total_seconds() // 3600)
    return f"{total // 24} days" if total >= 48 else f"{total} h"


def _generated(value: Any, path: Path, fix: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise PublishedReportError(
            f"{path}: generated: {value!r} is not a UTC time like 2026-12-07T05:17:00Z; {fix}"
        ) from None


def read_published(path: Path, stack: str) -> Published:
    """The report of ``stack`` at ``path``; raises PublishedReportError."""
    fix = f"write it with `python -m webex_cloud drift --stack {stack} ... --json-out {path}`"
    try:
        document = json.loads(read_bounded(path).decode("utf-8"))
    except (InputFileError, OSError, UnicodeDecodeError, ValueError) as error:
        raise PublishedReportError(f"{path}: not a drift report ({error}); {fix}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PublishedReportError(f"{path}: format: not {FORMAT}; {fix}")
    if document.get("stack") != stack:
        raise PublishedReportError(f"{path}: stack: {document.get('stack')!r}, not {stack!r}; {fix}")
    entries = document.get("drift")
    if not isinstance(entries, list) or not all(isinstance(d, dict) for d in entries):
        raise PublishedReportError(f"{path}: drift: a list of drift entries is required; {fix}")
    sources = document.get("sources")
    sources = sources if isinstance(sources, dict) else {}
    undone = tuple(
        Undone(
            kind=str(d.get("kind", "")),
            name=str(d.get("name", "")),
            field=str(d.get("field", "")),
            recorded=d.get("recorded"),
            observed=d.get("observed"),
            up=str(d.get("up")),
            acknowledged=str(d.get("acknowledged") or ""),
            message=str(d.get("message", "")),
        )
        for d in entries
        if d.get("side") == Side.LIVE.value and d.get("up") in UNDONE_BY_UP
    )
    unrepaired = tuple(
        Unrepaired(
            kind=str(d.get("kind", "")),
            name=str(d.get("name", "")),
            field=str(d.get("field", "")),
            message=str(d.get("message", "")),
            cause=str(d["cause"].get("says") or "") if isinstance(d.get("cause"), dict) else "",
            fix=str(d.get("fix") or ""),
            acknowledged=str(d.get("acknowledged") or ""),
        )
        for d in entries
        if d.get("side") == Side.RULES.value and d.get("up") == Up.NOTHING.value
    )
    blocking = document.get("blocking")
    if not isinstance(blocking, int) or isinstance(blocking, bool) or blocking < 0:
        raise PublishedReportError(f"{path}: blocking: a count of blocking drift is required; {fix}")
    counts = document.get("counts")
    could_not = document.get("could_not_check")
    return Published(
        stack,
        {str(k): str(v) for k, v in sources.items()},
        undone,
        unrepaired,
        generated=_generated(document.get("generated"), path, fix),
        blocking=blocking,
        counts={str(k): v for k, v in counts.items() if isinstance(v, int)}
        if isinstance(counts, dict)
        else {},
        could_not_check=tuple(str(c) for c in could_not) if isinstance(could_not, list) else (),
    )
