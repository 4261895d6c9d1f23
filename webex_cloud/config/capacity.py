"""Spare capacity by counting: can every pod and replica be placed again after a single loss?

The loader calls :func:`spare_capacity_problems` for a stack whose ``placement.n_plus_one`` is on
(the default). It counts only, with Placement's capacity formula; `python -m webex_cloud place`
proves the same through Nova's and Cinder's real filters (webex_cloud/placement/). A pod is placed
again in its own zone on a host without another pod of its service; a replica in a failure domain
without another replica of its group that has a backend of its volume type.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from webex_cloud.config.errors import Problem
from webex_cloud.config.models import ComputeHost, Datacenter, Service

RELAX_HINT = "or set placement.n_plus_one: false in the stack config to accept an outage until repair"


def usable(total: float, ratio: float, reserved: float = 0) -> float:
    """What Placement offers of one resource class: ``(total - reserved) * allocation_ratio``."""
    return max(total - reserved, 0) * ratio


@dataclass(frozen=True)
class Footprint:
    vcpus: float = 0
    ram_mb: float = 0
    disk_gb: float = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.vcpus + other.vcpus, self.ram_mb + other.ram_mb, self.disk_gb + other.disk_gb)

    def __sub__(self, other: Footprint) -> Footprint:
        return Footprint(self.vcpus - other.vcpus, self.ram_mb - other.ram_mb, self.disk_gb - other.disk_gb)

    def times(self, count: int) -> Footprint:
        return Footprint(self.vcpus * count, self.ram_mb * count, self.disk_gb * count)

    def short_of(self, need: Footprint, count_disk: bool) -> list[str]:
        """The resources of ``need`` this capacity lacks, as ``name need/have``."""
        out = []
        for name, want, have in (
            ("vCPUs", need.vcpus, self.vcpus),
            ("MB RAM", need.ram_mb, self.ram_mb),
            ("GB disk", need.disk_gb if count_disk else 0, self.disk_gb),
        ):
            if want > have:
                out.append(f"{want:g} {name} (has {have:g})")
        return out


def host_capacity(host: ComputeHost) -> Footprint:
    return Footprint(
        usable(host.vcpus, host.cpu_allocation_ratio),
        usable(host.ram_mb, host.ram_allocation_ratio, host.reserved_host_memory_mb),
        usable(host.disk_gb, host.disk_allocation_ratio),
    )


def pod_footprint(service: Service, dc: Datacenter) -> Footprint:
    total = Footprint()
    for member in service.pods.members:
        flavor = dc.flavors.get(member.flavor)
        if flavor is not None:
            total += Footprint(flavor.vcpus, flavor.ram_mb, flavor.disk_gb).times(member.count)
    return total


def anchor_room(service: Service, dc: Datacenter) -> Footprint:
    """What a pod's members need on its anchor's host beyond the anchor (its first instance)."""
    first = service.pods.members[0] if service.pods.members else None
    flavor = dc.flavors.get(first.flavor) if first is not None else None
    anchor = Footprint(flavor.vcpus, flavor.ram_mb, flavor.disk_gb) if flavor is not None else Footprint()
    return pod_footprint(service, dc) - anchor


def pods_in_zone(service: Service, dc: Datacenter, zone: str) -> int:
    """Pods the components put in ``zone``: pod N goes to zone N modulo the zones."""
    index = dc.availability_zones.index(zone)
    return sum(1 for pod in range(service.pods.count) if pod % len(dc.availability_zones) == index)


def typed_domains(dc: Datacenter, volume_type: str) -> list[str]:
    """Failure domains with a backend of ``volume_type`` (a type selects the backends named after it)."""
    return sorted(
        domain
        for domain, backends in dc.failure_domains.items()
        if any(backend.partition("@")[2] == volume_type for backend in backends)
    )


def spare_capacity_problems(
    services: Sequence[tuple[str, Service]], dc: Datacenter, stack_label: str, hosts_field: str
) -> Iterator[Problem]:
    """Problems of a datacenter that cannot absorb the loss of one host or one failure domain."""
    for label, service in services:
        for zone in dc.availability_zones:
            pods = pods_in_zone(service, dc, zone)
            count = sum(1 for h in dc.hosts if h.availability_zone == zone)
            if pods and pods + 1 > count:
                yield Problem(
                    label,
                    "pods.count",
                    f"{pods} pods in {zone}, which has {count} hosts: after losing one, its pod has no host "
                    f"without another pod of the service (N+1 needs {pods + 1}); add a host to {zone}, "
                    f"use fewer pods, {RELAX_HINT}",
                    zone=zone,
                )
        for i, group in enumerate(service.volume_groups):
            domains = typed_domains(dc, group.type)
            if group.replicas + 1 > len(domains):
                yield Problem(
                    label,
                    f"volume_groups[{i}].replicas",
                    f"{group.replicas} replicas of type {group.type!r} and {len(domains)} failure domains "
                    f"with a {group.type!r} backend ({', '.join(domains) or 'none'}): after losing one "
                    f"domain its replica has nowhere to go (N+1 needs {group.replicas + 1}); add a domain "
                    f"with a '<host>@{group.type}' backend, use fewer replicas, {RELAX_HINT}",
                )
    count_disk = any(h.disk_gb for h in dc.hosts)
    for zone in dc.availability_zones:
        hosts = [h for h in dc.hosts if h.availability_zone == zone]
        if not hosts:
            continue
        need = Footprint()
        for _, service in services:
            need += pod_footprint(service, dc).times(pods_in_zone(service, dc, zone))
        capacity = Footprint()
        for host in hosts:
            capacity += host_capacity(host)
        largest = max(hosts, key=lambda h: (host_capacity(h).ram_mb, host_capacity(h).vcpus, h.name))
        short = (capacity - host_capacity(largest)).short_of(need, count_disk)
        if short:
            yield Problem(
                stack_label,
                hosts_field,
                f"zone {zone} without its largest host {largest.name} cannot hold its pods: they need "
                f"{', '.join(short)}; add capacity to {zone}, {RELAX_HINT}",
                zone=zone,
            )
