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

from webex_scheduler_filters import hints, render

PASTE_CANDIDATES = (Path(sys.prefix, "etc", "nova", "api-paste.ini"), Path("/etc/nova/api-paste.ini"))
IMAGE = "a2459075-d96c-40d5-893e-577ff92e721c"  # one of the GlanceFixture's images


def _ownership(pod: int) -> dict[str, str]:
    """The ownership metadata both pod designs write on every instance (components/tags.py)."""
    return {
        hints.OWNERSHIP_SERVICE_METADATA_KEY: "messaging",
        hints.OWNERSHIP_DATACENTER_METADATA_KEY: "dc1",
        hints.OWNERSHIP_POD_METADATA_KEY: f"messaging-pod-{pod}",
    }


class PodPlacementTest(test.TestCase, integrated_helpers.InstanceHelperMixin):  # type: ignore[misc]
    """One service's pods: each pod on one host, different pods on different hosts, through every move.

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

    def _service_group(self) -> str:
        group: dict[str, Any] = self.api.post_server_groups(
            {"name": "dc1-messaging-pods", "policies": ["anti-affinity"]}
        )
        return str(group["id"])

    def _boot(
        self, group: str, pod: int, role: str, status: str = "ACTIVE", count: int = 1, name: str = ""
    ) -> list[dict[str, Any]]:
        """Boot instances of pod ``pod`` as the components do: the anchor into the group, members not."""
        key = hints.pod_key("dc1", "messaging", f"messaging-pod-{pod}")
        name = name or f"pod-{pod}-{role}"
        server = self._build_server(name=name, image_uuid=IMAGE, networks=[])
        server.update(min_count=count, max_count=count)
        server["metadata"] = {
            **_ownership(pod),
            hints.INSTANCE_SERVICE_METADATA_KEY: "dc1/messaging",
            hints.INSTANCE_POD_METADATA_KEY: key,
            hints.INSTANCE_POD_ROLE_METADATA_KEY: role,
        }
        scheduler_hints: dict[str, Any] = {hints.NOVA_POD_HINT: key}
        if role == hints.ANCHOR_ROLE:
            scheduler_hints["group"] = group
        self.api.post_server({"server": server, "os:scheduler_hints": scheduler_hints})
        # A multi-create names its servers <name>-1, <name>-2, ...
        booted = [s for s in self.api.get_servers() if s["name"] == name or s["name"].startswith(f"{name}-")]
        return [self._wait_for_state_change(s, status) for s in booted]

    def _pod(self, group: str, pod: int, members: int = 1) -> list[dict[str, Any]]:
        anchor = self._boot(group, pod, hints.ANCHOR_ROLE)
        return anchor + (self._boot(group, pod, hints.MEMBER_ROLE, count=members) if members else [])

    def _host(self, server: dict[str, Any]) -> str:
        return str(self.admin_api.get_server(server["id"])["OS-EXT-SRV-ATTR:host"])

    def _hosts(self, servers: list[dict[str, Any]]) -> set[str]:
        return {self._host(s) for s in servers}

    def _assert_whole_and_apart(self, *pods: list[dict[str, Any]]) -> None:
        hosts = [self._hosts(pod) for pod in pods]
        assert all(len(h) == 1 for h in hosts), hosts
        assert len(set().union(*hosts)) == len(pods), hosts

    def test_pods_together_and_apart(self) -> None:
        group = self._service_group()
        first = self._pod(group, 0, members=2)  # a multi-create of members joins the anchor
        second = self._pod(group, 1, members=2)
        self._assert_whole_and_apart(first, second)

    def test_clean_no_valid_host_when_hosts_run_out(self) -> None:
        group = self._service_group()
        placed = [self._pod(group, i, members=0) for i in range(len(self.HOSTS))]
        self._assert_whole_and_apart(*placed)
        (refused,) = self._boot(group, len(self.HOSTS), hints.ANCHOR_ROLE, status="ERROR")
        assert "No valid host" in refused["fault"]["message"], refused["fault"]

    def test_member_before_its_anchor_is_refused(self) -> None:
        group = self._service_group()
        (orphan,) = self._boot(group, 0, hints.MEMBER_ROLE, status="ERROR")
        assert "No valid host" in orphan["fault"]["message"]

    def test_evacuate_a_pod_off_a_dead_host(self) -> None:
        # Review 1.1: with per-pod affinity groups evacuation ended in ERROR / no valid host.
        group = self._service_group()
        pod0, pod1 = self._pod(group, 0), self._pod(group, 1)
        dead = self._host(pod0[0])
        self.computes[dead].stop()
        self.admin_api.microversion = "2.11"
        self.admin_api.force_down_service(dead, "nova-compute", True)
        # 2.14: no onSharedStorage; before 2.95 an evacuated ACTIVE server comes back ACTIVE.
        self.admin_api.microversion = "2.14"
        for server in pod0:  # the anchor first, then its members follow it
            self._evacuate_server(server, expected_state="ACTIVE")
        assert dead not in self._hosts(pod0)
        self._assert_whole_and_apart(pod0, pod1)

    def test_cold_migrate_drains_a_host_keeping_the_pod_whole(self) -> None:
        # Review 1.1: cold migrate of an affinity pod member ended in NoValidHost.
        group = self._service_group()
        pod0, pod1 = self._pod(group, 0), self._pod(group, 1)
        drained = self._host(pod0[0])
        for server in pod0:
            self._migrate_server(server, api=self.admin_api)
            self._confirm_resize(server)
        assert drained not in self._hosts(pod0)
        self._assert_whole_and_apart(pod0, pod1)

    def test_unshelved_old_pod_avoids_a_newer_pods_host(self) -> None:
        # Review 1.1: with the sibling list frozen at boot, an unshelved pod landed on a newer pod's host.
        group = self._service_group()
        pod0 = self._pod(group, 0)
        for server in pod0:
            self._shelve_server(server)
        newer = [self._pod(group, i) for i in (1, 2, 3)]  # a scale-out while pod 0 is shelved
        for server in pod0:
            self._unshelve_server(server)
        self._assert_whole_and_apart(pod0, *newer)

    def test_replacing_a_single_member_pod_after_a_scale_out_avoids_the_new_pods(self) -> None:
        # Review 1.1: a replaced single-member pod kept its old sibling list (ignoreChanges).
        group = self._service_group()
        (old,) = self._pod(group, 0, members=0)
        newer = [self._pod(group, i, members=0) for i in (1, 2)]
        self._delete_server(old)  # Pulumi's delete-before-replace, then the create with the same inputs
        replacement = self._pod(group, 0, members=0)
        self._assert_whole_and_apart(replacement, *newer)

    def test_three_anchors_booted_at_once_land_apart_or_are_refused(self) -> None:
        # Review 1.1: three first instances posted concurrently, two landed on one host. The anchors'
        # anti-affinity group has Nova's compute-side late check under the group's lock.
        group = self._service_group()
        for pod in range(3):
            key = hints.pod_key("dc1", "messaging", f"messaging-pod-{pod}")
            server = self._build_server(name=f"race-{pod}", image_uuid=IMAGE, networks=[])
            server["metadata"] = {
                hints.INSTANCE_SERVICE_METADATA_KEY: "dc1/messaging",
                hints.INSTANCE_POD_METADATA_KEY: key,
                hints.INSTANCE_POD_ROLE_METADATA_KEY: hints.ANCHOR_ROLE,
            }
            self.api.post_server(
                {"server": server, "os:scheduler_hints": {"group": group, hints.NOVA_POD_HINT: key}}
            )
        racers = [s for s in self.api.get_servers() if s["name"].startswith("race-")]
        settled = [self._wait_for_state_change(s, "ACTIVE") if s["status"] != "ERROR" else s for s in racers]
        active = [s for s in settled if s["status"] == "ACTIVE"]
        assert len(self._hosts(active)) == len(active), [self._host(s) for s in active]
        for refused in (s for s in settled if s["status"] != "ACTIVE"):
            assert "No valid host" in refused["fault"]["message"]

    def test_request_without_pod_hints_goes_anywhere(self) -> None:
        group = self._service_group()
        self._pod(group, 0, members=0)
        server = self._build_server(name="plain", image_uuid=IMAGE, networks=[])
        self.api.post_server({"server": server})
        (plain,) = [s for s in self.api.get_servers() if s["name"] == "plain"]
        assert self._wait_for_state_change(plain, "ACTIVE")["status"] == "ACTIVE"

    def _first_design_pod(self, pod: int, host: str) -> list[dict[str, Any]]:
        """A pod as the first design left it deployed: its own ``affinity`` group, ownership metadata
        only (tests/data/release/main-base.json), on the host that design's filter chose for it."""
        group = self.api.post_server_groups({"name": f"dc1-messaging-pod-{pod}", "policies": ["affinity"]})
        self.admin_api.microversion = "2.74"
        servers = []
        for role in ("mixer-0", "mixer-1", "relay-0"):
            server = self._build_server(name=f"old-{pod}-{role}", image_uuid=IMAGE, networks=[], host=host)
            server["metadata"] = {**_ownership(pod), "role": role}
            posted = self.admin_api.post_server(
                {"server": server, "os:scheduler_hints": {"group": group["id"]}}
            )
            servers.append(self._wait_for_state_change(posted, "ACTIVE"))
        self.admin_api.microversion = "2.1"
        return servers

    def _pods_by_host(self) -> dict[str, set[str]]:
        by_host: dict[str, set[str]] = {}
        for server in self.admin_api.get_servers():
            metadata = self.admin_api.get_server(server["id"])["metadata"]
            by_host.setdefault(self._host(server), set()).add(metadata[hints.OWNERSHIP_POD_METADATA_KEY])
        return by_host

    def test_moving_a_first_design_service_pod_by_pod_never_shares_a_host(self) -> None:
        # The release that moves a deployed stack to this design (docs/releasing.md, "Moving deployed
        # pods to a new pod design"): Pulumi replaces each instance delete-before-replace, the anchor
        # first, one pod per wave; the old pods are visible to PodFilter only through their ownership
        # metadata. Every host runs one pod, so the only host a new pod may use is its own old one.
        self.flags(
            instances=-1, cores=-1, ram=-1, group="quota"
        )  # 24 servers pass through; 10 is the default
        old = [self._first_design_pod(pod, host) for pod, host in enumerate(self.HOSTS)]
        group = self._service_group()
        for pod, instances in enumerate(old):
            for index, instance in enumerate(instances):
                self._delete_server(instance)
                role = hints.MEMBER_ROLE if index else hints.ANCHOR_ROLE
                self._boot(group, pod, role, name=f"new-{pod}-{index}")
                pods_by_host = self._pods_by_host()
                assert all(len(pods) == 1 for pods in pods_by_host.values()), (pod, index, pods_by_host)
        # The engine deletes the per-pod groups once the program no longer registers them.
        for server_group in self.api.get_server_groups():
            if server_group["policies"] == ["affinity"]:
                self.api.delete_server_group(server_group["id"])
        assert [g["name"] for g in self.api.get_server_groups()] == ["dc1-messaging-pods"]
        assert self._pods_by_host() == {host: {f"messaging-pod-{i}"} for i, host in enumerate(self.HOSTS)}
