"""The three-way comparison of one stack, composed from its parts, and its text and JSON forms.

The command (webex_cloud/commands/drift.py) reads the plan, the checkpoint, the acknowledgements and
the cloud, and hands them here, with one read left to do on demand: the instance actions of the servers
of a broken pod rule (its cause; webex_cloud/drift/placement.py). Nothing is asked of a provider: what
`up` would do is modelled (webex_cloud/drift/classes.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.cloud.images import GlanceImage
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.config.models import Service
from webex_cloud.drift.acks import Acks, apply_acks
from webex_cloud.drift.classes import Risk, Side
from webex_cloud.drift.findings import Drift
from webex_cloud.drift.glance import ReadImage, image_drift
from webex_cloud.drift.hosts import host_drift, n_plus_one, unavailable
from webex_cloud.drift.live import Managed, compare
from webex_cloud.drift.lookups import answer_lookups
from webex_cloud.drift.pending import over_pending, pending
from webex_cloud.drift.placement import ReadActions, placement
from webex_cloud.plan.format import Plan
from webex_cloud.preview.state import DeployedState

FORMAT: Final = "webex-cloud.drift/v1"
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
"""``generated``: UTC, to the second."""
SIDES: Final = {
    Side.LIVE: "live vs state (out of band)",
    Side.PLAN: "state vs plan (pending change)",
    Side.RULES: "live vs rules (placement, N+1)",
}


@dataclass
class DriftReport:
    stack: str
    drift: list[Drift]
    could_not_check: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    generated: dt.datetime | None = None
    """When the cloud was read (UTC): how old the report is, for whoever reads it later (the pull-request
    comment, the fleet summary)."""

    @property
    def blocking(self) -> list[Drift]:
        return [d for d in self.drift if d.blocking]

    @property
    def out_of_band(self) -> list[Drift]:
        return [d for d in self.drift if d.side is not Side.PLAN]


def managed(deployed: DeployedState, plan: Plan) -> list[Managed]:
    """The checkpoint's custom resources, with the program's replaceOnChanges from the plan."""
    options = {r.urn: frozenset(r.replace_on_changes) for r in plan.resources}
    return [
        Managed(r.urn, r.type, r.id, deployed.outputs.get(r.urn, {}), options.get(r.urn, frozenset()))
        for r in deployed.resources.values()
        if r.custom and r.id
    ]


def three_way(
    plan: Plan,
    plan_source: str,
    deployed: DeployedState,
    inventory: Inventory,
    catalog: Iterable[tuple[str, Service]],
    acks: Acks,
    today: dt.date,
    read_actions: ReadActions,
    controllers: tuple[list[Drift], list[str]] | None = None,
    glance: tuple[Sequence[GlanceImage], ReadImage] | None = None,
) -> DriftReport:
    """Live vs state, state vs plan, live vs rules (a broken pod rule with its cause, from the
    servers' instance actions ``read_actions`` returns), and the controllers' filters as read
    (webex_cloud/drift/controllers.py; None: not read), and the servers' images in Glance when
    ``glance`` gives its listing and its read by id (webex_cloud/drift/glance.py); acknowledgements
    applied."""
    expected = expected_from_plan(plan, plan_source)
    answers, unanswered = answer_lookups(plan, inventory)
    planned = pending(plan, deployed, plan_source, answers)
    resources = managed(deployed, plan)
    live = over_pending(compare(resources, inventory), planned)
    names = {m.id: str(m.outputs["name"]) for m in resources if isinstance(m.outputs.get("name"), str)}
    rules, limits = placement(expected, inventory, names, read_actions)
    report = DriftReport(plan.stack, [], could_not_check=[*limits, *unanswered])
    if inventory.compute_services is None:
        report.could_not_check.append(
            "compute hosts (disabled, down) and N+1 without them: the identity may not list compute "
            f"services, policy os_compute_api:os-services:list ({inventory.compute_services_error})"
        )
        hosts: list[Drift] = []
    else:
        hosts = host_drift(inventory.compute_services, expected.hosts)
        down, drained = unavailable(inventory.compute_services, expected.hosts)
        try:
            hosts += n_plus_one(plan, catalog, down, drained)
        except ValidationError as error:
            report.could_not_check.append(
                f"N+1 without {', '.join([*down, *drained])}: the plan's datacenter does not validate "
                f"({error.error_count()} error(s)); re-render the plan with `python -m webex_cloud plan`"
            )
    if deployed.pending_operations:
        report.notes.append(
            f"the checkpoint records {deployed.pending_operations} pending operation(s): an update was "
            "interrupted; run `pulumi refresh` before deploying"
        )
    on_controllers, unread = controllers or ([], [])
    report.could_not_check += unread
    images: list[Drift] = []
    if glance is not None:
        images, unread = image_drift(resources, inventory.servers, *glance)
        report.could_not_check += unread
    report.drift, notes = apply_acks([*live, *images, *on_controllers, *hosts, *rules, *planned], acks, today)
    report.notes += notes
    return report


def _entry(d: Drift) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "side": d.side.value,
        "resource": d.resource,
        "name": d.name,
        "id": d.cloud_id,
        "field": d.field,
        "recorded": d.recorded,
        "observed": d.observed,
        "observed_sha256": d.observed_digest,
        "planned": d.planned,
        "action": d.action,
        "up": d.up.value,
        "risk": d.risk.value,
        "blocking": d.blocking,
        "acknowledged": d.acknowledged,
        "message": d.message,
        "cause": d.cause,
        "fix": d.fix,
        "notes": list(d.notes),
    }


def to_json(report: DriftReport) -> str:
    document = {
        "format": FORMAT,
        "stack": report.stack,
        "generated": report.generated.strftime(TIME_FORMAT) if report.generated else None,
        "sources": report.sources,
        "clean": not report.out_of_band,
        "blocking": len(report.blocking),
        "counts": dict(sorted(Counter(d.kind for d in report.drift).items())),
        "drift": [_entry(d) for d in report.drift],
        "could_not_check": report.could_not_check,
        "notes": report.notes,
    }
    return json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"


def _line(d: Drift) -> str:
    mark = "ACKED" if d.acknowledged else d.risk.value.upper()
    where = f" {d.field}" if d.field else ""
    text = f"  [{mark}] {d.kind}: {d.name}{where} -> up: {d.up.value}\n      {d.message}"
    if d.cause is not None:
        # An unknown cause says so itself ("cause unknown: ..., why").
        text += f"\n      {'cause: ' if d.cause['known'] else ''}{d.cause['says']}"
    if d.fix:
        text += f"\n      fix: {d.fix}"
    if d.acknowledged:
        text += f"\n      acknowledged: {d.acknowledged}"
    elif d.risk is Risk.BLOCK:
        text += (
            f"\n      to acknowledge: resource {d.resource}, field {d.field!r}, sha256 {d.observed_digest}"
        )
    return text


def to_text(report: DriftReport, ack_path: str) -> str:
    lines = [f"drift of stack {report.stack}"]
    lines += [f"  {k}: {v}" for k, v in report.sources.items()]
    for side, title in SIDES.items():
        items: Sequence[Drift] = [d for d in report.drift if d.side is side]
        lines.append(f"\n{title}: {len(items) or 'nothing'}")
        lines += [_line(d) for d in items]
    lines += [
        f"\ncould not check {c}" if not c.startswith("could not") else f"\n{c}"
        for c in report.could_not_check
    ]
    lines += [f"\nnote: {n}" for n in report.notes]
    blocking = len(report.blocking)
    verdict = (
        f"\n{blocking} blocking drift(s): the deploy of {report.stack} stops until each is fixed, absorbed "
        f"by the catalog or acknowledged in {ack_path} (docs/drift.md)"
        if blocking
        else f"\nno blocking drift in {report.stack}"
    )
    lines.append(verdict)
    return "\n".join(lines) + "\n"
