"""The Cinder adapter in Cinder's real host manager, filter handler and database."""

from __future__ import annotations

from typing import Any

from cinder.scheduler import filters as cinder_filters
from cinder.scheduler import host_manager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONF, GROUP, Cloud, pool
from webex_scheduler_filters import render
from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter


def rack_layout() -> list[Any]:
    return [
        pool("cinder-a@ceph", "rack-a"),
        pool("cinder-a@ceph", "rack-a", pool_name="p2"),
        pool("cinder-b@ceph", "rack-a"),
        pool("cinder-c@ceph", "rack-c"),
        pool("cinder-d@lvm", None),
        pool("cinder-d@lvm", None, pool_name="p2"),
    ]


def spread(cloud: Cloud, backends: list[Any], group: object, volume_id: str | None = None) -> list[str]:
    handler = cinder_filters.BackendFilterHandler("cinder.scheduler.filters")
    passing = handler.get_filtered_objects(
        [VolumeGroupSpreadFilter], backends, cloud.properties(group, volume_id)
    )
    return [b.host for b in passing]


def test_replica_avoids_every_backend_of_a_used_failure_domain(cloud: Cloud) -> None:
    cloud.add_volume(GROUP, "cinder-b@ceph#p1")
    assert spread(cloud, rack_layout(), GROUP) == ["cinder-c@ceph#p1", "cinder-d@lvm#p1", "cinder-d@lvm#p2"]


def test_undeclared_domain_is_the_whole_backend_not_the_pool(cloud: Cloud) -> None:
    cloud.add_volume(GROUP, "cinder-d@lvm#p2")
    assert "cinder-d@lvm#p1" not in spread(cloud, rack_layout(), GROUP)


def test_first_replica_and_hintless_volume_pass_every_backend(cloud: Cloud) -> None:
    everything = [b.host for b in rack_layout()]
    assert spread(cloud, rack_layout(), GROUP) == everything
    cloud.add_volume(GROUP, "cinder-a@ceph#p1")
    assert spread(cloud, rack_layout(), None) == everything


def test_malformed_hint_passes_no_backend(cloud: Cloud) -> None:
    assert spread(cloud, rack_layout(), ["a", "b"]) == []
    assert spread(cloud, rack_layout(), "   ") == []


def test_other_groups_projects_and_unplaced_replicas_do_not_count(cloud: Cloud) -> None:
    cloud.add_volume("dc1/other/store", "cinder-a@ceph#p1")
    cloud.add_volume(GROUP, "cinder-c@ceph#p1", project="project-b")
    cloud.add_volume(GROUP, None)
    assert len(spread(cloud, rack_layout(), GROUP)) == 6


def test_migrating_replica_does_not_repel_itself(cloud: Cloud) -> None:
    moving = cloud.add_volume(GROUP, "cinder-c@ceph#p1")
    cloud.add_volume(GROUP, "cinder-a@ceph#p1")
    assert spread(cloud, rack_layout(), GROUP, volume_id=moving) == [
        "cinder-c@ceph#p1",
        "cinder-d@lvm#p1",
        "cinder-d@lvm#p2",
    ]


def test_three_queries_per_request_whatever_the_pool_count(cloud: Cloud) -> None:
    for i in range(20):
        cloud.add_volume(GROUP, f"cinder-{i}@ceph#p0")
    backends = [
        pool(f"cinder-{i % 250}@ceph", f"rack-{i % 50}", pool_name=f"p{i // 250}") for i in range(1000)
    ]
    new = cloud.add_volume(GROUP, None)
    spread(cloud, rack_layout(), GROUP, volume_id=new)  # the first placement records its group link
    cloud.statements.clear()
    passing = spread(cloud, backends, GROUP, volume_id=new)
    # The volume's existence and its admin-metadata group link, then its group's replicas.
    assert len(cloud.queries) == 3, cloud.queries
    assert len(passing) == 1000 - 20 * 5 * 4  # 20 racks used, 5 backends of 4 pools in each


def test_real_host_manager_loads_ours_through_the_entry_point(cloud: Cloud) -> None:
    names = render.cinder_scheduler_conf().split("=", 1)[1].strip().split(",")
    CONF.set_override("scheduler_default_filters", names)
    try:
        manager = host_manager.HostManager()
        assert [cls.__name__ for cls in manager.enabled_filters] == names
        cloud.add_volume(GROUP, "cinder-a@ceph#p1")
        passing = manager.get_filtered_backends(rack_layout(), cloud.properties(GROUP))
        assert sorted({b.host for b in passing}) == ["cinder-c@ceph#p1", "cinder-d@lvm#p1", "cinder-d@lvm#p2"]
    finally:
        CONF.clear_override("scheduler_default_filters")


def test_concurrent_replicas_can_collide_chained_replicas_cannot(cloud: Cloud) -> None:
    """Why the components chain replica N after replica N-1 (docs/scheduler-filters.md)."""

    def choose(group: str) -> str:
        # The packing choice, worst case for spreading: always the first passing backend.
        return spread(cloud, rack_layout(), group)[0]

    # Unchained: both requests are filtered before either one's backend is recorded.
    first, second = choose("dc1/a/store"), choose("dc1/a/store")
    cloud.add_volume("dc1/a/store", first)
    cloud.add_volume("dc1/a/store", second)
    assert first == second

    # Chained: each replica is scheduled after the previous one has its backend.
    chosen = []
    for _ in range(3):
        chosen.append(choose("dc1/b/store"))
        cloud.add_volume("dc1/b/store", chosen[-1])
    assert chosen == ["cinder-a@ceph#p1", "cinder-c@ceph#p1", "cinder-d@lvm#p1"]
    assert spread(cloud, rack_layout(), "dc1/b/store") == []  # three domains, three replicas: full


odd_caps = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(
        st.sampled_from(["failure_domain", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=6)),
        max_size=2,
    ),
)
odd_hints = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.just(GROUP),
)


class OddBackend:
    def __init__(self, host: object, capabilities: object) -> None:
        self.host = host
        self.capabilities = capabilities


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hint=odd_hints,
    states=st.lists(
        st.tuples(
            st.one_of(
                st.none(), st.integers(), st.text(max_size=12), st.sampled_from(["cinder-a@ceph#p1", "x@y"])
            ),
            odd_caps,
        ),
        max_size=6,
    ),
    scheduler_hints=st.one_of(st.none(), st.just({}), st.text(max_size=3)),
)
def test_fuzz_never_raises_and_never_reuses_a_domain(
    cloud: Cloud, hint: object, states: list[tuple[object, object]], scheduler_hints: object
) -> None:
    backends = [OddBackend(host, caps) for host, caps in states]
    properties = cloud.properties(hint)
    result = VolumeGroupSpreadFilter().filter_all(backends + rack_layout(), properties)
    assert all(b in backends + result for b in result)
    properties["scheduler_hints"] = scheduler_hints
    VolumeGroupSpreadFilter().filter_all(backends, properties)
    cloud.add_volume(GROUP, "cinder-a@ceph#p1")
    reused = VolumeGroupSpreadFilter().filter_all(backends + rack_layout(), cloud.properties(GROUP))
    assert not {b.host for b in reused} & {"cinder-a@ceph#p1", "cinder-a@ceph#p2", "cinder-b@ceph#p1"}
