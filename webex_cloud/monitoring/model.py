"""What the monitoring of one stack watches, derived from the validated deployment: plain data.

The health check of each role is the one the release gates probe (``webex_cloud.release.rollout.check_for``),
so an instance the monitoring calls "not serving" is one a release would wait for, and the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from webex_cloud import naming
from webex_cloud.config.models import HealthCheck, Monitoring, Service
from webex_cloud.config.resolved import Deployment
from webex_cloud.release.rollout import check_for


class NotMonitored(Exception):
    """The stack file declares no ``monitoring`` section; the message says what to add."""


@dataclass(frozen=True)
class RoleProbe:
    """One role of one service: every instance of it is probed with the role's health check."""

    service: str
    owner: str
    role: str
    check: HealthCheck
    instances: int
    """Instances of the role in the whole datacenter (pods x count)."""


@dataclass(frozen=True)
class AppEndpoint:
    """The service's own metrics endpoint (catalog ``metrics``), scraped on every instance of ``roles``."""

    port: int
    path: str
    scheme: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ServiceWatch:
    service: str
    owner: str
    network: str
    """The Neutron network name the instances' probed addresses are on (OpenStack SD's address pool)."""
    pods: tuple[str, ...]
    instances: int
    floor: int
    """Pods that must serve: ``pods - max_unavailable`` (what a release leaves), at least 1."""
    roles: tuple[RoleProbe, ...]
    metrics: AppEndpoint | None = None
    """Scraped as job ``app-<service>``; None: the service declares no metrics endpoint."""


@dataclass(frozen=True)
class ControllerApi:
    name: str
    address: str
    ports: tuple[int, ...]


@dataclass(frozen=True)
class StackWatch:
    """Everything the generated monitoring of one datacenter covers."""

    datacenter: str
    region: str
    monitoring: Monitoring
    platform_owner: str
    """The controllers' owner: it gets the alerts about the datacenter and the monitoring itself."""
    services: tuple[ServiceWatch, ...]
    controllers: tuple[ControllerApi, ...]


def duration(seconds: int) -> str:
    """A duration as Prometheus and Alertmanager read it, in whole minutes where it can be (so the
    generated files change only when the duration does)."""
    return f"{seconds // 60}m" if seconds and seconds % 60 == 0 else f"{seconds}s"


def floor(pods: int, max_unavailable: int) -> int:
    """The release floor: a release takes ``max_unavailable`` pods at a time, never more."""
    return max(pods - max_unavailable, 1)


def _endpoint(service: Service) -> AppEndpoint | None:
    declared = service.metrics
    if declared is None:
        return None
    roles = declared.roles or [member.role for member in service.pods.members]
    return AppEndpoint(declared.port, declared.path, declared.scheme, tuple(roles))


def stack_watch(deployment: Deployment, stack_file: str) -> StackWatch:
    dc = deployment.datacenter
    if dc.monitoring is None:
        raise NotMonitored(
            f"{stack_file}: config.webex-cloud:datacenter.monitoring: not declared, so {dc.name} has no "
            "monitoring to generate; add monitoring: {nodes, runbooks, receivers, watchdog} "
            "(docs/monitoring.md)"
        )
    services = []
    for deployed in deployment.services:
        service = deployed.service
        count = service.pods.count
        roles = tuple(
            RoleProbe(
                service=service.name,
                owner=service.owner,
                role=member.role,
                check=check_for(service, member.role),
                instances=count * member.count,
            )
            for member in service.pods.members
        )
        services.append(
            ServiceWatch(
                service=service.name,
                owner=service.owner,
                network=naming.cloud_name(dc.name, service.name),
                pods=tuple(naming.pod(service.name, index) for index in range(count)),
                instances=sum(role.instances for role in roles),
                floor=floor(count, service.rollout.max_unavailable),
                roles=roles,
                metrics=_endpoint(service),
            )
        )
    controllers = tuple(
        ControllerApi(name=host.name, address=str(host.address), ports=tuple(dc.controllers.api_ports))
        for host in dc.controllers.hosts
    )
    return StackWatch(
        datacenter=dc.name,
        region=dc.region,
        monitoring=dc.monitoring,
        platform_owner=dc.controllers.owner,
        services=tuple(services),
        controllers=controllers,
    )
