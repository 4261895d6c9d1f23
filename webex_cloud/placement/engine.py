"""Place a plan's pods and replicas one request at a time, then prove the invariants and N+1.

Two interchangeable filter pipelines: :class:`OpenStackPipelines` runs Nova's and Cinder's real
filter handlers (and Nova's real weighers) with our filters and the relevant built-ins over
in-memory host and backend states; :class:`RulesPipelines` applies the same rules through the
pure functions where Nova or Cinder is not installed. The host is chosen by a packing policy (the
most loaded host that passes, the worst case for spreading: only the filters keep pods apart) or
by Nova's default weighers (RAM, CPU and disk, each normalised, multiplier 1: the most free host).

After placing, :func:`place` checks the invariants on the result (pods of a service pairwise on
distinct hosts, every pod whole on one host, replicas of a group pairwise in distinct failure
domains) and N+1: for every single compute host, and every single failure domain, it takes the
loss away from a copy of the cloud and places every lost pod and replica again through the same
pipelines with the capacity left.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from webex_scheduler_filters import deadline, pod_rules, volume_rules
from webex_scheduler_filters.hints import (
    ANCHOR_ROLE,
    FAILURE_DOMAIN_CAPABILITY,
    INSTANCE_POD_METADATA_KEY,
    INSTANCE_POD_ROLE_METADATA_KEY,
    NOVA_POD_HINT,
    VOLUME_GROUP_METADATA_KEY,
)
from webex_scheduler_filters.pod_rules import HintStatus

from webex_cloud.facts import invariants
from webex_cloud.placement.plan import (
    Host,
    InstanceRequest,
    PlacementPlan,
    PodRequest,
    ServiceRequest,
    VolumeRequest,
)

Policy = Literal["pack", "spread"]
POLICIES: tuple[Policy, ...] = ("pack", "spread")


@dataclass
class Placed:
    """One placed instance, as the cell database would hold it."""

    request: InstanceRequest
    host: str


@dataclass
class Cloud:
    """What is placed so far: the in-memory stand-in for Nova's and Cinder's databases."""

    hosts: dict[str, Host]
    used_vcpus: dict[str, float]
    used_ram_mb: dict[str, float]
    used_disk_gb: dict[str, float]
    instances: dict[str, Placed] = field(default_factory=dict)
    replicas: dict[str, dict[str, str]] = field(default_factory=dict)  # group key -> replica uuid -> backend

    @classmethod
    def empty(cls, hosts: Iterable[Host]) -> Cloud:
        by_name = {h.name: h for h in hosts}
        zero = dict.fromkeys(by_name, 0.0)
        return cls(by_name, dict(zero), dict(zero), dict(zero))

    def copy(self) -> Cloud:
        """An independent copy to take a loss away from (placed records are never mutated)."""
        return Cloud(
            self.hosts,
            dict(self.used_vcpus),
            dict(self.used_ram_mb),
            dict(self.used_disk_gb),
            dict(self.instances),
            {key: dict(replicas) for key, replicas in self.replicas.items()},
        )

    def group_members(self, group: str) -> list[Placed]:
        return [p for p in self.instances.values() if p.request.group == group]

    def fits(self, host: Host, request: InstanceRequest) -> bool:
        """Placement's allocation-candidate check: every resource class has room; the zone matches."""
        return (
            self.used_vcpus[host.name] + request.vcpus <= host.vcpus
            and self.used_ram_mb[host.name] + request.ram_mb <= host.ram_mb
            and (not host.disk_gb or self.used_disk_gb[host.name] + request.disk_gb <= host.disk_gb)
            and (not request.availability_zone or host.availability_zone == request.availability_zone)
        )

    def add(self, request: InstanceRequest, host: str) -> None:
        self.instances[request.uuid] = Placed(request, host)
        self.used_vcpus[host] += request.vcpus
        self.used_ram_mb[host] += request.ram_mb
        self.used_disk_gb[host] += request.disk_gb

    def remove(self, instance_uuid: str) -> None:
        placed = self.instances.pop(instance_uuid)
        self.used_vcpus[placed.host] -= placed.request.vcpus
        self.used_ram_mb[placed.host] -= placed.request.ram_mb
        self.used_disk_gb[placed.host] -= placed.request.disk_gb

    def free(self, host: Host) -> tuple[float, float, float]:
        """Free RAM, vCPUs and disk, as Nova's weighers read them from the host state."""
        return (
            host.ram_mb - self.used_ram_mb[host.name],
            host.vcpus - self.used_vcpus[host.name],
            host.disk_gb - self.used_disk_gb[host.name],
        )


@dataclass(frozen=True)
class Backend:
    """A Cinder backend as its volume service reports it (one pool named after the backend)."""

    host: str
    capabilities: dict[str, Any]


class Pipelines(Protocol):
    name: str

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]: ...

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]: ...

    def spread_choice(self, passing: list[Host], cloud: Cloud) -> str: ...


def backends_of(failure_domains: Mapping[str, list[str]]) -> list[Backend]:
    return [
        Backend(
            f"{name}#{name.partition('@')[2]}",
            {FAILURE_DOMAIN_CAPABILITY: domain, "volume_backend_name": name.partition("@")[2]},
        )
        for domain, names in sorted(failure_domains.items())
        for name in sorted(names)
    ]


def _extra_specs(request: VolumeRequest) -> dict[str, str]:
    # The plan's convention: a volume type selects the backends named after it.
    return {"volume_backend_name": request.volume_type} if request.volume_type else {}


def _service_instances(cloud: Cloud, service: str) -> list[pod_rules.PlacedInstance]:
    """What the Nova filter's metadata query returns, read from the placement so far."""
    out = []
    for uuid_, placed in cloud.instances.items():
        found = pod_rules.placed_instance(uuid_, placed.host, placed.request.metadata, service)
        if found is not None:
            out.append(found)
    return out


def _own_instance(request: InstanceRequest, service: str) -> pod_rules.PlacedInstance | None:
    """The request's own instance as the filter reads it while it is created: its BuildRequest (no host)."""
    return pod_rules.placed_instance(request.uuid, None, request.metadata, service)


def _static_domains(cloud_domains: Mapping[str, list[str]]) -> dict[str, str]:
    return {backend: domain for domain, names in cloud_domains.items() for backend in names}


def _sibling_locations(cloud: Cloud, key: str, own: str) -> list[volume_rules.Location]:
    return [volume_rules.Location(b) for r, b in cloud.replicas.get(key, {}).items() if r != own]


def _normalised(values: Sequence[float]) -> list[float]:
    """Nova's ``weights.normalize`` for the RAM, CPU and disk weighers, whose ``minval = 0``.

    Weights are clamped at 0 first (``BaseWeigher.weigh_objects``), then scaled by the largest.
    """
    clamped = [max(value, 0.0) for value in values]
    high = max(clamped)
    return [0.0 if high == 0 else value / high for value in clamped]


class RulesPipelines:
    """Our rules and the built-in group and capability rules, through the pure functions."""

    def __init__(self, failure_domains: Mapping[str, list[str]], why: str = "as asked") -> None:
        self.name = f"the filters' rule functions ({why})"
        self._static = _static_domains(failure_domains)

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]:
        hint = pod_rules.parse_pod_hint(request.hints.get(NOVA_POD_HINT))
        if hint.status is HintStatus.MALFORMED:
            return []
        decision = None
        if hint.status is HintStatus.VALID:
            pending = _own_instance(request, hint.service)
            decision = pod_rules.decide(
                hint,
                request.uuid,
                bool(request.group),
                _service_instances(cloud, hint.service) + ([pending] if pending is not None else []),
            )
        group_hosts = {p.host for p in cloud.group_members(request.group)} if request.group else set()
        passing = []
        for host in candidates:
            if request.group_policy == "affinity" and group_hosts and host.name not in group_hosts:
                continue
            if request.group_policy == "anti-affinity" and host.name in group_hosts:
                continue
            if decision is None or pod_rules.host_passes(host.name, decision):
                if decision is not None and decision.room is not None:
                    own = pod_rules.Room(request.vcpus, request.ram_mb, request.disk_gb)
                    ram, vcpus, disk = cloud.free(host)
                    free = pod_rules.Room(vcpus, ram, disk)
                    if not pod_rules.has_room(free, own + decision.room, bool(host.disk_gb)):
                        continue
                passing.append(host.name)
        return passing

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]:
        wanted = _extra_specs(request).get("volume_backend_name")
        typed = [b for b in candidates if wanted is None or b.capabilities["volume_backend_name"] == wanted]
        hint = volume_rules.request_group(request.hints, {VOLUME_GROUP_METADATA_KEY: request.metadata_group})
        if hint.status is HintStatus.ABSENT:
            return [b.host for b in typed]
        if hint.status is HintStatus.MALFORMED:
            return []
        live = volume_rules.domains_by_backend(
            (volume_rules.Location(b.host), b.capabilities) for b in candidates
        )
        used = volume_rules.used_domains(
            _sibling_locations(cloud, hint.key, request.uuid), self._static, live
        )
        return [
            b.host
            for b in typed
            if volume_rules.domains_pass(
                volume_rules.domains_of(volume_rules.Location(b.host), self._static, live), used
            )
        ]

    def spread_choice(self, passing: list[Host], cloud: Cloud) -> str:
        # Nova's RAMWeigher, CPUWeigher and DiskWeigher, each normalised and with multiplier 1.0.
        frees = [cloud.free(h) for h in passing]
        columns = [_normalised([f[i] for f in frees]) for i in range(3)]
        scores = [sum(column[index] for column in columns) for index in range(len(passing))]
        best = max(scores)
        return min(h.name for h, s in zip(passing, scores, strict=True) if s == best)


class OpenStackPipelines:
    """Nova's and Cinder's real filter handlers, our filters, the built-ins that apply, Nova's weighers."""

    def __init__(self, failure_domains: Mapping[str, list[str]]) -> None:
        # Nova first: Cinder's scheduler host manager registers options that clash with
        # Nova's, so only Cinder's filter modules are loaded here, never its host manager.
        import nova
        import nova.conf
        from nova import objects
        from nova.scheduler import filters as nova_filters
        from nova.scheduler import host_manager
        from nova.scheduler import weights as nova_weights
        from nova.scheduler.filters import affinity_filter
        from nova.scheduler.weights import cpu, disk, ram

        # isort: split
        import cinder
        from cinder.scheduler import filters as cinder_filters
        from cinder.scheduler.filters.capabilities_filter import CapabilitiesFilter
        from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter
        from webex_scheduler_filters.nova_filter import PodFilter

        objects.register_all()
        nova.conf.CONF([], project="nova", default_config_files=[])
        self._objects = objects
        self._host_state = host_manager.HostState
        self._cell = str(uuid.uuid4())
        self._nova_handler = nova_filters.HostFilterHandler()
        self._weigh_handler = nova_weights.HostWeightHandler()
        self._weighers = [ram.RAMWeigher(), cpu.CPUWeigher(), disk.DiskWeigher()]
        # The handler loads every Cinder filter plugin up front; the few that need Cinder's
        # database options cannot load next to Nova and are not used here, so their load
        # warnings are noise.
        stevedore_log = logging.getLogger("stevedore.extension")
        level = stevedore_log.level
        stevedore_log.setLevel(logging.CRITICAL)
        try:
            self._cinder_handler = cinder_filters.BackendFilterHandler("cinder.scheduler.filters")
        finally:
            stevedore_log.setLevel(level)
        self.name = f"Nova {_version(nova, 'nova')} and Cinder {_version(cinder, 'cinder')} filter handlers"
        self._cloud: Cloud | None = None
        self._request: InstanceRequest | None = None
        pipelines = self
        static = _static_domains(failure_domains)

        class PlanPodFilter(PodFilter):
            """Ours, its metadata query answered from the placement so far, its build-request read
            from the request."""

            def service_instances(self, spec_obj: Any, service: str) -> list[pod_rules.PlacedInstance]:
                return _service_instances(pipelines._cloud, service) if pipelines._cloud else []

            def requested_instance(self, spec_obj: Any, service: str) -> pod_rules.PlacedInstance | None:
                return _own_instance(pipelines._request, service) if pipelines._request else None

        class PlanVolumeGroupSpreadFilter(VolumeGroupSpreadFilter):
            """Ours, its sibling query answered from the placement so far, the plan's domain map."""

            def placed_siblings(self, filter_properties: Any, group_key: str) -> list[volume_rules.Location]:
                own = filter_properties["request_spec"]["volume_id"]
                return _sibling_locations(pipelines._cloud, group_key, own) if pipelines._cloud else []

            def linked_group(
                self, filter_properties: Any, requested: volume_rules.GroupHint
            ) -> volume_rules.GroupHint:
                # A planned volume has no row, so no admin-metadata link: its hint decides.
                return requested

            def static_domains(self) -> Mapping[str, str]:
                return static

        self._nova_filters = [
            affinity_filter.ServerGroupAffinityFilter(),
            affinity_filter.ServerGroupAntiAffinityFilter(),
            PlanPodFilter(),
        ]
        self._cinder_filters = [PlanVolumeGroupSpreadFilter, CapabilitiesFilter]

    def _states(self, candidates: list[Host], cloud: Cloud) -> list[Any]:
        on_host: dict[str, dict[str, None]] = {}
        for instance_uuid, placed in cloud.instances.items():
            on_host.setdefault(placed.host, {})[instance_uuid] = None
        states = []
        for host in candidates:
            state = self._host_state(host.name, host.name, self._cell)
            state.instances = on_host.get(host.name, {})
            free_ram, free_vcpus, free_disk = cloud.free(host)
            state.free_ram_mb = free_ram
            state.total_usable_ram_mb = host.ram_mb
            state.vcpus_total = host.vcpus
            state.vcpus_used = host.vcpus - free_vcpus
            state.cpu_allocation_ratio = 1.0
            state.ram_allocation_ratio = 1.0
            state.disk_allocation_ratio = 1.0
            state.free_disk_mb = free_disk * 1024
            state.total_usable_disk_gb = host.disk_gb
            states.append(state)
        return states

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]:
        self._cloud, self._request = cloud, request
        objects = self._objects
        group = None
        if request.group:
            members = cloud.group_members(request.group)
            group = objects.InstanceGroup(
                uuid=request.group,
                policy=request.group_policy or "",
                members=[p.request.uuid for p in members],
                hosts=sorted({p.host for p in members}),
                rules={},
            )
            group.policies = [request.group_policy] if request.group_policy else []
        spec = objects.RequestSpec(
            instance_uuid=request.uuid,
            instance_group=group,
            num_instances=1,
            ignore_hosts=None,
            force_hosts=None,
            force_nodes=None,
            requested_destination=None,
            scheduler_hints={key: [str(value)] for key, value in request.hints.items()},
            flavor=objects.Flavor(
                vcpus=request.vcpus,
                memory_mb=request.ram_mb,
                root_gb=request.disk_gb,
                ephemeral_gb=0,
                swap=0,
            ),
        )
        states = self._states(candidates, cloud)
        # Our filters' lookups keep their time limit, bounded by a timer instead of a thread each
        # (a proof makes tens of thousands of them: webex_scheduler_filters.deadline).
        with deadline.bounded_by_alarm():
            passing = self._nova_handler.get_filtered_objects(self._nova_filters, states, spec, 0)
        return [state.host for state in passing or []]

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]:
        self._cloud = cloud
        properties = {
            "context": None,
            "scheduler_hints": dict(request.hints),
            "metadata": {VOLUME_GROUP_METADATA_KEY: request.metadata_group} if request.metadata_group else {},
            "request_spec": {"volume_id": request.uuid},
            "resource_type": {"extra_specs": _extra_specs(request)},
        }
        with deadline.bounded_by_alarm():
            passing = (
                self._cinder_handler.get_filtered_objects(self._cinder_filters, candidates, properties) or []
            )
        return [backend.host for backend in passing]

    def spread_choice(self, passing: list[Host], cloud: Cloud) -> str:
        spec = self._objects.RequestSpec(num_instances=1)
        weighed = self._weigh_handler.get_weighed_objects(self._weighers, self._states(passing, cloud), spec)
        best = max(w.weight for w in weighed)
        return str(min(w.obj.host for w in weighed if w.weight == best))


def _version(module: Any, distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return str(getattr(module, "__version__", "?"))


def _unavailable_errors() -> tuple[type[Exception], ...]:
    """What loading Nova's and Cinder's filter handlers raises when they cannot run here.

    Beyond ImportError, oslo.config raises its own errors while the modules register their options
    at import time (``DuplicateOptError`` when two projects claim one option, oslo.config
    oslo_config/cfg.py, all subclasses of ``cfg.Error``).
    """
    try:
        from oslo_config import cfg
    except ImportError:
        return (ImportError,)
    return (ImportError, cfg.Error)


PIPELINES_UNAVAILABLE: Final = _unavailable_errors()


def pipelines(plan: PlacementPlan, prefer: str = "auto") -> Pipelines:
    """The real pipelines when Nova and Cinder import (or when asked for), else the rules."""
    if prefer == "rules":
        return RulesPipelines(plan.failure_domains)
    try:
        return OpenStackPipelines(plan.failure_domains)
    except PIPELINES_UNAVAILABLE as error:
        if prefer == "openstack":
            raise
        return RulesPipelines(
            plan.failure_domains, f"Nova/Cinder pipelines unavailable: {type(error).__name__}: {error}"
        )


@dataclass
class ServiceResult:
    """One service's placement and everything wrong with it (empty lists: fault tolerant)."""

    name: str
    pod_hosts: dict[str, list[str]] = field(default_factory=dict)
    group_domains: dict[str, list[str]] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Invariants that do not hold: pods sharing a host, split pods, replicas sharing a domain."""
    host_recovery: list[str] = field(default_factory=list)
    """Single host losses after which a lost pod cannot be placed again."""
    domain_recovery: list[str] = field(default_factory=list)
    """Single failure-domain losses after which a lost replica cannot be placed again."""
    impaired: dict[str, list[str]] = field(default_factory=dict)
    """Failure domain -> the pods whose attached replica it holds (impaired until re-placed)."""

    @property
    def problems(self) -> list[str]:
        return self.unplaced + self.violations + self.host_recovery + self.domain_recovery

    @property
    def feasibility(self) -> list[str]:
        """What could not be placed (first or again): capacity and footprint, not apartness."""
        return self.unplaced + self.host_recovery + self.domain_recovery


@dataclass
class Placement:
    """One run of :func:`place`: the choice policy, the service order and the results."""

    policy: Policy
    order: tuple[str, ...]
    services: list[ServiceResult]
    hosts_checked: int = 0
    domains_checked: int = 0

    @property
    def failed(self) -> list[ServiceResult]:
        return [s for s in self.services if s.problems]

    def blocking(self) -> list[tuple[ServiceResult, str]]:
        """Problems that fail the proof: invariants in any run; feasibility with Nova's default weighers.

        Nova's default weighers spread (``ram_weight_multiplier = 1.0``), and the rendered scheduler
        configuration keeps them. A packing choice can put an anchor where the rest of its pod does
        not fit (Nova knows no pod footprint): reported, but only blocking for the invariants.
        """
        out = [(s, p) for s in self.services for p in s.violations]
        if self.policy == "spread":
            out += [(s, p) for s in self.services for p in s.feasibility]
        return out

    def advisory(self) -> list[tuple[ServiceResult, str]]:
        if self.policy == "spread":
            return []
        return [(s, p) for s in self.services for p in s.feasibility]


class Scheduler:
    """One placement run's choice policy over one pipeline (deterministic: same state, same choice)."""

    def __init__(self, plan: PlacementPlan, engine: Pipelines, policy: Policy) -> None:
        self.plan, self.engine, self.policy = plan, engine, policy
        self.backends = backends_of(plan.failure_domains)
        self.domain_of = {b.host: str(b.capabilities[FAILURE_DOMAIN_CAPABILITY]) for b in self.backends}

    def place_instance(self, request: InstanceRequest, cloud: Cloud, lost: frozenset[str]) -> str:
        """The chosen host, or an error message."""
        fits = [h for name, h in cloud.hosts.items() if name not in lost and cloud.fits(h, request)]
        passing = set(self.engine.hosts(request, fits, cloud)) if fits else set()
        if not passing:
            why = "no host has the capacity or zone" if not fits else "the filters rejected every host"
            anchor = _anchor_host(request, cloud)
            if anchor and anchor not in {h.name for h in fits}:
                why = f"its pod's anchor is on {anchor}, which has no room left for it"
            raise Unplaced(f"instance {request.name}: no valid host ({why})")
        candidates = [h for h in fits if h.name in passing]
        if self.policy == "pack":
            host = min(candidates, key=lambda h: (cloud.free(h)[0], h.name)).name
        else:
            host = self.engine.spread_choice(candidates, cloud)
        cloud.add(request, host)
        return host

    def place_pod(self, pod: PodRequest, cloud: Cloud, lost: frozenset[str] = frozenset()) -> list[str]:
        return [self.place_instance(request, cloud, lost) for request in pod.instances]

    def place_replica(self, replica: VolumeRequest, cloud: Cloud, lost: frozenset[str] = frozenset()) -> str:
        candidates = [b for b in self.backends if self.domain_of[b.host] not in lost]
        passing = self.engine.backends(replica, candidates, cloud)
        if not passing:
            raise Unplaced(
                f"replica {replica.name}: no valid backend (failure domains exhausted or no backend for "
                f"volume type {replica.volume_type!r})"
            )
        if self.policy == "pack":
            backend = sorted(passing)[0]
        else:
            load = {b: sum(b in r.values() for r in cloud.replicas.values()) for b in passing}
            backend = min(sorted(passing), key=lambda b: load[b])
        if replica.metadata_group:
            cloud.replicas.setdefault(replica.metadata_group, {})[replica.uuid] = backend
        return backend


class Unplaced(Exception):
    """A request no host (or backend) passes; the message names the request and why."""


def _anchor_host(request: InstanceRequest, cloud: Cloud) -> str | None:
    """The host of the anchor a member must join, if the member is one and its anchor is placed."""
    if request.group:
        return None
    pod = request.metadata.get(INSTANCE_POD_METADATA_KEY)
    for placed in cloud.instances.values():
        meta = placed.request.metadata
        if (
            meta.get(INSTANCE_POD_METADATA_KEY) == pod
            and meta.get(INSTANCE_POD_ROLE_METADATA_KEY) == ANCHOR_ROLE
        ):
            return placed.host
    return None


def service_orders(plan: PlacementPlan, shuffles: int = 2, seed: int = 11) -> list[tuple[str, ...]]:
    """Service creation orders to try: catalog order, reversed, and seeded shuffles.

    Pulumi creates services in parallel, so any order can happen; within a service the
    components' ``dependsOn`` chain fixes it.
    """
    names = tuple(s.name for s in plan.services)
    orders = [names, tuple(reversed(names))]
    rng = random.Random(seed)
    for _ in range(shuffles):
        shuffled = list(names)
        rng.shuffle(shuffled)
        orders.append(tuple(shuffled))
    unique: list[tuple[str, ...]] = []
    for order in orders:
        if order not in unique:
            unique.append(order)
    return unique


def place(
    plan: PlacementPlan,
    engine: Pipelines,
    policy: Policy = "spread",
    order: Sequence[str] | None = None,
    n_plus_one: bool = True,
) -> Placement:
    """Place every service of the plan, check the invariants and (unless off) N+1."""
    scheduler = Scheduler(plan, engine, policy)
    by_name = {s.name: s for s in plan.services}
    names = tuple(order) if order is not None else tuple(by_name)
    cloud = Cloud.empty(plan.hosts)
    results = {name: ServiceResult(name) for name in names}
    for name in names:
        place_service(scheduler, by_name[name], cloud, results[name])
    ordered = [results[name] for name in names]
    for result in ordered:
        result.violations = invariant_violations(result, by_name[result.name])
    run = Placement(policy, names, ordered)
    if n_plus_one:
        _check_recovery(plan, scheduler, cloud, run, by_name)
    return run


def place_service(scheduler: Scheduler, service: ServiceRequest, cloud: Cloud, result: ServiceResult) -> None:
    """Place one service's pods (instance by instance, in order) and replicas into ``cloud``."""
    for pod in service.pods:
        hosts: list[str] = []
        for request in pod.instances:
            try:
                hosts.append(scheduler.place_instance(request, cloud, frozenset()))
            except Unplaced as error:
                result.unplaced.append(f"pod {pod.name}: {error}")
        result.pod_hosts[pod.name] = sorted(set(hosts))
    for group in service.volume_groups:
        domains = []
        for replica in group.replicas:
            try:
                domains.append(scheduler.domain_of[scheduler.place_replica(replica, cloud)])
            except Unplaced as error:
                result.unplaced.append(f"volume group {group.name}: {error}")
        result.group_domains[group.name] = domains


def invariant_violations(result: ServiceResult, service: ServiceRequest) -> list[str]:
    """The invariants themselves, pairwise, not just "some pod survives": the one copy of the rules
    (webex_cloud/facts/invariants.py) the live audit and the pictures apply too."""
    pods = {pod.name: dict.fromkeys(result.pod_hosts.get(pod.name, []), ()) for pod in service.pods}
    found = invariants.pod_rules(service.name, pods)
    for group, domains in result.group_domains.items():
        replicas = ((str(index), "", domain) for index, domain in enumerate(domains))
        found += invariants.replica_rules(service.name, group, replicas)
    return [f"{finding.message}{_CONSEQUENCE.get(finding.kind, '')}" for finding in found]


_CONSEQUENCE: Final = {
    invariants.POD_SPLIT: "; a pod shares one host",
    invariants.PODS_SHARE_HOST: "; losing it takes down both",
}


def _check_recovery(
    plan: PlacementPlan,
    scheduler: Scheduler,
    cloud: Cloud,
    run: Placement,
    services: Mapping[str, ServiceRequest],
) -> None:
    """N+1: after each single host loss and each single domain loss, place everything lost again.

    Checked for every service that placed whole, even when another did not: that one's problem is
    already reported, and an inventory that already fails it must still show a loss that breaks N+1 for
    the others (maintenance/proof.py ``can_lose`` compares the problems before and after a loss). What
    a service that did not place whole holds still takes room, as its instances would."""
    results = {r.name: r for r in run.services}
    order = [services[r.name] for r in run.services if not r.unplaced]
    for host in sorted(cloud.hosts):
        run.hosts_checked += 1
        after = cloud.copy()
        lost_pods = [
            (service, pod)
            for service in order
            for pod in service.pods
            if any(
                after.instances.get(i.uuid) and after.instances[i.uuid].host == host for i in pod.instances
            )
        ]
        for _service, pod in lost_pods:
            for request in pod.instances:
                if request.uuid in after.instances:
                    after.remove(request.uuid)
        for service, pod in lost_pods:
            try:
                scheduler.place_pod(pod, after, frozenset({host}))
            except Unplaced as error:
                results[service.name].host_recovery.append(
                    f"after losing host {host}, pod {pod.name} cannot be placed again: {error}"
                )
    for domain in sorted(plan.failure_domains):
        run.domains_checked += 1
        after = cloud.copy()
        lost = []
        for service in order:
            for group in service.volume_groups:
                for replica in group.replicas:
                    backend = after.replicas.get(replica.metadata_group or "", {}).get(replica.uuid)
                    if backend is not None and scheduler.domain_of[backend] == domain:
                        del after.replicas[replica.metadata_group or ""][replica.uuid]
                        lost.append((service, group.name, replica))
                        impaired = results[service.name].impaired.setdefault(domain, [])
                        if replica.attached_pod and replica.attached_pod not in impaired:
                            impaired.append(replica.attached_pod)
        for service, group_name, replica in lost:
            try:
                scheduler.place_replica(replica, after, frozenset({domain}))
            except Unplaced as error:
                stays = f" (pod {replica.attached_pod} stays impaired)" if replica.attached_pod else ""
                results[service.name].domain_recovery.append(
                    f"after losing failure domain {domain}, volume group {group_name}: {error}{stays}"
                )
