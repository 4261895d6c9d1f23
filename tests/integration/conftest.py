"""The integration tier: tests against the real loopback OpenStack (tools/openstack-loopback).

Every test under tests/integration is marked ``integration``. With WEBEX_FAST_TESTS=1 (the fast tier)
they are skipped; otherwise a missing or broken environment fails them, with a message saying how to
start it (``bash tools/openstack-loopback/up.sh``).

Helpers for the other tests: ``boot_server`` (no NIC; a server on a port boots too, its port left
unbound by the loopback's driver: test_monitoring_end_to_end.py),
``create_volume`` (Cinder scheduler hints at the top level of the request), ``ensure_flavor``,
``ensure_image``, ``ensure_external_network``, ``ensure_availability_zone``, ``wait_for``,
``settled_server``/``settled_volume``, and ``Cleanup`` (the ``cleanup`` fixture). The admin connection sees
where things landed: ``server.compute_host`` (``OS-EXT-SRV-ATTR:host``) and ``volume.host``
(``os-vol-host-attr:host``, ``host@backend#pool``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import openstack
import pytest
from openstack import exceptions
from openstack.config import loader

from tests.conftest import fast_tier

if TYPE_CHECKING:
    from tests.integration.deploy import Deployment

HERE = Path(__file__).resolve().parent
LOOPBACK_ROOT = Path(os.environ.get("WEBEX_LOOPBACK_ROOT", "/var/lib/webex-loopback"))
CLOUDS_YAML = LOOPBACK_ROOT / "clouds.yaml"
CLOUD = "loopback"
START_HINT = "start it with `bash tools/openstack-loopback/up.sh` (see docs/openstack-loopback.md)"
#: 2.37+ accepts ``networks='none'``; 2.74 is the newest the prototype was measured with (Zed has 2.93).
COMPUTE_MICROVERSION = "2.74"
#: Cinder 3.x; the scheduler hints extension has no microversion of its own.
VOLUME_MICROVERSION = "3.60"

#: Documentation range (RFC 5737) for the external networks' subnets, which only ever exist as API objects.
EXTERNAL_CIDR = "198.51.100.0/24"
#: The environment's fixed topology (tools/openstack-loopback/up.sh and etc/cinder.conf).
#: The four hosts the plan tests zone as dc1-az1 / dc1-az2 ...
FAKE_HOSTS = ("fake-host-1", "fake-host-2", "fake-host-3", "fake-host-4")
#: ... and two spare ones in the default zone: a lost or drained host's pod needs a free host to go to.
SPARE_HOSTS = ("fake-host-5", "fake-host-6")
#: Every nova-compute of the loopback (``COMPUTES`` in tools/openstack-loopback/lib.sh).
COMPUTE_HOSTS = FAKE_HOSTS + SPARE_HOSTS
#: Cinder backend (``host@backend``) -> failure domain it reports in ``extra_capabilities``.
BACKENDS = {"storage-a@b1": "fd-a", "storage-a@b2": "fd-a", "storage-b@b3": "fd-b"}
#: The backends named after the volume type ``ssd`` (the plan's convention: a type selects the backends
#: named after it), one cinder-volume each, in Cinder's availability zone ``SSD_ZONE``: no volume created
#: without that zone (every other test's) lands there. Two in fd-a, so a replica there can leave its
#: backend and keep its spread.
SSD_BACKENDS = {"ssd-a1@ssd": "fd-a", "ssd-a2@ssd": "fd-a", "ssd-b1@ssd": "fd-b"}
SSD_ZONE = "az-ssd"
T = TypeVar("T")


#: The session fixture that rolls this checkout's filters out to both controllers (``our_filters``).
OUR_FILTERS = "our_filters"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item of the session: only this folder's are ours.
    skip = pytest.mark.skip(reason="fast tier (WEBEX_FAST_TESTS=1): needs the loopback OpenStack")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
            if fast_tier():
                item.add_marker(skip)
    # The tests on our filters run last, on one rollout that lasts to the end of the session, and every
    # other test (stock schedulers, or a deployment of its own) before it. A stable sort: file order
    # otherwise.
    items.sort(key=lambda item: OUR_FILTERS in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session", autouse=True)
def one_process() -> None:
    """Refuse to run on pytest-xdist workers: each would hold its own session rollout of our filters under
    the environment's lock while another worker's deployment waits for that lock, a hang."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.fail(
            "the integration tests share one loopback cloud in a set order: run them in one process, "
            "without -n/--numprocesses (only the fast tier, WEBEX_FAST_TESTS=1, spreads over workers)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def our_filters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """This checkout's filter wheel on both controllers (the rolling deploy script), once for every test
    that needs it; at the end of the session the controllers are rolled back to what they ran before."""
    from tests.integration.deploy import roll_out_our_filters

    yield from roll_out_our_filters(tmp_path_factory.mktemp("our-filters"))


@pytest.fixture(scope="session")
def openstack_conn() -> Iterator[Any]:
    """An admin connection to the loopback cloud (cloud ``loopback`` of the clouds.yaml up.sh wrote)."""
    if not CLOUDS_YAML.is_file():
        pytest.fail(f"no loopback OpenStack: {CLOUDS_YAML} is missing; {START_HINT}", pytrace=False)
    config = loader.OpenStackConfig(config_files=[str(CLOUDS_YAML)])
    region = config.get_one(
        cloud=CLOUD,
        compute_api_version=COMPUTE_MICROVERSION,
        block_storage_api_version=VOLUME_MICROVERSION,
    )
    conn = openstack.connection.Connection(config=region)
    try:
        conn.authorize()
        conn.compute.get("/os-services").raise_for_status()
    except Exception as exc:
        pytest.fail(f"the loopback OpenStack does not answer ({exc}); {START_HINT}", pytrace=False)
    yield conn
    conn.close()


def ensure_flavor(
    conn: Any, name: str = "loopback.tiny", vcpus: int = 1, ram_mb: int = 64, disk_gb: int = 1
) -> Any:
    """A flavor by name, created if missing (the fake hosts have 1000 vCPUs and 800 GB RAM each)."""
    flavor = conn.compute.find_flavor(name)
    return flavor or conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram_mb, disk=disk_gb)


def ensure_image(conn: Any, name: str = "loopback-tiny") -> Any:
    """A 1 KiB raw image by name: the fake virt driver never reads it."""
    image = conn.image.find_image(name)
    if image is None:
        image = conn.create_image(
            name, data=b"\0" * 1024, disk_format="raw", container_format="bare", wait=True
        )
    return image


def ensure_external_network(conn: Any, name: str) -> Any:
    """A datacenter's external network by name (what the program looks up), created if missing: a flat
    provider network on a physical network of the same name, with an IPv4 subnet. An API object only:
    no agent runs here, so nothing is ever sent on it."""
    network = conn.network.find_network(name, is_router_external=True)
    if network is None:
        network = conn.network.create_network(
            name=name, is_router_external=True, provider_network_type="flat", provider_physical_network=name
        )
        conn.network.create_subnet(
            network_id=network.id, name=name, cidr=EXTERNAL_CIDR, ip_version=4, is_dhcp_enabled=False
        )
    return network


def ensure_availability_zone(conn: Any, name: str, hosts: list[str]) -> Any:
    """A Nova availability zone of these fake hosts: a host aggregate named and zoned ``name`` (Nova
    mirrors the membership into placement, which is where Zed filters zones). All hosts start in the
    default zone ``nova``; a host can be in only one zone, so remove it from another zone's aggregate
    first (``conn.compute.remove_host_from_aggregate``)."""
    aggregate = conn.compute.find_aggregate(name) or conn.compute.create_aggregate(
        name=name, availability_zone=name
    )
    for host in hosts:
        if host not in (aggregate.hosts or []):
            aggregate = conn.compute.add_host_to_aggregate(aggregate, host)
    return aggregate


def boot_server(
    conn: Any,
    name: str,
    *,
    flavor: Any,
    image: Any,
    scheduler_hints: Mapping[str, Any] | None = None,
    availability_zone: str | None = None,
    metadata: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 120,
) -> Any:
    """Boot a server with no NIC (``networks='none'``): the tests of placement need no address. With
    ``wait``, returns it ACTIVE (raises if it went to ERROR, e.g. "No valid host was found");
    ``server.compute_host`` is where it landed."""
    attrs: dict[str, Any] = {"name": name, "flavor_id": flavor.id, "image_id": image.id, "networks": "none"}
    if scheduler_hints:
        attrs["scheduler_hints"] = dict(scheduler_hints)
    if availability_zone:
        attrs["availability_zone"] = availability_zone
    if metadata:
        attrs["metadata"] = dict(metadata)
    server = conn.compute.create_server(**attrs)
    return conn.compute.wait_for_server(server, wait=timeout) if wait else server


def create_volume(
    conn: Any,
    name: str,
    *,
    size_gb: int = 1,
    volume_type: str | None = None,
    scheduler_hints: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
    availability_zone: str | None = None,
    wait: bool = True,
    timeout: float = 120,
) -> Any:
    """Create a volume with the scheduler hints at the top level of the request body, as Cinder
    expects them (``OS-SCH-HNT:scheduler_hints`` beside ``volume``). Written out here rather than left
    to the SDK: Zed's openstacksdk nested them inside ``volume`` (400 "Additional properties are not
    allowed"). With ``wait``, returns it available (raises if it went to error, e.g. no valid backend);
    ``volume.host`` is ``host@backend#pool``."""
    volume: dict[str, Any] = {"name": name, "size": size_gb}
    if volume_type:
        volume["volume_type"] = volume_type
    if metadata:
        volume["metadata"] = dict(metadata)
    if availability_zone:
        volume["availability_zone"] = availability_zone
    body: dict[str, Any] = {"volume": volume}
    if scheduler_hints:
        body["OS-SCH-HNT:scheduler_hints"] = dict(scheduler_hints)
    response = conn.block_storage.post("/volumes", json=body, microversion=VOLUME_MICROVERSION)
    exceptions.raise_from_response(response)  # an SDK HttpException carrying Cinder's message
    created = conn.block_storage.get_volume(response.json()["volume"]["id"])
    if not wait:
        return created
    return conn.block_storage.wait_for_status(created, "available", failures=["error"], wait=timeout)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
    """Poll ``probe`` every second until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def settled_server(conn: Any, server_id: str) -> Any:
    def probe() -> Any:
        server = conn.compute.get_server(server_id)
        return server if server.status in ("ACTIVE", "ERROR") else None

    return wait_for(f"server {server_id}", probe)


def settled_volume(conn: Any, volume_id: str) -> Any:
    def probe() -> Any:
        volume = conn.block_storage.get_volume(volume_id)
        return volume if volume.status in ("available", "error") else None

    return wait_for(f"volume {volume_id}", probe)


@pytest.fixture
def cleanup(openstack_conn: Any) -> Iterator[Cleanup]:
    """Deletes, after the test and newest first, what the test created."""
    undo = Cleanup(openstack_conn)
    yield undo
    undo.run()


class Cleanup:
    """Undo actions of what a test created, registered as it creates them (each method returns its
    argument) and run newest first by ``run``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.actions: list[Callable[[], object]] = []

    def run(self) -> None:
        """Every action, newest first, even when an earlier one fails (the first failure is raised)."""
        failure: BaseException | None = None
        while self.actions:
            try:
                self.actions.pop()()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def server(self, server: Any) -> Any:
        compute = self.conn.compute
        self.actions.append(lambda: compute.wait_for_delete(compute.delete_server(server) or server, wait=60))
        return server

    def server_group(self, group: Any) -> Any:
        self.actions.append(lambda: self.conn.compute.delete_server_group(group, ignore_missing=True))
        return group

    def volume(self, volume: Any) -> Any:
        storage = self.conn.block_storage
        self.actions.append(lambda: storage.wait_for_delete(storage.delete_volume(volume) or volume, wait=60))
        return volume

    def aggregate(self, aggregate: Any) -> Any:
        compute = self.conn.compute

        def delete() -> None:
            for host in compute.get_aggregate(aggregate).hosts or []:
                compute.remove_host_from_aggregate(aggregate, host)
            compute.delete_aggregate(aggregate)

        self.actions.append(delete)
        return aggregate

    def volume_type(self, vtype: Any) -> Any:
        self.actions.append(lambda: self.conn.block_storage.delete_type(vtype, ignore_missing=True))
        return vtype

    def flavor(self, flavor: Any) -> Any:
        self.actions.append(lambda: self.conn.compute.delete_flavor(flavor, ignore_missing=True))
        return flavor

    def image(self, image: Any) -> Any:
        self.actions.append(lambda: self.conn.image.delete_image(image, ignore_missing=True))
        return image

    def project(self, project: Any) -> Any:
        self.actions.append(lambda: self.conn.identity.delete_project(project, ignore_missing=True))
        return project


@dataclass(frozen=True)
class ScopedProject:
    """A test's own project: the admin connection scoped to it, and its users."""

    project: Any
    conn: Any
    users: dict[str, tuple[str, str]]
    """Entry -> (user name, password)."""


def scoped_project(admin: Any, undo: Cleanup, name: str, users: Mapping[str, Sequence[str]]) -> ScopedProject:
    """A project named ``name`` plus a random suffix, with the admin's role in it and one user per entry of
    ``users`` holding the roles given; the project and users are deleted by ``undo``."""
    suffix = uuid.uuid4().hex[:8]
    project = undo.project(admin.identity.create_project(name=f"{name}-{suffix}", domain_id="default"))
    admin.identity.assign_project_role_to_user(
        project, admin.identity.get_user(admin.current_user_id), admin.identity.find_role("admin")
    )
    made: dict[str, tuple[str, str]] = {}
    for entry, roles in users.items():
        password = uuid.uuid4().hex
        user = admin.identity.create_user(
            name=f"{name}-{entry}-{suffix}",
            password=password,
            domain_id="default",
            default_project_id=project.id,
        )
        undo.actions.append(partial(admin.identity.delete_user, user, ignore_missing=True))
        for role in roles:
            admin.identity.assign_project_role_to_user(project, user, admin.identity.find_role(role))
        made[entry] = (user.name, password)
    conn = admin.connect_as_project({"id": project.id, "name": project.name, "domain_id": project.domain_id})
    return ScopedProject(project, conn, made)
