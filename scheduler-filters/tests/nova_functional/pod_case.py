"""The services every test of this suite runs: Nova's real API, conductor, scheduler and placement, with
four fake computes, our filters enabled as the controllers' rendered configuration enables them.

The computes run the loopback cloud's driver (tools/openstack-loopback/nova_driver): Nova's fake driver
reporting its free disk, as a real hypervisor does, so a filter that reads free disk (``PodFilter``'s room
rule) sees the host as it is, not full; its ports bound as Nova's fake driver binds them (see
``register_loopback_driver``).

Nova's own functional fixtures (shipped in the nova wheel) run the services in this process; they
monkey-patch it with eventlet, so the suite runs in a process of its own
(see ../test_filters_nova_functional.py).
"""

from __future__ import annotations

# isort: off
# Nova's functional test package monkey-patches the process with eventlet when it is imported
# (nova 34.0.0 nova/tests/functional/__init__.py, nova/monkey_patch.py); Nova's own runner imports it
# before anything else, and so must this suite: a thread-local class defined before the patch stays per
# OS thread, and oslo.db's transaction context (oslo_db/sqlalchemy/enginefacade.py
# ``_TransactionContextTLocal``) would then be shared by every greenthread of the in-process services.
# Imported after ``nova.test``, a compute's claim once met a reader transaction another greenthread held
# on the same context ("Can't upgrade a READER transaction to a WRITER mid-transaction") and CI failed.
import nova.tests.functional  # noqa: F401
# isort: on

import importlib.util
import sys
from pathlib import Path
from typing import Any

import fixtures
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import fixtures as func_fixtures
from nova.tests.functional import integrated_helpers
from nova.virt import fake

from webex_scheduler_filters import hints, nova_filter, render

PASTE_CANDIDATES = (Path(sys.prefix, "etc", "nova", "api-paste.ini"), Path("/etc/nova/api-paste.ini"))
IMAGE = "a2459075-d96c-40d5-893e-577ff92e721c"  # one of the GlanceFixture's images
LOOPBACK_DRIVER = (
    Path(__file__).resolve().parents[3] / "tools/openstack-loopback/nova_driver/loopback_nova_driver.py"
)


def register_loopback_driver() -> str:
    """Make the loopback's driver loadable as Nova loads one (from ``nova.virt``, as its lib.sh does);
    its ``compute_driver`` value."""
    name = "nova.virt.loopback_nova_driver"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LOOPBACK_DRIVER)
        assert spec is not None and spec.loader is not None, LOOPBACK_DRIVER
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # Nova's NeutronFixture binds every port to its host, as a Neutron with live agents does, and
        # cannot take a port with no host: its update_port deletes the binding of host None (nova 34.0.0
        # nova/tests/fixtures/neutron.py ``update_port``). The loopback driver leaves ports unbound only
        # because the loopback's Neutron has no agent; here the driver binds them as Nova's fake does.
        bound = type(
            "BoundLoopbackDriver",
            (module.LoopbackFakeDriver,),
            {"network_binding_host_id": fake.FakeDriver.network_binding_host_id},
        )
        module.BoundLoopbackDriver = bound  # type: ignore[attr-defined]
        sys.modules[name] = module
    return "loopback_nova_driver.BoundLoopbackDriver"


def ownership(pod: int, service: str = "messaging") -> dict[str, str]:
    """The ownership metadata both pod designs write on every instance (webex_cloud/tags.py)."""
    return {
        hints.OWNERSHIP_SERVICE_METADATA_KEY: service,
        hints.OWNERSHIP_DATACENTER_METADATA_KEY: "dc1",
        hints.OWNERSHIP_POD_METADATA_KEY: f"{service}-pod-{pod}",
    }


class PodPlacementCase(test.TestCase, integrated_helpers.InstanceHelperMixin):  # type: ignore[misc]
    """One service's pods booted as the components boot them, and the checks of where they landed.

    The design (docs/scheduler-filters.md, "Design"): anchors in the service's ``anti-affinity``
    group, members following their anchor through ``PodFilter``, everything read per request.
    """

    REQUIRES_LOCKING = True
    HOSTS = ("compute-1", "compute-2", "compute-3", "compute-4")

    def setUp(self) -> None:
        super().setUp()
        # The wheel installs Nova's paste pipeline under the environment's prefix, Debian's
        # packages under /etc/nova; the fixture looks beside the package (a source checkout).
        paste = next(p for p in PASTE_CANDIDATES if p.exists())
        self.flags(api_paste_config=str(paste), group="wsgi")
        enabled = render.nova_scheduler_conf().split("enabled_filters = ", 1)[1].strip().split(",")
        self.flags(
            available_filters=["nova.scheduler.filters.all_filters", render.NOVA_FILTER_PATH],
            enabled_filters=enabled,
            weight_classes=[],
            group="filter_scheduler",
        )
        self.flags(shelved_offload_time=0)
        self.flags(compute_driver=register_loopback_driver())
        # A member waits for its evacuated anchor's destination (PodFilter.destination_wait, 5 s) sized
        # for a scheduler with a process of its own. Here the API, conductor, scheduler and four
        # computes share one interpreter with the rest of the test run on two cores: under that load
        # an anchor's destination once came after 5 s, and its member failed closed, as it must. The
        # rule under test is the same with a longer wait; 30 s stays below the 60 s RPC timeout.
        self.useFixture(fixtures.MockPatchObject(nova_filter.PodFilter, "destination_wait", 30.0))
        self.useFixture(nova_fixtures.RealPolicyFixture())
        self.useFixture(nova_fixtures.GlanceFixture(self))
        self.useFixture(nova_fixtures.NeutronFixture(self))
        self.useFixture(func_fixtures.PlacementFixture())
        api_fixture = self.useFixture(nova_fixtures.OSAPIFixture(api_version="v2.1"))
        self.api = api_fixture.api
        self.admin_api = api_fixture.admin_api
        self.start_service("conductor")
        self.start_service("scheduler")
        for host in self.HOSTS:
            self._start_compute(host)

    def _clear_attrs(self) -> None:
        # Nova's cleanup deletes every public attribute of the test case, including the test
        # method pytest binds on it and removes after the run; keep them for pytest.
        return

    def _service_group(self, service: str = "messaging") -> str:
        group: dict[str, Any] = self.api.post_server_groups(
            {"name": f"dc1-{service}-pods", "policies": ["anti-affinity"]}
        )
        return str(group["id"])

    def _boot(
        self,
        group: str,
        pod: int,
        role: str,
        status: str = "ACTIVE",
        count: int = 1,
        name: str = "",
        flavor: str | None = None,
        room: str | None = None,
        service: str = "messaging",
        host: str | None = None,
    ) -> list[dict[str, Any]]:
        """Boot instances of pod ``pod`` as the components do: the anchor into the group, members not;
        ``room`` is an anchor's ``webex_pod_room``; ``host`` asks for a host by name."""
        key = hints.pod_key("dc1", service, f"{service}-pod-{pod}")
        name = name or (f"pod-{pod}-{role}" if service == "messaging" else f"{service}-{pod}-{role}")
        server = self._build_server(name=name, image_uuid=IMAGE, flavor_id=flavor, networks=[])
        server.update(min_count=count, max_count=count)
        server["metadata"] = {
            **ownership(pod, service),
            hints.INSTANCE_SERVICE_METADATA_KEY: f"dc1/{service}",
            hints.INSTANCE_POD_METADATA_KEY: key,
            hints.INSTANCE_POD_ROLE_METADATA_KEY: role,
            **({hints.INSTANCE_POD_ROOM_METADATA_KEY: room} if room is not None else {}),
        }
        scheduler_hints: dict[str, Any] = {hints.NOVA_POD_HINT: key}
        if role == hints.ANCHOR_ROLE:
            scheduler_hints["group"] = group
        body = {"server": server, "os:scheduler_hints": scheduler_hints}
        if host is None:
            self.api.post_server(body)
        else:
            self._post_on_host(body, host)
        # A multi-create names its servers <name>-1, <name>-2, ...
        booted = [s for s in self.api.get_servers() if s["name"] == name or s["name"].startswith(f"{name}-")]
        return [self._wait_for_state_change(s, status) for s in booted]

    def _pod(
        self, group: str, pod: int, members: int = 1, service: str = "messaging", host: str | None = None
    ) -> list[dict[str, Any]]:
        """A pod: its anchor (on ``host`` if given), then its members in one create."""
        anchor = self._boot(group, pod, hints.ANCHOR_ROLE, service=service, host=host)
        if not members:
            return anchor
        return anchor + self._boot(group, pod, hints.MEMBER_ROLE, count=members, service=service)

    def _flavor(self, name: str, ram_mb: int) -> str:
        """A flavor of one vCPU and 1 GB of disk (a zero-disk flavor is admin-only for image boots)."""
        flavor: dict[str, Any] = self.admin_api.post_flavor(
            {"flavor": {"name": name, "ram": ram_mb, "vcpus": 1, "disk": 1}}
        )
        return str(flavor["id"])

    def _fill(self, host: str, flavor: str) -> None:
        """Take a host's room with a server of no pod, booted there by name (admin, microversion 2.74)."""
        server = self._build_server(name=f"filler-{host}", image_uuid=IMAGE, flavor_id=flavor, networks=[])
        self._wait_for_state_change(self._post_on_host({"server": server}, host), "ACTIVE")

    def _post_on_host(self, body: dict[str, Any], host: str) -> dict[str, Any]:
        """Create a server on the host named (admin, microversion 2.74); the filters still run."""
        body["server"]["host"] = host
        self.admin_api.microversion = "2.74"
        try:
            created: dict[str, Any] = self.admin_api.post_server(body)
        finally:
            self.admin_api.microversion = None
        return created

    def _host(self, server: dict[str, Any]) -> str:
        return str(self.admin_api.get_server(server["id"])["OS-EXT-SRV-ATTR:host"])

    def _hosts(self, servers: list[dict[str, Any]]) -> set[str]:
        return {self._host(s) for s in servers}

    def _assert_whole_and_apart(self, *pods: list[dict[str, Any]]) -> None:
        hosts = [self._hosts(pod) for pod in pods]
        assert all(len(h) == 1 for h in hosts), hosts
        assert len(set().union(*hosts)) == len(pods), hosts
