"""Live vs rules: the audit's placement check (webex_cloud/audit/compare.py, on the placement invariants'
one owner, webex_cloud/facts/invariants.py) on the same inventory drift read, its findings as drift. The
check itself lives in the audit, once; drift only maps its verdict: a pod split, sibling pods on one
host, replicas in one failure domain, a duplicate name or a resource on no host block; a resource
carrying the stack's ownership keys that the catalog does not expect is unmanaged (a warning). A missing
resource is not repeated here: the checkpoint's side reports it as deleted, with its ID.

A broken pod rule carries its cause and its fix, traced by the audit's owner of that question
(webex_cloud/audit/moves.py ``trace``: the most recent move in the servers' instance actions, read only
for the servers at fault). A forced live migration or evacuation to a named host is out-of-band drift
the next ``up`` does not repair (no input of the program changed), so the reviewer must see who moved
what, when, and the scheduler-routed repair. Actions that cannot be read leave the break reported with
"cause unknown" and why, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from webex_cloud.audit.compare import audit
from webex_cloud.audit.expected import Expected
from webex_cloud.audit.moves import Cause, trace
from webex_cloud.cloud.inventory import Inventory, Record
from webex_cloud.cloud.views import InstanceAction, observe
from webex_cloud.drift.findings import Drift, make
from webex_cloud.facts import invariants as rules

SKIPPED: Final = frozenset({rules.MISSING_INSTANCE, rules.MISSING_VOLUME})
UNMANAGED: Final = frozenset({rules.UNEXPECTED_INSTANCE, rules.UNEXPECTED_VOLUME})
ReadActions = Callable[[str], Sequence[InstanceAction]]
"""A server's instance actions by its ID (webex_cloud/cloud/views.py ``read_instance_actions``)."""


def _as_recorded(records: Sequence[Record], names: Mapping[str, str]) -> list[Record]:
    """The records under the names the checkpoint knows them by: the audit matches on names, and a
    server renamed out of band is still the program's (its renaming is reported on the state side)."""
    return [{**r, "name": names[str(r.get("id"))]} if str(r.get("id")) in names else r for r in records]


def cause_of(cause: Cause) -> dict[str, Any]:
    """A cause as drift's JSON carries it: who moved which server, when, with Nova's request ID (a user
    or request Nova did not record is null)."""
    return {
        "known": bool(cause.moves),
        "says": "; ".join(m.why for m in cause.moves) or cause.unknown,
        "moves": [
            {
                "verdict": m.verdict,
                "server": m.uuid,
                "name": m.name,
                "pod": m.pod or None,
                "action": m.action.action,
                "time": m.action.start_time,
                "request_id": m.action.request_id or None,
                "user_id": m.action.user_id or None,
            }
            for m in cause.moves
        ],
    }


def placement(
    expected: Expected, inventory: Inventory, names: Mapping[str, str], read_actions: ReadActions
) -> tuple[list[Drift], list[str]]:
    """The placement findings as drift, and what the identity could not check. ``names``: cloud ID ->
    the name the checkpoint records for it; ``read_actions`` is asked only for servers of a broken pod
    rule."""
    servers = _as_recorded(inventory.servers, names)
    volumes = _as_recorded(inventory.volumes, names)
    observation = observe(servers, volumes, inventory.project)
    report = audit(expected, observation)
    causes, refused = trace(report.findings, expected, observation, read_actions)
    by_rule = {c.broken: c for c in causes}
    found = []
    for f in report.findings:
        if f.kind in SKIPPED:
            continue
        cause = by_rule.get(f)
        found.append(
            make(
                "unmanaged" if f.kind in UNMANAGED else "placement",
                f"{f.kind}/{'+'.join(f.items)}",
                ", ".join(f.items),
                ", ".join(f.uuids),
                f.kind,
                None,
                {"uuids": list(f.uuids), "where": list(f.where)},
                f.message,
                cause=cause_of(cause) if cause else None,
                fix=cause.fix if cause else "",
            )
        )
    limits = [*report.limitations, *([refused] if refused else [])]
    return found, [str(limit) for limit in limits]
