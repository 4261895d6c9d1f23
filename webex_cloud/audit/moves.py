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

The tracing (:func:`trace`) is one owner for every reader of a broken pod rule: the audit turns each move
it blames into a finding of its own; drift (webex_cloud/drift/placement.py) hangs the cause and the fix on
the broken rule itself, and says "cause unknown", with why, where the actions could not be read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

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
UNKNOWN_FIX: Final = (
    "find the server out of place from its moves (`openstack server event list <uuid>`), then "
    "`openstack server migrate --live-migration <uuid>` with no --host (the scheduler's PodFilter sends a "
    "member to its anchor's host, an anchor to a host with room for its pod and no other pod)"
)
"""The repair when no move is known: still through the scheduler, never to a named host."""


@dataclass(frozen=True)
class Move:
    """The move that left one server of a broken pod rule where the scheduler never sends one."""

    verdict: str
    """FORCED_MOVE, or FAILED_EVACUATION (left in ERROR on its old host)."""
    broken: Finding
    """The broken rule it explains (POD_SPLIT or PODS_SHARE_HOST)."""
    uuid: str
    name: str
    pod: str
    """The plan's pod of the server ("" when it is in none)."""
    role: str
    action: InstanceAction

    @property
    def who(self) -> str:
        """The request and the user, as far as Nova recorded them (a user is absent for an action
        no user asked for)."""
        return (
            f"request {self.action.request_id or 'not recorded'}, "
            f"user {self.action.user_id or 'not recorded'}"
        )

    @property
    def why(self) -> str:
        a = self.action
        if self.verdict == FAILED_EVACUATION:
            of = f" of pod {self.pod}" if self.pod else ""
            return (
                f"{self.name} ({self.uuid}){of} is in ERROR on its old host after its evacuation at "
                f"{a.start_time} ({self.who}) found no host: evacuated while its anchor's evacuation ran, "
                "it had no host to follow, and Nova does not reschedule an evacuation"
            )
        rule = "away from its anchor" if self.broken.kind == POD_SPLIT else "on a host with another pod"
        return (
            f"{self.name} ({self.uuid}), {self.role}, was last moved by {a.action} at {a.start_time} "
            f"({self.who}) and is {rule}, where the scheduler's PodFilter never sends it: the move named "
            "its host and skipped the scheduler (force, or a microversion before 2.30 for a live "
            "migration, 2.29 for an evacuation), or the scheduler ran without PodFilter"
        )

    @property
    def fix(self) -> str:
        """The repair, through the scheduler (never to a named host)."""
        if self.verdict == FAILED_EVACUATION:
            return (
                f"once the anchor is ACTIVE on its new host: `nova reset-state --active {self.uuid}`, "
                f"then `nova evacuate {self.uuid}` with no host (the scheduler sends it to its anchor's host)"
            )
        return (
            f"`openstack server migrate --live-migration {self.uuid}` with no --host (a member goes to "
            "its anchor's host, an anchor to a host with room for its pod and no other pod), then each "
            "member of a moved anchor the same way"
        )

    def finding(self) -> Finding:
        """The audit's finding for this move."""
        fix = f"Repair, {self.fix}" if self.verdict == FAILED_EVACUATION else f"Fix: {self.fix}"
        return Finding(
            self.verdict,
            self.broken.service,
            f"{self.why}. {fix}",
            (self.uuid,),
            (self.pod,) if self.pod else (),
            self.broken.where,
        )


@dataclass(frozen=True)
class Cause:
    """What the instance actions say about one broken pod rule."""

    broken: Finding
    moves: tuple[Move, ...]
    """The moves blamed: the latest move among its servers, or every server a parallel evacuation left
    in ERROR; empty when the cause is unknown."""
    unknown: str = ""
    """Why no move is named ("" when one is)."""

    @property
    def fix(self) -> str:
        return "; ".join(dict.fromkeys(m.fix for m in self.moves)) or UNKNOWN_FIX


def _last_move(actions: Sequence[InstanceAction]) -> InstanceAction | None:
    moves = [a for a in actions if a.action in MOVE_ACTIONS]
    return max(moves, key=lambda a: a.start_time, default=None)


def trace(
    findings: Sequence[Finding],
    expected: Expected,
    observation: Observation,
    read_actions: Callable[[str], Sequence[InstanceAction]],
) -> tuple[list[Cause], Limitation | None]:
    """The cause of each broken pod rule among ``findings``, from its servers' instance actions, and
    what the role could not read. Reads nothing when no pod rule is broken."""
    broken = [f for f in findings if f.kind in (POD_SPLIT, PODS_SHARE_HOST)]
    wanted = sorted({u for f in broken for u in f.uuids})
    actions: dict[str, Sequence[InstanceAction]] = {}
    refused = ""
    try:
        for uuid in wanted[:MAX_SERVERS_READ]:
            actions[uuid] = read_actions(uuid)
    except CloudError as error:
        # One refusal is the role's policy (or the API down): the others would fail alike.
        actions, refused = {}, str(error)
    limitation = (
        Limitation(
            "which move broke a pod (the servers' instance actions)", ACTIONS_RULE, ACTIONS_RULE_DEFAULT
        )
        if refused
        else None
    )
    names = {s.id: s.name for s in observation.servers}
    status = {s.id: s.status for s in observation.servers}
    causes = []
    for finding in broken:
        if refused or any(u not in actions for u in finding.uuids):
            why = (
                f"its servers' instance actions could not be read ({refused})"
                if refused
                else f"its servers' instance actions were not read (more than {MAX_SERVERS_READ} servers "
                "are at fault)"
            )
            causes.append(Cause(finding, (), f"cause unknown: {why}"))
            continue
        last = [(move, uuid) for uuid in finding.uuids if (move := _last_move(actions[uuid]))]
        stranded = [(m, u) for m, u in last if m.action == "evacuate" and status.get(u) == "ERROR"]
        if stranded:
            moves = [_move(FAILED_EVACUATION, finding, expected, names, u, m) for m, u in stranded]
        elif last:
            move, uuid = max(last, key=lambda pair: pair[0].start_time)
            moves = [_move(FORCED_MOVE, finding, expected, names, uuid, move)]
        else:
            causes.append(
                Cause(
                    finding,
                    (),
                    "cause unknown: no move in its servers' instance actions; a server was booted there "
                    "(a boot forced to a host, `--availability-zone <zone>:<host>`, skips the scheduler's "
                    "filters: nova 34 nova/scheduler/host_manager.py `get_filtered_hosts`), or the "
                    "scheduler ran without PodFilter",
                )
            )
            continue
        causes.append(Cause(finding, tuple(moves)))
    return causes, limitation


def _move(
    verdict: str, finding: Finding, expected: Expected, names: dict[str, str], uuid: str, move: InstanceAction
) -> Move:
    name = names.get(uuid, uuid)
    pod = next((p for p in expected.pods if name in p.instances), None)
    role = (
        f"the anchor of pod {pod.name}"
        if pod and pod.instances[0] == name
        else (f"a member of pod {pod.name}" if pod else "not in a pod of the plan")
    )
    return Move(verdict, finding, uuid, name, pod.name if pod else "", role, move)


def explain_moves(
    report: Report,
    expected: Expected,
    observation: Observation,
    read_actions: Callable[[str], Sequence[InstanceAction]],
) -> None:
    """Add one ``forced-move`` (or ``failed-evacuation``) finding per server a move left out of place,
    with the fix; a role that may not read instance actions gets a limitation instead."""
    causes, limitation = trace(report.findings, expected, observation, read_actions)
    if limitation is not None:
        report.limitations.append(limitation)
    blamed: set[str] = set()
    for cause in causes:
        # A split and a shared host made by one move blame it once.
        for move in cause.moves:
            if move.uuid not in blamed:
                blamed.add(move.uuid)
                report.findings.append(move.finding())
