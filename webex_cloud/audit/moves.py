"""Who broke a pod: the move that left a server where the scheduler never sends one.

With PodFilter in Nova's scheduler a member only lands on its anchor's host and an anchor only on a host
without another pod of its service, so a split pod or two pods on one host means a placement that skipped
the scheduler. Nova 34 skips it for a live migration or an evacuation that names its host with
``force: true``, or names one at a microversion before 2.30 (live migration) or 2.29 (evacuation), which
sends the host to the conductor unchecked (``nova/compute/api.py`` ``live_migrate``: ``if force is False
and host_name`` is the only path through the scheduler; ``evacuate`` the same); a cold migration to a
named host goes through the scheduler (``requested_destination``). Nova records no ``force`` anywhere the
API shows (``os-migrations`` and ``os-instance-actions`` leave it out), so the move is found from the
broken rule and the server's own action list: the most recent move among the servers at fault.

Not every broken pod is a forced move. Evacuating a dead host's servers all at once (``nova
host-evacuate``, Masakari) schedules each member while its anchor's own evacuation runs: the anchor's
host is still the dead one, so PodFilter finds no host for the member, and Nova sets it to ERROR on the
old host without rescheduling (nova 34 ``nova/conductor/manager.py`` ``rebuild_instance``, ``NoValidHost``;
``nova/compute/manager.py`` ``rebuild_instance`` notes that a rebuild does not reschedule). The rules still
hold under that concurrency: a member only goes to its anchor's recorded host, and two anchors chosen for
one host at once are stopped by Nova's late anti-affinity check on the destination (the same
``rebuild_instance``, "parallel scheduling could violate such policy"); what breaks is liveness. A server
in ERROR whose last move was an evacuation is therefore reported as a failed evacuation, with the repair:
reset it and evacuate it again, without a host, once its anchor runs on its new host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from webex_cloud.audit.compare import Limitation, Report
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.views import (
    ACTIONS_RULE,
    ACTIONS_RULE_DEFAULT,
    MOVE_ACTIONS,
    InstanceAction,
    Observation,
)
from webex_cloud.facts.invariants import FAILED_EVACUATION, FORCED_MOVE, POD_SPLIT, PODS_SHARE_HOST, Finding

MAX_SERVERS_READ = 50
"""At most this many servers' actions are read (one GET each): a cloud with more broken pods than this
has a bigger problem than who moved them, and the audit must still end."""


def _last_move(actions: Sequence[InstanceAction]) -> InstanceAction | None:
    moves = [a for a in actions if a.action in MOVE_ACTIONS]
    return max(moves, key=lambda a: a.start_time, default=None)


def explain_moves(
    report: Report,
    expected: Expected,
    observation: Observation,
    read_actions: Callable[[str], Sequence[InstanceAction]],
) -> None:
    """Add one ``forced-move`` finding per broken pod rule that a move explains, with the fix; a role
    that may not read instance actions gets a limitation instead."""
    broken = [f for f in report.findings if f.kind in (POD_SPLIT, PODS_SHARE_HOST)]
    wanted = sorted({u for f in broken for u in f.uuids})[:MAX_SERVERS_READ]
    actions: dict[str, Sequence[InstanceAction]] = {}
    try:
        for uuid in wanted:
            actions[uuid] = read_actions(uuid)
    except CloudError:
        report.limitations.append(
            Limitation(
                "which move broke a pod (the servers' instance actions)", ACTIONS_RULE, ACTIONS_RULE_DEFAULT
            )
        )
        return
    names = {s.id: s.name for s in observation.servers}
    status = {s.id: s.status for s in observation.servers}
    blamed: set[str] = set()
    for finding in broken:
        moves = [(move, uuid) for uuid in finding.uuids if (move := _last_move(actions.get(uuid, ())))]
        stranded = [(m, u) for m, u in moves if m.action == "evacuate" and status.get(u) == "ERROR"]
        for move, uuid in stranded:
            if uuid not in blamed:
                blamed.add(uuid)
                report.findings.append(
                    _failed_evacuation(expected, names.get(uuid, uuid), uuid, move, finding)
                )
        if stranded or not moves:
            continue
        move, uuid = max(moves, key=lambda pair: pair[0].start_time)
        if uuid in blamed:
            continue
        blamed.add(uuid)
        name = names.get(uuid, uuid)
        pod = next((p for p in expected.pods if name in p.instances), None)
        role = (
            f"the anchor of pod {pod.name}"
            if pod and pod.instances[0] == name
            else (f"a member of pod {pod.name}" if pod else "not in a pod of the plan")
        )
        rule = "away from its anchor" if finding.kind == POD_SPLIT else "on a host with another pod"
        report.findings.append(
            Finding(
                FORCED_MOVE,
                finding.service,
                f"{name} ({uuid}), {role}, was last moved by {move.action} at {move.start_time} "
                f"(request {move.request_id or '?'}, user {move.user_id or '?'}) and is {rule}, where the "
                "scheduler's PodFilter never sends it: the move named its host and skipped the scheduler "
                "(force, or a microversion before 2.30 for a live migration, 2.29 for an evacuation), or "
                "the scheduler ran without PodFilter. Fix: `openstack server migrate --live-migration "
                f"{uuid}` with no --host (a member goes to its anchor's host, an anchor to a host with room "
                "for its pod and no other pod), then each member of a moved anchor the same way",
                (uuid,),
                (pod.name,) if pod else (),
                finding.where,
            )
        )


def _failed_evacuation(
    expected: Expected, name: str, uuid: str, move: InstanceAction, finding: Finding
) -> Finding:
    pod = next((p for p in expected.pods if name in p.instances), None)
    of = f" of pod {pod.name}" if pod else ""
    return Finding(
        FAILED_EVACUATION,
        finding.service,
        f"{name} ({uuid}){of} is in ERROR on its old host after its evacuation at {move.start_time} "
        f"(request {move.request_id or '?'}) found no host: evacuated while its anchor's evacuation ran, "
        "it had no host to follow, and Nova does not reschedule an evacuation. Repair, once the anchor is "
        f"ACTIVE on its new host: `nova reset-state --active {uuid}`, then `nova evacuate {uuid}` with no "
        "host (the scheduler sends it to its anchor's host)",
        (uuid,),
        (pod.name,) if pod else (),
        finding.where,
    )
