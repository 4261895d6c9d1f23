"""Load the catalog and one datacenter's config, check them against each other, resolve a Deployment.

All checks run before the program registers a single resource: a CatalogError here means
nothing was changed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from webex_cloud.config.addressing import RESERVED_ADDRESSES, ROLE_SLOTS, addresses_needed, smallest_prefix
from webex_cloud.config.api_sources import unusable_api_sources
from webex_cloud.config.capacity import spare_capacity_problems
from webex_cloud.config.cidr import PoolExhausted, allocate_subnets
from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.models import Datacenter, Service
from webex_cloud.config.resolved import Deployment, IngressGrant, ServiceDeployment
from webex_cloud.config.validation import validate
from webex_cloud.config.yaml_source import parse_yaml, read_text, read_yaml
from webex_cloud.paths import PROJECT

DATACENTER_KEY = f"{PROJECT}:datacenter"
CATALOG_DIR = "catalog"
STACKS_DIR = "stacks"


def stack_file(stack: str) -> str:
    """The stack config file of ``stack``, relative to the project."""
    return f"{STACKS_DIR}/Pulumi.{stack}.yaml"


def known_stacks(project_dir: Path) -> list[str]:
    """Stacks that have a config file under stacks/."""
    names = (p.name[len("Pulumi.") : -len(".yaml")] for p in (project_dir / STACKS_DIR).glob("Pulumi.*.yaml"))
    return sorted(names)


def read_stack_config(project_dir: Path, stack: str) -> dict[str, object]:
    """The ``config:`` map of a stack file, as the Pulumi CLI would hand it to the program."""
    label = stack_file(stack)
    path = project_dir / label
    if not path.is_file():
        known = ", ".join(known_stacks(project_dir)) or "none"
        raise CatalogError([Problem(label, "", f"no such stack config; known stacks: {known}")])
    document = read_yaml(path, label)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise CatalogError([Problem(label, "config", "the file must hold a 'config:' mapping")])
    return {str(k): v for k, v in document["config"].items()}


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
    yield from _unique([h.name for h in dc.hosts], "host", label, lambda i: f"{prefix}.hosts[{i}].name")
    for index, host in enumerate(dc.hosts):
        if host.availability_zone not in dc.availability_zones:
            yield Problem(
                label,
                f"{prefix}.hosts[{index}].availability_zone",
                f"zone {host.availability_zone!r} is not declared; declared: "
                f"{', '.join(dc.availability_zones)}",
            )
    for index, zone in enumerate(dc.availability_zones):
        if not any(host.availability_zone == zone for host in dc.hosts):
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


def _check_service_shape(label: str, service: Service) -> Iterator[Problem]:
    """Problems inside one service file that involve several of its fields."""
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


def load_catalog(project_dir: Path) -> list[tuple[str, Service]]:
    """Every service of catalog/*.yaml, validated; all files' problems are reported together."""
    files = sorted((project_dir / CATALOG_DIR).glob("*.yaml"))
    if not files:
        raise CatalogError([Problem(f"{CATALOG_DIR}/", "", "no service files (*.yaml) found")])
    services: list[tuple[str, Service]] = []
    problems: list[Problem] = [
        Problem(
            f"{CATALOG_DIR}/{path.name}", "", f"only *.yaml files are read; rename it to {path.stem}.yaml"
        )
        for path in sorted((project_dir / CATALOG_DIR).glob("*.yml"))
    ]
    for path in files:
        label = f"{CATALOG_DIR}/{path.name}"
        try:
            service = _parse_service(label, read_text(path, label))
        except CatalogError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(_check_service_shape(label, service))
        if service.name != path.stem:
            problems.append(Problem(label, "name", f"must match the file name: rename to {path.stem!r}"))
        services.append((label, service))
    by_name: dict[str, str] = {}
    for label, service in services:
        if service.name in by_name:
            problems.append(
                Problem(
                    label, "name", f"service {service.name!r} is already defined in {by_name[service.name]}"
                )
            )
        by_name.setdefault(service.name, label)
    if problems:
        raise CatalogError(problems)
    return services


def _check_service(label: str, service: Service, dc: Datacenter) -> Iterator[Problem]:
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
                f"image {member.image!r} is not offered in {dc.name}; valid: {', '.join(images)}",
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
    spread = _pods_per_zone(service.pods.count, dc)
    crowded = [(zone, pods, hosts) for zone, (pods, hosts) in spread.items() if pods > hosts]
    if crowded:
        zone, pods, hosts = crowded[0]
        yield Problem(
            label,
            "pods.count",
            f"{service.pods.count} pods spread over {len(spread)} zones put {pods} in {zone}, which has "
            f"{hosts} hosts (two pods never share a host); use at most {_max_pods(dc)}",
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
    largest_cpu = max(h.vcpus for h in dc.hosts)
    largest_ram = max(h.ram_mb for h in dc.hosts)
    if vcpus > largest_cpu or ram > largest_ram:
        yield Problem(
            label,
            "pods.members",
            f"one pod needs {vcpus} vCPUs and {ram} MB RAM on a single host, but the largest host in "
            f"{dc.name} has {largest_cpu} vCPUs and {largest_ram} MB; use smaller flavors or fewer "
            "instances per pod",
        )


def _pods_per_zone(count: int, dc: Datacenter) -> dict[str, tuple[int, int]]:
    """Zone -> (pods the components put there, hosts it has); pod N goes to zone N modulo zones."""
    zones = dc.availability_zones
    return {
        zone: (
            sum(1 for pod in range(count) if pod % len(zones) == index),
            sum(1 for host in dc.hosts if host.availability_zone == zone),
        )
        for index, zone in enumerate(zones)
    }


def _max_pods(dc: Datacenter) -> int:
    count = len(dc.hosts)
    while count > 0 and any(pods > hosts for pods, hosts in _pods_per_zone(count, dc).values()):
        count -= 1
    return count


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
    return tuple(grants.values())


def _check_pool_overlap(project_dir: Path, dc: Datacenter) -> Iterator[Problem]:
    for peer in known_stacks(project_dir):
        if peer == dc.name:
            continue
        try:
            peer_dc = parse_datacenter(read_stack_config(project_dir, peer).get(DATACENTER_KEY), peer)
        except CatalogError:
            continue  # the peer's own run reports its problems; here only the overlap matters
        if dc.cidr_pool.overlaps(peer_dc.cidr_pool):
            yield Problem(
                stack_file(dc.name),
                f"config.{DATACENTER_KEY}.cidr_pool",
                f"{dc.cidr_pool} overlaps {peer}'s pool {peer_dc.cidr_pool}; datacenter pools "
                "must be disjoint",
            )


def resolve(
    project_dir: Path, stack: str, datacenter: Datacenter, catalog: list[tuple[str, Service]]
) -> Deployment:
    """Check the catalog against ``datacenter`` and allocate subnets; raise all problems at once."""
    stacks = known_stacks(project_dir) or [stack]
    problems: list[Problem] = list(_check_pool_overlap(project_dir, datacenter))
    here: list[tuple[str, Service]] = []
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
            problems.extend(_check_service(label, service, datacenter))
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
    """Load and check everything one stack needs.

    ``raw_datacenter`` is the ``webex-cloud:datacenter`` config object as the Pulumi engine hands
    it over; when None it is read from the stack file (the offline tools' path).
    """
    if raw_datacenter is None:
        raw_datacenter = read_stack_config(project_dir, stack).get(DATACENTER_KEY)
    datacenter_error: CatalogError | None = None
    try:
        datacenter = parse_datacenter(raw_datacenter, stack)
    except CatalogError as exc:
        datacenter_error = exc
    try:
        catalog = load_catalog(project_dir)
    except CatalogError as exc:
        raise CatalogError(
            [*(datacenter_error.problems if datacenter_error else []), *exc.problems]
        ) from None
    if datacenter_error is not None:
        raise datacenter_error
    return resolve(project_dir, stack, datacenter, catalog)
