"""Pods through Nova's real API, conductor, scheduler and placement: each pod on one host, different pods
on different hosts, through every move (services: pod_case.py)."""

from __future__ import annotations

# isort: off
from pod_case import IMAGE, PodPlacementCase  # first: it monkey-patches before oslo.db is imported
# isort: on

import eventlet
from oslo_db.sqlalchemy import enginefacade

from webex_scheduler_filters import hints


def test_each_greenthread_of_the_services_has_its_own_database_transaction() -> None:
    """The services of this process share request contexts (a compute node keeps the one it was read
    with); a transaction one greenthread opened on a context must not be seen by another, as in Nova's
    own runs (see pod_case.py on the import order)."""
    local = enginefacade._TransactionContextTLocal()
    local.transaction = "a reader transaction of this greenthread"
    assert eventlet.spawn(lambda: hasattr(local, "transaction")).wait() is False


class PodPlacementTest(PodPlacementCase):
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

    def test_evacuating_a_dead_host_all_at_once_keeps_every_pod_whole(self) -> None:
        # Issue 31: `nova host-evacuate` and Masakari evacuate a dead host's servers in parallel. A member
        # is scheduled while its anchor's own evacuation runs, when the anchor's host is still the dead
        # source (nova 34 conductor/manager.py rebuild_instance schedules without touching it): before
        # filter release 1.2.0 the members ended in ERROR, "No valid host".
        # Two services (a host holds at most one pod of a service), one pod of each on compute-1 and
        # one on a host of its own, so each evacuated pod has a sibling it must stay apart from.
        pods = {}
        for service, sibling_host in (("messaging", "compute-2"), ("media", "compute-3")):
            group = self._service_group(service)
            pods[service] = (
                self._pod(group, 0, service=service, host="compute-1"),
                self._pod(group, 1, service=service, host=sibling_host),
            )
        dead = "compute-1"
        assert {self._host(s) for service in pods for s in pods[service][0]} == {dead}
        self.computes[dead].stop()
        self.admin_api.microversion = "2.11"
        self.admin_api.force_down_service(dead, "nova-compute", True)
        self.admin_api.microversion = "2.14"
        evacuated = [pods[service][0] for service in pods]
        # Every server of the host at once, as host-evacuate does: the anchors' requests first, the
        # members' right behind them without waiting for any evacuation to finish.
        for role in (0, 1):
            for pod in evacuated:
                self.admin_api.post_server_action(pod[role]["id"], {"evacuate": {}})
        for pod in evacuated:
            for server in pod:
                migration = self._wait_for_migration_status(server, ["done", "error", "failed"])
                fault = self.admin_api.get_server(server["id"]).get("fault")
                assert migration["status"] == "done", (server["name"], fault)
                self._wait_for_state_change(server, "ACTIVE")
        for service, (moved, sibling) in pods.items():
            assert dead not in self._hosts(moved), service
            self._assert_whole_and_apart(moved, sibling)

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

    def test_an_anchor_is_created_only_where_its_whole_pod_fits(self) -> None:
        # The room rule at create, where the anchor has no row in the cell database yet: nova 34
        # compute/api.py _provision_instances keeps the new instance in a BuildRequest ("Create an
        # instance object, but do not store in db yet") and conductor/manager.py
        # schedule_and_build_instances writes it to the cell (instance.create()) only after
        # _schedule_instances returned. Each host: 800,000 MB (the fake driver), 512 MB reserved.
        self.flags(ram=-1, instances=-1, group="quota")  # hosts filled for real
        group = self._service_group()
        fillers = {"compute-1": 500_000, "compute-2": 500_000, "compute-3": 200_000}
        for host, ram_mb in fillers.items():
            self._fill(host, self._flavor(f"filler-{host}", ram_mb))
        # Free: compute-1 and -2 about 300,000 MB, compute-3 600,000, compute-4 800,000. Every host
        # has room for an anchor alone.
        anchor = self._flavor("anchor", 1_000)
        large, medium = self._flavor("member-large", 350_000), self._flavor("member-medium", 250_000)
        # Pod 0 as the program creates it: the anchor, then each member in a create of its own.
        pod0 = self._boot(group, 0, hints.ANCHOR_ROLE, flavor=anchor, room="2,700000,2")
        for index in range(2):
            pod0 += self._boot(group, 0, hints.MEMBER_ROLE, name=f"pod-0-member-{index}", flavor=large)
        # Pod 1's members in one multi-create (num_instances 2): filtered once, both on the anchor's host.
        pod1 = self._boot(group, 1, hints.ANCHOR_ROLE, flavor=anchor, room="2,500000,2")
        pod1 += self._boot(group, 1, hints.MEMBER_ROLE, count=2, flavor=medium)
        self._assert_whole_and_apart(pod0, pod1)
        assert (self._hosts(pod0), self._hosts(pod1)) == ({"compute-4"}, {"compute-3"})
        # Room for the anchor on compute-1 and -2, not for its pod: refused, not stranded.
        (refused,) = self._boot(group, 2, hints.ANCHOR_ROLE, status="ERROR", flavor=anchor, room="2,500000,2")
        assert "No valid host" in refused["fault"]["message"], refused["fault"]
