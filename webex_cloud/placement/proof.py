"""The N+1 proof over every order: every service creation order, every evacuation order.

Pulumi creates services in parallel, so any service order can reach Nova; after a host dies, its
pods are evacuated in whatever order the operator or Masakari issues them. The scheduler of the
proof (our filters, the built-ins and Nova's default weighers, ties broken by host name) is
deterministic: the same state and the same request give the same host. So the outcome of the rest
of an order depends only on the state reached (which instance is on which host, which replica on
which backend) and the requests left. The proof walks the orders depth first and follows a state
once: two orders that reach the same state with the same requests left continue identically. That
covers every order (``tests/placement/test_every_order.py`` checks it against a brute force over
all permutations) without paying n! placements when the orders agree.

What counts against the stack (each finding names the order that produces it):

- a pod or replica that cannot be placed in some service order (an error, not a warning);
- an invariant broken in some order (pods of a service sharing a host, a pod split, replicas
  sharing a failure domain);
- a host whose loss leaves a pod that cannot be placed again in some evacuation order of its pods;
- a failure domain whose loss leaves a replica that cannot be placed again. Its order does not
  matter, and it is not explored: backends have no capacity in the model, so a replica's
  eligibility depends only on the domains its own group's other replicas use, and the group's
  lost replicas fit exactly when the free domains are at least as many as they are;
- more states than ``limit``: an unfinished proof is not a pass.

The loss of each availability zone is reported, not judged: what each service keeps, in the worst
order, against ``pods - max_unavailable``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from webex_cloud.placement.engine import (
    Cloud,
    Pipelines,
    Scheduler,
    ServiceResult,
    Unplaced,
    invariant_violations,
    place_service,
)
from webex_cloud.placement.plan import PlacementPlan, PodRequest, ServiceRequest

#: States the proof follows before it gives up (and fails): far above the example stacks' needs.
DEFAULT_LIMIT = 200_000


@dataclass(frozen=True)
class Finding:
    """One reason the stack is not fault tolerant, and the order that shows it."""

    service: str
    problem: str
    order: tuple[str, ...]
    """The service creation order that shows it."""
    kind: str = "placement"
    """``placement`` (not placed, or an invariant broken), ``host`` or ``domain`` (N+1)."""
    evacuation: tuple[str, ...] = ()
    """For a host loss: the order the lost pods were evacuated in."""
    lost: str = ""
    """For an N+1 finding: the host or failure domain lost."""
    unplaced: str = ""
    """For an N+1 finding: the pod or replica that cannot be placed again."""


@dataclass(frozen=True)
class ZoneLoss:
    """What one service keeps when one availability zone is lost, in the worst order."""

    zone: str
    service: str
    pods: int
    left: int
    required: int
    order: tuple[str, ...]

    @property
    def keeps(self) -> bool:
        return self.left >= self.required


@dataclass
class Proof:
    """The outcome of :func:`prove`."""

    service_orders: int = 0
    """Service orders covered: every permutation of the services."""
    states: int = 0
    """Placement states followed (service orders merged where they reach the same state)."""
    placements: int = 0
    """Distinct final placements the service orders reach."""
    evacuation_states: int = 0
    """States followed while re-placing the pods of a lost host, over every placement and host."""
    findings: list[Finding] = field(default_factory=list)
    zones: list[ZoneLoss] = field(default_factory=list)
    complete: bool = True

    @property
    def passed(self) -> bool:
        return self.complete and not self.findings


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def spend(self) -> bool:
        self.used += 1
        return self.used <= self.limit


def state_key(cloud: Cloud) -> Hashable:
    """Everything later choices depend on: each instance's host, each replica's backend."""
    return (
        frozenset((uuid, placed.host) for uuid, placed in cloud.instances.items()),
        frozenset((group, r, b) for group, replicas in cloud.replicas.items() for r, b in replicas.items()),
    )


def prove(
    plan: PlacementPlan, engine: Pipelines, n_plus_one: bool = True, limit: int = DEFAULT_LIMIT
) -> Proof:
    """Place the plan in every service order; check invariants, N+1 and zone losses on every outcome."""
    scheduler = Scheduler(plan, engine, "spread")
    by_name = {s.name: s for s in plan.services}
    budget = _Budget(limit)
    proof = Proof(service_orders=_factorial(len(by_name)))
    finals = _explore_service_orders(scheduler, by_name, plan, budget, proof)
    proof.placements = len(finals)
    found: dict[tuple[str, str], Finding] = {}
    for order, cloud, results in finals:
        for result in results.values():
            problems = result.unplaced + invariant_violations(result, by_name[result.name])
            for problem in problems:
                found.setdefault((result.name, problem), Finding(result.name, problem, order))
        if n_plus_one and not any(r.unplaced for r in results.values()):
            for finding in _host_losses(scheduler, plan, cloud, order, budget, proof):
                found.setdefault((finding.service, finding.problem), finding)
            for finding in _domain_losses(scheduler, plan, cloud, order):
                found.setdefault((finding.service, finding.problem), finding)
    proof.findings = list(found.values())
    proof.zones = _zone_losses(plan, finals)
    if budget.used > budget.limit:
        proof.complete = False
    return proof


def _factorial(n: int) -> int:
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out


def _explore_service_orders(
    scheduler: Scheduler,
    by_name: dict[str, ServiceRequest],
    plan: PlacementPlan,
    budget: _Budget,
    proof: Proof,
) -> list[tuple[tuple[str, ...], Cloud, dict[str, ServiceResult]]]:
    names = tuple(by_name)
    finals: dict[Hashable, tuple[tuple[str, ...], Cloud, dict[str, ServiceResult]]] = {}
    seen: set[Hashable] = set()
    stack: list[tuple[tuple[str, ...], Cloud, dict[str, ServiceResult]]] = [((), Cloud.empty(plan.hosts), {})]
    while stack:
        order, cloud, results = stack.pop()
        if len(order) == len(names):
            finals.setdefault(state_key(cloud), (order, cloud, results))
            continue
        # Reversed onto the stack, so catalog order is followed first.
        for name in reversed([n for n in names if n not in order]):
            after, result = cloud.copy(), ServiceResult(name)
            place_service(scheduler, by_name[name], after, result)
            key = (frozenset(order) | {name}, state_key(after))
            if key in seen:
                continue
            seen.add(key)
            proof.states += 1
            if not budget.spend():
                return list(finals.values())
            stack.append(((*order, name), after, {**results, name: result}))
    return list(finals.values())


def lost_pods(
    plan: PlacementPlan, cloud: Cloud, hosts: Iterable[str]
) -> list[tuple[ServiceRequest, PodRequest]]:
    """The pods with an instance on one of ``hosts``, in catalog order."""
    gone = set(hosts)
    return [
        (service, pod)
        for service in plan.services
        for pod in service.pods
        if any(i.uuid in cloud.instances and cloud.instances[i.uuid].host in gone for i in pod.instances)
    ]


def _host_losses(
    scheduler: Scheduler,
    plan: PlacementPlan,
    cloud: Cloud,
    order: tuple[str, ...],
    budget: _Budget,
    proof: Proof,
) -> list[Finding]:
    out = []
    for host in sorted(cloud.hosts):
        for evacuation, service, pod, error in evacuation_failures(
            scheduler, plan, cloud, host, budget, proof
        ):
            out.append(
                Finding(
                    service.name,
                    f"after losing host {host}, pod {pod.name} cannot be placed again when the lost pods "
                    f"are evacuated in the order {', '.join(evacuation)}: {error}",
                    order,
                    "host",
                    evacuation,
                    host,
                    pod.name,
                )
            )
    return out


def evacuation_failures(
    scheduler: Scheduler,
    plan: PlacementPlan,
    cloud: Cloud,
    host: str,
    budget: _Budget | None = None,
    proof: Proof | None = None,
) -> list[tuple[tuple[str, ...], ServiceRequest, PodRequest, Unplaced]]:
    """Every pod that fails to be placed again in some evacuation order after ``host`` dies.

    Each pod is evacuated whole (anchor first, then its members, as ``maintain evacuate`` issues
    them) onto the hosts left; one failure per pod is returned, with the first order showing it.
    """
    budget = budget or _Budget(DEFAULT_LIMIT)
    lost = lost_pods(plan, cloud, [host])
    start = cloud.copy()
    for _service, pod in lost:
        for request in pod.instances:
            if request.uuid in start.instances:
                start.remove(request.uuid)
    dead = frozenset({host})
    failures: dict[str, tuple[tuple[str, ...], ServiceRequest, PodRequest, Unplaced]] = {}
    seen: set[Hashable] = set()
    stack: list[tuple[tuple[str, ...], Cloud]] = [((), start)]
    while stack:
        done, current = stack.pop()
        for service, pod in reversed([(s, p) for s, p in lost if p.name not in done]):
            after = current.copy()
            try:
                scheduler.place_pod(pod, after, dead)
            except Unplaced as error:
                failures.setdefault(pod.name, ((*done, pod.name), service, pod, error))
                continue
            key = (frozenset(done) | {pod.name}, state_key(after))
            if key in seen:
                continue
            seen.add(key)
            if proof is not None:
                proof.evacuation_states += 1
            if not budget.spend():
                return list(failures.values())
            stack.append(((*done, pod.name), after))
    return list(failures.values())


def _domain_losses(
    scheduler: Scheduler, plan: PlacementPlan, cloud: Cloud, order: tuple[str, ...]
) -> list[Finding]:
    out = []
    for domain in sorted(plan.failure_domains):
        after = cloud.copy()
        lost = []
        for service in plan.services:
            for group in service.volume_groups:
                for replica in group.replicas:
                    placed = after.replicas.get(replica.metadata_group or "", {})
                    backend = placed.get(replica.uuid)
                    if backend is not None and scheduler.domain_of[backend] == domain:
                        del placed[replica.uuid]
                        lost.append((service, group.name, replica))
        for service, group_name, replica in lost:
            try:
                scheduler.place_replica(replica, after, frozenset({domain}))
            except Unplaced as error:
                stays = f" (pod {replica.attached_pod} stays impaired)" if replica.attached_pod else ""
                out.append(
                    Finding(
                        service.name,
                        f"after losing failure domain {domain}, volume group {group_name}: {error}{stays}",
                        order,
                        "domain",
                        lost=domain,
                        unplaced=replica.name,
                    )
                )
    return out


def _zone_losses(
    plan: PlacementPlan, finals: list[tuple[tuple[str, ...], Cloud, dict[str, ServiceResult]]]
) -> list[ZoneLoss]:
    zones = sorted({h.availability_zone for h in plan.hosts})
    worst: dict[tuple[str, str], ZoneLoss] = {}
    for order, cloud, _results in finals:
        for zone in zones:
            hosts = [h.name for h in plan.hosts if h.availability_zone == zone]
            lost = lost_pods(plan, cloud, hosts)
            for service in plan.services:
                if not service.pods:
                    continue
                gone = sum(1 for s, _ in lost if s.name == service.name)
                left = len(service.pods) - gone
                loss = ZoneLoss(
                    zone,
                    service.name,
                    len(service.pods),
                    left,
                    max(len(service.pods) - service.max_unavailable, 0),
                    order,
                )
                key = (zone, service.name)
                if key not in worst or left < worst[key].left:
                    worst[key] = loss
    return [worst[key] for key in sorted(worst)]
