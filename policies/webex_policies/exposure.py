"""Exposure judged as address space: who can reach an admin or data port of an instance.

Scanners' "no 0.0.0.0/0 to port 22" checks match the CIDR string, so ``0.0.0.0/1`` + ``128.0.0.0/1``,
or the same world split over several groups, passes them. Here a port's exposure is the *union* of
the sources every rule of every group on the instance admits, as integer intervals per IP version
(IPv4-mapped IPv6, ``::ffff:0:0/96``, and the NAT64 prefix ``64:ff9b::/96`` are mapped back to
IPv4 first; a source the policy cannot read counts as every address). Internal space (RFC 1918,
RFC 6598, ULA ``fc00::/7`` and the configured pools and operator ranges) is subtracted; what is left
is public when it exceeds the configured size (by default 256 IPv4 addresses, or a /64 of IPv6).

Neutron facts encoded here (neutron db/securitygroups_db.py, 2024.1): a rule without a protocol,
or protocol ``any``/``0`` (and ``-1`` as some clients write it) admits every protocol and port; a
TCP/UDP rule without a port range admits every port; a rule with neither a remote prefix nor a
remote group admits every address of its ethertype. A port with port security disabled admits
everything, as does Nova's implicit ``default`` group (its rules are not in the stack).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from webex_policies.model import INSTANCE, NETWORK, PORT, SEC_GROUP, SEC_GROUP_RULE, Resource
from webex_policies.params import ConfigError
from webex_policies.values import known

Interval = tuple[int, int]
"""An inclusive range of addresses as integers."""


@dataclass(frozen=True)
class Service:
    """An admin or data port range; ``protocol`` None means TCP and UDP."""

    name: str
    protocol: str | None
    low: int
    high: int

    def __str__(self) -> str:
        span = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{self.name} ({self.protocol or 'tcp+udp'}/{span})"


#: The one table of ports that must never be reachable from public space.
ADMIN_AND_DATA_PORTS: Final = (
    Service("SSH", "tcp", 22, 22),
    Service("telnet", "tcp", 23, 23),
    Service("RDP", None, 3389, 3389),
    Service("VNC", "tcp", 5900, 5999),
    Service("WinRM", "tcp", 5985, 5986),
    Service("Docker API", "tcp", 2375, 2376),
    Service("etcd", "tcp", 2379, 2380),
    Service("Kubernetes API", "tcp", 6443, 6443),
    Service("kubelet", "tcp", 10250, 10250),
    Service("Redis", "tcp", 6379, 6379),
    Service("Elasticsearch", "tcp", 9200, 9200),
    Service("Elasticsearch transport", "tcp", 9300, 9300),
    Service("Cassandra CQL", "tcp", 9042, 9042),
    Service("Cassandra gossip", "tcp", 7000, 7001),
    Service("Cassandra JMX", "tcp", 7199, 7199),
    Service("memcached", None, 11211, 11211),
    Service("MongoDB", "tcp", 27017, 27019),
    Service("MySQL", "tcp", 3306, 3306),
    Service("PostgreSQL", "tcp", 5432, 5432),
    Service("RabbitMQ", "tcp", 5672, 5672),
    Service("Keystone", "tcp", 5000, 5000),
    Service("Nova API", "tcp", 8774, 8774),
    Service("Cinder API", "tcp", 8776, 8776),
    Service("Placement API", "tcp", 8778, 8778),
    Service("Glance API", "tcp", 9292, 9292),
    Service("Neutron API", "tcp", 9696, 9696),
    Service("Octavia API", "tcp", 9876, 9876),
    Service("Barbican API", "tcp", 9311, 9311),
    Service("Heat API", "tcp", 8004, 8004),
    Service("Prometheus", "tcp", 9090, 9090),
    Service("Alertmanager", "tcp", 9093, 9094),
    Service("node exporter", "tcp", 9100, 9100),
    Service("blackbox exporter", "tcp", 9115, 9115),
    Service("SMB", "tcp", 445, 445),
    Service("NFS", None, 2049, 2049),
    Service("rpcbind", None, 111, 111),
    Service("SNMP", "udp", 161, 161),
    Service("IPMI", "udp", 623, 623),
    Service("LDAP", None, 389, 389),
    Service("LDAPS", "tcp", 636, 636),
    Service("SQL Server", "tcp", 1433, 1433),
    Service("Oracle", "tcp", 1521, 1521),
    Service("Kafka", "tcp", 9092, 9092),
    Service("ZooKeeper", "tcp", 2181, 2181),
    Service("Consul", "tcp", 8500, 8500),
    Service("Vault", "tcp", 8200, 8200),
    Service("RabbitMQ management", "tcp", 15672, 15672),
    Service("InfluxDB", "tcp", 8086, 8086),
    Service("Kibana", "tcp", 5601, 5601),
    Service("CouchDB", "tcp", 5984, 5984),
)

#: Address space that is never routed from the Internet.
PRIVATE_RANGES: Final = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # RFC 6598 shared address space
    "127.0.0.0/8",
    "fc00::/7",  # RFC 4193 unique local
    "::1/128",
)

#: IPv6 blocks whose last 32 bits are an IPv4 address that the traffic comes from: IPv4-mapped
#: (reaches IPv4 sockets) and RFC 6052's well-known NAT64 prefix (a translator carries every IPv4 host).
_EMBEDDED_IPV4: Final = tuple(
    (int(n.network_address), int(n.broadcast_address))
    for n in (ipaddress.ip_network("::ffff:0:0/96"), ipaddress.ip_network("64:ff9b::/96"))
)
_WORLD: Final = {4: [(0, 2**32 - 1)], 6: [(0, 2**128 - 1)]}
_ANY_PROTOCOL: Final = frozenset({"", "any", "0", "-1"})
_PROTOCOL_NAMES: Final = {"6": "tcp", "17": "udp"}


class AddressSet:
    """A set of addresses per IP version as merged inclusive integer intervals."""

    def __init__(self) -> None:
        self.parts: dict[int, list[Interval]] = {4: [], 6: []}
        self.unread: list[str] = []
        """Addresses or prefixes that could not be read, counted as every address."""

    def add_network(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        low, high = int(network.network_address), int(network.broadcast_address)
        if network.version == 6:
            # The part of an IPv6 range that embeds IPv4 senders is judged as those IPv4 addresses.
            for embed_low, embed_high in _EMBEDDED_IPV4:
                if low <= embed_high and high >= embed_low:
                    self.parts[4].append((max(low, embed_low) - embed_low, min(high, embed_high) - embed_low))
            self.parts[6].extend(_subtract([(low, high)], list(_EMBEDDED_IPV4)))
        else:
            self.parts[4].append((low, high))

    def add_world(self, versions: Iterable[int]) -> None:
        for version in versions:
            self.parts[version].extend(_WORLD[version])

    def update(self, other: AddressSet) -> None:
        for version in (4, 6):
            self.parts[version].extend(other.parts[version])
        self.unread.extend(other.unread)

    def merged(self) -> dict[int, list[Interval]]:
        return {version: _merge(parts) for version, parts in self.parts.items()}


def _merge(parts: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for low, high in sorted(parts):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def _subtract(parts: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    holes = _merge(holes)
    for low, high in _merge(parts):
        cursor = low
        for hole_low, hole_high in holes:
            if hole_high < cursor or hole_low > high:
                continue
            if hole_low > cursor:
                out.append((cursor, hole_low - 1))
            cursor = max(cursor, hole_high + 1)
        if cursor <= high:
            out.append((cursor, high))
    return out


def _describe(version: int, parts: Sequence[Interval], limit: int = 4) -> str:
    """The intervals as collapsed CIDR blocks (the first few)."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    blocks: list[str] = []
    for low, high in parts:
        blocks.extend(str(n) for n in ipaddress.summarize_address_range(make(low), make(high)))
        if len(blocks) > limit:
            break
    more = ", ..." if len(blocks) > limit else ""
    return ", ".join(blocks[:limit]) + more


def parse_network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR or address (host bits allowed, as Neutron normalises them); None if not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


_PORT_SPEC: Final = re.compile(r"^(?:(?P<proto>tcp|udp)/)?(?P<low>\d{1,5})(?:-(?P<high>\d{1,5}))?$")
#: Internal ranges beyond the private ones may name a datacenter's public pool, never a share of the
#: Internet: an entry holding more non-private space than this is refused (IPv4 /8, IPv6 /32).
MAX_EXTRA_INTERNAL: Final = {4: 2**24, 6: 2**96}


def parse_port_spec(item: object) -> Service:
    """``22`` (TCP and UDP), ``"tcp/5985-5986"`` or ``"udp/3389"`` as a :class:`Service`."""
    if isinstance(item, (int, float)) and not isinstance(item, bool) and int(item) == item:
        low = high = int(item)
        protocol = None
    else:
        match = _PORT_SPEC.match(item) if isinstance(item, str) else None
        if match is None:
            raise ConfigError(f"'adminPorts' entries are ports or '[tcp/|udp/]low[-high]', not {item!r}")
        low, high, protocol = int(match["low"]), int(match["high"] or match["low"]), match["proto"]
    if not 1 <= low <= high <= 65535:
        raise ConfigError(f"'adminPorts' entry {item!r} is not a range within 1-65535")
    return Service("configured admin port", protocol, low, high)


def _private_space() -> dict[int, list[Interval]]:
    space = AddressSet()
    for text in PRIVATE_RANGES:
        space.add_network(ipaddress.ip_network(text))
    return space.merged()


@dataclass(frozen=True)
class ExposureParams:
    internal: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    """Everything counted as internal: the private ranges plus the pools and operator ranges."""
    max_public_ipv4: int = 256
    max_public_ipv6: int = 2**64
    services: tuple[Service, ...] = ADMIN_AND_DATA_PORTS
    """The built-in table, then the configured ``adminPorts`` (which add to it, never remove)."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "internalRanges": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "CIDRs counted as internal besides RFC 1918, RFC 6598 and ULA: the stacks' "
            "pools and named operator ranges (derived from the plans by the harness)",
        },
        "maxPublicIPv4": {
            "type": "integer",
            "default": 256,
            "description": "non-internal IPv4 addresses an admin or data port may be reachable from in total",
        },
        "maxPublicIPv6PrefixLength": {
            "type": "integer",
            "default": 64,
            "description": "non-internal IPv6 space allowed in total, as a prefix length (64: one /64)",
        },
        "adminPorts": {
            "type": "array",
            "items": {"type": ["integer", "string"]},
            "default": [],
            "description": "admin or data ports to guard besides the built-in table (which cannot be "
            "reduced): a number (TCP and UDP) or '[tcp/|udp/]low[-high]'",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ExposureParams:
        ranges = config.get("internalRanges", [])
        if not isinstance(ranges, list):
            raise ConfigError(f"'internalRanges' must be a list of CIDRs, not {ranges!r}")
        private = _private_space()
        extra = []
        for item in ranges:
            network = parse_network(item)
            if network is None:
                raise ConfigError(f"'internalRanges' entries are CIDRs, not {item!r}")
            alone = AddressSet()
            alone.add_network(network)
            outside = {v: _subtract(alone.merged()[v], private[v]) for v in (4, 6)}
            if any(_size(outside[v]) > MAX_EXTRA_INTERNAL[v] for v in (4, 6)):
                raise ConfigError(
                    f"'internalRanges' entry {item!r} holds more public address space than a /8 (IPv4) or "
                    "a /32 (IPv6); internal ranges name pools and operator networks, not the Internet"
                )
            extra.append(network)
        ports = config.get("adminPorts", [])
        if not isinstance(ports, list):
            raise ConfigError(f"'adminPorts' must be a list of ports, not {ports!r}")
        services = ADMIN_AND_DATA_PORTS + tuple(parse_port_spec(item) for item in ports)
        ipv4, prefix = config.get("maxPublicIPv4", 256), config.get("maxPublicIPv6PrefixLength", 64)
        for key, value, top in (("maxPublicIPv4", ipv4, 2**32), ("maxPublicIPv6PrefixLength", prefix, 128)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise ConfigError(f"{key!r} must be a whole number from 0 to {top}, not {value!r}")
        builtin = tuple(ipaddress.ip_network(r) for r in PRIVATE_RANGES)
        return cls(builtin + tuple(extra), int(ipv4), 2 ** (128 - int(prefix)), services)

    def internal_intervals(self) -> dict[int, list[Interval]]:
        space = AddressSet()
        for network in self.internal:
            space.add_network(network)
        return space.merged()


@dataclass
class Rule:
    """What one ingress rule admits, resolved."""

    resource: Resource
    protocol: str
    """``tcp``, ``udp``, ``any`` or another protocol (no ports)."""
    low: int
    high: int
    sources: AddressSet


@dataclass
class Unit:
    """Something reachable: an instance (all its ports) or a port without an instance."""

    resource: Resource
    groups: set[str] = field(default_factory=set)
    admits_everything: str = ""
    """Why every source reaches every port (port security off, the default group), or empty."""


def _protocol(value: Any) -> str:
    text = "" if value is None else str(value).strip().lower()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if re.fullmatch(r"[+-]?\d+", text):
        # neutron-lib converters.convert_to_protocol keeps any text int() reads as 0-255 ("06", "+6")
        # as written, and Neutron matches on int() of it: one protocol, however it is spelled.
        text = str(int(text))
    if text in _ANY_PROTOCOL:
        return "any"
    return _PROTOCOL_NAMES.get(text, text)


def _port(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value:
        return None
    return int(value)


def _versions(ethertype: Any) -> tuple[int, ...]:
    if ethertype == "IPv4":
        return (4,)
    if ethertype == "IPv6":
        return (6,)
    return (4, 6)


class _Index:
    """The stack's groups, ports and instances, linked through property dependencies or known ids."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.groups = {r.urn: r for r in resources if r.type == SEC_GROUP}
        self.by_id = {
            r.props["id"]: r.urn for r in self.groups.values() if isinstance(r.props.get("id"), str)
        }
        self.by_name: dict[str, list[str]] = {}
        for group in self.groups.values():
            if isinstance(group.props.get("name"), str):
                self.by_name.setdefault(group.props["name"], []).append(group.urn)
        self.ports = {r.urn: r for r in resources if r.type == PORT}
        self.networks = {r.urn: r for r in resources if r.type == NETWORK}
        self.instances = [r for r in resources if r.type == INSTANCE]
        self.rules = [r for r in resources if r.type == SEC_GROUP_RULE]

    def group_keys(self, resource: Resource, prop: str) -> set[str]:
        """The groups ``prop`` refers to: URNs of this stack's groups, or the raw id of another's."""
        keys = {urn for urn in resource.property_dependencies.get(prop, ()) if urn in self.groups}
        if keys:
            return keys
        value = resource.props.get(prop)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item and known(item):
                keys.add(self.by_id.get(item, f"id:{item}"))
        return keys


def _rule_sources(rule: Resource, index: _Index, members: dict[str, AddressSet]) -> AddressSet | None:
    """The sources an ingress rule admits; None when unknown (proves nothing)."""
    props = rule.props
    prefix, remote = props.get("remoteIpPrefix"), props.get("remoteGroupId")
    remote_address_group = props.get("remoteAddressGroupId")
    if not (known(prefix) and known(props.get("ethertype"))):
        return None
    sources = AddressSet()
    versions = _versions(props.get("ethertype"))
    if isinstance(remote_address_group, str) and remote_address_group:
        sources.add_world(versions)  # an address group's content is not in the stack: assume anything
        return sources
    network = parse_network(prefix)
    if network is not None:
        sources.add_network(network)
        return sources
    if prefix not in (None, ""):
        # Parsers differ on what is an address (inet_aton forms such as 010.0.0.0/8 or 0/0): what this
        # policy cannot read proves nothing safe, so it is judged as every address of its ethertype.
        sources.add_world(versions)
        sources.unread.append(str(prefix))
        return sources
    if remote in (None, "") and not rule.property_dependencies.get("remoteGroupId"):
        sources.add_world(versions)
        return sources
    # A remote group admits the addresses of its members' ports.
    for key in index.group_keys(rule, "remoteGroupId"):
        if key in members:
            sources.update(members[key])
    return sources


def _port_addresses(port: Resource) -> AddressSet:
    found = AddressSet()
    for key, item in (("fixedIps", "ipAddress"), ("allowedAddressPairs", "ipAddress")):
        entries = port.props.get(key)
        for entry in entries if isinstance(entries, list) else []:
            value = entry.get(item) if isinstance(entry, dict) else None
            network = parse_network(value)
            if network is not None:
                found.add_network(network)
            elif value not in (None, "") and known(value):  # unknown proves nothing either way
                found.add_world((4, 6))  # unreadable: see _rule_sources
                found.unread.append(str(value))
    return found


def _units(index: _Index) -> tuple[list[Unit], dict[str, AddressSet]]:
    """Every instance and every port no instance uses, with their groups; each group's member addresses."""
    members: dict[str, AddressSet] = {}
    port_groups: dict[str, set[str]] = {}
    for urn, port in index.ports.items():
        groups = index.group_keys(port, "securityGroupIds")
        port_groups[urn] = groups
        for key in groups:
            members.setdefault(key, AddressSet()).update(_port_addresses(port))
    units: list[Unit] = []
    used: set[str] = set()

    def unsecured_network(resource: Resource, prop: str) -> str:
        for urn in resource.property_dependencies.get(prop, ()):
            network = index.networks.get(urn)
            if network is not None and network.props.get("portSecurityEnabled") is False:
                return network.label()
        return ""

    def open_reason(port: Resource) -> str:
        enabled = port.props.get("portSecurityEnabled")
        if enabled is False:
            return f"port {port.label()} has port security disabled"
        # Neutron gives a port that does not set it its network's value (port_security extension).
        inherited = unsecured_network(port, "networkId") if enabled is None else ""
        return (
            f"port {port.label()} is on network {inherited}, whose port security is off for every port "
            "that does not turn it on"
            if inherited
            else ""
        )

    for instance in index.instances:
        unit = Unit(instance)
        own_ports = [u for u in instance.property_dependencies.get("networks", ()) if u in index.ports]
        for urn in own_ports:
            used.add(urn)
            unit.groups |= port_groups[urn]
            unit.admits_everything = unit.admits_everything or open_reason(index.ports[urn])
        names = instance.props.get("securityGroups")
        if _nova_creates_a_port(instance.props.get("networks")):
            # That port takes the network's port security and the instance's groups, the project's
            # 'default' when it names none (nova compute/api.py: ``security_groups or ['default']``).
            inherited = unsecured_network(instance, "networks")
            unit.admits_everything = unit.admits_everything or (
                f"Nova creates its port on network {inherited}, whose port security is off"
                if inherited
                else ""
            )
            if names is None or names == []:
                names = ["default"]
        for name in names if isinstance(names, list) else []:
            if name == "default" and "default" not in index.by_name:
                unit.admits_everything = unit.admits_everything or (
                    "it is in the project's 'default' group, whose rules the stack does not control"
                )
            elif isinstance(name, str):
                unit.groups.update(index.by_name.get(name, [name]))
        units.append(unit)
    for urn, port in index.ports.items():
        if urn not in used:
            units.append(Unit(port, set(port_groups[urn]), open_reason(port)))
    return units, members


def _nova_creates_a_port(networks: Any) -> bool:
    """True when the instance's ``networks`` has an entry without a ``port`` (or none at all): Nova
    then creates the port itself. Unknown networks prove nothing."""
    if not known(networks):
        return False
    if not isinstance(networks, list) or not networks:
        return True
    return any(isinstance(entry, dict) and entry.get("port") in (None, "") for entry in networks)


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str


def judge(resources: Sequence[Resource], params: ExposureParams) -> list[Finding]:
    """Every reachable unit whose admin/data ports are public, or open to any protocol from outside."""
    index = _Index(resources)
    units, members = _units(index)
    by_group: dict[str, list[Rule]] = {}
    for resource in index.rules:
        props = resource.props
        if props.get("direction") != "ingress" or not known(props.get("protocol")):
            continue
        sources = _rule_sources(resource, index, members)
        if sources is None:
            continue
        protocol = _protocol(props.get("protocol"))
        low, high = props.get("portRangeMin"), props.get("portRangeMax")
        if not (known(low) and known(high)):
            continue
        rule_low, rule_high = _port(low) or 1, _port(high) or 65535
        if protocol == "any":
            rule_low, rule_high = 1, 65535
        rule = Rule(resource, protocol, rule_low, rule_high, sources)
        for key in index.group_keys(resource, "securityGroupId"):
            by_group.setdefault(key, []).append(rule)
    grouped = {key for unit in units for key in unit.groups}
    # A group attached to nothing in the stack is still judged alone (it may be attached elsewhere).
    for key in sorted(set(by_group) - grouped):
        group = index.groups.get(key)
        units.append(Unit(group or by_group[key][0].resource, {key}))
    internal = params.internal_intervals()
    out: list[Finding] = []
    for unit in units:
        out.extend(
            _judge_unit(
                unit, [r for key in sorted(unit.groups) for r in by_group.get(key, [])], params, internal
            )
        )
    return out


def _outside(space: AddressSet, internal: dict[int, list[Interval]]) -> dict[int, list[Interval]]:
    merged = space.merged()
    return {version: _subtract(merged[version], internal[version]) for version in (4, 6)}


def _size(parts: Sequence[Interval]) -> int:
    return sum(high - low + 1 for low, high in parts)


def _public(outside: dict[int, list[Interval]], params: ExposureParams) -> str:
    """How the non-internal space exceeds the threshold, or empty."""
    said = []
    if _size(outside[4]) > params.max_public_ipv4:
        said.append(f"{_size(outside[4])} non-internal IPv4 addresses ({_describe(4, outside[4])})")
    if _size(outside[6]) > params.max_public_ipv6:
        said.append(f"non-internal IPv6 space larger than a /64 ({_describe(6, outside[6])})")
    return " and ".join(said)


def _judge_unit(
    unit: Unit, rules: list[Rule], params: ExposureParams, internal: dict[int, list[Interval]]
) -> list[Finding]:
    what = f"{unit.resource.label()}"
    if unit.admits_everything:
        return [
            Finding(
                f"{what} admits every source on every port: {unit.admits_everything}; attach the "
                "stack's own security groups with port security on",
                unit.resource.urn,
            )
        ]
    out: list[Finding] = []
    everything = [r for r in rules if r.protocol == "any"]
    if everything:
        space = _union(everything)
        outside = _outside(space, internal)
        if outside[4] or outside[6]:
            names = ", ".join(sorted({r.resource.label() for r in everything}))
            shown = "; ".join(_describe(v, outside[v]) for v in (4, 6) if outside[v]) + _unread(space)
            out.append(
                Finding(
                    f"{what} admits every protocol and port from non-internal sources ({shown}) through "
                    f"rule(s) {names}; name a protocol and ports, or restrict the source to internal ranges",
                    unit.resource.urn,
                )
            )
    unranged = [r for r in rules if r.protocol in ("tcp", "udp") and (r.low, r.high) == (1, 65535)]
    for rule in unranged:
        outside = _outside(rule.sources, internal)
        if outside[4] or outside[6]:
            out.append(
                Finding(
                    f"{what}: rule {rule.resource.label()} admits every {rule.protocol} port from "
                    f"non-internal sources{_unread(rule.sources)}; give it a port range",
                    unit.resource.urn,
                )
            )
    for service in params.services:
        for protocol in (service.protocol,) if service.protocol else ("tcp", "udp"):
            relevant = [r for r in rules if r.protocol in (protocol, "any")]
            for low, high, admitting in _segments(service, relevant):
                space = _union(admitting)
                reason = _public(_outside(space, internal), params)
                if reason:
                    reason += _unread(space)
                    span = str(low) if low == high else f"{low}-{high}"
                    names = ", ".join(sorted({r.resource.label() for r in admitting}))
                    out.append(
                        Finding(
                            f"{what} exposes {service.name} ({protocol}/{span}) to public space: {reason}, "
                            f"admitted by rule(s) {names}; restrict the sources to internal or operator "
                            f"ranges (at most {params.max_public_ipv4} non-internal IPv4 addresses)",
                            unit.resource.urn,
                        )
                    )
                    break  # one finding per service and protocol
    return out


def _unread(space: AddressSet) -> str:
    if not space.unread:
        return ""
    shown = ", ".join(repr(value) for value in sorted(set(space.unread)))
    return f" (unreadable source {shown} counted as every address: write a CIDR such as 10.0.0.0/8)"


def _union(rules: Iterable[Rule]) -> AddressSet:
    space = AddressSet()
    for rule in rules:
        space.update(rule.sources)
    return space


def _segments(service: Service, rules: Sequence[Rule]) -> list[tuple[int, int, list[Rule]]]:
    """The service's port range cut where the admitting rules change, with the rules of each piece."""
    cuts = {service.low, service.high + 1}
    for rule in rules:
        for edge in (rule.low, rule.high + 1):
            if service.low < edge <= service.high:
                cuts.add(edge)
    points = sorted(cuts)
    out = []
    for low, next_low in itertools.pairwise(points):
        admitting = [r for r in rules if r.low <= low and next_low - 1 <= r.high]
        if admitting:
            out.append((low, next_low - 1, admitting))
    return out
