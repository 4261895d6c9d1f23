"""The report: Markdown for people (a pull-request comment), JSON for machines.

The Markdown is built to be read in a review: risks first, one line each; then a per-service count
table; the individual changes only inside collapsed ``<details>`` blocks; unchanged resources as a number.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from webex_cloud.change.model import Action, Certainty, Change, ChangeSet, urn_name, urn_type
from webex_cloud.facts.provider import DESCRIBED, Disruption, disruption
from webex_cloud.plan.format import DATACENTER, STACK
from webex_cloud.preview.markdown import code
from webex_cloud.preview.markdown import text as md_text
from webex_cloud.preview.risks import Level, Risk, describe_replace, short_type, shown_value
from webex_cloud.release.disruption import describe, releases

REPORT_FORMAT = "webex-cloud.preview-report/v1"
NO_SERVICE = "(not in a service)"
# Parents that say nothing about what a resource is for.
_TOP_LEVEL = frozenset({STACK, DATACENTER})
_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "+-",
    Action.DELETE: "-",
    Action.IMPORT: "=",
}
# A pull-request comment holds at most 65,536 characters for both stacks: the Markdown lists this many
# changes and risks of each level, and leaves the rest to the JSON report (every change is counted).
LISTED_CHANGES = 120
LISTED_RISKS = 25
LISTED_SERVICES = 30
LISTED_RELEASES = 10
_COLUMNS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.IMPORT)


@dataclass(frozen=True)
class Report:
    """A change set with its ranked risks: everything both renderers need."""

    changes: ChangeSet
    risks: tuple[Risk, ...]

    @property
    def blocking(self) -> tuple[Risk, ...]:
        return tuple(r for r in self.risks if r.level is Level.BLOCKING)

    @property
    def warnings(self) -> tuple[Risk, ...]:
        return tuple(r for r in self.risks if r.level is Level.WARNING)

    @property
    def failed(self) -> bool:
        """The source reported errors (a failed preview): whatever it lists, there is no verdict."""
        return bool(self.changes.errors)

    def service_of(self, change: Change) -> str:
        """The catalog service; else the component the resource belongs to (the controller pair)."""
        service = self.changes.topology.service_of(change.urn)
        if service:
            return service
        parent_type = urn_type(change.parent)
        if parent_type and parent_type not in _TOP_LEVEL:
            return f"{urn_name(change.parent)} ({short_type(parent_type)})"
        return NO_SERVICE

    def by_service(self) -> dict[str, list[Change]]:
        groups: dict[str, list[Change]] = defaultdict(list)
        for change in self.changes.changes:
            groups[self.service_of(change)].append(change)
        # Services alphabetically, resources that belong to none last.
        return dict(sorted(groups.items(), key=lambda item: (item[0] == NO_SERVICE, item[0])))


def _change_line(change: Change) -> str:
    head = f"`{_SYMBOL[change.action]}` {change.action.value} {short_type(change.type)} {code(change.name)}"
    if change.action is Action.REPLACE:
        order = " (deleted first)" if change.delete_before_replace else ""
        return f"{head}{order} — {describe_replace(change)}"
    if change.action is Action.UPDATE and change.properties:
        shown = [
            f"{code(p.path)} ({p.reason})" if p.reason else _property(p.path, p.old, p.new, change.certainty)
            for p in change.properties[:4]
        ]
        more = len(change.properties) - len(shown)
        # What the provider does in place (terraform-provider-openstack v3.4.0, preview/forcenew.py):
        # an image change is a rebuild that wipes the root disk, a flavor change a resize, ...
        effects = sorted(
            {
                DESCRIBED[d]
                for p in change.properties
                if (d := disruption(change.type, p.path)) is not None and d is not Disruption.REPLACE
            }
        )
        effect = f" — in place: {', '.join(effects)}" if effects else ""
        return f"{head}: {', '.join(shown)}{f' (+{more} more)' if more > 0 else ''}{effect}"
    return head


def _property(path: str, old: Any, new: Any, certainty: Certainty) -> str:
    if certainty is Certainty.PROVIDER or (old is None and new is None):
        return code(path)
    before, after = _values(shown_value(old), shown_value(new))
    return f"{code(path)} {md_text(before)} → {md_text(after)}"


def _text(value: Any) -> str:
    """One line, no Markdown: newlines shown as ⏎, backticks dropped."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("\r", "").replace("\n", "⏎").replace("`", "'")


def _values(old: Any, new: Any, width: int = 32) -> tuple[str, str]:
    """Both values short; long strings are shown from where they start to differ."""
    if old is None or new is None:
        return (
            "(none)" if old is None else _clip(_text(old), width),
            "(none)" if new is None else _clip(_text(new), width),
        )
    a, b = _text(old), _text(new)
    if len(a) <= width and len(b) <= width:
        return a, b
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(start - 4, 0)
    return (
        ("…" if start else "") + _clip(a[start:], width),
        ("…" if start else "") + _clip(b[start:], width),
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _risk_line(risk: Risk) -> str:
    icon = "🛑" if risk.level is Level.BLOCKING else "⚠️"
    return f"- {icon} **{risk.kind}** — {risk.subject}: {risk.reason}"


def headline(report: Report) -> str:
    """One line: the verdict and the counts (also printed by the CLI)."""
    changes = report.changes
    counts = Counter(c.action for c in changes.changes)
    if report.failed:
        return f"{changes.stack}: the preview failed ({len(changes.errors)} error(s)): no verdict"
    if not changes.changes and not report.risks:
        return f"{changes.stack}: no changes ({changes.unchanged} resources unchanged)"
    parts = [f"{counts[a]} to {a.value}" for a in _COLUMNS if counts[a]] or ["no changes"]
    verdict = (
        f"{len(report.blocking)} blocking"
        if report.blocking
        else f"{len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''}"
        if report.warnings
        else "no risks found"
    )
    return f"{changes.stack}: {verdict} · {', '.join(parts)} · {changes.unchanged} unchanged"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= LISTED_RISKS:
        return lines
    return [
        *lines[:LISTED_RISKS],
        f"- … {len(lines) - LISTED_RISKS} more of the same level, listed in the JSON report",
    ]


def render_markdown(report: Report) -> str:
    """The report as a pull-request comment section for one stack."""
    changes = report.changes
    lines = [
        f"### Stack {code(changes.stack)} — {headline(report).split(': ', 1)[1]}",
        "",
        f"<sub>Source: {changes.source_detail}.</sub>",
        "",
    ]
    if report.failed:
        lines += [
            "**The preview failed** — there is no verdict until it runs cleanly:",
            "",
            "```text",
            *(error.replace("```", "` ` `") for error in changes.errors[:LISTED_RISKS]),
            "```",
            "",
        ]
        if not changes.changes:
            lines += [f"> {note}" for note in changes.notes]
            return "\n".join(lines).rstrip() + "\n"
    if not changes.changes and not report.risks:
        lines += [
            f"**No changes.** All {changes.unchanged} resources are unchanged"
            f"{f', {changes.reads} only read' if changes.reads else ''}.",
            "",
        ]
        lines += [f"> {note}" for note in changes.notes]
        return "\n".join(lines).rstrip() + "\n"
    if report.blocking:
        lines += ["**Blocking** — do not merge as is:", *_capped(list(map(_risk_line, report.blocking))), ""]
    if report.warnings:
        lines += ["**Warnings** — check on purpose:", *_capped(list(map(_risk_line, report.warnings))), ""]
    if not report.risks and not report.failed:
        lines += ["No blocking change and no warning.", ""]
    rolled = releases(changes, changes.graph)
    if rolled:
        lines += ["**Releases** — pods change wave by wave, each wave after the previous one's health gate:"]
        listed = sorted(rolled, key=lambda r: (not r.blocking, r.service))[:LISTED_RELEASES]
        lines += [f"- {'❌ ' if r.blocking else ''}{describe(r)}" for r in listed]
        if len(rolled) > len(listed):
            lines.append(f"- … {len(rolled) - len(listed)} more, listed in the JSON report")
        lines.append("")
    groups = report.by_service()
    if len(groups) > LISTED_SERVICES:
        # Keep the busiest services; the others share one row (their changes stay in the JSON report).
        busiest = sorted(groups, key=lambda name: (-len(groups[name]), name))[: LISTED_SERVICES - 1]
        rest = [c for name, items in groups.items() if name not in busiest for c in items]
        others = len(groups) - len(busiest)
        groups = {name: items for name, items in groups.items() if name in busiest}
        groups[f"({others} other services)"] = rest
    lines += [
        "| service | " + " | ".join(a.value for a in _COLUMNS) + " |",
        "|---|" + "---:|" * len(_COLUMNS),
    ]
    for service, items in groups.items():
        counts = Counter(c.action for c in items)
        lines.append(f"| {md_text(service)} | " + " | ".join(str(counts[a] or "·") for a in _COLUMNS) + " |")
    lines.append("")
    budget = LISTED_CHANGES
    unlisted = 0
    for service, items in groups.items():
        shown = items[: max(budget, 0)]
        budget -= len(shown)
        hidden = len(items) - len(shown)
        if not shown:
            unlisted += hidden
            continue
        lines += [
            f"<details><summary>{md_text(service)}: "
            f"{len(items)} change{'s' if len(items) != 1 else ''}</summary>",
            "",
            *(f"- {_change_line(c)}" for c in shown),
            *([f"- … {hidden} more, listed in the JSON report"] if hidden else []),
            "",
            "</details>",
        ]
    if unlisted:
        lines += ["", f"{unlisted} more changes are counted above and listed in the JSON report."]
    tail = f"{changes.unchanged} resources unchanged"
    if changes.reads:
        tail += f", {changes.reads} only read"
    lines += ["", tail + ".", ""]
    lines += [f"> {note}" for note in changes.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_json(report: Report) -> dict[str, Any]:
    """The same report for machines (CI gates, dashboards)."""
    changes = report.changes

    def risk(r: Risk) -> dict[str, Any]:
        return {
            "level": r.level.name.lower(),
            "kind": r.kind,
            "subject": r.subject,
            "reason": r.reason,
            "urns": list(r.urns),
        }

    return {
        "format": REPORT_FORMAT,
        "stack": changes.stack,
        "source": changes.source,
        "source_detail": changes.source_detail,
        "verdict": "failed" if report.failed else "blocking" if report.blocking else "ok",
        "errors": list(changes.errors),
        "blocking": [risk(r) for r in report.blocking],
        "warnings": [risk(r) for r in report.warnings],
        "releases": [
            {
                "service": r.service,
                "summary": describe(r),
                "waves": [list(w) for w in r.waves],
                "disrupted_at_once": r.at_once,
                "max_unavailable": r.max_unavailable,
                "blocking": r.blocking,
            }
            for r in releases(changes, changes.graph)
        ],
        "counts": {a.value: sum(1 for c in changes.changes if c.action is a) for a in _COLUMNS},
        "unchanged": changes.unchanged,
        "reads": changes.reads,
        "changes": [
            {
                "urn": c.urn,
                "type": c.type,
                "name": c.name,
                "action": c.action.value,
                "certainty": c.certainty.value,
                "service": report.service_of(c),
                "pod": changes.topology.pod_of(c.urn),
                "replace_reasons": list(c.replace_reasons),
                "properties": [
                    {"path": p.path, "kind": p.kind, "forces_replace": p.forces_replace} for p in c.properties
                ],
            }
            for c in changes.changes
        ],
        "notes": list(changes.notes),
    }
