"""Which servers a drain moves, in which order: pure, from the plan and one read of the cloud.

Each pod with an instance on a drained host moves whole: its anchor first (the instance whose server group
the scheduler places with anti-affinity to the sibling pods), then its members, which the Nova filter
sends to their anchor's host (docs/scheduler-filters.md). Pods move one at a time, so no service ever has
more than one pod moving — within every catalog ``rollout.max_unavailable`` — and a service that already
has as many pods not serving as its budget allows is refused rather than drained further.

A rerun computes the moves again from where the servers are now: what already moved is not moved again,
and a server Nova is still migrating is waited for first. So an interrupted drain is resumed by running it
again, from any machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.views import Server

SERVING = frozenset({"ACTIVE", "MIGRATING"})
"""Statuses of a server that serves: a live migration keeps it running."""
IN_FLIGHT = frozenset({"MIGRATING", "RESIZE", "VERIFY_RESIZE", "REBUILD", "REBOOT", "HARD_REBOOT"})
"""Nova server statuses of a server that is being changed right now."""


@dataclass(frozen=True)
class Move:
    service: str
    pod: str
    name: str
    server_id: str
    from_host: str
    anchor: bool


@dataclass(frozen=True)
class DrainPlan:
    hosts: tuple[str, ...]
    pods: tuple[tuple[Move, ...], ...]
    """Each pod's moves, anchor first; pods in the order they move."""
    in_flight: tuple[Server, ...]
    """Servers on a drained host that Nova is changing now: waited for before any new move."""
    refusals: tuple[str, ...]
    """Why the drain must not start (nothing is changed when there is one)."""

    @property
    def moves(self) -> list[Move]:
        return [move for pod in self.pods for move in pod]


def plan_drain(
    expected: Expected,
    servers: Iterable[Server],
    hosts: Iterable[str],
    max_unavailable: Mapping[str, int],
) -> DrainPlan:
    """The moves that empty ``hosts``; ``max_unavailable`` per service (the catalog's rollout)."""
    drained = tuple(dict.fromkeys(hosts))
    by_name: dict[str, list[Server]] = {}
    for server in servers:
        by_name.setdefault(server.name, []).append(server)
    refusals: list[str] = []
    catalog_names = {name for pod in expected.pods for name in pod.instances}
    on_drained = [s for group in by_name.values() for s in group if s.host in drained]
    for server in sorted(on_drained, key=lambda s: s.name):
        if server.name not in catalog_names:
            refusals.append(
                f"server {server.name} ({server.id}) on {server.host} is not an instance of the stack's "
                "plan; move or delete it by hand first (a drain moves only what the catalog knows)"
            )
    pods: list[tuple[Move, ...]] = []
    not_serving: dict[str, int] = {}
    for pod in expected.pods:
        found = [by_name.get(name, []) for name in pod.instances]
        if any(len(group) > 1 for group in found):
            names = [name for name, group in zip(pod.instances, found, strict=True) if len(group) > 1]
            refusals.append(
                f"pod {pod.name}: more than one server is named {', '.join(names)}; run the audit"
            )
            continue
        members = [group[0] for group in found if group]
        if len(members) < len(pod.instances) or any(s.status not in SERVING for s in members):
            not_serving[pod.service] = not_serving.get(pod.service, 0) + 1
        if not any(s.host in drained for s in members):
            continue
        # A pod whose anchor left a drained host for ONE other host, with members still on the drained
        # host, is a drain under way; any other split is one the drain did not make.
        outside = {s.host for s in members if s.host} - set(drained)
        if len(outside) > 1 or (outside and members[0].host in drained):
            hosts_of_pod = {s.host or "" for s in members}
            refusals.append(
                f"pod {pod.name} of {pod.service} is already split over {', '.join(sorted(hosts_of_pod))}; "
                "run `python -m webex_cloud audit` and repair it before draining"
            )
            continue
        pods.append(
            tuple(
                Move(pod.service, pod.name, s.name, s.id, s.host or "", anchor=(i == 0))
                for i, s in enumerate(members)
                if s.status not in IN_FLIGHT and s.host in drained
            )
        )
    for service, count in sorted(not_serving.items()):
        if any(m.service == service for pod in pods for m in pod) and count >= max_unavailable.get(
            service, 1
        ):
            refusals.append(
                f"service {service}: {count} pod(s) not serving now, and its rollout.max_unavailable is "
                f"{max_unavailable.get(service, 1)}: moving one more would take it below its floor; "
                "repair them first"
            )
    in_flight = tuple(s for s in on_drained if s.status in IN_FLIGHT)
    # Host by host, in the order given (a zone's in the inventory's order): each host empties in turn.
    ordered = sorted((p for p in pods if p), key=lambda pod: drained.index(pod[0].from_host))
    return DrainPlan(drained, tuple(ordered), in_flight, tuple(refusals))
