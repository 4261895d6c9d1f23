"""Pods booted through Nova's real API, conductor, scheduler and placement, with fake computes.

Nova's own functional fixtures (shipped in the nova wheel) run the services in this process;
they monkey-patch it with eventlet, so this suite runs in its own process
(see ../test_filters_nova_functional.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional import fixtures as func_fixtures
from nova.tests.functional import integrated_helpers

from webex_scheduler_filters import render
from webex_scheduler_filters.hints import (
    NOVA_POD_HINT,
    NOVA_SERVICE_HINT,
    NOVA_SIBLING_GROUPS_HINT,
    join_list,
)

PASTE_CANDIDATES = (Path(sys.prefix, "etc", "nova", "api-paste.ini"), Path("/etc/nova/api-paste.ini"))
IMAGE = "a2459075-d96c-40d5-893e-577ff92e721c"  # one of the GlanceFixture's images


class PodPlacementTest(test.TestCase, integrated_helpers.InstanceHelperMixin):  # type: ignore[misc]
    """One service's pods: each pod on one host, different pods on different hosts."""

    REQUIRES_LOCKING = True
    HOSTS = ("compute-1", "compute-2", "compute-3")

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

    def _pod(self, name: str) -> dict[str, Any]:
        group: dict[str, Any] = self.api.post_server_groups({"name": name, "policies": ["affinity"]})
        return group

    def _boot(
        self,
        pod: dict[str, Any],
        siblings: list[dict[str, Any]],
        status: str = "ACTIVE",
        count: int = 1,
        name: str = "",
    ) -> list[dict[str, Any]]:
        name = name or pod["name"]
        server = self._build_server(name=name, image_uuid=IMAGE, networks=[])
        server.update(min_count=count, max_count=count)
        hints = {"group": pod["id"], NOVA_SERVICE_HINT: "dc1/messaging", NOVA_POD_HINT: pod["name"]}
        if siblings:
            hints[NOVA_SIBLING_GROUPS_HINT] = join_list(s["id"] for s in siblings)
        self.api.post_server({"server": server, "os:scheduler_hints": hints})
        # A multi-create names its servers <name>-1, <name>-2, ...
        booted = [s for s in self.api.get_servers() if s["name"] == name or s["name"].startswith(f"{name}-")]
        return [self._wait_for_state_change(s, status) for s in booted]

    def _hosts(self, servers: list[dict[str, Any]]) -> set[str]:
        return {self.admin_api.get_server(s["id"])["OS-EXT-SRV-ATTR:host"] for s in servers}

    def test_pods_together_and_apart(self) -> None:
        pod0, pod1 = self._pod("messaging-pod-0"), self._pod("messaging-pod-1")
        first = self._boot(pod0, [pod1])
        first += self._boot(pod0, [pod1], count=2, name="pod-0-more")  # a multi-create joins its pod
        second = self._boot(pod1, [pod0], count=2)
        assert len(self._hosts(first)) == 1, self._hosts(first)
        assert len(self._hosts(second)) == 1, self._hosts(second)
        assert self._hosts(first).isdisjoint(self._hosts(second))

    def test_clean_no_valid_host_when_hosts_run_out(self) -> None:
        pods = [self._pod(f"messaging-pod-{i}") for i in range(len(self.HOSTS) + 1)]
        placed = [self._boot(pod, [p for p in pods if p is not pod]) for pod in pods[:-1]]
        assert len(set().union(*(self._hosts(p) for p in placed))) == len(self.HOSTS)
        (refused,) = self._boot(pods[-1], pods[:-1], status="ERROR")
        assert "No valid host" in refused["fault"]["message"], refused["fault"]

    def test_request_without_pod_hints_goes_anywhere(self) -> None:
        pod0 = self._pod("messaging-pod-0")
        self._boot(pod0, [])
        server = self._build_server(name="plain", image_uuid=IMAGE, networks=[])
        self.api.post_server({"server": server})
        (plain,) = [s for s in self.api.get_servers() if s["name"] == "plain"]
        assert self._wait_for_state_change(plain, "ACTIVE")["status"] == "ACTIVE"
