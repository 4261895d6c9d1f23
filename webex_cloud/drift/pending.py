"""State vs plan: the changes the next `up` applies (the offline diff the preview report makes,
webex_cloud/preview/offline.py, with the checkpoint as the old side), and how they meet the live drift.

A live difference on a field the program changes anyway is not reverted: `up` writes the program's new
value over both, so the drift's `up` becomes *apply* and carries the planned value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from webex_cloud.change.model import Action
from webex_cloud.drift.classes import Up
from webex_cloud.drift.findings import Drift, make
from webex_cloud.plan.format import Plan
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_of
from webex_cloud.preview.state import DeployedState


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def pending(
    plan: Plan, deployed: DeployedState, plan_source: str, answers: Mapping[str, Any] | None = None
) -> list[Drift]:
    """One finding per resource the program would create, update, replace or delete.

    ``answers``: the plan's lookup stand-ins answered by the live cloud (webex_cloud/drift/lookups.py),
    compared in their place; an unanswered one is not compared (webex_cloud/facts/stand_ins.py).
    """
    changes = diff_snapshots(
        deployed.snapshot(),
        snapshot_of(plan, source=plan_source),
        old_only_keys_count=False,
        resolved=answers,
    )
    found = []
    for change in changes.changes:
        paths = sorted({p.path for p in change.properties})
        planned = {p.path: p.new for p in change.properties} if change.properties else None
        recorded = {p.path: p.old for p in change.properties} if change.properties else None
        what = f" ({', '.join(paths)})" if paths else ""
        deployed_id = deployed.resources[change.urn].id if change.urn in deployed.resources else ""
        found.append(
            make(
                "pending",
                change.urn,
                change.name,
                deployed_id,
                ",".join(_top(p) for p in paths),
                recorded,
                None,
                f"the program would {change.action.value} {change.name}{what}",
                planned=planned,
                action=change.action.value,
            )
        )
    return found


def over_pending(live: list[Drift], planned: list[Drift]) -> list[Drift]:
    """Live drifts whose field the program changes anyway: `up` applies the program's value."""
    changed: dict[tuple[str, str], object] = {}
    deleted = set()
    change_of: dict[str, str] = {}
    for change in planned:
        for path, value in (change.planned or {}).items():
            changed[(change.resource, _top(path))] = value
        if change.action in (Action.DELETE.value, Action.REPLACE.value):
            deleted.add(change.resource)
            change_of[change.resource] = change.action
    out = []
    for drift in live:
        key = (drift.resource, _top(drift.field))
        if key in changed:
            drift = replace(drift, up=Up.APPLY, planned=changed[key])
        elif drift.resource in deleted:
            drift = replace(
                drift,
                up=Up.APPLY,
                notes=(*drift.notes, f"the program would {change_of[drift.resource]} this resource"),
            )
        out.append(drift)
    return out
