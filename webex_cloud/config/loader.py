"""Load the catalog and one datacenter's config, check them against each other, resolve a Deployment.

All checks run before the program registers a single resource: a CatalogError here means
nothing was changed.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from webex_cloud import naming, paths
from webex_cloud.config.addressing import RESERVED_ADDRESSES, ROLE_SLOTS, addresses_needed, smallest_prefix
from webex_cloud.config.api_sources import unusable_api_sources
from webex_cloud.config.capacity import spare_capacity_problems
from webex_cloud.config.cidr import PoolExhausted, allocate_subnets
from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.holds import read_holds
from webex_cloud.config.models import Datacenter, Service
from webex_cloud.config.release_time import too_long
from webex_cloud.config.resolved import Deployment, IngressGrant, ServiceDeployment
from webex_cloud.config.validation import validate
from webex_cloud.config.yaml_source import parse_yaml, read_text, read_yaml
from webex_cloud.facts.metrics import PROBE_SERIES_PREFIX, app_job, app_series
from webex_cloud.facts.rollout import DEPLOY_RUNNER_SOURCE
from webex_cloud.paths import PROJECT

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DATACENTER_KEY = f"{PROJECT}:datacenter"
CATALOG_DIR = "catalog"


# The stack file's name has one owner (paths.py); re-exported for the loader's readers.
stack_file = paths.stack_file
known_stacks = paths.known_stacks


SECRET_SETTINGS = frozenset(
    {
        "openstack:password",
        "openstack:token",
        "openstack:applicationCredentialSecret",
    }
)
"""Settings that hold a credential: the provider settings terraform-provider-openstack v3.4.0 marks
``Sensitive: true`` (openstack/provider.go: password, token, application_credential_secret, camel-cased
by the bridge)."""
DEPLOY_ONLY_SETTINGS = frozenset({f"{PROJECT}:controllerSshKey"})
"""Credentials that must not be stack settings at all, encrypted or not. A stack's secrets provider has
one key, which every preview of the stack needs; the controllers' deploy key (root on them through sudo)
lives only in the deploy environment and reaches `pulumi up` through an ssh-agent (docs/state-backend.md)."""
_SECRET_NAME = re.compile(r"(?i)password|secret|token|private_?key|ssh_?key")
_PRIVATE_KEY = "PRIVATE KEY-----"


def _is_encrypted(value: object) -> bool:
    """A value `pulumi config set --secret` wrote: ``{secure: <ciphertext>}``."""
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def _plaintext_credentials(config: dict[str, object], label: str) -> Iterator[Problem]:
    """Credentials never belong in a committed stack file, only encrypted or in clouds.yaml."""
    fix_secret = "remove it and run `pulumi config set --secret --stack {stack} {key}` (stored encrypted)"
    fix_cloud = "; or keep it in the operator's clouds.yaml entry that openstack:cloud names"
    stack = paths.stack_of(label)
    for key, value in config.items():
        if key in DEPLOY_ONLY_SETTINGS:
            yield Problem(
                label,
                f"config.{key}",
                "the controllers' deploy key is not a stack setting, not even encrypted: whoever can "
                "decrypt the stack's config (every preview) would hold it; run "
                f"`pulumi config rm --stack {stack} {key}` and store the key as the secret "
                "CONTROLLER_SSH_KEY of the GitHub environment "
                f"production-{stack} (docs/state-backend.md, 'The controllers' deploy key')",
            )
            continue
        # `pulumi config set --secret --path 'key["name"]'` encrypts each leaf of an object.
        if _is_encrypted(value) or (
            isinstance(value, dict) and value and all(_is_encrypted(v) for v in value.values())
        ):
            continue
        name = key.rpartition(":")[2]
        if key in SECRET_SETTINGS or _SECRET_NAME.search(name):
            fix = fix_secret.format(stack=stack, key=key) + (
                fix_cloud if key.startswith("openstack:") else ""
            )
            yield Problem(label, f"config.{key}", f"a credential in plaintext; {fix}")
            continue
        pending: list[tuple[str, object]] = [(f"config.{key}", value)]
        while pending:
            path, item = pending.pop()
            if isinstance(item, str) and _PRIVATE_KEY in item:
                yield Problem(
                    label,
                    path,
                    "a private key in plaintext; never commit one: store it with `pulumi config set "
                    f"--secret --stack {stack} <key> < keyfile` and read it as a secret",
                )
            elif isinstance(item, dict):
                pending.extend((f"{path}.{k}", v) for k, v in item.items())
            elif isinstance(item, list):
                pending.extend((f"{path}[{i}]", v) for i, v in enumerate(item))


def read_stack_config(project_dir: Path, stack: str) -> dict[str, object]:
    """The ``config:`` map of a stack file, as the Pulumi CLI would hand it to the program."""
    label = stack_file(stack)
    path = project_dir / label
    if not path.exists():
        known = ", ".join(known_stacks(project_dir)) or "none"
        raise CatalogError([Problem(label, "", f"no such stack config; known stacks: {known}")])
    document = read_yaml(path, label)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise CatalogError([Problem(label, "config", "the file must hold a 'config:' mapping")])
    config = {str(k): v for k, v in document["config"].items()}
    problems = list(_plaintext_credentials(config, label))
    if problems:
        raise CatalogError(problems)
    return config


def _unique(values: list[str], what: str, label: str, path: Callable[[int], str]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first:
            yield Problem(
                label,
                path(index),
                f"{what} {value!r} is already used by "
                f"{path(first[value]).rsplit('.', 1)[0].rsplit('.', 1)[-1]}; names must be unique",
            )
        first.setdefault(value, index)


def _check_datacenter(dc: Datacenter, label: str) -> Iterator[Problem]:
    prefix = f"config.{DATACENTER_KEY}"
    for path, message in dc.problems():
        yield Problem(label, f"{prefix}.{path}", message)
    yield from _unique([h.name for h in dc.hosts], "host", label, lambda i: f"{prefix}.hosts[{i}].name")
    zones = set(dc.availability_zones)
    populated = {host.availability_zone for host in dc.hosts}
    for index, host in enumerate(dc.hosts):
        if host.availability_zone not in zones:
            yield Problem(
                label,
                f"{prefix}.hosts[{index}].availability_zone",
                f"zone {host.availability_zone!r} is not declared; declared: "
                f"{', '.join(dc.availability_zones)}",
            )
    for index, zone in enumerate(dc.availability_zones):
        if zone not in populated:
            yield Problem(
                label,
                f"{prefix}.availability_zones[{index}]",
                f"zone {zone!r} has no host; pods are spread over every zone: add hosts to it or remove it",
            )
    for index, reason in unusable_api_sources(dc.controllers, dc.sources):
        yield Problem(label, f"{prefix}.controllers.api_sources[{index}]", reason)
    if dc.cidr_pool.overlaps(dc.controllers.management.cidr):
        yield Problem(
            label,
            f"{prefix}.cidr_pool",
            f"{dc.cidr_pool} overlaps the management network {dc.controllers.management.cidr}; "
            "service subnets and the controllers' network must be disjoint",
        )
    for service, subnet in sorted(dc.subnets.items()):
        if not subnet.subnet_of(dc.cidr_pool):
            yield Problem(
                label, f"{prefix}.subnets.{service}", f"{subnet} is outside cidr_pool {dc.cidr_pool}"
            )
    owner: dict[str, str] = {}
    for domain, backends in sorted(dc.failure_domains.items()):
        for index, backend in enumerate(backends):
            if backend in owner:
                yield Problem(
                    label,
                    f"{prefix}.failure_domains.{domain}[{index}]",
                    f"backend {backend!r} is already in failure domain {owner[backend]!r}; "
                    "a backend belongs to exactly one",
                )
            owner.setdefault(backend, domain)


def parse_datacenter(raw: object, stack: str) -> Datacenter:
    label = stack_file(stack)
    if raw is None:
        raise CatalogError(
            [Problem(label, f"config.{DATACENTER_KEY}", "required; describe the datacenter here")]
        )
    datacenter = validate(Datacenter, raw, label, prefix=f"config.{DATACENTER_KEY}")
    problems = list(_check_datacenter(datacenter, label))
    if datacenter.name != stack:
        problems.append(
            Problem(label, f"config.{DATACENTER_KEY}.name", f"must equal the stack name {stack!r}")
        )
    if problems:
        raise CatalogError(problems)
    return datacenter


def _check_metrics(label: str, service: Service) -> Iterator[Problem]:
    """The metrics endpoint's roles exist, and an analysis reads application series only from a service
    that declares the endpoint: without it no job scrapes them, every wave would find no series, and
    every release would stop as "cannot judge"."""
    roles = [m.role for m in service.pods.members]
    endpoint = service.metrics
    if endpoint is not None and endpoint.roles is not None:
        yield from _unique(endpoint.roles, "role", label, lambda i: f"metrics.roles[{i}]")
        for index, role in enumerate(endpoint.roles):
            if role not in roles:
                yield Problem(
                    label,
                    f"metrics.roles[{index}]",
                    f"no pod member has role {role!r}; valid roles: {', '.join(roles)}",
                )
    if endpoint is not None:
        return
    analysis = service.rollout.analysis
    queries = [(f"metrics[{i}].query", m.query) for i, m in enumerate(analysis.metrics)]
    if analysis.requests is not None:
        queries.insert(0, ("requests", analysis.requests))
    for field, query in queries:
        unscraped = app_series(query)
        if unscraped:
            yield Problem(
                label,
                f"rollout.analysis.{field}",
                f"reads {', '.join(unscraped)}, which only the service's own metrics endpoint could "
                f"export, and it declares none, so no job scrapes them and every wave could not be "
                f"judged; add metrics: {{port: <port>, path: /metrics}} (scraped as job "
                f"{app_job(service.name)}, docs/monitoring.md), or judge on the health check's "
                f"{PROBE_SERIES_PREFIX}* series",
            )


def _check_service_shape(label: str, service: Service) -> Iterator[Problem]:
    """Problems inside one service file that involve several of its fields."""
    yield from _check_metrics(label, service)
    groups = service.volume_groups
    yield from _unique([g.name for g in groups], "volume group", label, lambda i: f"volume_groups[{i}].name")
    roles = [m.role for m in service.pods.members]
    for index, group in enumerate(groups):
        if group.attach_to is None:
            continue
        if group.attach_to not in roles:
            yield Problem(
                label,
                f"volume_groups[{index}].attach_to",
                f"no pod member has role {group.attach_to!r}; valid roles: {', '.join(roles)}",
            )
        elif group.replicas > service.pods.count:
            yield Problem(
                label,
                f"volume_groups[{index}].replicas",
                f"{group.replicas} replicas are attached one per pod but the service has "
                f"{service.pods.count} pods; lower replicas or raise pods.count",
            )


@functools.lru_cache(maxsize=4096)
def _parse_service(label: str, text: str) -> Service:
    # Keyed on the file's text: the offline plan validates before running the program, which
    # validates again as it must under the CLI; the second pass costs nothing.
    return validate(Service, parse_yaml(text, label), label)


def _name_mismatch(label: str, stem: str, service: Service) -> Problem:
    if _VALID_NAME.fullmatch(stem):
        fix = f"set name: {stem} or rename the file to {service.name}.yaml"
    else:
        fix = f"rename the file to {service.name}.yaml ({stem!r} is not a valid service name)"
    return Problem(label, "name", f"{service.name!r} must match the file name; {fix}")


_VALID_NAME = re.compile(r"[a-z][a-z0-9-]{0,38}[a-z0-9]")
"""The pattern of ``models.Name``: a file name suggested as a service name must satisfy it."""


def _read_catalog(project_dir: Path) -> tuple[list[tuple[str, Service]], list[Problem]]:
    """The services whose files are valid on their own, and every problem of the others."""
    folder = project_dir / CATALOG_DIR
    files = sorted(folder.glob("*.yaml"))
    if not files:
        return [], [Problem(f"{CATALOG_DIR}/", "", "no service files (*.yaml) found")]
    services: list[tuple[str, Service]] = []
    problems: list[Problem] = [
        Problem(
            f"{CATALOG_DIR}/{path.name}", "", f"only *.yaml files are read; rename it to {path.stem}.yaml"
        )
        for path in sorted(folder.glob("*.yml"))
    ]
    try:
        holds = read_holds(project_dir)
    except CatalogError as exc:
        return [], [*problems, *exc.problems]
    for path in files:
        label = f"{CATALOG_DIR}/{path.name}"
        try:
            # A held service is planned at its last good text (config/holds.py); any new text is refused.
            service = _parse_service(label, holds.resolve(path.stem, label, read_text(path, label)))
        except CatalogError as exc:
            problems.extend(exc.problems)
            continue
        shape = list(_check_service_shape(label, service))
        if service.name != path.stem:
            shape.append(_name_mismatch(label, path.stem, service))
        problems.extend(shape)
        services.append((label, service))
    problems.extend(_check_catalog(services))
    return services, problems


def _resource_names(service: Service) -> Iterator[tuple[str, str]]:
    """(kind, Pulumi name) of what the components register for ``service`` that another service's
    names could equal: same kind and name under the same parent types is the same URN."""
    name = service.name
    for suffix in ("net", "subnet", "router-interface", "sg", "from-members"):
        yield "network", f"{name}-{suffix}"
    # One anti-affinity group per service (components/service.py), not one per pod.
    yield "server group", naming.server_group(name)
    for index in range(service.pods.count):
        pod = naming.pod(name, index)
        yield "pod", pod
        for member in service.pods.members:
            for ordinal in range(member.count):
                yield "instance", naming.instance(pod, member.role, ordinal)
    for group in service.volume_groups:
        volume_group = naming.volume_group(name, group.name)
        yield "volume group", volume_group
        for replica in range(group.replicas):
            yield "volume", naming.replica(volume_group, replica)


def _check_catalog(services: list[tuple[str, Service]]) -> Iterator[Problem]:
    """Problems between catalog files (over the files that are valid on their own)."""
    by_name: dict[str, str] = {}
    for label, service in services:
        if service.name in by_name:
            yield Problem(
                label, "name", f"service {service.name!r} is already defined in {by_name[service.name]}"
            )
        by_name.setdefault(service.name, label)
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    reported: set[tuple[str, str]] = set()
    for label, service in services:
        for kind, name in _resource_names(service):
            first = owner.setdefault((kind, name), (label, service.name))
            if first[1] != service.name and (first[0], label) not in reported:
                reported.add((first[0], label))
                yield Problem(
                    label,
                    "name",
                    f"its {kind} {name!r} has the same resource name as one of service {first[1]!r} "
                    f"({first[0]}); they would be one resource: rename a service or a volume group",
                )


def load_catalog(project_dir: Path) -> list[tuple[str, Service]]:
    """Every service of catalog/*.yaml, validated; all files' problems are reported together."""
    services, problems = _read_catalog(project_dir)
    if problems:
        raise CatalogError(problems)
    return services


@dataclass(frozen=True)
class _Capacity:
    """What the per-service checks need of the host inventory, computed once per datacenter."""

    hosts_per_zone: dict[str, int]
    shapes: tuple[tuple[int, int, str], ...]
    """One (vCPUs, RAM MB, first host name) per distinct host size."""

    @classmethod
    def of(cls, dc: Datacenter) -> _Capacity:
        counts = dict.fromkeys(dc.availability_zones, 0)
        shapes: dict[tuple[int, int], str] = {}
        for host in dc.hosts:
            if host.availability_zone in counts:
                counts[host.availability_zone] += 1
            shapes.setdefault((host.vcpus, host.ram_mb), host.name)
        return cls(counts, tuple((cpu, ram, name) for (cpu, ram), name in shapes.items()))


def _check_service(label: str, service: Service, dc: Datacenter, capacity: _Capacity) -> Iterator[Problem]:
    """Problems of one service against the datacenter it is deployed to."""
    flavors, images = sorted(dc.flavors), sorted(dc.images)
    for i, member in enumerate(service.pods.members):
        if member.flavor not in dc.flavors:
            yield Problem(
                label,
                f"pods.members[{i}].flavor",
                f"flavor {member.flavor!r} is not offered in {dc.name}; valid: {', '.join(flavors)}",
            )
        if member.image not in dc.images:
            yield Problem(
                label,
                f"pods.members[{i}].image",
                f"image {member.image!r} is not offered in {dc.name}: add it to "
                f"config.{DATACENTER_KEY}.images in {stack_file(dc.name)}, with its entry in "
                "catalog/images/images.yaml (the stack imports it: docs/images.md) "
                f"(offered now: {', '.join(images)})",
            )
    for i, rule in enumerate(service.network.ingress):
        if rule.source not in dc.sources:
            yield Problem(
                label,
                f"network.ingress[{i}].source",
                f"unknown source {rule.source!r} in {dc.name}; valid: {', '.join(sorted(dc.sources))}",
            )
    for i, group in enumerate(service.volume_groups):
        if group.type not in dc.volume_types:
            yield Problem(
                label,
                f"volume_groups[{i}].type",
                f"volume type {group.type!r} is not offered in {dc.name}; "
                f"valid: {', '.join(sorted(dc.volume_types))}",
            )
        if group.replicas > len(dc.failure_domains):
            yield Problem(
                label,
                f"volume_groups[{i}].replicas",
                f"{group.replicas} replicas need {group.replicas} storage failure domains but {dc.name} "
                f"has {len(dc.failure_domains)} ({', '.join(sorted(dc.failure_domains))}); "
                f"use at most {len(dc.failure_domains)}",
            )
    yield from check_rollout(label, service, dc)
    spread = _pods_per_zone(service.pods.count, dc, capacity)
    crowded = [(zone, pods, hosts) for zone, (pods, hosts) in spread.items() if pods > hosts]
    if crowded:
        zone, pods, hosts = crowded[0]
        yield Problem(
            label,
            "pods.count",
            f"{service.pods.count} pods spread over {len(spread)} zones put {pods} in {zone}, which has "
            f"{hosts} hosts (two pods never share a host); use at most {_max_pods(dc, capacity)}",
        )
    roles = len(service.pods.members)
    needed = addresses_needed(service.pods.count, roles)
    if needed > 2 ** (32 - service.network.prefix_length):
        yield Problem(
            label,
            "network.prefix_length",
            f"{service.pods.count} pods x {roles} roles need {needed} addresses ({ROLE_SLOTS} per role and "
            f"pod, {RESERVED_ADDRESSES} reserved), more than a /{service.network.prefix_length} has; use a "
            f"prefix_length of at most {smallest_prefix(service.pods.count, roles)}",
        )
    known = [m for m in service.pods.members if m.flavor in dc.flavors]
    vcpus = sum(dc.flavors[m.flavor].vcpus * m.count for m in known)
    ram = sum(dc.flavors[m.flavor].ram_mb * m.count for m in known)
    # A pod's instances share one host: some single host must have both the vCPUs and the RAM.
    if not any(cpu >= vcpus and mem >= ram for cpu, mem, _ in capacity.shapes):
        cpu, mem, name = max(
            capacity.shapes, key=lambda s: (min(s[0] / max(vcpus, 1), s[1] / max(ram, 1)), s[2])
        )
        yield Problem(
            label,
            "pods.members",
            f"one pod needs {vcpus} vCPUs and {ram} MB RAM on a single host, but no host in {dc.name} has "
            f"both (the closest, {name}, has {cpu} vCPUs and {mem} MB); use smaller flavors or fewer "
            "instances per pod",
        )


def check_rollout(label: str, service: Service, dc: Datacenter) -> Iterator[Problem]:
    """A release must leave a pod serving, fit the deploy job's limit and check every role."""
    rollout, pods = service.rollout, service.pods.count
    if pods >= 2 and rollout.max_unavailable >= pods:
        yield Problem(
            label,
            "rollout.max_unavailable",
            f"{rollout.max_unavailable} of {pods} pods changed at once leaves none serving during a "
            f"release; use at most {pods - 1}",
        )
    slow = too_long(label, service)
    if slow is not None:
        yield slow
    roles = [m.role for m in service.pods.members]
    for role in sorted(set(rollout.roles) - set(roles)):
        yield Problem(
            label,
            f"rollout.roles.{role}",
            f"no pod member has role {role!r}; valid roles: {', '.join(roles)}",
        )
    unchecked = [r for r in roles if r not in rollout.roles]
    tcp = [rule for rule in service.network.ingress if rule.protocol == "tcp"]
    if unchecked and rollout.health_check is None and not tcp:
        yield Problem(
            label,
            "rollout.health_check",
            f"role(s) {', '.join(unchecked)} have no health check and the service admits no TCP port to "
            "check by default; add rollout.health_check (for example {protocol: tcp, port: 8080})",
        )


def _pods_per_zone(count: int, dc: Datacenter, capacity: _Capacity) -> dict[str, tuple[int, int]]:
    """Zone -> (pods the components put there, hosts it has); pod N goes to zone N modulo zones."""
    zones = dc.availability_zones
    return {
        zone: (count // len(zones) + (1 if index < count % len(zones) else 0), capacity.hosts_per_zone[zone])
        for index, zone in enumerate(zones)
    }


def _max_pods(dc: Datacenter, capacity: _Capacity) -> int:
    """Most pods that leave no zone with more pods than hosts: zone i's (h+1)-th pod is pod i + h*zones."""
    zones = dc.availability_zones
    return min(index + capacity.hosts_per_zone[zone] * len(zones) for index, zone in enumerate(zones))


def _grants(service: Service, dc: Datacenter) -> tuple[IngressGrant, ...]:
    """One grant per (protocol, ports, prefix); two rules admitting the same traffic make one."""
    grants: dict[tuple[str, int | None, int | None, str], IngressGrant] = {}
    for rule in service.network.ingress:
        low, high = rule.ports if rule.ports else (None, None)
        for prefix in dc.sources[rule.source]:
            grants.setdefault(
                (rule.protocol, low, high, str(prefix)),
                IngressGrant(
                    protocol=rule.protocol,
                    port_min=low,
                    port_max=high,
                    remote_prefix=str(prefix),
                    ethertype="IPv4" if prefix.version == 4 else "IPv6",
                    description=rule.description or f"{rule.protocol} from {rule.source}",
                ),
            )
    if service.metrics is not None and dc.monitoring is not None:
        # The monitoring nodes scrape the endpoint: admitted from their addresses only, like the deploy
        # runner on the checked ports (release.rollout.runner_grants), never from a declared source.
        port = service.metrics.port
        for node in dc.monitoring.nodes:
            grants.setdefault(
                ("tcp", port, port, f"{node}/32"),
                IngressGrant(
                    protocol="tcp",
                    port_min=port,
                    port_max=port,
                    remote_prefix=f"{node}/32",
                    ethertype="IPv4",
                    description=f"metrics of {service.name} scraped by the monitoring pair",
                ),
            )
    return tuple(grants.values())


PEER_SOURCE = "peer-dc"
"""The source range of the other datacenters: their stack files' ``cidr_pool``, derived, never written,
so a new datacenter's stack file is all it takes for every peer to admit it."""


def peer_pool(project_dir: Path, peer: str) -> Network:
    """All that planning another stack reads of ``peer``'s stack file: its ``cidr_pool`` (the
    ``peer-dc`` source), or the file's problems (CatalogError), which fail that plan."""
    return parse_datacenter(read_stack_config(project_dir, peer).get(DATACENTER_KEY), peer).cidr_pool


def _peer_pools(project_dir: Path, dc: Datacenter) -> tuple[dict[str, Network], list[Problem]]:
    """Stack -> pool of every other datacenter, and the problems of the peers' files.

    A peer whose stack file is unusable cannot be left out quietly: ``peer-dc`` would then lack its
    pool (locking it out of every service that admits peers) while this stack's plan looked complete.
    Its problems become this stack's, so nothing is written for either."""
    pools: dict[str, Network] = {}
    problems: list[Problem] = []
    for peer in known_stacks(project_dir):
        if peer == dc.name:
            continue
        try:
            pools[peer] = peer_pool(project_dir, peer)
        except CatalogError as error:
            problems.append(
                Problem(
                    stack_file(peer),
                    "",
                    f"unusable, so {dc.name}'s {PEER_SOURCE!r} source (every datacenter's cidr_pool) cannot "
                    f"be derived; fix this file (its problems follow) before planning {dc.name}",
                )
            )
            problems.extend(error.problems)
    return pools, problems


def _with_peer_source(dc: Datacenter, pools: dict[str, Network]) -> tuple[Datacenter, list[Problem]]:
    problems = []
    if PEER_SOURCE in dc.sources:
        problems.append(
            Problem(
                stack_file(dc.name),
                f"config.{DATACENTER_KEY}.sources.{PEER_SOURCE}",
                f"{PEER_SOURCE!r} is derived from the other stack files' cidr_pool "
                f"({', '.join(f'{peer}: {pool}' for peer, pool in pools.items()) or 'no other stack'}); "
                "remove it from this file",
            )
        )
    sources = {**dc.sources, PEER_SOURCE: list(pools.values())}
    return dc.model_copy(update={"sources": sources}), problems


def _check_pool_overlap(dc: Datacenter, pools: dict[str, Network]) -> Iterator[Problem]:
    for peer, pool in pools.items():
        if dc.cidr_pool.overlaps(pool):
            yield Problem(
                stack_file(dc.name),
                f"config.{DATACENTER_KEY}.cidr_pool",
                f"{dc.cidr_pool} overlaps {peer}'s pool {pool}; datacenter pools must be disjoint",
            )


def _check_pins(
    stack: str, dc: Datacenter, catalog: list[tuple[str, Service]], here: list[tuple[str, Service]]
) -> Iterator[Problem]:
    """A pin is kept for a removed service, but a pin that is a typo of an unpinned service would let
    that service's deployed subnet move: refuse a pin whose name is close to such a service."""
    known = {service.name for _, service in catalog}
    unpinned = [service.name for _, service in here if service.name not in dc.subnets]
    for name in sorted(dc.subnets):
        if name in known:
            continue
        close = difflib.get_close_matches(name, unpinned, n=1, cutoff=0.75)
        if close:
            yield Problem(
                stack_file(stack),
                f"config.{DATACENTER_KEY}.subnets.{name}",
                f"no catalog service is named {name!r}; did you mean {close[0]!r} (which has no pin, so "
                f"its subnet is allocated and can move)? Rename the key to {close[0]!r}",
            )


def _check_runner_source(stack: str, dc: Datacenter, here: list[tuple[str, Service]]) -> Iterator[Problem]:
    """Every pod is health-gated (first deployment and scale-out too), and the gate probes from the
    deploy runner, which the security groups admit only through this source: without it every gate
    times out and the first wave is as far as a deployment gets."""
    if here and DEPLOY_RUNNER_SOURCE not in dc.sources:
        yield Problem(
            stack_file(stack),
            f"config.{DATACENTER_KEY}.sources",
            f"no {DEPLOY_RUNNER_SOURCE!r} source: the health gates probe every pod from the deploy runner, "
            f"and the security groups admit only this source on the checked ports; add "
            f"{DEPLOY_RUNNER_SOURCE}: [<runner address>/32] (the address `pulumi up` runs from; needed by "
            f"{', '.join(label for label, _ in here)})",
        )


def _check_image_catalog(project_dir: Path, stack: str, datacenter: Datacenter) -> Iterator[Problem]:
    """Every image the stack offers is an entry of the image catalog (catalog/images/images.yaml), which
    pins it by its bytes (docs/images.md), and a signed one where the stack file says ``signed_images``;
    pod members' and proxies' images are checked against the offered list already. A checkout without
    an image catalog (a generated benchmark project) is not checked."""
    from webex_cloud.config.image_catalog import IMAGE_CATALOG, load_catalog

    if not (project_dir / IMAGE_CATALOG).is_file():
        return
    try:
        catalog = load_catalog(project_dir, [datacenter.controllers.management.cidr])
    except CatalogError as exc:
        yield from exc.problems
        return
    for i, name in enumerate(datacenter.images):
        entry = catalog.get(name)
        if entry is None:
            yield Problem(
                stack_file(stack),
                f"config.{DATACENTER_KEY}.images[{i}]",
                f"image {name!r} is not in {IMAGE_CATALOG}; add an entry for it there (name, source, "
                "sha256, formats, minimums: docs/images.md) or remove it here",
            )
        elif datacenter.signed_images and not entry.signature:
            yield Problem(
                stack_file(stack),
                f"config.{DATACENTER_KEY}.images[{i}]",
                f"image {name!r} has no signature in {IMAGE_CATALOG}, and this datacenter takes signed "
                "images only (signed_images: true); add its signature: {img_signature, "
                "img_signature_hash_method, img_signature_key_type, img_signature_certificate_uuid} there "
                "(docs/images.md), or offer a signed image here",
            )


def _check_receivers(stack: str, dc: Datacenter, here: list[tuple[str, Service]]) -> Iterator[Problem]:
    """Every alert is routed to its owner's receiver: an owner without one would be told nothing."""
    if dc.monitoring is None:
        return
    receivers = dc.monitoring.receivers
    owners: dict[str, str] = {dc.controllers.owner: f"controllers.owner ({stack_file(stack)})"}
    for label, service in here:
        owners.setdefault(service.owner, f"owner of {label}")
    for owner, whose in sorted(owners.items()):
        if owner not in receivers:
            hint = difflib.get_close_matches(owner, list(receivers), n=1, cutoff=0.6)
            yield Problem(
                stack_file(stack),
                f"config.{DATACENTER_KEY}.monitoring.receivers",
                f"no receiver for {owner!r} ({whose}); add receivers.{owner}: {{webhook: {{url: ...}}}} "
                f"or {{pagerduty: {{routing_key_file: ...}}}}"
                + (f" (or is {hint[0]!r} a typo of it?)" if hint else ""),
            )


def resolve(
    project_dir: Path, stack: str, datacenter: Datacenter, catalog: list[tuple[str, Service]]
) -> Deployment:
    """Check the catalog against ``datacenter`` and allocate subnets; raise all problems at once."""
    stacks = known_stacks(project_dir) or [stack]
    pools, problems = _peer_pools(project_dir, datacenter)
    problems.extend(_check_pool_overlap(datacenter, pools))
    datacenter, peer_problems = _with_peer_source(datacenter, pools)
    problems.extend(peer_problems)
    here: list[tuple[str, Service]] = []
    capacity = _Capacity.of(datacenter)
    for label, service in catalog:
        problems.extend(
            _unique(list(service.datacenters or []), "datacenter", label, lambda i: f"datacenters[{i}]")
        )
        for i, name in enumerate(service.datacenters or []):
            if name not in stacks:
                problems.append(
                    Problem(
                        label, f"datacenters[{i}]", f"unknown datacenter {name!r}; valid: {', '.join(stacks)}"
                    )
                )
        if service.datacenters is None or stack in service.datacenters:
            here.append((label, service))
            problems.extend(_check_service(label, service, datacenter, capacity))
    problems.extend(_check_pins(stack, datacenter, catalog, here))
    problems.extend(_check_runner_source(stack, datacenter, here))
    problems.extend(_check_image_catalog(project_dir, stack, datacenter))
    problems.extend(_check_receivers(stack, datacenter, here))
    if datacenter.placement.n_plus_one:
        problems.extend(
            spare_capacity_problems(here, datacenter, stack_file(stack), f"config.{DATACENTER_KEY}.hosts")
        )
    for name, pin in sorted(datacenter.subnets.items()):
        pinned_service = next((svc for _, svc in here if svc.name == name), None)
        if pinned_service is not None and pin.prefixlen != pinned_service.network.prefix_length:
            problems.append(
                Problem(
                    stack_file(stack),
                    f"config.{DATACENTER_KEY}.subnets.{name}",
                    f"pinned {pin} is a /{pin.prefixlen} but the catalog asks a "
                    f"/{pinned_service.network.prefix_length}; a resized subnet is a new one: update the pin",
                )
            )
        for other, other_pin in sorted(datacenter.subnets.items()):
            if other > name and pin.overlaps(other_pin):
                problems.append(
                    Problem(
                        stack_file(stack),
                        f"config.{DATACENTER_KEY}.subnets.{other}",
                        f"{other_pin} overlaps the subnet pinned for {name} ({pin})",
                    )
                )
    try:
        subnets = allocate_subnets(
            datacenter.cidr_pool,
            {service.name: service.network.prefix_length for _, service in here},
            dict(datacenter.subnets),
        )
    except PoolExhausted as exc:
        problems.append(
            Problem(
                stack_file(stack),
                f"config.{DATACENTER_KEY}.cidr_pool",
                f"{datacenter.cidr_pool} ({exc.available} addresses) cannot fit the catalog's "
                f"subnets ({exc.needed} addresses; no room for {exc.name!r}'s "
                f"/{exc.prefix_length}); use a larger pool or smaller prefix_length values",
            )
        )
        subnets = {}
    if problems:
        raise CatalogError(problems)
    services = tuple(
        ServiceDeployment(
            service=service,
            source_file=label,
            subnet=subnets[service.name],
            ingress=_grants(service, datacenter),
        )
        for label, service in sorted(here, key=lambda item: item[1].name)
    )
    return Deployment(
        stack=stack,
        datacenter=datacenter,
        services=services,
        catalog=tuple(s for _, s in sorted(catalog, key=lambda item: item[1].name)),
    )


def load_deployment(project_dir: Path, stack: str, raw_datacenter: object | None = None) -> Deployment:
    """Load and check everything one stack needs; every problem of every file is raised at once.

    ``raw_datacenter`` is the ``webex-cloud:datacenter`` config object as the Pulumi engine hands
    it over; when None it is read from the stack file (the offline tools' path). The stack file is
    read in both cases when it exists: the engine's value has lost how its numbers were written, and
    a form the CLI reads differently from the offline plan must stop both (see yaml_source).
    """
    problems: list[Problem] = []
    file_config: dict[str, object] | None = None
    if raw_datacenter is None or (project_dir / stack_file(stack)).exists():
        try:
            file_config = read_stack_config(project_dir, stack)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if raw_datacenter is None and file_config is not None:
        raw_datacenter = file_config.get(DATACENTER_KEY)
    datacenter: Datacenter | None = None
    if raw_datacenter is not None or file_config is not None:
        try:
            datacenter = parse_datacenter(raw_datacenter, stack)
        except CatalogError as exc:
            problems.extend(exc.problems)
    # Cross-file checks run over the files that passed their own schema, so one broken file does
    # not hide the problems of the others.
    catalog, catalog_problems = _read_catalog(project_dir)
    problems.extend(catalog_problems)
    deployment: Deployment | None = None
    if datacenter is not None:
        try:
            deployment = resolve(project_dir, stack, datacenter, catalog)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if problems or deployment is None:
        raise CatalogError(problems)
    return deployment
