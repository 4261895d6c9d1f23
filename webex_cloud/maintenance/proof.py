"""Can the stack lose these hosts or failure domains? The placement proof, run on what would be left.

The same proof as `python -m webex_cloud place` (webex_cloud/placement/engine.py): every pod and replica of
the plan placed through the filters on the remaining inventory, the invariants checked, and, where the
stack requires it (``placement.n_plus_one``), every single further host and failure-domain loss recovered.
Nova's default weighers spread (the policy the proof blocks on), so that is the run used here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from webex_cloud.placement.engine import Pipelines, place
from webex_cloud.placement.plan import PlacementPlan


@dataclass(frozen=True)
class Verdict:
    """Whether the stack stays whole without ``hosts``, ``domains`` and ``backends``; ``reasons`` say
    why not."""

    hosts: tuple[str, ...]
    domains: tuple[str, ...]
    reasons: tuple[str, ...]
    """What the loss breaks that holds with the whole inventory."""
    already: tuple[str, ...] = ()
    """What the proof finds with the whole inventory too: not the loss's doing, reported, not refused."""
    backends: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    """The availability zones whose every host is in ``hosts``."""

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def what(self) -> str:
        hosts = [f"zone {z}" for z in self.zones] if self.zones else [f"host {h}" for h in self.hosts]
        parts = (
            hosts + [f"failure domain {d}" for d in self.domains] + [f"backend {b}" for b in self.backends]
        )
        return " and ".join(parts) or "nothing"


def without(
    plan: PlacementPlan, hosts: Iterable[str] = (), domains: Iterable[str] = (), backends: Iterable[str] = ()
) -> PlacementPlan:
    """The plan's inventory with ``hosts``, ``domains`` and ``backends`` taken away (a domain left with
    no backend goes too)."""
    lost_hosts, lost_domains, lost_backends = set(hosts), set(domains), set(backends)
    left = {
        d: [b for b in members if b not in lost_backends]
        for d, members in plan.failure_domains.items()
        if d not in lost_domains
    }
    return replace(
        plan,
        hosts=[h for h in plan.hosts if h.name not in lost_hosts],
        failure_domains={d: members for d, members in left.items() if members},
    )


def unknown(
    plan: PlacementPlan, hosts: Iterable[str], domains: Iterable[str], backends: Iterable[str] = ()
) -> list[str]:
    """The names that are no host, failure domain or backend of the plan's inventory."""
    known_hosts = {h.name for h in plan.hosts}
    known_backends = {b for members in plan.failure_domains.values() for b in members}
    return (
        [f"host {h!r}" for h in hosts if h not in known_hosts]
        + [f"failure domain {d!r}" for d in domains if d not in plan.failure_domains]
        + [f"backend {b!r}" for b in backends if b not in known_backends]
    )


def zone_hosts(plan: PlacementPlan, zones: Iterable[str]) -> list[str]:
    """The hosts of ``zones`` in the inventory's order."""
    wanted = set(zones)
    return [h.name for h in plan.hosts if h.availability_zone in wanted]


def stranded(plan: PlacementPlan, hosts: Iterable[str]) -> list[str]:
    """The pods pinned to a zone that would have no host left: a server booted into a zone is moved
    within it only (nova 34 ``scheduler/request_filter.py`` ``map_az_to_placement_aggregate`` schedules
    every move with the RequestSpec saved at boot, ``availability_zone`` included), so no drain can move
    them; the proof fails on them as "no valid host", this says why."""
    lost = set(hosts)
    left = {h.availability_zone for h in plan.hosts if h.name not in lost}
    found: dict[str, str] = {}
    for service in plan.services:
        for pod in service.pods:
            zones = {i.availability_zone for i in pod.instances if i.availability_zone}
            for zone in sorted(zones - left):
                found.setdefault(
                    f"{service.name}/{pod.name}",
                    f"service {service.name}: pod {pod.name} is pinned to zone {zone} (its instances' "
                    f"availability_zone), which would have no host left: Nova moves a server only within "
                    "the zone it was booted into",
                )
    return list(found.values())


def problems(plan: PlacementPlan, engine: Pipelines) -> tuple[str, ...]:
    """What the proof blocks on for ``plan`` as it is."""
    run = place(plan, engine, "spread", None, plan.n_plus_one)
    return tuple(f"service {result.name}: {problem}" for result, problem in run.blocking())


def can_lose(
    plan: PlacementPlan,
    engine: Pipelines,
    hosts: Iterable[str] = (),
    domains: Iterable[str] = (),
    baseline: tuple[str, ...] | None = None,
    backends: Iterable[str] = (),
) -> Verdict:
    """The proof on the inventory left after losing ``hosts``, ``domains`` and ``backends``, against the
    proof on the whole inventory (``baseline``, computed when not given): a problem both show is not the
    loss's."""
    hosts, domains, backends = tuple(hosts), tuple(domains), tuple(backends)
    before = set(problems(plan, engine) if baseline is None else baseline)
    after = problems(without(plan, hosts, domains, backends), engine)
    return Verdict(
        hosts,
        domains,
        (*stranded(plan, hosts), *(p for p in after if p not in before)),
        tuple(p for p in after if p in before),
        backends,
    )


def ok_to_stop(plan: PlacementPlan, engine: Pipelines, down: Iterable[str] = ()) -> list[Verdict]:
    """For every host, availability zone, failure domain and backend not already ``down``: can it be
    taken down now, with the hosts in ``down`` already gone?"""
    gone = tuple(down)
    now = without(plan, gone)
    baseline = problems(now, engine)
    verdicts = [can_lose(now, engine, (h.name,), (), baseline) for h in now.hosts]
    verdicts += [
        replace(can_lose(now, engine, zone_hosts(now, [zone]), (), baseline), zones=(zone,))
        for zone in sorted({h.availability_zone for h in now.hosts})
    ]
    verdicts += [can_lose(now, engine, (), (d,), baseline) for d in sorted(now.failure_domains)]
    verdicts += [
        can_lose(now, engine, (), (), baseline, backends=(b,))
        for b in sorted(b for members in now.failure_domains.values() for b in members)
    ]
    return [replace(v, hosts=(*gone, *v.hosts)) if v.hosts else v for v in verdicts]
