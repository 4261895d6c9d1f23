"""dc1's offline plan, placed by the real schedulers of the loopback OpenStack, with and without our filters.

The placement-relevant resources of dc1's plan (``render_plan("dc1")``, rendered in-process) are created
through openstacksdk exactly as the plan describes them: every pod's ``affinity`` server group, every pod
instance with the plan's ``schedulerHints[0]`` (``group`` plus ``additionalProperties``; the plan's server
group IDs, in ``group`` and in the sibling list, replaced by the UUIDs the real groups got), flavor, image,
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
no deployment active). The same resources are all placed (the built-ins refuse nothing), every pod is
on one host (``ServerGroupAffinityFilter`` is a built-in) but nothing keeps replicas apart: Cinder's
stock filters and capacity weigher know nothing of failure domains, and the fake backends report
infinite capacity, so they pile up (and the third replica of a 3-replica group shares a domain with an
earlier one in any case: 3 replicas, 2 domains). Pods of a service often end up on distinct hosts even
without our filter, because Nova's RAM weigher spreads onto the emptiest host of the zone; whether some
service's pods collide depends on what earlier services left on the hosts. So the difference asserted
for this run as a whole is that the stock run breaks the rules somewhere — replicas of a group sharing a
failure domain, for certain — and every collision it shows is printed (``-s``).

Run 2 (``test_our_filters_...``): this checkout's filter wheel rolled out to both controllers by the
rolling deploy script (tests/integration/deploy.py); every pod on one host of its zone, no two pods of a
service on one host, no two replicas of a group in one failure domain, the surplus replicas refused.
Everything is deleted after each run; at the end the controllers are rolled back to what they ran before
(the environment's lock is held throughout).
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
from tests.integration.deploy import CONTROLLERS, Deployment, build_variant, deployment, state_of
from webex_cloud.controller import rolling_deploy as rd
from webex_cloud.plan.document import render_plan

STACK = "dc1"
#: The plan's availability zones, mapped onto the loopback's four fake hosts.
ZONE_HOSTS = {"dc1-az1": FAKE_HOSTS[:2], "dc1-az2": FAKE_HOSTS[2:]}
DOMAINS = sorted(set(BACKENDS.values()))
INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
#: How long one run may take to settle (a run takes well under a minute here).
RUN_TIMEOUT = 600


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
    """The instance's ``schedulerHints[0]`` as the provider sends it (``group`` and the additional
    properties side by side), with the plan's server group IDs replaced by the real ones."""
    (hint,) = inputs["schedulerHints"]
    assert set(hint) == {"group", "additionalProperties"}, f"a hint this test does not translate: {hint}"
    extra = dict(hint["additionalProperties"])
    siblings = hints.split_list(extra[hints.NOVA_SIBLING_GROUPS_HINT])
    extra[hints.NOVA_SIBLING_GROUPS_HINT] = hints.join_list(real_group[g] for g in siblings)
    return {"group": real_group[hint["group"]], **extra}


def cinder_hints(inputs: dict[str, Any]) -> dict[str, str]:
    (hint,) = inputs["schedulerHints"]
    assert set(hint) == {"additionalProperties"}, f"a hint this test does not translate: {hint}"
    return dict(hint["additionalProperties"])


# ----------------------------------------------------------------------------------------------------
# The loopback as dc1


@dataclass
class Dc1:
    plan: Plan
    admin: Any
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
            admin.identity.create_project(name=f"webex-plan-placement-{uuid.uuid4().hex[:8]}", domain_id="default")
        )
        admin.identity.assign_project_role_to_user(
            project, admin.identity.get_user(admin.current_user_id), admin.identity.find_role("admin")
        )
        conn = admin.connect_as_project({"id": project.id, "name": project.name, "domain_id": project.domain_id})
        flavors = {}
        for name in sorted({i["flavorName"] for i in instances}):
            size = datacenter["flavors"][name]
            flavor = admin.compute.find_flavor(name) or undo.flavor(
                admin.compute.create_flavor(name=name, vcpus=size["vcpus"], ram=size["ram_mb"], disk=size["disk_gb"])
            )
            assert expected_flavor(flavor, size), f"flavor {name} exists with other sizes than the plan's"
            flavors[name] = flavor
        images = {name: undo.image(ensure_image(conn, name)) for name in sorted({i["imageName"] for i in instances})}
        for name in sorted({v["volumeType"] for v in volumes}):
            vtype = admin.block_storage.find_type(name) or undo.volume_type(admin.block_storage.create_type(name=name))
            assert not vtype.extra_specs, f"volume type {name} exists with extra specs {vtype.extra_specs}"
        for zone, hosts in ZONE_HOSTS.items():
            existed = admin.compute.find_aggregate(zone)
            aggregate = ensure_availability_zone(admin, zone, list(hosts))
            if existed is None:
                undo.aggregate(aggregate)
        yield Dc1(plan, admin, conn, flavors, images)
    finally:
        undo.run()
