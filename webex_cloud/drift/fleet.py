"""One fleet-wide summary of drift: every stack, its verdict, its drift per class and the age of its
report, from the per-stack reports the daily run keeps (``drift --json-out``, read back by
webex_cloud/drift/published.py, the one reader of that format).

A stack without a report, with a report that cannot be read, or with one older than the limit is a
row that says so: the summary never drops a stack, and never shows an old report as today's."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from webex_cloud.drift.published import MAX_AGE, Published, PublishedReportError, hours, read_published
from webex_cloud.drift.report import TIME_FORMAT
from webex_cloud.preview.markdown import code as md_code
from webex_cloud.preview.markdown import text as md_text

FORMAT: Final = "webex-cloud.drift-fleet/v1"


class Verdict(StrEnum):
    """A stack's verdict in the summary, worst first (the order of the table and of the counts)."""

    UNUSABLE = "unusable report"
    MISSING = "no report"
    STALE = "stale"
    BLOCKING = "blocking"
    UNCHECKED = "partly unchecked"
    WARNINGS = "drift, none blocking"
    CLEAN = "clean"


@dataclass(frozen=True)
class Row:
    stack: str
    verdict: Verdict
    report: Published | None
    age: dt.timedelta | None
    why: str
    """What the verdict rests on, in a sentence (the error, the age, the blocking count)."""


def _row(stack: str, reports: Path, now: dt.datetime, limit: dt.timedelta) -> Row:
    path = reports / f"{stack}.json"
    if not path.exists():
        return Row(stack, Verdict.MISSING, None, None, f"no {path.name}: the stack's daily job wrote none")
    try:
        report = read_published(path, stack)
    except PublishedReportError as error:
        return Row(stack, Verdict.UNUSABLE, None, None, str(error))
    age = report.age(now)
    stale = report.stale(now, limit)
    if stale:
        return Row(stack, Verdict.STALE, report, age, stale)
    if report.blocking:
        verdict, why = Verdict.BLOCKING, f"{report.blocking} blocking: its next deploy stops"
    elif report.could_not_check:
        verdict, why = Verdict.UNCHECKED, "; ".join(report.could_not_check)
    elif report.counts:
        verdict, why = Verdict.WARNINGS, "nothing blocks the next deploy"
    else:
        verdict, why = Verdict.CLEAN, "no drift"
    return Row(stack, verdict, report, age, why)


def summarize(
    stacks: Sequence[str], reports: Path, now: dt.datetime, limit: dt.timedelta = MAX_AGE
) -> list[Row]:
    """One row per stack, worst verdict first, then by stack name."""
    order = list(Verdict)
    rows = [_row(stack, reports, now, limit) for stack in stacks]
    return sorted(rows, key=lambda r: (order.index(r.verdict), r.stack))


def to_json(rows: Sequence[Row], now: dt.datetime, limit: dt.timedelta) -> str:
    def entry(row: Row) -> dict[str, Any]:
        report = row.report
        return {
            "stack": row.stack,
            "verdict": row.verdict.value,
            "why": row.why,
            "generated": None
            if report is None or report.generated is None
            else report.generated.strftime(TIME_FORMAT),
            "age_hours": None if row.age is None else round(row.age.total_seconds() / 3600, 1),
            "blocking": None if report is None else report.blocking,
            "counts": {} if report is None else dict(sorted(report.counts.items())),
        }

    document = {
        "format": FORMAT,
        "generated": now.strftime(TIME_FORMAT),
        "max_age_hours": limit.total_seconds() / 3600,
        "verdicts": dict(Counter(r.verdict.value for r in rows)),
        "stacks": [entry(r) for r in rows],
    }
    return json.dumps(document, indent=2) + "\n"


def to_markdown(rows: Sequence[Row], now: dt.datetime, limit: dt.timedelta) -> str:
    tally = Counter(r.verdict for r in rows)
    said = ", ".join(f"{tally[v]} {v.value}" for v in Verdict if tally[v])
    lines = [
        f"## Drift across the fleet, {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"{len(rows)} stack(s): {said}. A report older than {hours(limit)} is stale; docs/drift.md has "
        "the classes and which of them block.",
        "",
        "| stack | verdict | blocking | drift per class | report age | why |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        report = row.report
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) if report else ""
        age = "—" if row.age is None else hours(row.age)
        blocking = "—" if report is None else str(report.blocking)
        cells = [
            md_code(row.stack),
            row.verdict.value,
            blocking,
            md_text(counts) or "—",
            age,
            md_text(row.why),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
