"""What the program deploys in one datacenter, after validation: plain frozen dataclasses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from webex_cloud.config.models import Datacenter, Service


@dataclass(frozen=True)
class IngressGrant:
    """One security group rule: a declared ingress rule applied to one source prefix."""

    protocol: str
    port_min: int | None
    port_max: int | None
    remote_prefix: str
    ethertype: str
    description: str


@dataclass(frozen=True)
class ServiceDeployment:
    """A catalog service as it is deployed in one datacenter."""

    service: Service
    source_file: str
    subnet: ipaddress.IPv4Network
    ingress: tuple[IngressGrant, ...]


@dataclass(frozen=True)
class Deployment:
    """Everything one datacenter stack deploys."""

    stack: str
    datacenter: Datacenter
    services: tuple[ServiceDeployment, ...]
    """Services that run in this datacenter, sorted by name."""
    catalog: tuple[Service, ...]
    """The whole catalog, including services that run elsewhere only."""
