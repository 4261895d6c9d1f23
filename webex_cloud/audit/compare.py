"""The audit's verdict: the plan's expectations against one observation of the cloud.

Pure functions over plain records (no OpenStack import), so every rule is tested on fake API records.
A *where* is the compute host name when the caller may see it, else Nova's per-project ``hostId``
(``hostId:<first 12 hex digits>``), and for a replica the failure domain of its backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.views import (
    BACKEND_RULE,
    BACKEND_RULE_DEFAULT,
    HOST_RULE,
    HOST_RULE_DEFAULT,
    Observation,
    Server,
    Volume,
)
from webex_cloud.facts.invariants import (
    DUPLICATE,
    MISSING_INSTANCE,
    MISSING_VOLUME,
    UNEXPECTED_INSTANCE,
    UNEXPECTED_VOLUME,
    UNKNOWN_BACKEND,
    UNPLACED,
    Finding,
    pod_rules,
    replica_rules,
)
from webex_cloud.tags import DATACENTER_KEY, OWNERSHIP_KEYS, SERVICE_KEY

HOST_ID_PREFIX: Final = "hostId:"

T = TypeVar("T", Server, Volume)


@dataclass(frozen=True)
class Limitation:
    check: str
    rule: str
    default: str

    def __str__(self) -> str:
        return f"could not check {self.check}: needs policy rule {self.rule} (default {self.default})"


@dataclass(frozen=True)
class PodView:
    service: str
    name: str
    members: dict[str, tuple[str, ...]]
    """Where -> UUIDs of the pod's instances there."""


@dataclass(frozen=True)
class ReplicaView:
    service: str
    group: str
    name: str
    uuid: str
    domain: str | None
    """None when the backend is not visible."""


@dataclass
class Report:
    stack: str
    findings: list[Finding] = field(default_factory=list)
    limitations: list[Limitation] = field(default_factory=list)
    pods: list[PodView] = field(default_factory=list)
    replicas: list[ReplicaView] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.findings


def where_of(server: Server, host_names: bool) -> str | None:
    if host_names:
        return server.host
    return f"{HOST_ID_PREFIX}{server.host_id[:12]}" if server.host_id else None


def owned(metadata: Mapping[str, str], stack: str) -> bool:
    """Whether a resource carries the project's ownership keys for this datacenter."""
    return all(key in metadata for key in OWNERSHIP_KEYS) and metadata[DATACENTER_KEY] == stack


def _by_name(records: Iterable[T]) -> dict[str, list[T]]:
    found: dict[str, list[T]] = {}
    for record in records:
        found.setdefault(record.name, []).append(record)
    return found


def _presence(kind: str, service: str, name: str, of: str, item: str, ids: list[str]) -> list[Finding]:
    """A catalog resource missing, or held by more than one cloud resource of its name."""
    if not ids:
        return [
            Finding(
                MISSING_INSTANCE if kind == "instance" else MISSING_VOLUME,
                service,
                f"{kind} {name} of {of} is missing",
                (),
                (item,),
            )
        ]
    if len(ids) > 1:
        uuids = tuple(sorted(ids))
        return [
            Finding(
                DUPLICATE, service, f"{len(ids)} {kind}s are named {name}: {', '.join(uuids)}", uuids, (item,)
            )
        ]
    return []


def _pods(expected: Expected, observation: Observation, report: Report) -> None:
    servers = _by_name(observation.servers)
    for service in sorted({p.service for p in expected.pods}):
        pods: dict[str, dict[str, list[str]]] = {}
        for pod in (p for p in expected.pods if p.service == service):
            members = pods.setdefault(pod.name, {})
            for name in pod.instances:
                found = servers.get(name, [])
                report.findings += _presence(
                    "instance", service, name, f"pod {pod.name}", pod.name, [s.id for s in found]
                )
                for server in found:
                    where = where_of(server, observation.host_names_visible)
                    if where is None:
                        report.findings.append(
                            Finding(
                                UNPLACED,
                                service,
                                f"instance {name} of pod {pod.name} ({server.id}) is on no host "
                                f"(status {server.status})",
                                (server.id,),
                                (pod.name,),
                            )
                        )
                    else:
                        members.setdefault(where, []).append(server.id)
            report.pods.append(
                PodView(service, pod.name, {h: tuple(sorted(u)) for h, u in sorted(members.items())})
            )
        report.findings += pod_rules(service, pods)


def _groups(expected: Expected, observation: Observation, report: Report) -> None:
    volumes = _by_name(observation.volumes)
    for group in expected.groups:
        placed: list[tuple[str, str, str]] = []
        for name in group.replicas:
            found = volumes.get(name, [])
            report.findings += _presence(
                "volume", group.service, name, f"volume group {group.key}", name, [v.id for v in found]
            )
            for volume in found:
                domain = _replica_domain(expected, observation, group.service, group.key, volume, report)
                report.replicas.append(ReplicaView(group.service, group.key, name, volume.id, domain))
                if domain is not None:
                    placed.append((name, volume.id, domain))
        report.findings += replica_rules(group.service, group.key, placed)


def _replica_domain(
    expected: Expected, observation: Observation, service: str, key: str, volume: Volume, report: Report
) -> str | None:
    """The failure domain a replica counts in (None: not visible or not placed), reporting oddities."""
    if not volume.backend:
        if observation.backends_visible:
            report.findings.append(
                Finding(
                    UNPLACED,
                    service,
                    f"replica {volume.name} ({volume.id}) of volume group {key} is on no backend "
                    f"(status {volume.status})",
                    (volume.id,),
                    (volume.name,),
                )
            )
        return None
    domain = expected.domain_of(volume.backend)
    if domain is not None:
        return domain
    report.findings.append(
        Finding(
            UNKNOWN_BACKEND,
            service,
            f"replica {volume.name} ({volume.id}) of volume group {key} is on backend {volume.backend}, "
            f"which no storage failure domain of stack {expected.stack} lists",
            (volume.id,),
            (volume.name,),
            (volume.backend,),
        )
    )
    # A backend that declares no failure domain is its own, as the Cinder filter counts it
    # (scheduler-filters/src/webex_scheduler_filters/hints.py, FAILURE_DOMAIN_CAPABILITY).
    return volume.backend


def _unexpected(expected: Expected, observation: Observation, report: Report) -> None:
    stack = expected.stack
    wanted_servers = {name for pod in expected.pods for name in pod.instances}
    wanted_volumes = {name for group in expected.groups for name in group.replicas}
    strays: list[tuple[str, Server | Volume, str]] = [
        (UNEXPECTED_INSTANCE, s, where_of(s, observation.host_names_visible) or "")
        for s in observation.servers
        if s.name not in wanted_servers and owned(s.metadata, stack)
    ]
    strays += [
        (UNEXPECTED_VOLUME, v, (expected.domain_of(v.backend) or v.backend) if v.backend else "")
        for v in observation.volumes
        if v.name not in wanted_volumes and owned(v.metadata, stack)
    ]
    for kind, record, where in strays:
        noun = "instance" if kind == UNEXPECTED_INSTANCE else "volume"
        report.findings.append(
            Finding(
                kind,
                record.metadata.get(SERVICE_KEY, ""),
                f"{noun} {record.name} ({record.id}) carries the ownership keys of stack {stack} "
                "but the catalog does not expect it",
                (record.id,),
                (record.name,),
                (where,) if where else (),
            )
        )


def audit(expected: Expected, observation: Observation) -> Report:
    """Every broken placement rule, missing catalog resource and unexpected owned resource."""
    report = Report(expected.stack)
    if observation.servers and not observation.host_names_visible:
        report.limitations.append(
            Limitation(
                "host names (co-location is judged on Nova's per-project hostId instead)",
                HOST_RULE,
                HOST_RULE_DEFAULT,
            )
        )
    if observation.volumes and not observation.backends_visible:
        report.limitations.append(
            Limitation("the failure domains of volume replicas", BACKEND_RULE, BACKEND_RULE_DEFAULT)
        )
    _pods(expected, observation, report)
    _groups(expected, observation, report)
    _unexpected(expected, observation, report)
    report.checked = {
        "pods": len(expected.pods),
        "instances": sum(len(p.instances) for p in expected.pods),
        "volume_groups": len(expected.groups),
        "volumes": sum(len(g.replicas) for g in expected.groups),
        "servers_read": len(observation.servers),
        "volumes_read": len(observation.volumes),
    }
    return report
