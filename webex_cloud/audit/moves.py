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
from webex_cloud.facts.invariants import FORCED_MOVE, POD_SPLIT, PODS_SHARE_HOST, Finding

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
    blamed: set[str] = set()
    for finding in broken:
        moves = [(move, uuid) for uuid in finding.uuids if (move := _last_move(actions.get(uuid, ())))]
        if not moves:
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
