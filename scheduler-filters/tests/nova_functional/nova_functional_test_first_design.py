"""A service deployed with the first pod design (a per-pod ``affinity`` group, ownership metadata only)
moved to this design pod by pod, through Nova's real services (pod_case.py)."""

from __future__ import annotations

from typing import Any

from pod_case import IMAGE, PodPlacementCase, ownership

from webex_scheduler_filters import hints


class FirstDesignMoveTest(PodPlacementCase):
    def _first_design_pod(self, pod: int, host: str) -> list[dict[str, Any]]:
        """A pod as the first design left it deployed: its own ``affinity`` group, ownership metadata
        only (tests/data/release/main-base.json), on the host that design's filter chose for it."""
        group = self.api.post_server_groups({"name": f"dc1-messaging-pod-{pod}", "policies": ["affinity"]})
        self.admin_api.microversion = "2.74"
        servers = []
        for role in ("mixer-0", "mixer-1", "relay-0"):
            server = self._build_server(name=f"old-{pod}-{role}", image_uuid=IMAGE, networks=[], host=host)
            server["metadata"] = {**ownership(pod), "role": role}
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
