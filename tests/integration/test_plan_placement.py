"""dc1's offline plan, placed by the real schedulers of the loopback OpenStack, with and without our filters.

The placement-relevant resources of dc1's plan (``render_plan("dc1")``, rendered in-process) are created
through openstacksdk exactly as the plan describes them: every service's ``anti-affinity`` group of pod
anchors, every pod instance with the plan's ``schedulerHints[0]`` (``group`` on anchors plus
``additionalProperties``; the plan's server group ID replaced by the UUID the real group got), flavor, image,
availability zone and metadata, and every replica volume of every volume group with its hints (sent
top-level, as Cinder reads them), size, type and metadata. Creation follows the plan's ``dependsOn``
chain as ``pulumi up`` does: a resource starts once the resources it depends on are ACTIVE / available
(a pod's first instance after the previous pod's first instance, the pod's other instances after its
first, replica N after replica N-1); resources that do not depend on each other (other services, other
groups) run concurrently, as Pulumi runs them. Where each one landed is read back as the admin sees it:
``OS-EXT-SRV-ATTR:host`` and ``os-vol-host-attr:host``.

How dc1 is mapped onto the loopback (honestly, it is not dc1):

- Servers boot with no NIC (``networks='none'``): no Neutron agent binds ports here. The plan's ports
  are not part of placement.
- Flavors: the plan's own flavors (names and sizes of ``datacenter.flavors``), created in Nova if missing
  (an existing flavor of that name must have those sizes). The fake hosts are far larger than dc1's, so
  capacity never decides anything: only the filters (and weighers) do.
- Images: the plan's image names, created in Glance as 1 KiB raw images (the fake driver never reads them).
- Availability zones: dc1 has 8 hosts in ``dc1-az1``/``dc1-az2``; the loopback has 4. The zones are
  created as host aggregates of the same names, ``dc1-az1`` = fake-host-1, -2 and ``dc1-az2`` =
  fake-host-3, -4, so that the instances' ``availabilityZone`` inputs are used as they are. Pods alternate
  between the zones, so a service fits if it has at most two pods per zone: dc1's largest
  (meetings-media, 4 pods) fills all four hosts exactly. The test checks that every service fits before
  it starts; a catalog that no longer fits fails that check with the numbers instead of producing a
  "No valid host" that would look like a filter failure.
- Volume types: the plan's (``ssd``, ``capacity``), created without extra specs, so that a volume of
  either type may land on every backend (dc1's backends, one per type per rack, are not modelled).
- Failure domains: dc1 has three racks, the loopback two (``fd-a`` = storage-a@b1, @b2; ``fd-b`` =
  storage-b@b3). With our filter, a group's first two replicas must land in the two domains and every
  further replica (the third of ``messages`` and ``recordings``) must FAIL to schedule: it has no valid
  backend left, which is the correct answer (placing it would put two replicas in one domain).
- Isolation: everything is created in a project of its own (deleted at the end): the Cinder filter
  finds a group's placed replicas through volume metadata in the request's project, so nothing else on
  this shared cloud, nor a leftover of an interrupted run, can count as a sibling.

Run 1 (``test_stock_schedulers_...``): the schedulers' stock filter lists (the environment's baseline,
no deployment active). The same resources are all placed (the built-ins refuse nothing) and every pod is
on one host (``ServerGroupAffinityFilter`` is a built-in), but nothing keeps a service's pods or a
group's replicas apart. What the stock run breaks is not fixed: Nova's RAM weigher spreads the load of
all services, not the pods of one, so with the services created concurrently a pod often lands on the
host its sibling took because the other services loaded the other host of the zone, or not, depending
on timing; Cinder's capacity weigher (the fake backends report infinite capacity) sends replicas wherever
it points. Measured in three runs: 1, 3 and 2 services with two pods on one host; replicas over both
domains the first time (only the pigeonhole breaches below), every replica on storage-b@b3 the other two
(the two of search-index too). One thing is certain: a group with more replicas than the loopback has failure
domains (``messages``, ``recordings``: 3 replicas, 2 domains) gets all of them placed, so two share a
domain. The run as a whole is asserted to break the rules (and those groups to be among the breaches);
every breach is printed (``-s``).

Run 2 (``test_our_filters_...``): this checkout's filter wheel on both controllers, rolled out by the
rolling deploy script once for the session's tests on our filters (the ``our_filters`` fixture,
tests/integration/conftest.py, which also orders those tests after every other one); every pod on one
host of its zone, no two pods of a service on one host, no two replicas of a group in one failure
domain, the surplus replicas refused. Everything is deleted after each run; at the end of the session
the controllers are rolled back to what they ran before (the environment's lock is held throughout).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
from webex_scheduler_filters import hints

from tests.conftest import REPO
from tests.integration.conftest import (
    BACKENDS,
    FAKE_HOSTS,
    VOLUME_MICROVERSION,
    Cleanup,
    boot_server,
    create_volume,
    ensure_availability_zone,
    ensure_image,
    wait_for,
)
from tests.integration.deploy import CONTROLLERS, Deployment, deployment, state_of
from webex_cloud.facts.stand_ins import image_name as stand_in_name
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE, LOCAL_COMMAND, REMOTE_COMMAND, VOLUME, VOLUME_ATTACH

STACK = "dc1"
#: The plan's availability zones, mapped onto the loopback's four fake hosts.
ZONE_HOSTS = {"dc1-az1": FAKE_HOSTS[:2], "dc1-az2": FAKE_HOSTS[2:]}
DOMAINS = sorted(set(BACKENDS.values()))
#: How long one run may take to settle (measured: about a minute on 2 cores).
RUN_TIMEOUT = 600


def _image_name(inputs: dict[str, Any]) -> str:
    """The catalog image an instance of the offline plan boots (its id is a stand-in naming it)."""
    name = stand_in_name(inputs["imageId"])
    assert name is not None, f"the offline plan's image id {inputs['imageId']!r} is not a stand-in"
    return name


# ----------------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class Plan:
    doc: dict[str, Any]
    by_urn: dict[str, dict[str, Any]]

    @classmethod
    def render(cls) -> Plan:
        doc = render_plan(STACK, project_dir=REPO)
        return cls(doc, {r["urn"]: r for r in doc["resources"]})

    def pods(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(service, pod) in the plan's order: per service, the pods in creation order."""
        for service, entry in self.doc["services"].items():
            for pod in entry["pods"]:
                yield service, pod

    def volume_groups(self) -> Iterator[dict[str, Any]]:
        for entry in self.doc["services"].values():
            yield from entry.get("volume_groups", [])

    def creations(self) -> list[str]:
        """The URNs of every pod instance and replica volume, in the plan's order."""
        urns = [urn for _, pod in self.pods() for urn in pod["instances"]]
        return urns + [urn for group in self.volume_groups() for urn in group["replicas"]]

    def inputs(self, urn: str) -> dict[str, Any]:
        inputs: dict[str, Any] = self.by_urn[urn]["inputs"]
        return inputs


def nova_hints(inputs: dict[str, Any], real_group: dict[str, str]) -> dict[str, str]:
    """The instance's ``schedulerHints[0]`` as the provider sends it (``group``, on a pod's anchor only,
    and the additional properties side by side), with the plan's server group ID replaced by the real one."""
    (hint,) = inputs["schedulerHints"]
    assert set(hint) <= {"group", "additionalProperties"}, f"a hint this test does not translate: {hint}"
    extra = dict(hint["additionalProperties"])
    assert set(extra) == {hints.NOVA_POD_HINT}, f"a hint this test does not translate: {hint}"
    return {**({"group": real_group[hint["group"]]} if "group" in hint else {}), **extra}


def cinder_hints(inputs: dict[str, Any]) -> dict[str, str]:
    (hint,) = inputs["schedulerHints"]
    assert set(hint) == {"additionalProperties"}, f"a hint this test does not translate: {hint}"
    return dict(hint["additionalProperties"])


# ----------------------------------------------------------------------------------------------------
# The loopback as dc1


@dataclass
class Dc1:
    plan: Plan
    conn: Any
    """Admin connection scoped to the test's own project (where everything of a run is created)."""
    flavors: dict[str, Any]
    images: dict[str, Any]


def expected_flavor(flavor: Any, size: dict[str, int]) -> bool:
    return (flavor.vcpus, flavor.ram, flavor.disk) == (size["vcpus"], size["ram_mb"], size["disk_gb"])


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The environment's lock for the whole module; at the end, the controllers as they were found."""
    with deployment(tmp_path_factory.mktemp("plan-placement")) as deploy:
        yield deploy
    print("\nplan-placement timings (s):")
    for what, seconds in deploy.timings.items():
        print(f"  {seconds:7.1f}  {what}")


@pytest.fixture(scope="module")
def dc1(openstack_conn: Any, controllers: Deployment) -> Iterator[Dc1]:
    admin = openstack_conn
    plan = Plan.render()
    datacenter = plan.doc["datacenter"]
    assert sorted(datacenter["availability_zones"]) == sorted(ZONE_HOSTS)
    pods_per_zone = Counter(
        (service, plan.inputs(pod["instances"][0])["availabilityZone"]) for service, pod in plan.pods()
    )
    for (service, zone), count in pods_per_zone.items():
        assert count <= len(ZONE_HOSTS[zone]), (
            f"{service} has {count} pods in {zone}, the loopback has {len(ZONE_HOSTS[zone])} hosts there: "
            "the plan no longer fits this test's mapping (see the module docstring)"
        )
    instances = [plan.inputs(urn) for _, pod in plan.pods() for urn in pod["instances"]]
    volumes = [plan.inputs(urn) for group in plan.volume_groups() for urn in group["replicas"]]
    undo = Cleanup(admin)
    try:
        project = undo.project(
            admin.identity.create_project(
                name=f"webex-plan-placement-{uuid.uuid4().hex[:8]}", domain_id="default"
            )
        )
        admin.identity.assign_project_role_to_user(
            project, admin.identity.get_user(admin.current_user_id), admin.identity.find_role("admin")
        )
        conn = admin.connect_as_project(
            {"id": project.id, "name": project.name, "domain_id": project.domain_id}
        )
        flavors = {}
        for name in sorted({i["flavorName"] for i in instances}):
            size = datacenter["flavors"][name]
            flavor = admin.compute.find_flavor(name) or undo.flavor(
                admin.compute.create_flavor(
                    name=name, vcpus=size["vcpus"], ram=size["ram_mb"], disk=size["disk_gb"]
                )
            )
            assert expected_flavor(flavor, size), f"flavor {name} exists with other sizes than the plan's"
            flavors[name] = flavor
        images = {
            name: undo.image(ensure_image(conn, name)) for name in sorted({_image_name(i) for i in instances})
        }
        for name in sorted({v["volumeType"] for v in volumes}):
            vtype = admin.block_storage.find_type(name) or undo.volume_type(
                admin.block_storage.create_type(name=name)
            )
            assert not vtype.extra_specs, f"volume type {name} exists with extra specs {vtype.extra_specs}"
        for zone, hosts in ZONE_HOSTS.items():
            existed = admin.compute.find_aggregate(zone)
            aggregate = ensure_availability_zone(admin, zone, list(hosts))
            if existed is None:
                undo.aggregate(aggregate)
        yield Dc1(plan, conn, flavors, images)
    finally:
        undo.run()


# ----------------------------------------------------------------------------------------------------
# One run: create, observe, delete


@dataclass(frozen=True)
class Landed:
    """Where one pod instance or replica ended up."""

    status: str
    """ACTIVE / ERROR (a server), available / error (a volume), or "not created" (a dependency failed)."""
    where: str | None
    """The compute host, or the Cinder backend ``host@backend`` (the pool dropped)."""
    reason: str = ""
    """Why it failed: the server's fault, or the volume's Cinder user message."""

    @property
    def placed(self) -> bool:
        return self.status in ("ACTIVE", "available")


def volume_failure(conn: Any, volume_id: str) -> str:
    """Cinder's user message about a volume (the scheduler writes it before it sets the volume to error)."""
    response = conn.block_storage.get(
        "/messages", params={"resource_uuid": volume_id}, microversion=VOLUME_MICROVERSION
    )
    return "; ".join(m["user_message"] for m in response.json()["messages"])


def place(dc1: Dc1) -> dict[str, Landed]:
    """Create the plan's server groups, then its pod instances and replicas along the plan's
    ``dependsOn`` chain (each one once everything it depends on is ACTIVE / available), and return where
    each landed, by URN."""
    plan, conn = dc1.plan, dc1.conn
    real_group = {}
    for _, pod in plan.pods():
        group = plan.by_urn[pod["server_group"]]
        if group["id"] in real_group:
            continue  # the service's anchor group, shared by its pods
        created = conn.compute.create_server_group(
            name=group["inputs"]["name"], policy=group["inputs"]["policies"]
        )
        real_group[group["id"]] = created.id
    order = plan.creations()
    creating = set(order)

    def waits_for(urn: str) -> set[str]:
        """The pods and replicas ``urn`` waits for. A release's health gate stands between two waves
        and passes once its wave (instances and their volume attachments) is up: its probe and the
        attachments are not what this test is about, so waiting for them is waiting for what they
        wait for. The controllers' filter rollout, which each service's first pod waits for, is this
        test's own step (the ``controllers`` fixture; the stock run keeps the schedulers as found)."""
        found: set[str] = set()
        for dep in plan.by_urn[urn]["dependsOn"]:
            if dep in creating:
                found.add(dep)
            elif plan.by_urn[dep]["type"] == REMOTE_COMMAND:
                continue
            else:
                assert plan.by_urn[dep]["type"] in (LOCAL_COMMAND, VOLUME_ATTACH), f"{urn} waits for {dep}"
                found |= waits_for(dep)
        return found

    after = {urn: sorted(waits_for(urn)) for urn in order}
    started: dict[str, str] = {}
    landed: dict[str, Landed] = {}

    def start(urn: str) -> str:
        resource = plan.by_urn[urn]
        inputs = resource["inputs"]
        if resource["type"] == INSTANCE:
            server = boot_server(
                conn,
                inputs["name"],
                flavor=dc1.flavors[inputs["flavorName"]],
                image=dc1.images[_image_name(inputs)],
                scheduler_hints=nova_hints(inputs, real_group),
                availability_zone=inputs["availabilityZone"],
                metadata=inputs["metadata"],
                wait=False,
            )
            return str(server.id)
        assert resource["type"] == VOLUME
        volume = create_volume(
            conn,
            inputs["name"],
            size_gb=inputs["size"],
            volume_type=inputs["volumeType"],
            scheduler_hints=cinder_hints(inputs),
            metadata=inputs["metadata"],
            availability_zone=inputs.get("availabilityZone"),
            wait=False,
        )
        return str(volume.id)

    def advance() -> bool | None:
        for urn in order:
            if urn in started or urn in landed or not all(d in landed for d in after[urn]):
                continue
            if all(landed[d].placed for d in after[urn]):
                started[urn] = start(urn)
            else:
                landed[urn] = Landed("not created", None, "a resource it depends on failed")
        servers = {s.id: s for s in conn.compute.servers(details=True)}
        volumes = {v.id: v for v in conn.block_storage.volumes(details=True)}
        for urn, ident in started.items():
            if urn in landed:
                continue
            if ident in servers and servers[ident].status in ("ACTIVE", "ERROR"):
                server = servers[ident]
                landed[urn] = Landed(
                    server.status, server.compute_host, (server.fault or {}).get("message", "")
                )
            elif ident in volumes and volumes[ident].status in ("available", "error"):
                volume = volumes[ident]
                failure = volume_failure(conn, ident) if volume.status == "error" else ""
                landed[urn] = Landed(volume.status, (volume.host or "").split("#")[0] or None, failure)
        return True if len(landed) == len(order) else None

    wait_for(f"{STACK}'s pods and replicas to settle", advance, timeout=RUN_TIMEOUT)
    return landed


def purge(conn: Any) -> None:
    """Delete every server, volume and server group of the test's project and wait until they are gone."""

    def servers_gone() -> bool | None:
        servers = list(conn.compute.servers())
        for server in servers:
            conn.compute.delete_server(server, ignore_missing=True)
        return None if servers else True

    def volumes_gone() -> bool | None:
        volumes = list(conn.block_storage.volumes())
        for volume in volumes:
            if volume.status in ("available", "error"):
                conn.block_storage.delete_volume(volume, ignore_missing=True)
        return None if volumes else True

    wait_for("the run's servers to be deleted", servers_gone, timeout=300)
    wait_for("the run's volumes to be deleted", volumes_gone, timeout=300)
    for group in conn.compute.server_groups():
        conn.compute.delete_server_group(group, ignore_missing=True)


def run(dc1: Dc1, label: str, timings: dict[str, float]) -> dict[str, Landed]:
    started = time.monotonic()
    try:
        landed = place(dc1)
        timings[f"{label}: {len(landed)} pod instances and replicas placed"] = time.monotonic() - started
    finally:
        deleting = time.monotonic()
        purge(dc1.conn)
        timings[f"{label}: everything deleted"] = time.monotonic() - deleting
    report(dc1.plan, label, landed)
    return landed


# ----------------------------------------------------------------------------------------------------
# What a run shows


def domain(backend: str | None) -> str | None:
    return BACKENDS.get(backend or "")


def pod_hosts(plan: Plan, landed: dict[str, Landed]) -> dict[str, dict[str, set[str | None]]]:
    """service -> pod -> the hosts its instances landed on."""
    hosts: dict[str, dict[str, set[str | None]]] = {}
    for service, pod in plan.pods():
        hosts.setdefault(service, {})[pod["name"]] = {landed[urn].where for urn in pod["instances"]}
    return hosts


def violations(plan: Plan, landed: dict[str, Landed]) -> list[str]:
    """Every broken placement rule: a pod split over hosts, two pods of a service sharing a host, two
    placed replicas of a volume group sharing a failure domain."""
    found = []
    for service, pods in pod_hosts(plan, landed).items():
        for pod, hosts in pods.items():
            if len(hosts) != 1:
                found.append(f"{pod} is split over {sorted(map(str, hosts))}")
        for (one, one_hosts), (other, other_hosts) in combinations(pods.items(), 2):
            if one_hosts & other_hosts:
                found.append(
                    f"{service}: {one} and {other} share {sorted(map(str, one_hosts & other_hosts))}"
                )
    for group in plan.volume_groups():
        replicas = [(plan.by_urn[urn]["name"], landed[urn]) for urn in group["replicas"]]
        for (one, a), (other, b) in combinations(replicas, 2):
            if a.placed and b.placed and domain(a.where) == domain(b.where):
                found.append(f"{group['key']}: {one} and {other} share failure domain {domain(a.where)}")
    return found


def report(plan: Plan, label: str, landed: dict[str, Landed]) -> None:
    print(f"\n{label}:")
    for service, pods in pod_hosts(plan, landed).items():
        print(
            f"  {service}: "
            + ", ".join(f"{pod} -> {'/'.join(sorted(map(str, h)))}" for pod, h in pods.items())
        )
    for group in plan.volume_groups():
        placed = [landed[urn] for urn in group["replicas"]]
        print(
            f"  {group['key']}: "
            + ", ".join(f"{r.where} ({domain(r.where)})" if r.placed else r.status for r in placed)
        )
    for problem in violations(plan, landed):
        print(f"  VIOLATION {problem}")


# ----------------------------------------------------------------------------------------------------
# The two runs, in order: stock first (the controllers as found), then ours


def test_stock_schedulers_let_replicas_share_a_failure_domain(dc1: Dc1, controllers: Deployment) -> None:
    found = {c: state_of(c).fragments for c in CONTROLLERS}
    assert found == dict.fromkeys(CONTROLLERS, (None, None)), (
        "this run needs the schedulers' stock filter lists, but a filter deployment is active "
        f"(fragments on {sorted(c for c, f in found.items() if f != (None, None))}); an interrupted run "
        "leaves one behind: stop the loopback and start it again (down.sh, then up.sh, which starts stopped "
        "controllers on the stock filters; "
        "docs/openstack-loopback.md)"
    )
    landed = run(dc1, "stock filters", controllers.timings)
    plan = dc1.plan
    # The built-ins refuse nothing here (the anchors' anti-affinity group is the only rule they know;
    # a pod's members follow their anchor only through our PodFilter, docs/scheduler-filters.md) ...
    assert {urn: land.status for urn, land in landed.items() if not land.placed} == {}
    # ... and nothing keeps replicas apart: every group with more replicas than the loopback has failure
    # domains shares one (3 replicas, 2 domains, none refused), and the run as a whole breaks the rules.
    broken = violations(plan, landed)
    for group in plan.volume_groups():
        if len(group["replicas"]) > len(DOMAINS):
            assert any(problem.startswith(f"{group['key']}: ") for problem in broken), group["key"]
    assert broken


def test_our_filters_keep_pods_apart_and_replicas_in_distinct_failure_domains(
    dc1: Dc1, controllers: Deployment, our_filters: Deployment
) -> None:
    landed = run(dc1, "our filters", controllers.timings)
    plan = dc1.plan

    instances = [urn for _, pod in plan.pods() for urn in pod["instances"]]
    assert {plan.by_urn[u]["name"]: landed[u] for u in instances if landed[u].status != "ACTIVE"} == {}
    for _, pod in plan.pods():
        zone = plan.inputs(pod["instances"][0])["availabilityZone"]
        assert {landed[urn].where for urn in pod["instances"]} <= set(ZONE_HOSTS[zone]), pod["name"]
    for group in plan.volume_groups():
        replicas = [landed[urn] for urn in group["replicas"]]
        spread, surplus = replicas[: len(DOMAINS)], replicas[len(DOMAINS) :]
        assert [r.status for r in spread] == ["available"] * len(spread), group["key"]
        assert len({domain(r.where) for r in spread}) == len(spread), group["key"]
        # The plan's third failure domain does not exist here: no valid backend is the correct answer.
        for refused in surplus:
            assert refused.status == "error", group["key"]
            assert "Could not find any available weighted backend" in refused.reason, refused
    assert violations(plan, landed) == []
