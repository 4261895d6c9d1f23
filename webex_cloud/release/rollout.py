"""A service's release plan: its waves, each role's health check, and what each wave's gate probes.

Pure functions of the validated catalog; the components turn them into resources (see
``webex_cloud/components/service.py``) and docs/releasing.md explains the release to the people who run it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webex_cloud import naming
from webex_cloud.config.models import Datacenter, HealthCheck, PodMember, Service
from webex_cloud.config.resolved import IngressGrant
from webex_cloud.facts.metrics import PROMETHEUS_PORT
from webex_cloud.plan import format as tokens
from webex_cloud.release.analysis import AnalysisSpec, MetricSpec, default_metrics
from webex_cloud.release.probe import Check, GateSpec, Target

GATE_TYPE = tokens.LOCAL_COMMAND
"""Type token of a health gate (pulumi-command's ``local.Command``)."""


def waves(pods: int, max_unavailable: int) -> list[range]:
    """Pod indexes per wave: consecutive pods, ``max_unavailable`` at most per wave."""
    step = max(1, max_unavailable)
    return [range(first, min(first + step, pods)) for first in range(0, pods, step)]


def default_check(service: Service) -> HealthCheck | None:
    """The check of a service that declares none: a TCP connect to its first declared TCP port."""
    for rule in service.network.ingress:
        if rule.protocol == "tcp" and rule.ports is not None:
            return HealthCheck(protocol="tcp", port=rule.ports[0])
    return None


def check_for(service: Service, role: str) -> HealthCheck:
    """The health check of one role (the loader has made sure there is one)."""
    found = service.rollout.roles.get(role) or service.rollout.health_check or default_check(service)
    if found is None:
        raise ValueError(f"{service.name}: role {role} has no health check (the loader should have said so)")
    return found


def checked_ports(service: Service) -> list[int]:
    """Every TCP port some role's check connects to, sorted."""
    return sorted({check_for(service, m.role).port for m in service.pods.members})


def runner_grants(service: Service, runner_prefixes: Sequence[str]) -> tuple[IngressGrant, ...]:
    """Security group rules admitting the deploy runner on the checked ports, and on nothing else."""
    return tuple(
        IngressGrant(
            protocol="tcp",
            port_min=port,
            port_max=port,
            remote_prefix=prefix,
            ethertype=f"IPv{ipaddress.ip_network(prefix).version}",
            description=f"health gate of {service.name} from the deploy runner",
        )
        for port in checked_ports(service)
        for prefix in runner_prefixes
    )


def pod_generation(members: Sequence[PodMember]) -> str:
    """A short fingerprint of the pod's flavors: it changes exactly when some member's flavor does.

    A resize is a cold migration to another host (Nova's ``allow_resize_to_same_host`` is off by default),
    which would take an instance away from the host its pod shares, or fail with "No valid host" for a
    member held on its anchor's host. So a flavor change replaces every instance of the pod instead.
    """
    text = ",".join(f"{m.role}={m.flavor}" for m in members)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class InstanceFacts:
    """What a gate knows of one instance of its wave (all known before anything is deployed)."""

    pod: str
    name: str
    role: str
    address: str
    disruptive_inputs: Mapping[str, object]
    """The inputs whose change replaces or disrupts the instance, by input name or ``replaceOnChanges`` path,
    with their values (Pulumi inputs: a port's or group's ID is an output): the gate's triggers."""


def prometheus_urls(datacenter: Datacenter) -> tuple[str, ...]:
    """The datacenter's Prometheus nodes, which judge its releases; none without ``monitoring``."""
    if datacenter.monitoring is None:
        return ()
    return tuple(f"http://{node}:{PROMETHEUS_PORT}" for node in datacenter.monitoring.nodes)


def judged_metrics(service: Service) -> tuple[str, tuple[MetricSpec, ...]]:
    """The requests query and the metrics a wave of the service is judged by (declared, or the probes')."""
    declared = service.rollout.analysis
    if declared.metrics and declared.requests is not None:
        return declared.requests, tuple(MetricSpec(**m.model_dump()) for m in declared.metrics)
    timeouts = {m.role: check_for(service, m.role).timeout_s for m in service.pods.members}
    requests, metrics = default_metrics(service.name, timeouts)
    return declared.requests or requests, metrics


def _instance_names(service: Service, datacenter: str, pods: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        naming.cloud_name(datacenter, naming.instance(pod, member.role, ordinal))
        for pod in pods
        for member in service.pods.members
        for ordinal in range(member.count)
    )


def analysis_spec(
    service: Service, datacenter: str, wave: int, prometheus: Sequence[str]
) -> AnalysisSpec | None:
    """How wave ``wave`` (1-based) is judged: its pods against the pods later waves change, through the
    datacenter's Prometheus; None when the datacenter has none (nothing can judge it)."""
    if not prometheus:
        return None
    plan = waves(service.pods.count, service.rollout.max_unavailable)
    new_pods = tuple(naming.pod(service.name, i) for i in plan[wave - 1])
    old_pods = tuple(naming.pod(service.name, i) for later in plan[wave:] for i in later)
    requests, metrics = judged_metrics(service)
    return AnalysisSpec(
        prometheus=tuple(prometheus),
        bake_s=float(service.rollout.analysis.bake_s),
        new_instances=_instance_names(service, datacenter, new_pods),
        new_pods=new_pods,
        old_instances=_instance_names(service, datacenter, old_pods),
        old_pods=old_pods,
        requests=requests,
        min_requests=float(service.rollout.analysis.min_requests),
        metrics=metrics,
        declared=bool(service.rollout.analysis.metrics),
    )


def gate_spec(
    service: Service,
    datacenter: str,
    wave: int,
    wave_count: int,
    instances: Sequence[InstanceFacts],
    prometheus: Sequence[str] = (),
) -> GateSpec:
    """The spec of the gate of wave ``wave`` (1-based); judged by metrics when ``prometheus`` is given."""
    return GateSpec(
        datacenter=datacenter,
        service=service.name,
        wave=wave,
        waves=wave_count,
        max_unavailable=service.rollout.max_unavailable,
        pods=tuple(dict.fromkeys(i.pod for i in instances)),
        deadline_s=float(service.rollout.deadline_s),
        targets=tuple(
            Target(
                pod=i.pod,
                instance=i.name,
                role=i.role,
                address=i.address,
                check=Check(**check_for(service, i.role).model_dump()),
            )
            for i in instances
        ),
        analysis=analysis_spec(service, datacenter, wave, prometheus),
    )


def gate_triggers(instances: Sequence[InstanceFacts]) -> list[dict[str, object]]:
    """One entry per instance of the wave: a change in any of them reruns the gate (it is replaced)."""
    return [{"instance": i.name, **dict(sorted(i.disruptive_inputs.items()))} for i in instances]
