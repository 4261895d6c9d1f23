"""Pydantic models of the two kinds of input: a catalog service file and a datacenter stack config.

These are the only place where the shape of the input is defined. Field docstrings are the
reference documentation of the YAML (docs/catalog.md shows examples).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")]
"""Lower-case DNS-label style name: it becomes part of OpenStack resource names."""
OpenStackName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^\S+$")]
BackendName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$")]
"""A Cinder backend as the scheduler names it: ``host@backend`` (no ``#pool``)."""


def _parse_ports(value: object) -> object:
    """Accept ``443``, ``"443"`` or ``"5004-5100"`` and return ``(min, max)``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, str):
        parts = value.strip().split("-")
        if len(parts) in (1, 2) and all(p.strip().isdigit() for p in parts):
            low, high = int(parts[0]), int(parts[-1])
            return (low, high)
        raise ValueError(f"ports must be a number or a range like '5004-5100', not {value!r}")
    return value


PortRange = Annotated[tuple[int, int], BeforeValidator(_parse_ports)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class IngressRule(StrictModel):
    protocol: Literal["tcp", "udp", "icmp"]
    """IP protocol the rule admits."""
    ports: PortRange | None = None
    """Port or ``low-high`` range; required for tcp/udp, not allowed for icmp."""
    source: Name
    """A named source range of the datacenter config (``any``, ``ops``, ``peer-dc``, ...)."""
    description: str = ""
    """Why the rule exists; shown on the security group rule."""

    @model_validator(mode="after")
    def _ports_fit_protocol(self) -> IngressRule:
        if self.protocol == "icmp":
            if self.ports is not None:
                raise ValueError("icmp rules take no ports; remove 'ports'")
            return self
        if self.ports is None:
            raise ValueError(f"{self.protocol} rules need 'ports' (a number or a range like '5004-5100')")
        low, high = self.ports
        if not (1 <= low <= high <= 65535):
            raise ValueError(f"ports {low}-{high} must satisfy 1 <= low <= high <= 65535")
        return self


class ServiceNetwork(StrictModel):
    prefix_length: int = Field(24, ge=16, le=28)
    """Size of the service subnet as an IPv4 prefix length (/16 .. /28)."""
    ingress: list[IngressRule] = []
    """Inbound traffic the service accepts; everything else is denied."""


class PodMember(StrictModel):
    role: Name
    """What the instances of this member do (e.g. ``media``); unique within the pod."""
    flavor: OpenStackName
    """Nova flavor; must be in the datacenter's flavor list."""
    image: OpenStackName
    """Glance image; must be in the datacenter's image list."""
    count: int = Field(1, ge=1, le=16)
    """Instances of this role in each pod."""


class Pods(StrictModel):
    count: int = Field(ge=1, le=64)
    """Pods per datacenter. Instances of one pod share a host; two pods never do."""
    members: list[PodMember] = Field(min_length=1)
    """The instance roles of one pod."""

    @field_validator("members")
    @classmethod
    def _roles_unique(cls, members: list[PodMember]) -> list[PodMember]:
        roles = [m.role for m in members]
        dupes = sorted({r for r in roles if roles.count(r) > 1})
        if dupes:
            raise ValueError(f"role names must be unique within a pod; repeated: {', '.join(dupes)}")
        return members


class VolumeGroup(StrictModel):
    name: Name
    """Name of the group, unique within the service."""
    size_gb: int = Field(ge=1, le=65536)
    """Size of each replica in GiB."""
    type: OpenStackName
    """Cinder volume type; must be in the datacenter's volume type list."""
    replicas: int = Field(ge=1, le=16)
    """Copies of the volume; each lands in a different storage failure domain."""
    attach_to: Name | None = None
    """Pod role whose first instance in pod N gets replica N attached (optional)."""


class Service(StrictModel):
    name: Name
    """Service name, unique in the catalog; must match the file name."""
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Team that owns the service (written on every resource's metadata)."""
    description: str = ""
    datacenters: list[Name] | None = None
    """Datacenters the service runs in; omitted means all of them."""
    network: ServiceNetwork = ServiceNetwork(prefix_length=24)
    pods: Pods
    volume_groups: list[VolumeGroup] = []


class Flavor(StrictModel):
    vcpus: int = Field(ge=1)
    ram_mb: int = Field(ge=256)
    disk_gb: int = Field(0, ge=0)


class ComputeHost(StrictModel):
    name: OpenStackName
    """Nova compute host name as the scheduler sees it."""
    vcpus: int = Field(ge=1)
    ram_mb: int = Field(ge=1024)
    availability_zone: OpenStackName


class Controller(StrictModel):
    name: OpenStackName
    """Host name of the controller node."""
    address: ipaddress.IPv4Address
    """Management address the deployment connects to."""


class ControllerPlane(StrictModel):
    hosts: list[Controller] = Field(min_length=2, max_length=2)
    """The HA controller pair, updated one at a time."""
    vip: ipaddress.IPv4Address
    """Virtual IP of the API load balancer in front of the pair."""
    ssh_user: OpenStackName = "deploy"
    """Account the rolling deployment logs in as (its key is a Pulumi secret)."""
    octavia: bool = False
    """Front the pair with an Octavia load balancer instead of a VIP port."""


class Datacenter(StrictModel):
    name: Name
    """Datacenter name; must equal the stack name (``dc1`` for ``Pulumi.dc1.yaml``)."""
    region: OpenStackName = "RegionOne"
    availability_zones: list[OpenStackName] = Field(min_length=1)
    """Nova availability zones; pods are spread over them in order."""
    external_network: OpenStackName
    """Name of the provider network the datacenter router uses as its gateway."""
    cidr_pool: ipaddress.IPv4Network
    """Block from which every service subnet is allocated; must not overlap another datacenter's."""
    sources: dict[Name, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]
    """Named source ranges that ingress rules refer to."""
    images: list[OpenStackName] = Field(min_length=1)
    """Image allow-list."""
    flavors: dict[OpenStackName, Flavor] = Field(min_length=1)
    """Flavor allow-list with sizes (used for placement checks)."""
    volume_types: list[OpenStackName] = Field(min_length=1)
    """Cinder volume type allow-list."""
    failure_domains: dict[Name, Annotated[list[BackendName], Field(min_length=1)]] = Field(min_length=1)
    """Storage failure domains, each a named set of Cinder backends."""
    hosts: list[ComputeHost] = Field(min_length=1)
    """Compute host inventory."""
    controllers: ControllerPlane
