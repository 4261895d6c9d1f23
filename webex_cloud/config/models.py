"""Pydantic models of the two kinds of input: a catalog service file and a datacenter stack config.

These are the only place where the shape of the input is defined. Field docstrings are the
reference documentation of the YAML: docs/catalog.md is generated from them
(``python -m webex_cloud.config.reference``), and a test keeps it current.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Iterator
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)
from webex_scheduler_filters import render

from webex_cloud.config.address_space import PRIVATE_NAMES, is_private
from webex_cloud.facts.metrics import PLACEHOLDERS, SCRAPE_INTERVAL_S, names_a_side, unknown_placeholders
from webex_cloud.forced_command import key_problem

MAX_ROLE_COUNT = 16
"""Instances of one role in one pod at most: each (pod, role) owns that many addresses."""

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")]
"""Lower-case DNS-label style name: it becomes part of OpenStack resource names."""
OpenStackName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^\S+$")]
Int = Annotated[int, Strict()]
"""An integer written as one: a boolean (``yes``), a float or a numeric text is refused, not converted."""
Bool = Annotated[bool, Strict()]
"""``true`` or ``false``: ``1``, ``"yes"`` or ``"on"`` are refused, not converted."""
FieldProblem = tuple[str, str]
"""(field path relative to the model, what is wrong and the fix) of a check across several fields."""
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


PortRange = Annotated[tuple[Int, Int], BeforeValidator(_parse_ports)]


def _written_as_text(value: object) -> object:
    """Refuse a number where an address or prefix belongs: pydantic reads an integer as one (``5`` is
    0.0.0.5, ``true`` is True is 0.0.0.1), and in YAML that is always a typo, never an address."""
    if isinstance(value, (bool, int, float)):
        raise ValueError("write the address as text, like 10.20.0.5, or the prefix like 10.20.0.0/16")
    return value


IPv4Address = Annotated[ipaddress.IPv4Address, BeforeValidator(_written_as_text)]
IPv4Network = Annotated[ipaddress.IPv4Network, BeforeValidator(_written_as_text)]
IPNetwork = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_written_as_text)]


class StrictModel(BaseModel):
    # The attribute docstrings become the fields' descriptions: docs/catalog.md is generated from them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, use_attribute_docstrings=True
    )


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
    prefix_length: Int = Field(24, ge=16, le=28)
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
    count: Int = Field(1, ge=1, le=MAX_ROLE_COUNT)
    """Instances of this role in each pod."""


class Pods(StrictModel):
    count: Int = Field(ge=1, le=64)
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
    size_gb: Int = Field(ge=1, le=65536)
    """Size of each replica in GiB."""
    type: OpenStackName
    """Cinder volume type; must be in the datacenter's volume type list."""
    replicas: Int = Field(ge=1, le=16)
    """Copies of the volume; each lands in a different storage failure domain."""
    attach_to: Name | None = None
    """Pod role whose first instance in pod N gets replica N attached (optional)."""


HttpPath = Annotated[str, StringConstraints(pattern=r"^/[!-~]*$", max_length=512)]
"""An absolute HTTP request path (printable ASCII, no spaces)."""


class HealthCheck(StrictModel):
    protocol: Literal["tcp", "http", "https"] = "tcp"
    """``tcp``: the port accepts a connection; ``http``/``https``: a GET returns ``expected_status``."""
    port: int = Field(ge=1, le=65535)
    """Port checked on every instance of the role."""
    path: HttpPath = "/"
    """Path of the GET (http and https only)."""
    expected_status: int = Field(default=200, ge=100, le=599)
    """HTTP status that means "serving" (http and https only)."""
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    """Seconds one attempt may take."""
    interval_s: float = Field(default=2.0, gt=0, le=300)
    """Seconds between attempts on one instance."""
    successes: int = Field(default=3, ge=1, le=100)
    """Consecutive successful attempts before the instance counts as serving again."""

    @model_validator(mode="after")
    def _http_fields_only_for_http(self) -> HealthCheck:
        if self.protocol == "tcp" and (
            "path" in self.model_fields_set or "expected_status" in self.model_fields_set
        ):
            raise ValueError(
                "path and expected_status apply to http/https checks only; remove them or set protocol"
            )
        return self


def _query(text: str) -> str:
    unknown = unknown_placeholders(text)
    if unknown:
        raise ValueError(
            f"names {', '.join(unknown)}, which nothing fills; use only "
            + ", ".join(f"${name}" for name in PLACEHOLDERS)
        )
    if not names_a_side(text):
        raise ValueError(
            "selects neither $instances nor $pods, so the new and the old pods would read the same series; "
            'select them, e.g. {instance=~"$instances"}'
        )
    return text


Query = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_query)]
"""PromQL with placeholders, returning one series."""


class AnalysisMetric(StrictModel):
    name: Name
    """Shown in the gate's log, the preview and ``python -m webex_cloud judge``."""
    query: Query
    """PromQL returning one series for one side (aggregate it: ``sum``, ``avg``, ``max``) of a quantity
    where lower is better (an error ratio, a latency). ``$instances`` is the side's Nova instance names as
    a regex alternation (``instance=~"$instances"``), ``$pods`` its pod names, ``$window`` the bake time
    (``300s``), ``$service`` and ``$datacenter`` this release's."""
    max: float | None = None
    """Absolute limit: the new pods fail above it, on every wave (the last wave is judged on these only)."""
    max_increase: float | None = Field(None, ge=0)
    """The new pods fail when they exceed the old pods by more than this (0.01: one point of a ratio)."""
    max_ratio: float | None = Field(None, ge=1)
    """The new pods fail above this multiple of the old pods' value (1.5: half again as slow)."""
    tolerance: float = Field(0.0, ge=0)
    """A difference from the old pods (or above ``max``) of at most this never fails (noise)."""

    @model_validator(mode="after")
    def _some_limit(self) -> AnalysisMetric:
        if self.max is None and self.max_increase is None and self.max_ratio is None:
            raise ValueError(f"metric {self.name} judges nothing; set max, max_increase or max_ratio")
        return self


class Analysis(StrictModel):
    bake_s: int = Field(default=300, ge=30, le=7200)
    """Seconds each wave runs, once its instances serve, before it is judged on that window."""
    metrics: list[AnalysisMetric] = []
    """What a wave is judged by; omitted: the health check's blackbox probes (failure ratio at most 1 %
    and at most 1 point above the old pods'; mean p95 probe duration at most 1.5 x the old pods' and at
    most half the check's ``timeout_s``) (docs/releasing.md)."""
    requests: Query | None = None
    """PromQL counting one side's requests in ``$window``; omitted: the probes of the health check."""
    min_requests: int = Field(default=10, ge=1)
    """Fewer requests than this in the window on either side: the wave cannot be judged, and fails."""

    @model_validator(mode="after")
    def _last_wave_judged(self) -> Analysis:
        if self.metrics and all(m.max is None for m in self.metrics):
            raise ValueError(
                "no metric has an absolute limit (max), so the last wave, with no old pods left to "
                "compare with, could not be judged; set max on at least one metric"
            )
        if len({m.name for m in self.metrics}) != len(self.metrics):
            raise ValueError("two metrics share a name; name each differently")
        if self.metrics and self.requests is None:
            raise ValueError(
                "metrics are declared without requests; add the PromQL counting each side's requests "
                "in $window, so that too little traffic reads as 'cannot judge'"
            )
        return self


class Rollout(StrictModel):
    max_unavailable: int = Field(default=1, ge=1, le=64)
    """Pods of the service changed at once; the next wave waits for this one's health gate."""
    health_check: HealthCheck | None = None
    """How a changed pod is known to serve again (every role); omitted: a TCP connect to the first
    TCP port of ``network.ingress``."""
    roles: dict[Name, HealthCheck] = {}
    """A different check for some roles (by role name); the others use ``health_check``."""
    deadline_s: int = Field(default=600, ge=10, le=7200)
    """How long a wave's gate waits for every instance of the wave before it fails the release."""
    analysis: Analysis = Analysis()
    """How each wave is judged once it serves: bake time, metrics, minimum requests (docs/releasing.md)."""


class MetricsEndpoint(StrictModel):
    port: Int = Field(ge=1, le=65535)
    """TCP port where every instance of ``roles`` serves its own metrics (Prometheus text format). Each
    datacenter with ``monitoring`` admits it from its monitoring nodes' addresses only (no
    ``network.ingress`` rule needed) and scrapes it as job ``app-<service>`` (docs/monitoring.md)."""
    path: HttpPath = "/metrics"
    """Path of the scrape's GET."""
    scheme: Literal["http", "https"] = "http"
    """``https``: the certificate is not verified, as the health checks do not verify it."""
    roles: list[Name] | None = Field(None, min_length=1)
    """Pod roles that serve the endpoint; omitted: every role."""


class Service(StrictModel):
    name: Name
    """Service name, unique in the catalog; must match the file name."""
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Team that owns the service (written on every resource's metadata)."""
    description: str = ""
    datacenters: list[Name] | None = Field(None, min_length=1)
    """Datacenters the service runs in; omitted means all of them."""
    network: ServiceNetwork = ServiceNetwork(prefix_length=24)
    pods: Pods
    volume_groups: list[VolumeGroup] = []
    rollout: Rollout = Rollout()
    """How a release changes the pods: waves of ``max_unavailable`` pods, each health-gated."""
    metrics: MetricsEndpoint | None = None
    """The service's own metrics endpoint, scraped by the generated monitoring: what lets
    ``rollout.analysis`` judge a release on the application's series, not only the probes'."""


class Flavor(StrictModel):
    vcpus: Int = Field(ge=1)
    ram_mb: Int = Field(ge=256)
    disk_gb: Int = Field(0, ge=0)


class ComputeHost(StrictModel):
    name: OpenStackName
    """Nova compute host name as the scheduler sees it."""
    vcpus: Int = Field(ge=1)
    ram_mb: Int = Field(ge=1024)
    availability_zone: OpenStackName
    disk_gb: int = Field(0, ge=0)
    """Local disk for root disks; 0: not counted (volume-backed or shared storage)."""
    cpu_allocation_ratio: float = Field(1.0, gt=0)
    """Nova's ``cpu_allocation_ratio`` of this compute; Placement offers vcpus times this."""
    ram_allocation_ratio: float = Field(1.0, gt=0)
    disk_allocation_ratio: float = Field(1.0, gt=0)
    reserved_host_memory_mb: int = Field(0, ge=0)
    """Nova's ``reserved_host_memory_mb``: RAM the host keeps for itself, before the ratio."""


class PlacementPolicy(StrictModel):
    n_plus_one: bool = True
    """Require the spare capacity to place every pod and replica again after the loss of any one
    compute host or storage failure domain: the loader counts it, `place` proves it through the
    filters. Relax only for a stack that accepts an outage until hardware is replaced."""


HostKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
        r"|sk-ecdsa-sha2-nistp256@openssh\.com) AAAA[A-Za-z0-9+/]+={0,3}( [!-~]+)?$",
        max_length=16384,
    ),
]
"""An OpenSSH public key line: key type, base64 key, optional comment."""


class Controller(StrictModel):
    name: OpenStackName
    """Host name of the controller node (its schedulers' ``[DEFAULT] host``)."""
    address: IPv4Address
    """Management address the deployment connects to and the API front forwards to."""
    host_key: HostKey | None = None
    """The node's SSH host public key (``ssh-ed25519 AAAA...``, as ``ssh-keyscan -t ed25519 <address>``
    prints it after the address). Mandatory for a deploy: without it the deploy's SSH session cannot tell
    the controller from an impostor, and the policy pack refuses the stack (controller-ssh-host-keys)."""


class ManagementNetwork(StrictModel):
    network: OpenStackName
    """Neutron network (by name) holding the controllers' management addresses."""
    subnet: OpenStackName
    """Its subnet (by name): the VIP and the proxies' ports take their fixed IPs from it."""
    cidr: IPv4Network
    """The subnet's range; the VIP and the proxy addresses must lie inside it."""


class ApiProxies(StrictModel):
    flavor: OpenStackName
    """Nova flavor of the two proxy instances; must be in the datacenter's flavor list."""
    image: OpenStackName
    """Glance image of the proxies (HAProxy + keepalived); must be in the datacenter's image list."""
    addresses: list[IPv4Address] = Field(min_length=2, max_length=2)
    """Fixed management addresses of the two proxies (the VIP moves between them)."""


def _no_dot_segments(value: str) -> str:
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{value!r} has a '.' or '..' segment; write the path without them")
    return value


AbsolutePath = Annotated[
    str,
    StringConstraints(pattern=r"^(/[A-Za-z0-9._@+-]+)+$", max_length=255),
    AfterValidator(_no_dot_segments),
]
"""An absolute path on a controller node: ``/`` separated names of letters, digits and ``._@+-`` (no
spaces, quotes, ``$`` or shell characters, no ``.``/``..`` segment). The deploy runs it as root."""
Interpreter = Annotated[
    str,
    StringConstraints(pattern=r"^(/[A-Za-z0-9._@+-]+)*/python3(\.[0-9]{1,2})?$", max_length=255),
    AfterValidator(_no_dot_segments),
]
"""An absolute path to a Python 3 interpreter (``.../python3`` or ``.../python3.N``)."""
SystemdUnit = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,200}(\.service)?$", max_length=210)
]
"""A systemd service unit name (``nova-scheduler``, ``devstack@n-sch.service``): systemd's unit-name
characters only, so it can never be read as an option or a second command."""
UNIT_ACTIONS: Final = ("restart", "try-restart", "reload-or-restart")
"""What ``systemctl`` may do to a scheduler unit: a short list, never a free command."""


class SchedulerUnit(StrictModel):
    fragment_path: AbsolutePath
    """Absolute path of the config fragment the scheduler reads after its main config."""
    unit: SystemdUnit
    """The scheduler's systemd unit; the deploy runs ``systemctl <action> <unit>`` as root, then waits
    for ``systemctl is-active --quiet <unit>`` (the built-in health check)."""
    action: Literal["restart", "try-restart", "reload-or-restart"] = "restart"
    """How ``systemctl`` restarts the unit after a change of filters."""

    @model_validator(mode="before")
    @classmethod
    def _no_free_commands(cls, data: object) -> object:
        if isinstance(data, dict) and ("restart" in data or "health" in data):
            raise ValueError(
                "'restart' and 'health' command lines are no longer accepted (they ran as root on both "
                "controllers): name the systemd unit instead, e.g. unit: nova-scheduler, with action: "
                f"one of {', '.join(UNIT_ACTIONS)}; the health check is systemctl is-active"
            )
        return data

    def restart_argv(self) -> list[str]:
        """The restart command, as the controllers' deploy script runs it (as root)."""
        return ["systemctl", self.action, self.unit]

    def health_argv(self) -> list[str]:
        """The built-in health check: exit 0 once the unit is active again."""
        return ["systemctl", "is-active", "--quiet", self.unit]


def _systemd_unit(service: str, fragment: str) -> SchedulerUnit:
    # Debian's units are Type=notify: `systemctl restart` returns once the service has built its host
    # manager (which fails on a filter it cannot load) and told systemd it is ready.
    return SchedulerUnit(fragment_path=fragment, unit=service)


FilterName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
"""A scheduler filter's class name (or dotted path): it is written into an oslo.config list option, where
``$`` would be an interpolation, a comma a second item and a line break a second option."""


class ControllerDeploy(StrictModel):
    nova_filters: list[FilterName] = Field(default=list(render.NOVA_DEFAULT_FILTERS), min_length=1)
    """nova-scheduler's ``enabled_filters`` besides ours: keep the site's own list here (default: Nova's)."""
    cinder_filters: list[FilterName] = Field(default=list(render.CINDER_DEFAULT_FILTERS), min_length=1)
    """cinder-scheduler's ``scheduler_default_filters`` besides ours (default: Cinder's)."""
    python: Interpreter = "/usr/bin/python3"
    """The schedulers' Python interpreter (runs the deploy script and the import check)."""
    site_dir: AbsolutePath = "/opt/webex-scheduler-filters/site"
    """Directory on both schedulers' PYTHONPATH holding only the filter wheel."""
    state_dir: AbsolutePath = "/opt/webex-scheduler-filters/state"
    """Lock, backup and record of the deployed filter release; same file system as ``site_dir``."""
    staging_dir: AbsolutePath = "/var/lib/webex-scheduler-filters/staging"
    """Where each filter release's files are copied before sudo runs the script: writable by the SSH user only
    (in a directory others can write to, they could swap the script that runs as root)."""
    sudo: Bool = True
    """Run the deploy script through ``sudo -n`` (the SSH user is not root)."""
    health_timeout_s: Int = Field(default=180, ge=10, le=1800)
    """How long a restarted scheduler may take to report healthy before the controller is restored."""
    nova: SchedulerUnit = _systemd_unit("nova-scheduler", "/etc/nova/nova-scheduler.d/50-webex-filters.conf")
    """How the nova-scheduler of a controller is configured, restarted and checked."""
    cinder: SchedulerUnit = _systemd_unit(
        "cinder-scheduler", "/etc/cinder/cinder-scheduler.d/50-webex-filters.conf"
    )
    """How the cinder-scheduler of a controller is configured, restarted and checked."""


UnixAccount = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
"""A new system account's name as Debian's useradd takes it (NAME_REGEX_SYSTEM's default, useradd(8)):
never an option, never a path."""


def _forced_key(key: str, secret: str) -> Callable[[str], str]:
    """The check of a forced-command login's public key (forced_command.py), its error naming the key
    and where its private half is kept."""

    def check(line: str) -> str:
        problem = key_problem(line)
        if problem:
            raise ValueError(
                f"must be one OpenSSH public key line, and this one {problem}: give the {key}'s public half "
                f"as `ssh-keygen -y -f <private key>` prints it (the private half is {secret})"
            )
        return line

    return check


_reader_key = _forced_key(
    "drift reader key",
    "the secret DRIFT_READER_SSH_KEY of the GitHub environment drift-<stack>, docs/drift.md",
)


class DriftReader(StrictModel):
    """The read-only login drift reads each controller through (components/controller_reader.py)."""

    public_key: Annotated[str, StringConstraints(max_length=16384), AfterValidator(_reader_key)]
    """The reader key's OpenSSH public key: the controllers accept it for ``user`` only with the forced
    command (``restrict,command="..."``), so whoever holds its private half can run the read script and
    nothing else. Its private half is the secret DRIFT_READER_SSH_KEY of the environment drift-<stack>.
    A public key, no secret."""
    user: UnixAccount = "webex-drift"
    """The account the key logs in as, created by the stack on each controller: no sudo, no password, its
    home and ``authorized_keys`` owned by root (it cannot change what its key may do)."""
    script: AbsolutePath = "/opt/webex-scheduler-filters/drift/read_controller.py"
    """Where the read script is installed (owned by root, mode 0644): what the forced command runs."""


API_PORTS = (5000, 8774, 8776, 8778, 9292, 9696)
"""Keystone, Nova, Cinder, Placement, Glance and Neutron APIs."""
OPENSTACK_API_PORTS: Final = {
    5000: "Keystone",
    8774: "Nova",
    8776: "Cinder",
    8778: "Placement",
    9292: "Glance",
    9696: "Neutron",
    9876: "Octavia",
    9311: "Barbican",
    8004: "Heat",
    8000: "Heat CloudFormation",
    6385: "Ironic",
    8041: "Gnocchi",
    8042: "Aodh",
    8786: "Manila",
    9001: "Designate",
    9511: "Magnum",
}
"""The OpenStack API ports a controller front may serve: the default ports of the OpenStack install
guide ("Firewalls and default ports", docs.openstack.org/install-guide/firewalls-default-ports.html).
The front admits ``api_sources`` on every one of ``api_ports``: any other port (SSH, a database) there
would expose a controller's admin surface through the VIP."""


class ControllerPlane(StrictModel):
    hosts: list[Controller] = Field(min_length=2, max_length=2)
    """The HA controller pair, updated one at a time."""
    vip: IPv4Address
    """Virtual IP of the API load balancer in front of the pair."""
    ssh_user: OpenStackName = "deploy"
    """Account the rolling deployment logs in as (its key is a Pulumi secret)."""
    ssh_port: Int = Field(default=22, ge=1, le=65535)
    """SSH port of the controllers."""
    octavia: Bool = False
    """Front the pair with an Octavia load balancer instead of a VIP port."""
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "team-cloud-platform"
    """Team that runs the controllers (written on the front's resources)."""
    management: ManagementNetwork
    """The network the controllers, the VIP and the proxies are on."""
    api_ports: list[Int] = Field(default=list(API_PORTS), min_length=1)
    """TCP ports of the controllers' APIs served on the VIP."""
    api_sources: list[Name] = Field(min_length=1)
    """Named source ranges of the datacenter allowed to reach the APIs on the VIP."""
    proxies: ApiProxies | None = None
    """The proxy pair holding the VIP; required unless ``octavia`` is true."""
    deploy: ControllerDeploy = ControllerDeploy()
    """Where and how the scheduler filters are installed on each controller."""
    drift_reader: DriftReader | None = None
    """The read-only login of ``drift --controllers`` (docs/drift.md); without it drift reads no controller
    and says so."""

    @field_validator("api_ports")
    @classmethod
    def _ports_valid(cls, ports: list[int]) -> list[int]:
        bad = [p for p in ports if not 1 <= p <= 65535]
        if bad or len(set(ports)) != len(ports):
            raise ValueError(f"api_ports must be distinct ports 1..65535; got {ports}")
        return ports

    def _port_problems(self) -> Iterator[FieldProblem]:
        for index, port in enumerate(self.api_ports):
            if port not in OPENSTACK_API_PORTS:
                known = ", ".join(f"{p} ({name})" for p, name in sorted(OPENSTACK_API_PORTS.items()))
                yield (
                    f"api_ports[{index}]",
                    f"{port} is not an OpenStack API port; the front admits api_sources on every listed "
                    f"port, so only API ports belong here: {known}",
                )

    def problems(self) -> Iterator[FieldProblem]:
        """Every inconsistency between the pair, its front and the management network, all at once."""
        yield from self._port_problems()
        reader = self.drift_reader
        if reader is not None and reader.user in ("root", self.ssh_user):
            yield (
                "drift_reader.user",
                f"{reader.user!r} is {'root' if reader.user == 'root' else 'the deploy login (ssh_user)'}: "
                "the reader needs an account of its own that can do nothing else; keep the default "
                "webex-drift or name a new account",
            )
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            yield "hosts", f"the two controllers need distinct names; got {names}"
        if not self.octavia and self.proxies is None:
            yield "proxies", "required when octavia is false (the VIP port needs its proxy pair)"
        if self.octavia and self.proxies is not None:
            yield "proxies", "not used with octavia: true (Octavia holds the VIP); remove it"
        front = [("vip", self.vip)]
        if self.proxies is not None:
            front += [(f"proxies.addresses[{i}]", a) for i, a in enumerate(self.proxies.addresses)]
        cidr = self.management.cidr
        for label, address in front:
            if address not in cidr:
                yield label, f"{address} is outside management.cidr {cidr}"
            elif cidr.prefixlen <= 30 and address in (cidr.network_address, cidr.broadcast_address):
                # Neutron refuses a fixed IP equal to the subnet's network or broadcast address
                # (neutron/ipam/utils.py, check_subnet_ip), so the port would fail mid-deployment.
                what = "network" if address == cidr.network_address else "broadcast"
                yield label, f"{address} is the {what} address of management.cidr {cidr}; use a host address"
        for index, host in enumerate(self.hosts):
            if host.address not in cidr:
                yield (
                    f"hosts[{index}].address",
                    f"{host.address} is outside management.cidr {cidr}; the deploy reaches the controllers "
                    "(and the API front forwards to them) on the management network only",
                )
        used = [(label, str(a)) for label, a in front] + [
            (f"hosts[{i}].address", str(h.address)) for i, h in enumerate(self.hosts)
        ]
        first: dict[str, str] = {}
        for label, text in used:
            if text in first:
                yield (
                    label,
                    f"{text} is already used by {first[text]}; the VIP, proxy and controller "
                    "addresses must all differ",
                )
            first.setdefault(text, label)


MAX_WAVES = 8
"""Deploy waves at most: `.github/workflows/deploy.yml` has one job per wave (a test pins the two)."""

MAX_BAKE_S = 3600
"""The longest bake a stack may ask: `.github/workflows/deploy-stack.yml`'s time-out counts on it."""

RunnerLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
"""A GitHub Actions runner label (letters, digits, ``.``, ``_``, ``-``)."""


class StackDeploy(StrictModel):
    wave: int = Field(ge=1)
    """Deploy wave: wave N starts only once every stack of wave N-1 is up; the stacks of one wave are
    deployed in parallel. Wave 1 is the canary datacenter; waves are numbered 1, 2, ... without gaps,
    up to the number of wave jobs in .github/workflows/deploy.yml (``MAX_WAVES``)."""
    runner: RunnerLabel
    """Label of the self-hosted runner inside this datacenter that runs its deployment (it must reach
    the datacenter's state backend and controllers); register the runner with it in GitHub."""
    bake_s: int = Field(default=0, ge=0, le=MAX_BAKE_S)
    """Seconds this stack bakes after its `pulumi up` succeeded: the deploy job waits that long, then
    probes every health gate of the stack again, before the stack counts as deployed and the next wave
    may start. Set it on the canary (wave 1) to let a bad release show itself in one datacenter; a
    failed probe rolls the stack back (docs/releasing.md). At most ``MAX_BAKE_S`` (the deploy job's
    time-out holds it)."""

    @field_validator("wave")
    @classmethod
    def _wave_has_a_job(cls, wave: int) -> int:
        if wave > MAX_WAVES:
            raise ValueError(
                f"wave {wave} has no job: .github/workflows/deploy.yml runs waves 1..{MAX_WAVES}; use one of "
                "them, or add wave jobs there and raise MAX_WAVES in webex_cloud/config/models.py"
            )
        return wave


class Identities(StrictModel):
    reader: OpenStackName
    """clouds.yaml entry of a read-only identity (Keystone role ``reader``; no ``member``, ``manager`` or
    ``admin``): audit, drift, monitoring discovery and image checks read the cloud with it, and refuse a
    token that could write (docs/identities.md)."""
    operator: OpenStackName | None = None
    """clouds.yaml entry of the operator identity (role ``admin``) that maintenance drains hosts with;
    leave it out where no maintenance runs from this checkout."""


OwnerName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A team named as a service's ``owner`` (or the controllers' owner)."""
ReceiverUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/@?#]+(/[^\s?#]*)?$", max_length=512)]
"""An http(s) URL without user, password, query or fragment: a key in a URL would be a secret in a
committed file (put it in ``credentials_file``)."""


WATCHDOG_RECEIVER = "watchdog"
"""The Alertmanager receiver of the always-firing Watchdog alert: no team may be called so."""


class WebhookReceiver(StrictModel):
    url: ReceiverUrl
    """Where Alertmanager POSTs the alerts (an internal relay); no key in it."""
    credentials_file: AbsolutePath | None = None
    """File on the monitoring nodes holding the bearer token (placed by the deploy from a Pulumi secret)."""


class PagerdutyReceiver(StrictModel):
    routing_key_file: AbsolutePath
    """File on the monitoring nodes holding the PagerDuty Events v2 routing key (a deploy-only secret)."""


class Receiver(StrictModel):
    webhook: WebhookReceiver | None = None
    """Deliver by webhook (Alertmanager ``webhook_configs``)."""
    pagerduty: PagerdutyReceiver | None = None
    """Deliver to PagerDuty (Alertmanager ``pagerduty_configs``)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Receiver:
        if (self.webhook is None) == (self.pagerduty is None):
            raise ValueError("give exactly one of webhook or pagerduty")
        return self


_facts_key = _forced_key(
    "facts key", "the secret FACTS_PUSH_KEY of the facts job's environment, docs/monitoring.md"
)


class MonitoringInstances(StrictModel):
    flavor: OpenStackName
    """Nova flavor of the two monitoring instances; must be in the datacenter's flavor list."""
    image: OpenStackName
    """Glance image they boot (Debian 12: cloud-init installs Debian's Prometheus, Alertmanager, blackbox
    and node exporters); must be in the datacenter's image list."""
    deploy_key: HostKey
    """The OpenSSH public key of the datacenter's deploy key (``ssh-keygen -y -f <key>``; the private half
    is the secret ``CONTROLLER_SSH_KEY``): the nodes' ``webex-deploy`` login accepts it, and the deploy
    reloads the rules through it after every ``pulumi up`` (docs/monitoring.md). A public key, no secret."""
    facts_key: Annotated[HostKey, AfterValidator(_facts_key)] | None = None
    """The OpenSSH public key of the datacenter's facts key (the private half is the secret
    ``FACTS_PUSH_KEY`` of the facts job's environment): the nodes' ``webex-facts`` login accepts it for
    one forced command, replacing the live facts file (monitoring/facts_login.py). Unset: the pair gets
    no facts login, and ``PlacementFactsStale`` fires until it has one. A public key, no secret."""


LogHost = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")]
"""A DNS name or an IPv4 address."""


class LogShipping(StrictModel):
    target: LogHost
    """The central log collector (syslog over TCP) every instance and controller ships to."""
    port: int = Field(default=6514, ge=1, le=65535)
    """Its port (6514: syslog over TLS, RFC 5425)."""
    protocol: Literal["tls", "tcp"] = "tls"
    """``tls`` (default) or plain ``tcp`` inside a network the operators trust. No UDP: it drops
    messages silently when the collector is slow or away, and the "No valid host" events must all
    arrive; TCP with a disk-assisted queue keeps them until the collector answers."""
    ca_file: AbsolutePath | None = None
    """With ``tls``: the CA that signs the collector's certificate, on the shipping host."""
    permitted_peer: LogHost | None = None
    """With ``tls``: the name the collector's certificate must carry (``x509/name``)."""

    @model_validator(mode="after")
    def _tls_is_checked(self) -> LogShipping:
        if self.protocol == "tls" and (self.ca_file is None or self.permitted_peer is None):
            raise ValueError(
                "protocol tls needs ca_file (the collector's CA) and permitted_peer (the name in its "
                "certificate): a TLS peer that is not checked is anyone"
            )
        if self.protocol == "tcp" and (self.ca_file is not None or self.permitted_peer is not None):
            raise ValueError("ca_file and permitted_peer are for protocol tls; remove them or use tls")
        return self


class MonitoringTiming(StrictModel):
    """How soon the monitoring notices and tells; the defaults are what production runs. Shorter values
    are for a datacenter whose operators want it and for the loopback's end-to-end proof."""

    probe_interval_s: int = Field(default=SCRAPE_INTERVAL_S, ge=1, le=300)
    """Every instance is probed, and the rules are evaluated, this often (longer when a health check's
    ``timeout_s`` needs it: the probe always gets its whole timeout and a second more)."""
    pod_not_serving_s: int = Field(default=180, ge=1, le=1200)
    """``for:`` of PodNotServing: how long an instance fails its health check before its owner is told."""
    below_floor_s: int = Field(default=120, ge=1, le=1200)
    """``for:`` of ServiceBelowReleaseFloor, the page. Both ``for:`` are at most 20 minutes: users are
    affected by then, and the generated unit tests' synthetic half hour holds the alert's whole story."""
    notify_wait_s: int = Field(default=30, ge=0, le=3600)
    """Alertmanager's ``group_wait``: how long a new group of alerts waits for its siblings before the first
    notification."""
    notify_interval_s: int = Field(default=300, ge=1, le=86400)
    """Alertmanager's ``group_interval``: how soon a change to a notified group (another alert, a resolved
    one) is sent."""

    @model_validator(mode="after")
    def _for_spans_two_probes(self) -> MonitoringTiming:
        short = [
            name
            for name in ("pod_not_serving_s", "below_floor_s")
            if getattr(self, name) < 2 * self.probe_interval_s
        ]
        if short:
            raise ValueError(
                f"{' and '.join(short)} must be at least two probe intervals "
                f"({2 * self.probe_interval_s} s with probe_interval_s {self.probe_interval_s}): a shorter "
                "`for:` alerts on one failed probe"
            )
        return self


class Monitoring(StrictModel):
    nodes: list[IPv4Address] = Field(min_length=1, max_length=2)
    """Management addresses of the monitoring pair (Prometheus :9090, Alertmanager :9093 and the
    blackbox exporter :9115 on each); inside ``controllers.management.cidr``."""
    instances: MonitoringInstances | None = None
    """Set: the stack deploys the pair itself, two instances apart on the management network at
    ``nodes``, first configured with the generated files. Unset: ``nodes`` is a Prometheus pair that
    exists already, which the stack only configures through ``monitoring --reload``."""
    runbooks: ReceiverUrl
    """Where docs/ of this repository is browsable (e.g. ``https://git.ops.example/webex-cloud/blob/main/docs``):
    every alert links to its runbook section under it."""
    receivers: dict[OwnerName, Receiver] = Field(min_length=1)
    """One receiver per team: every service ``owner`` running here and ``controllers.owner`` needs one."""
    watchdog: Receiver
    """Dead man's switch outside this datacenter: it receives the always-firing Watchdog alert, and must
    page when that alert stops arriving."""
    timing: MonitoringTiming = MonitoringTiming()
    """Probe interval, the pod and page alerts' ``for:`` and Alertmanager's grouping delays; omitted: the
    defaults (15 s, 3 min, 2 min, 30 s, 5 min)."""
    logs: LogShipping | None = None
    """Where the instances' and controllers' logs are shipped (rsyslog; ``monitoring --stack`` writes the
    configuration to ``rsyslog/``; new pods and monitoring nodes install it at first boot, the controllers
    after each rollout: docs/monitoring.md, "Logs"); omitted: none is generated or installed."""

    @field_validator("receivers")
    @classmethod
    def _watchdog_name_reserved(cls, receivers: dict[str, Receiver]) -> dict[str, Receiver]:
        if WATCHDOG_RECEIVER in receivers:
            raise ValueError(
                f"{WATCHDOG_RECEIVER!r} is the watchdog's receiver (monitoring.watchdog); "
                "name the team otherwise"
            )
        return receivers


class Datacenter(StrictModel):
    name: Name
    """Datacenter name; must equal the stack name (``<stack>`` for ``Pulumi.<stack>.yaml``)."""
    region: OpenStackName = "RegionOne"
    availability_zones: list[OpenStackName] = Field(min_length=1)
    """Nova availability zones; pods are spread over them in order."""
    external_network: OpenStackName
    """Name of the provider network the datacenter router uses as its gateway."""
    cidr_pool: IPv4Network
    """Block from which every service subnet is allocated; must not overlap another datacenter's. Private
    address space (RFC 1918 or RFC 6598): every other datacenter's ``peer-dc`` rules admit this pool."""
    public_pool_reason: Annotated[str, StringConstraints(min_length=10, max_length=500)] | None = None
    """Only for a ``cidr_pool`` outside private space: why this datacenter's service subnets are public
    addresses (every other datacenter's ``peer-dc`` rules then admit the pool); omitted, such a pool is
    refused."""
    subnets: dict[Name, IPv4Network] = {}
    """Subnets pinned per service: record each service's subnet here once it is deployed, so that
    no later catalog change can move it (services not listed are allocated from ``cidr_pool``)."""
    sources: dict[Name, list[IPNetwork]]
    """Named source ranges that ingress rules refer to."""
    images: list[OpenStackName] = Field(min_length=1)
    """Image allow-list."""
    signed_images: bool = False
    """Every image offered here must carry signature properties (``img_signature*``) in the image
    catalog, which this datacenter's Glance image must then have (docs/images.md); off, an image is
    held to a signature only where its catalog entry gives one."""
    flavors: dict[OpenStackName, Flavor] = Field(min_length=1)
    """Flavor allow-list with sizes (used for placement checks)."""
    volume_types: list[OpenStackName] = Field(min_length=1)
    """Cinder volume type allow-list."""
    failure_domains: dict[Name, Annotated[list[BackendName], Field(min_length=1)]] = Field(min_length=1)
    """Storage failure domains, each a named set of Cinder backends."""
    hosts: list[ComputeHost] = Field(min_length=1)
    """Compute host inventory."""
    placement: PlacementPolicy = PlacementPolicy()
    """What the placement checks demand of this datacenter."""
    controllers: ControllerPlane
    """The controller pair, its API front and how the scheduler filters reach it."""
    deploy: StackDeploy
    """When and where the deploy workflow runs ``pulumi up`` for this stack (``python -m webex_cloud
    stacks`` lists every stack's)."""
    monitoring: Monitoring | None = None
    """Prometheus, Alertmanager and blackbox exporter of this datacenter, generated from the catalog
    (``python -m webex_cloud monitoring``, docs/monitoring.md); omitted: the datacenter is not watched."""
    identities: Identities | None = None
    """The clouds.yaml entries the operational commands read and change the cloud with, one per kind of
    access; ``pulumi up`` uses ``openstack:cloud``, never these."""

    def _monitoring_instances_problems(self, monitoring: Monitoring) -> Iterator[FieldProblem]:
        deployed = monitoring.instances
        if deployed is None:
            return
        if len(monitoring.nodes) != 2:
            yield "monitoring.nodes", "a deployed monitoring pair (monitoring.instances) needs two addresses"
        if deployed.flavor not in self.flavors:
            yield (
                "monitoring.instances.flavor",
                f"{deployed.flavor!r} is not offered; valid: {', '.join(sorted(self.flavors))}",
            )
        if deployed.image not in self.images:
            yield (
                "monitoring.instances.image",
                f"{deployed.image!r} is not offered; valid: {', '.join(sorted(self.images))}",
            )
        taken = {self.controllers.vip: "controllers.vip"}
        taken |= {h.address: f"controllers.hosts[{i}].address" for i, h in enumerate(self.controllers.hosts)}
        if self.controllers.proxies is not None:
            addresses = self.controllers.proxies.addresses
            taken |= {a: f"controllers.proxies.addresses[{i}]" for i, a in enumerate(addresses)}
        for index, node in enumerate(monitoring.nodes):
            if node in taken:
                yield (
                    f"monitoring.nodes[{index}]",
                    f"{node} is already {taken[node]}; the monitoring instances need addresses of their own",
                )

    def problems(self) -> Iterator[FieldProblem]:
        """Checks across the datacenter's fields, every problem reported (the loader adds its path)."""
        for index, zone in enumerate(self.availability_zones):
            if zone in self.availability_zones[:index]:
                yield f"availability_zones[{index}]", f"zone {zone!r} is listed twice; list each zone once"
        for path, message in self.controllers.problems():
            yield f"controllers.{path}", message
        proxies = self.controllers.proxies
        if proxies is not None and proxies.flavor not in self.flavors:
            yield (
                "controllers.proxies.flavor",
                (f"{proxies.flavor!r} is not offered; valid: {', '.join(sorted(self.flavors))}"),
            )
        if proxies is not None and proxies.image not in self.images:
            yield (
                "controllers.proxies.image",
                (f"{proxies.image!r} is not offered; valid: {', '.join(sorted(self.images))}"),
            )
        if not is_private(self.cidr_pool) and self.public_pool_reason is None:
            yield (
                "cidr_pool",
                f"{self.cidr_pool} is not private address space ({PRIVATE_NAMES}); every other "
                "datacenter's peer-dc rules (SSH, Cassandra 9042 and 7000-7001) would admit it; use a "
                "private pool, or declare why it is public in public_pool_reason",
            )
        for index, source in enumerate(self.controllers.api_sources):
            public = [str(n) for n in self.sources.get(source, []) if not is_private(n)]
            if public:
                yield (
                    f"controllers.api_sources[{index}]",
                    f"source {source!r} holds non-private space ({', '.join(public)}); the OpenStack APIs "
                    f"admit internal sources only ({PRIVATE_NAMES}): name a source such as 'ops'",
                )
            if source not in self.sources:
                hint = difflib.get_close_matches(source, list(self.sources), n=1, cutoff=0.5)
                yield (
                    f"controllers.api_sources[{index}]",
                    (
                        f"unknown source {source!r}{f'; did you mean {hint[0]!r}?' if hint else ''} "
                        f"Valid: {', '.join(sorted(self.sources))}"
                    ),
                )
        if self.monitoring is not None:
            management = self.controllers.management.cidr
            for index, node in enumerate(self.monitoring.nodes):
                if node not in management:
                    yield (
                        f"monitoring.nodes[{index}]",
                        f"{node} is outside controllers.management.cidr {management}; the monitoring pair "
                        "lives on the management network",
                    )
            if len(set(self.monitoring.nodes)) != len(self.monitoring.nodes):
                yield "monitoring.nodes", "the two monitoring nodes need distinct addresses"
            yield from self._monitoring_instances_problems(self.monitoring)
        front = [("controllers.vip", self.controllers.vip)]
        if proxies is not None:
            front += [(f"controllers.proxies.addresses[{i}]", a) for i, a in enumerate(proxies.addresses)]
        front += [
            (f"controllers.hosts[{i}].address", h.address) for i, h in enumerate(self.controllers.hosts)
        ]
        for label, address in front:
            inside = [
                f"subnets.{name} ({net})" for name, net in sorted(self.subnets.items()) if address in net
            ]
            if address in self.cidr_pool:
                inside.append(f"cidr_pool ({self.cidr_pool}), from which service subnets are allocated")
            if inside:
                yield (
                    label,
                    (
                        f"{address} lies inside {', '.join(inside)}; the API front and the controllers "
                        f"must be on the management network {self.controllers.management.cidr}, outside "
                        "every service subnet"
                    ),
                )
