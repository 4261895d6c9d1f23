"""The Nova adapter with Nova's real base classes, host states, request specs and host manager.

The database boundary (server groups, instance hosts) is an in-memory fake here; the
end-to-end path through Nova's real databases is in nova_functional/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

nova_conf = pytest.importorskip("nova.conf")

from nova import context as nova_context  # noqa: E402
from nova import exception, objects  # noqa: E402
from nova.scheduler import filters as nova_filters  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402

from webex_scheduler_filters.hints import NOVA_POD_HINT, NOVA_SIBLING_GROUPS_HINT, join_list  # noqa: E402
from webex_scheduler_filters.nova_filter import SiblingPodAntiAffinityFilter  # noqa: E402
from webex_scheduler_filters.pod_rules import HintStatus, parse_sibling_hint  # noqa: E402

objects.register_all()
CONF = nova_conf.CONF
CELL = str(uuid.uuid4())


class FakeCloud:
    """Server groups and instance hosts as Nova's databases would return them."""

    def __init__(self) -> None:
        self.groups: dict[str, list[str]] = {}
        self.hosts: dict[str, str | None] = {}
        self.group_reads = 0
        self.instance_reads = 0
        self.cell_down = False

    def add_pod(self, *hosts: str | None) -> str:
        group = str(uuid.uuid4())
        members = [str(uuid.uuid4()) for _ in hosts]
        self.groups[group] = members
        self.hosts.update(zip(members, hosts, strict=True))
        return group

    def get_group(self, context: Any, group_uuid: str) -> Any:
        self.group_reads += 1
        if group_uuid not in self.groups:
            raise exception.InstanceGroupNotFound(group_uuid=group_uuid)
        return objects.InstanceGroup(uuid=group_uuid, members=list(self.groups[group_uuid]))

    def gather(
        self, context: Any, fn: Any, filters: dict[str, Any], expected_attrs: list[str]
    ) -> dict[str, Any]:
        self.instance_reads += 1
        if self.cell_down:
            return {CELL: nova_context.did_not_respond_sentinel}
        found = [objects.Instance(uuid=u, host=self.hosts[u]) for u in filters["uuid"] if u in self.hosts]
        return {CELL: objects.InstanceList(objects=found)}


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    fake = FakeCloud()
    with (
        mock.patch.object(objects.InstanceGroup, "get_by_uuid", side_effect=fake.get_group),
        mock.patch.object(nova_context, "scatter_gather_skip_cell0", side_effect=fake.gather),
    ):
        yield fake


def hosts(*names: str) -> list[Any]:
    return [host_manager.HostState(name, name, CELL) for name in names]


def spec(siblings: object = None, own_group: str | None = None, **extra_hints: Any) -> Any:
    hints: dict[str, Any] = dict(extra_hints)
    if siblings is not None:
        hints[NOVA_SIBLING_GROUPS_HINT] = siblings if isinstance(siblings, list) else [siblings]
    group = (
        objects.InstanceGroup(uuid=own_group, policy="affinity", members=[], hosts=[]) if own_group else None
    )
    return objects.RequestSpec(
        instance_uuid=str(uuid.uuid4()),
        scheduler_hints=hints,
        instance_group=group,
        num_instances=1,
        ignore_hosts=None,
        force_hosts=None,
        force_nodes=None,
        requested_destination=None,
    )


def names(host_states: list[Any]) -> list[str]:
    return [h.host for h in host_states]


def test_hosts_of_other_pods_fail_and_the_rest_pass(cloud: FakeCloud) -> None:
    pod0, pod1 = cloud.add_pod("c1", "c1"), cloud.add_pod("c2", None)
    result = SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2", "c3"), spec(join_list([pod0, pod1])))
    assert names(result) == ["c3"]


def test_hintless_request_passes_every_host_without_a_lookup(cloud: FakeCloud) -> None:
    result = SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2"), spec(None))
    assert names(result) == ["c1", "c2"]
    assert cloud.group_reads == cloud.instance_reads == 0


def test_siblings_are_read_once_per_request_whatever_the_host_count(cloud: FakeCloud) -> None:
    pods = [cloud.add_pod(f"c{i}") for i in range(3)]
    many = hosts(*(f"c{i}" for i in range(500)))
    result = SiblingPodAntiAffinityFilter().filter_all(many, spec(pods))
    assert len(result) == 497
    assert (cloud.group_reads, cloud.instance_reads) == (3, 1)


def test_multi_create_filters_once_and_later_instances_reuse_the_narrowed_list(cloud: FakeCloud) -> None:
    pod0 = cloud.add_pod("c1")
    request = spec(pod0)
    request.num_instances = 3
    handler = nova_filters.HostFilterHandler()
    ours = SiblingPodAntiAffinityFilter()
    remaining = hosts("c1", "c2", "c3")
    for index in range(3):
        remaining = handler.get_filtered_objects([ours], remaining, request, index)
        assert names(remaining) == ["c2", "c3"]
    assert cloud.instance_reads == 1


def test_rebuild_passes_every_host(cloud: FakeCloud) -> None:
    pod0 = cloud.add_pod("c1")
    rebuild = spec(pod0, _nova_check_type=["rebuild"])
    assert names(SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2"), rebuild)) == ["c1", "c2"]


def test_resize_keeps_avoiding_sibling_pods_but_not_its_own_host(cloud: FakeCloud) -> None:
    own_group = cloud.add_pod("c2")
    sibling = cloud.add_pod("c1")
    moving = spec(join_list([sibling, own_group]), own_group=own_group)
    moving.instance_uuid = cloud.groups[own_group][0]
    assert names(SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2", "c3"), moving)) == ["c2", "c3"]


def test_deleted_sibling_pod_constrains_nothing(cloud: FakeCloud) -> None:
    result = SiblingPodAntiAffinityFilter().filter_all(hosts("c1"), spec(str(uuid.uuid4())))
    assert names(result) == ["c1"]


def test_malformed_hint_rejects_every_host(cloud: FakeCloud) -> None:
    assert SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2"), spec("pod-1")) == []
    assert cloud.group_reads == 0


def test_unanswered_cell_rejects_every_host(cloud: FakeCloud) -> None:
    pod0 = cloud.add_pod("c1")
    cloud.cell_down = True
    assert SiblingPodAntiAffinityFilter().filter_all(hosts("c2"), spec(pod0)) == []


def test_host_passes_is_the_same_rule_for_one_host(cloud: FakeCloud) -> None:
    pod0 = cloud.add_pod("c1")
    c1, c2 = hosts("c1", "c2")
    ours = SiblingPodAntiAffinityFilter()
    assert (ours.host_passes(c1, spec(pod0)), ours.host_passes(c2, spec(pod0))) == (False, True)


def test_real_host_manager_loads_ours_by_dotted_path_and_filters(cloud: FakeCloud) -> None:
    from webex_scheduler_filters import render

    CONF.set_override(
        "available_filters",
        ["nova.scheduler.filters.all_filters", render.NOVA_FILTER_PATH],
        group="filter_scheduler",
    )
    CONF.set_override(
        "enabled_filters",
        ["ServerGroupAffinityFilter", "SiblingPodAntiAffinityFilter"],
        group="filter_scheduler",
    )
    try:
        # These three read the cell and aggregate databases at start-up; filtering does not.
        with (
            mock.patch.object(host_manager.HostManager, "refresh_cells_caches"),
            mock.patch.object(host_manager.HostManager, "_init_aggregates"),
            mock.patch.object(host_manager.HostManager, "_init_instance_info"),
        ):
            manager = host_manager.HostManager()
        assert [type(f).__name__ for f in manager.enabled_filters] == [
            "ServerGroupAffinityFilter",
            "SiblingPodAntiAffinityFilter",
        ]
        sibling = cloud.add_pod("c1")
        own = str(uuid.uuid4())
        request = spec(sibling, own_group=own)
        request.instance_group.policies = ["affinity"]
        # Pod 1's first instance: anywhere but pod 0's host.
        assert names(manager.get_filtered_hosts(hosts("c1", "c2", "c3"), request)) == ["c2", "c3"]
        # Its next instance: with its pod (affinity), never with pod 0.
        request.instance_group.hosts = ["c3"]
        assert names(manager.get_filtered_hosts(hosts("c1", "c2", "c3"), request)) == ["c3"]
        request.instance_group.hosts = ["c1"]
        assert manager.get_filtered_hosts(hosts("c1", "c2", "c3"), request) == []
    finally:
        CONF.clear_override("available_filters", group="filter_scheduler")
        CONF.clear_override("enabled_filters", group="filter_scheduler")


def test_concurrent_pods_can_collide_chained_pods_cannot(cloud: FakeCloud) -> None:
    """Why the components chain pod N's first instance after pod N-1's (docs/scheduler-filters.md)."""
    pods = [cloud.add_pod(None) for _ in range(3)]  # each pod's first instance, not on a host yet
    firsts = [cloud.groups[pod][0] for pod in pods]

    def choose(index: int) -> str:
        siblings = [pod for pod in pods if pod != pods[index]]
        # The packing choice, the worst case for spreading: always the first passing host.
        return str(SiblingPodAntiAffinityFilter().filter_all(hosts("c1", "c2", "c3"), spec(siblings))[0].host)

    # Unchained: both requests are filtered before either instance has a host.
    assert choose(0) == choose(1) == "c1"

    # Chained: each request is filtered after the previous pod's first instance has its host.
    for index, first in enumerate(firsts):
        cloud.hosts[first] = choose(index)
    assert sorted(cloud.hosts[first] or "" for first in firsts) == ["c1", "c2", "c3"]


hint_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=80),
    st.binary(max_size=20),
    st.lists(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.uuids().map(str)), max_size=5),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.lists(st.uuids().map(str), max_size=4).map(join_list),
)


class OddHost:
    def __init__(self, host: object) -> None:
        self.host = host


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=hint_values,
    pod=hint_values,
    host_names=st.lists(
        st.one_of(st.text(max_size=10), st.none(), st.integers(), st.lists(st.integers(), max_size=2)),
        max_size=6,
    ),
)
def test_fuzz_never_raises_and_never_passes_a_sibling_host(
    cloud: FakeCloud, raw: object, pod: object, host_names: list[object]
) -> None:
    sibling = cloud.add_pod("c1")
    candidates = [OddHost(h) for h in host_names] + hosts("c1", "c9")
    request = spec(None)
    # Stored behind the field's type coercion, as a corrupt or foreign request spec carries them.
    request._obj_scheduler_hints = {NOVA_SIBLING_GROUPS_HINT: raw, NOVA_POD_HINT: pod}
    result = SiblingPodAntiAffinityFilter().filter_all(candidates, request)
    if parse_sibling_hint(request.get_scheduler_hint(NOVA_SIBLING_GROUPS_HINT)).status is HintStatus.ABSENT:
        assert result == candidates
    else:
        assert all(isinstance(h.host, str) and h.host for h in result)
    request._obj_scheduler_hints[NOVA_SIBLING_GROUPS_HINT] = [sibling, raw]
    assert "c1" not in [h.host for h in SiblingPodAntiAffinityFilter().filter_all(candidates, request)]
