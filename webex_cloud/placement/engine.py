"""Place a plan's pods and replicas one request at a time, in the order `pulumi up` creates them.

Two interchangeable filter pipelines: :class:`OpenStackPipelines` runs Nova's and Cinder's
real filter handlers with our filters and the relevant built-ins over in-memory host and
backend states; :class:`RulesPipelines` applies the same rules through the pure functions
where Nova or Cinder is not installed. Both choose like a packing scheduler (the most loaded
host, the first backend), the worst case for spreading: only the filters keep things apart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from webex_scheduler_filters import pod_rules, volume_rules
from webex_scheduler_filters.hints import (
    CINDER_VOLUME_GROUP_HINT,
    FAILURE_DOMAIN_CAPABILITY,
    NOVA_SIBLING_GROUPS_HINT,
)
from webex_scheduler_filters.pod_rules import HintStatus

from webex_cloud.placement.plan import Host, InstanceRequest, PlacementPlan, VolumeRequest


@dataclass
class Cloud:
    """What is placed so far: the in-memory stand-in for Nova's and Cinder's databases."""

    free_vcpus: dict[str, int]
    free_ram_mb: dict[str, int]
    group_members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # group -> (uuid, host)
    replicas: dict[str, list[str]] = field(default_factory=dict)  # volume-group metadata -> backends

    def group_hosts(self, group: str) -> list[str]:
        return sorted({host for _, host in self.group_members.get(group, [])})


@dataclass(frozen=True)
class Backend:
    """A Cinder backend as its volume service reports it (one pool named after the backend)."""

    host: str
    capabilities: dict[str, Any]


class Pipelines(Protocol):
    name: str

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]: ...

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]: ...


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


class RulesPipelines:
    """Our rules and the built-in group and capability rules, through the pure functions."""

    def __init__(self, why: str = "as asked") -> None:
        self.name = f"the filters' rule functions ({why})"

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]:
        group_hosts = set(cloud.group_hosts(request.group)) if request.group else set()
        hint = pod_rules.parse_sibling_hint(request.hints.get(NOVA_SIBLING_GROUPS_HINT), request.group)
        if hint.status is HintStatus.MALFORMED:
            return []
        forbidden = pod_rules.forbidden_hosts(
            host for group in hint.groups for host in cloud.group_hosts(group)
        )
        passing = []
        for host in candidates:
            if request.group_policy == "affinity" and group_hosts and host.name not in group_hosts:
                continue
            if request.group_policy == "anti-affinity" and host.name in group_hosts:
                continue
            if pod_rules.host_passes(host.name, forbidden):
                passing.append(host.name)
        return passing

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]:
        wanted = _extra_specs(request).get("volume_backend_name")
        typed = [b for b in candidates if wanted is None or b.capabilities["volume_backend_name"] == wanted]
        hint = volume_rules.parse_group_hint(request.hints.get(CINDER_VOLUME_GROUP_HINT))
        if hint.status is HintStatus.ABSENT:
            return [b.host for b in typed]
        if hint.status is HintStatus.MALFORMED:
            return []
        known = volume_rules.domains_by_backend((b.host, b.capabilities) for b in candidates)
        used = volume_rules.used_domains(cloud.replicas.get(hint.key, []), known)
        return [
            b.host for b in typed if volume_rules.domains_pass(known[volume_rules.backend_of(b.host)], used)
        ]


class OpenStackPipelines:
    """Nova's and Cinder's real filter handlers, our filters, and the built-ins that apply."""

    def __init__(self) -> None:
        # Nova first: Cinder's scheduler host manager registers options that clash with
        # Nova's, so only Cinder's filter modules are loaded here, never its host manager.
        import nova
        from nova import objects
        from nova.scheduler import filters as nova_filters
        from nova.scheduler import host_manager
        from nova.scheduler.filters import affinity_filter

        # isort: split
        import cinder
        from cinder.scheduler import filters as cinder_filters
        from cinder.scheduler.filters.capabilities_filter import CapabilitiesFilter
        from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter
        from webex_scheduler_filters.nova_filter import SiblingPodAntiAffinityFilter

        objects.register_all()
        self._objects = objects
        self._host_state = host_manager.HostState
        self._cell = str(uuid.uuid4())
        self._nova_handler = nova_filters.HostFilterHandler()
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
        pipelines = self

        class PlanSiblingPodFilter(SiblingPodAntiAffinityFilter):
            """Ours, reading the sibling pods' hosts from the placement so far."""

            def sibling_hosts(self, spec_obj: Any, groups: frozenset[str]) -> list[str | None]:
                cloud = pipelines._cloud
                return [
                    host for group in sorted(groups) for host in (cloud.group_hosts(group) if cloud else [])
                ]

        class PlanVolumeGroupSpreadFilter(VolumeGroupSpreadFilter):
            """Ours, reading the group's placed replicas from the placement so far."""

            def placed_sibling_hosts(self, filter_properties: Any, group_key: str) -> list[str | None]:
                cloud = pipelines._cloud
                return list(cloud.replicas.get(group_key, [])) if cloud else []

        self._nova_filters = [
            affinity_filter.ServerGroupAffinityFilter(),
            affinity_filter.ServerGroupAntiAffinityFilter(),
            PlanSiblingPodFilter(),
        ]
        self._cinder_filters = [PlanVolumeGroupSpreadFilter, CapabilitiesFilter]

    def hosts(self, request: InstanceRequest, candidates: list[Host], cloud: Cloud) -> list[str]:
        self._cloud = cloud
        objects = self._objects
        group = None
        if request.group:
            members = cloud.group_members.get(request.group, [])
            group = objects.InstanceGroup(
                uuid=request.group,
                policy=request.group_policy or "",
                members=[m for m, _ in members],
                hosts=cloud.group_hosts(request.group),
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
        )
        states = []
        for host in candidates:
            state = self._host_state(host.name, host.name, self._cell)
            state.instances = {
                m: None for members in cloud.group_members.values() for m, h in members if h == host.name
            }
            states.append(state)
        passing = self._nova_handler.get_filtered_objects(self._nova_filters, states, spec, 0) or []
        return [state.host for state in passing]

    def backends(self, request: VolumeRequest, candidates: list[Backend], cloud: Cloud) -> list[str]:
        self._cloud = cloud
        properties = {
            "context": None,
            "scheduler_hints": dict(request.hints),
            "request_spec": {"volume_id": request.uuid},
            "resource_type": {"extra_specs": _extra_specs(request)},
        }
        passing = (
            self._cinder_handler.get_filtered_objects(self._cinder_filters, candidates, properties) or []
        )
        return [backend.host for backend in passing]


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


def pipelines(prefer: str = "auto") -> Pipelines:
    """The real pipelines when Nova and Cinder import (or when asked for), else the rules."""
    if prefer == "rules":
        return RulesPipelines()
    try:
        return OpenStackPipelines()
    except PIPELINES_UNAVAILABLE as error:
        if prefer == "openstack":
            raise
        return RulesPipelines(f"Nova/Cinder pipelines unavailable: {type(error).__name__}: {error}")


@dataclass
class ServiceResult:
    name: str
    pod_hosts: dict[str, list[str]] = field(default_factory=dict)
    group_domains: dict[str, list[str]] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)
    host_risks: list[str] = field(default_factory=list)
    domain_risks: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.unplaced + self.host_risks + self.domain_risks


def _pack(hosts: Iterable[str], free_ram: Mapping[str, int]) -> str:
    return min(hosts, key=lambda name: (free_ram[name], name))


def place(plan: PlacementPlan, engine: Pipelines) -> list[ServiceResult]:
    """Place every service of the plan; each result lists what is wrong with it, if anything."""
    cloud = Cloud({h.name: h.vcpus for h in plan.hosts}, {h.name: h.ram_mb for h in plan.hosts})
    backends = backends_of(plan.failure_domains)
    domain_of = {b.host: str(b.capabilities[FAILURE_DOMAIN_CAPABILITY]) for b in backends}
    results = []
    for service in plan.services:
        result = ServiceResult(service.name)
        results.append(result)
        for pod in service.pods:
            placed: list[str] = []
            for request in pod.instances:
                # Placement (the resource provider query) does capacity and zone; Nova's filters the rest.
                fits = [
                    h
                    for h in plan.hosts
                    if cloud.free_vcpus[h.name] >= request.vcpus
                    and cloud.free_ram_mb[h.name] >= request.ram_mb
                    and (not request.availability_zone or h.availability_zone == request.availability_zone)
                ]
                passing = engine.hosts(request, fits, cloud) if fits else []
                if not passing:
                    why = (
                        "no host has the capacity or zone" if not fits else "the filters rejected every host"
                    )
                    result.unplaced.append(
                        f"instance {request.name} of pod {pod.name} cannot be placed: no valid host ({why})"
                    )
                    continue
                host = _pack(passing, cloud.free_ram_mb)
                cloud.free_vcpus[host] -= request.vcpus
                cloud.free_ram_mb[host] -= request.ram_mb
                if request.group:
                    cloud.group_members.setdefault(request.group, []).append((request.uuid, host))
                placed.append(host)
            result.pod_hosts[pod.name] = sorted(set(placed))
        for group in service.volume_groups:
            domains: list[str] = []
            for replica in group.replicas:
                passing = engine.backends(replica, backends, cloud)
                if not passing:
                    result.unplaced.append(
                        f"replica {replica.name} of volume group {group.name} cannot be "
                        f"placed: no valid backend (failure domains exhausted or no backend "
                        f"for volume type {replica.volume_type!r})"
                    )
                    continue
                backend = sorted(passing)[0]
                if replica.metadata_group:
                    cloud.replicas.setdefault(replica.metadata_group, []).append(backend)
                domains.append(domain_of[backend])
            result.group_domains[group.name] = domains
        result.host_risks = host_loss_risks(result.pod_hosts)
        result.domain_risks = domain_loss_risks(result.group_domains)
    return results


def host_loss_risks(pod_hosts: Mapping[str, list[str]]) -> list[str]:
    """Hosts whose loss takes down every pod of the service (a pod is down if any host is)."""
    pods = {name: set(hosts) for name, hosts in pod_hosts.items() if hosts}
    every = set.intersection(*pods.values()) if pods else set()
    return [f"losing host {host} takes down every pod ({', '.join(sorted(pods))})" for host in sorted(every)]


def domain_loss_risks(group_domains: Mapping[str, list[str]]) -> list[str]:
    """Failure domains whose loss loses every replica of a volume group."""
    return [
        f"losing failure domain {domains[0]} loses every replica of volume group {group}"
        for group, domains in group_domains.items()
        if domains and len(set(domains)) == 1
    ]
