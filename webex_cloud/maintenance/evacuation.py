"""Evacuating dead hosts: every pod they held rebuilt elsewhere, whole, anchors first.

Nova evacuates a server only while its host's compute service is down (nova 34.0.0 ``compute/api.py``
``API.evacuate`` raises ``ComputeServiceInUse`` otherwise) and rebuilds it on a host its scheduler
chooses — this names none, so the filters decide: an anchor goes where its service's anti-affinity
group and the pod's room allow, a member where its anchor is (``PodFilter``; from filter release 1.2.0
also where its anchor's evacuation in progress is going, docs/scheduler-filters.md). The anchors are
asked first, all of them, since Nova runs evacuations in parallel; the members once their anchor is
rebuilt, so a pod is whole with any filter release. A member whose anchor could not be evacuated is left
where it is, named: it would only fail "No valid host".

A rerun plans again from where the servers are now: what moved is not asked again, and a server Nova
is still rebuilding (a killed run's) is waited for first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import operations
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import EVACUATION, Server, read_migrations, read_server
from webex_cloud.maintenance.drain import POLL, DrainError, Moved, wait_moved
from webex_cloud.maintenance.moves import IN_FLIGHT, Move


@dataclass(frozen=True)
class EvacuationPlan:
    hosts: tuple[str, ...]
    anchors: tuple[Move, ...]
    """The anchors on the dead hosts: asked first."""
    members: tuple[Move, ...]
    """The members on the dead hosts, each asked once its pod's anchor is rebuilt (or already away)."""
    in_flight: tuple[Server, ...]
    """Servers on the dead hosts Nova is rebuilding now (an earlier run's): waited for first."""
    strangers: tuple[str, ...]
    """Servers on the dead hosts that are not the plan's: left alone, named."""
    anchor_of: dict[str, str] = field(default_factory=dict)
    """Pod -> its anchor's server id, for every pod with a member to evacuate."""

    @property
    def moves(self) -> list[Move]:
        return [*self.anchors, *self.members]


def plan_evacuation(expected: Expected, servers: Iterable[Server], hosts: Iterable[str]) -> EvacuationPlan:
    """What to evacuate off ``hosts``, anchors first; pure, from the plan and one read of the cloud."""
    dead = tuple(dict.fromkeys(hosts))
    by_name: dict[str, Server] = {}
    strangers: list[str] = []
    known = {name for pod in expected.pods for name in pod.instances}
    for server in servers:
        if server.host in dead and server.name not in known:
            strangers.append(f"{server.name} ({server.id}) on {server.host}")
        by_name.setdefault(server.name, server)
    anchors: list[Move] = []
    members: list[Move] = []
    in_flight: list[Server] = []
    anchor_of: dict[str, str] = {}
    for pod in expected.pods:
        for index, name in enumerate(pod.instances):
            found = by_name.get(name)
            if found is None or found.host not in dead:
                continue
            if found.status in IN_FLIGHT or found.task_state is not None:
                in_flight.append(found)
                continue
            move = Move(pod.service, pod.name, name, found.id, found.host or "", anchor=index == 0)
            (anchors if index == 0 else members).append(move)
            anchor = by_name.get(pod.instances[0])
            if index > 0 and anchor is not None:
                anchor_of[pod.name] = anchor.id
    return EvacuationPlan(
        dead, tuple(anchors), tuple(members), tuple(in_flight), tuple(sorted(strangers)), anchor_of
    )


EVACUATION_ENDED: Final = frozenset({"done", "completed", "error", "failed"})
"""An evacuation record's end states (nova ``objects/migration.py``; ``done`` once the new host is
recorded, ``completed`` once the old host's compute cleaned up)."""


def wait_evacuated(
    session: Session,
    server_id: str,
    from_host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Server:
    """Wait until the server's newest evacuation record has ended, then until it is ACTIVE off
    ``from_host``. The record first: the new host's compute saves the rebuilt server ACTIVE and idle and
    only then records its host, then marks the record ``done`` (nova 26 Zed and 34 ``compute/manager.py``
    ``rebuild_instance``: ``_do_rebuild_instance`` saves it, ``resource_tracker.finish_evacuation`` sets
    ``instance.host``), so in between, ACTIVE on the dead host says nothing yet (found on the loopback)."""
    start = clock()
    while clock() - start <= timeout:
        records = read_migrations(session, server_id, EVACUATION)
        if not records or records[-1].status in EVACUATION_ENDED:
            break
        sleep(POLL)
    return wait_moved(session, server_id, from_host, timeout, clock, sleep)


@dataclass
class Evacuated:
    moved: list[Moved] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Why a server was not rebuilt elsewhere (or was left, its anchor having failed)."""
    split: dict[str, str] = field(default_factory=dict)
    """Pod -> how it is split: a member rebuilt away from its anchor."""

    @property
    def whole(self) -> bool:
        return not self.failed and not self.split


def _ask_and_wait(
    session: Session,
    moves: list[Move],
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    done: Evacuated,
    say: Callable[[str], None],
) -> set[str]:
    """Evacuate every move (all asked before any is waited for: Nova runs them in parallel), then wait
    for each; the names of the servers rebuilt elsewhere."""
    began = clock()
    for move in moves:
        operations.evacuate(session, move.server_id)
    rebuilt: set[str] = set()
    for move in moves:
        try:
            server = wait_evacuated(session, move.server_id, move.from_host, timeout, clock, sleep)
        except DrainError as error:
            done.failed.append(str(error))
            continue
        moved = Moved(move, server.host or "", clock() - began)
        done.moved.append(moved)
        rebuilt.add(move.name)
        role = "anchor" if move.anchor else "member"
        say(f"evacuated {move.name} ({role} of {move.pod}) {move.from_host} -> {moved.to_host}")
    return rebuilt


def evacuate(
    session: Session,
    plan: EvacuationPlan,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Evacuated:
    """Wait for what an earlier run left rebuilding, evacuate the anchors, then the members of every pod
    whose anchor is off the dead hosts; each member checked to be with its anchor."""
    done = Evacuated()
    for server in plan.in_flight:
        say(f"waiting for {server.name}, which Nova is rebuilding ({server.status.lower()})")
        try:
            wait_evacuated(session, server.id, server.host or "", timeout, clock, sleep)
        except DrainError as error:
            done.failed.append(str(error))
    _ask_and_wait(session, list(plan.anchors), timeout, clock, sleep, done, say)
    ready: list[Move] = []
    anchor_hosts: dict[str, str] = {}
    for member in plan.members:
        anchor_id = plan.anchor_of.get(member.pod)
        if anchor_id is None:
            ready.append(member)  # a pod without its anchor: the audit names it; the filter decides
            continue
        anchor = read_server(session, anchor_id)
        if anchor.host in plan.hosts or anchor.status != "ACTIVE":
            done.failed.append(
                f"member {member.name} of pod {member.pod} is left on {member.from_host}: its anchor "
                f"{anchor.name} was not rebuilt elsewhere ({anchor.status.lower()} on {anchor.host}); "
                "repair the anchor, then rerun the evacuation"
            )
            continue
        anchor_hosts[member.pod] = anchor.host or ""
        ready.append(member)
    rebuilt = _ask_and_wait(session, ready, timeout, clock, sleep, done, say)
    for member in ready:
        if member.name not in rebuilt:
            continue
        where = read_server(session, member.server_id).host
        anchor_host = anchor_hosts.get(member.pod)
        if anchor_host is not None and where != anchor_host:
            done.split[member.pod] = (
                f"pod {member.pod} is split: its anchor is on {anchor_host}, member {member.name} on "
                f"{where}; is the scheduler's pod filter enabled? (docs/scheduler-filters.md)"
            )
    return done
