"""The Nova adapter with Nova's real base classes, host states, request specs and host manager.

The database boundaries are in-memory fakes here: the cell query (through
``scatter_gather_skip_cell0``) applies Nova's own ``key any AND value any`` semantics, and the API
database's build requests are stored and read through Nova's own ``BuildRequest`` object, only its
two SQL statements replaced. The end-to-end path through Nova's real databases is in nova_functional/.
"""

from __future__ import annotations

import time
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
from nova.scheduler import manager as scheduler_manager  # noqa: E402
from nova.scheduler import utils as scheduler_utils  # noqa: E402
from nova.scheduler.filters import affinity_filter  # noqa: E402

from webex_scheduler_filters.hints import (  # noqa: E402
    ANCHOR_ROLE,
    INSTANCE_POD_METADATA_KEY,
    INSTANCE_POD_ROLE_METADATA_KEY,
    INSTANCE_POD_ROOM_METADATA_KEY,
    INSTANCE_SERVICE_METADATA_KEY,
    MEMBER_ROLE,
    NOVA_POD_HINT,
    OWNERSHIP_DATACENTER_METADATA_KEY,
    OWNERSHIP_POD_METADATA_KEY,
    OWNERSHIP_SERVICE_METADATA_KEY,
)
from webex_scheduler_filters.nova_filter import PodFilter  # noqa: E402

objects.register_all()
CONF = nova_conf.CONF
CELL = str(uuid.uuid4())
SERVICE = "dc1/chat"
QUERIES_PER_REQUEST = 2
"""One per cell for this design's instances (``webex_service``), one for the first pod design's."""


def pod_key(index: int) -> str:
    return f"{SERVICE}/chat-pod-{index}"


class FakeCloud:
    """Instances with their metadata and hosts, as the cell database would return them."""

    def __init__(self) -> None:
        self.instances: dict[str, tuple[str | None, dict[str, str]]] = {}
        self.task_states: dict[str, str] = {}
        self.migrations: list[Any] = []
        self.reads = 0
        self.migration_reads = 0
        self.cell_down = False

    def add(self, pod: int, host: str | None, anchor: bool, service: str = SERVICE, **extra: str) -> str:
        instance = str(uuid.uuid4())
        self.instances[instance] = (
            host,
            {
                INSTANCE_SERVICE_METADATA_KEY: service,
                INSTANCE_POD_METADATA_KEY: f"{service}/chat-pod-{pod}",
                INSTANCE_POD_ROLE_METADATA_KEY: ANCHOR_ROLE if anchor else MEMBER_ROLE,
                **extra,
            },
        )
        return instance

    def add_first_design(self, pod: int, host: str, datacenter: str = "dc1") -> str:
        """An instance the first pod design booted: ownership metadata only (as in main-base.json)."""
        instance = str(uuid.uuid4())
        self.instances[instance] = (
            host,
            {
                OWNERSHIP_SERVICE_METADATA_KEY: "chat",
                OWNERSHIP_DATACENTER_METADATA_KEY: datacenter,
                OWNERSHIP_POD_METADATA_KEY: f"chat-pod-{pod}",
                "role": "app",
                "owner": "team-chat",
            },
        )
        return instance

    def evacuate(self, instance: str, dest: str | None = None, status: str = "accepted") -> Any:
        """What ``nova/compute/api.py`` ``API.evacuate`` writes: the task state and an evacuation record
        (``dest_compute`` only for a named host), which the destination's claim later completes."""
        self.task_states[instance] = "rebuilding"
        migration = objects.Migration(
            id=len(self.migrations) + 1,
            instance_uuid=instance,
            source_compute=self.instances[instance][0],
            migration_type="evacuation",
            status=status,
        )
        if dest is not None:
            migration.dest_compute = dest
        self.migrations.append(migration)
        return migration

    def gather(self, context: Any, fn: Any, filters: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if fn == objects.MigrationList.get_by_filters:
            return self.gather_migrations(filters)
        self.reads += 1
        assert kwargs == {"expected_attrs": ["metadata"]} and filters["deleted"] is False
        if self.cell_down:
            return {CELL: nova_context.did_not_respond_sentinel}
        ((key, value),) = filters["metadata"].items()
        found = [
            objects.Instance(uuid=u, host=host, metadata=dict(meta), task_state=self.task_states.get(u))
            for u, (host, meta) in self.instances.items()
            if key in meta and value in meta.values()
        ]
        return {CELL: objects.InstanceList(objects=found)}

    def gather_migrations(self, filters: dict[str, Any]) -> dict[str, Any]:
        """``nova/db/main/api.py`` ``migration_get_all_by_filters``: ``source_compute`` and
        ``migration_type`` equal, ``status`` in the list."""
        self.migration_reads += 1
        assert set(filters) == {"source_compute", "migration_type", "status"}
        found = [
            m
            for m in self.migrations
            if m.source_compute == filters["source_compute"]
            and m.migration_type == filters["migration_type"]
            and m.status in filters["status"]
        ]
        return {CELL: objects.MigrationList(objects=found)}


@pytest.fixture
def cloud(api_db: FakeApiDatabase) -> Iterator[FakeCloud]:
    """The cell database, next to an API database that holds no build request unless a test creates one."""
    fake = FakeCloud()
    with mock.patch.object(nova_context, "scatter_gather_skip_cell0", side_effect=fake.gather):
        yield fake


def hosts(*names: str) -> list[Any]:
    return [host_manager.HostState(name, name, CELL) for name in names]


def spec(pod: object = None, anchor: bool = False, instance: str | None = None, **extra: Any) -> Any:
    hints: dict[str, Any] = dict(extra)
    if pod is not None:
        hints[NOVA_POD_HINT] = pod if isinstance(pod, list) else [pod]
    group = (
        objects.InstanceGroup(uuid=str(uuid.uuid4()), policy="anti-affinity", members=[], hosts=[])
        if anchor
        else None
    )
    return objects.RequestSpec(
        instance_uuid=instance or str(uuid.uuid4()),
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


def test_anchor_avoids_every_host_of_another_pod(cloud: FakeCloud) -> None:
    cloud.add(0, "c1", anchor=True)
    cloud.add(0, "c1", anchor=False)
    cloud.add(1, "c2", anchor=True)
    cloud.add(0, "c4", anchor=True, service="dc1/mail")  # another service constrains nothing
    result = PodFilter().filter_all(hosts("c1", "c2", "c3", "c4"), spec(pod_key(2), anchor=True))
    assert names(result) == ["c3", "c4"]


def test_member_follows_its_anchor_wherever_it_is(cloud: FakeCloud) -> None:
    cloud.add(0, "c3", anchor=True)
    cloud.add(1, "c1", anchor=True)
    assert names(PodFilter().filter_all(hosts("c1", "c2", "c3"), spec(pod_key(0)))) == ["c3"]


def test_member_before_its_anchor_has_a_host_gets_none(cloud: FakeCloud) -> None:
    cloud.add(0, None, anchor=True)  # shelved, or its evacuation not done yet
    assert PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0))) == []


def test_hintless_request_passes_every_host_without_a_lookup(cloud: FakeCloud) -> None:
    assert names(PodFilter().filter_all(hosts("c1", "c2"), spec())) == ["c1", "c2"]
    assert cloud.reads == 0


def test_service_is_read_once_per_request_whatever_the_host_count(cloud: FakeCloud) -> None:
    for index in range(3):
        cloud.add(index, f"c{index}", anchor=True)
    result = PodFilter().filter_all(hosts(*(f"c{i}" for i in range(500))), spec(pod_key(3), anchor=True))
    assert len(result) == 497
    assert cloud.reads == QUERIES_PER_REQUEST


def test_first_design_instances_keep_new_pods_off_their_hosts(cloud: FakeCloud) -> None:
    # A stack moving from per-pod affinity groups: pod 0 is being replaced, pods 1 and 2 are old.
    cloud.add_first_design(0, "c0")  # an old member of the pod being replaced: the same pod
    cloud.add_first_design(1, "c1")
    cloud.add_first_design(2, "c2")
    cloud.add_first_design(3, "c3", datacenter="dc2")  # another datacenter's service of that name
    anchor = PodFilter().filter_all(hosts("c0", "c1", "c2", "c3"), spec(pod_key(0), anchor=True))
    assert names(anchor) == ["c0", "c3"]


def test_a_first_design_instance_is_never_an_anchor(cloud: FakeCloud) -> None:
    # A new member follows only a new anchor: before it, the old pod's instances give it no host.
    cloud.add_first_design(0, "c0")
    assert PodFilter().filter_all(hosts("c0", "c1"), spec(pod_key(0))) == []
    cloud.add(0, "c0", anchor=True)
    assert names(PodFilter().filter_all(hosts("c0", "c1"), spec(pod_key(0)))) == ["c0"]


def test_multi_create_filters_once_and_later_instances_reuse_the_narrowed_list(cloud: FakeCloud) -> None:
    cloud.add(0, "c2", anchor=True)
    request = spec(pod_key(0))
    request.num_instances = 3
    handler = nova_filters.HostFilterHandler()
    remaining = hosts("c1", "c2", "c3")
    for index in range(3):
        remaining = handler.get_filtered_objects([PodFilter()], remaining, request, index)
        assert names(remaining) == ["c2"]
    assert cloud.reads == QUERIES_PER_REQUEST


def test_rebuild_passes_every_host(cloud: FakeCloud) -> None:
    cloud.add(1, "c1", anchor=True)
    rebuild = spec(pod_key(0), anchor=True, _nova_check_type=["rebuild"])
    assert names(PodFilter().filter_all(hosts("c1", "c2"), rebuild)) == ["c1", "c2"]


def test_moving_anchor_is_not_its_own_obstacle(cloud: FakeCloud) -> None:
    anchor = cloud.add(0, "c1", anchor=True)
    cloud.add(0, "c1", anchor=False)
    cloud.add(1, "c2", anchor=True)
    moving = spec(pod_key(0), anchor=True, instance=anchor)
    assert names(PodFilter().filter_all(hosts("c1", "c2", "c3"), moving)) == ["c1", "c3"]


def test_a_member_follows_its_anchors_evacuation_to_the_destination_its_claim_recorded(
    cloud: FakeCloud,
) -> None:
    # Issue 31, a host evacuated all at once: the anchor's host stays the dead source until its rebuild
    # ends, its migration already names the destination the destination's claim took (pre-migrating).
    anchor = cloud.add(0, "dead", anchor=True)
    cloud.add(1, "c1", anchor=True)
    migration = cloud.evacuate(anchor)
    migration.dest_compute, migration.status = "c3", "pre-migrating"
    assert names(PodFilter().filter_all(hosts("c1", "c2", "c3"), spec(pod_key(0)))) == ["c3"]
    assert (cloud.reads, cloud.migration_reads) == (QUERIES_PER_REQUEST, 1)


def test_a_member_waits_for_its_anchors_destination_to_be_chosen(cloud: FakeCloud) -> None:
    # Issued together, the member's request can reach the scheduler before the anchor's: the anchor's
    # record is still "accepted", without a destination, until the destination compute claims it.
    anchor = cloud.add(0, "dead", anchor=True)
    migration = cloud.evacuate(anchor)
    read = cloud.gather_migrations

    def claimed_on_the_third_read(filters: dict[str, Any]) -> dict[str, Any]:
        if cloud.migration_reads == 2:
            migration.dest_compute, migration.status = "c2", "pre-migrating"
        return read(filters)

    cloud.gather_migrations = claimed_on_the_third_read  # type: ignore[method-assign]
    assert names(PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0)))) == ["c2"]
    assert cloud.migration_reads == 3


def test_a_member_whose_anchor_is_never_scheduled_fails_closed_with_the_reason_after_its_wait(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PodFilter, "destination_wait", 0.5)
    cloud.evacuate(cloud.add(0, "dead", anchor=True))
    start = time.monotonic()
    with caplog.at_level("INFO"):
        assert PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0))) == []
    waited = time.monotonic() - start
    assert 0.5 <= waited < 1.5
    assert "is being evacuated and its destination is not chosen yet" in caplog.text
    assert "did not answer" not in caplog.text
    assert cloud.migration_reads > 2  # re-read while waiting


def test_a_slow_migration_read_while_waiting_fails_closed_within_the_lookup_timeout(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture
) -> None:
    # The wait is a sleep outside the lookup's deadline; every read in it still has that deadline.
    cloud.evacuate(cloud.add(0, "dead", anchor=True))
    read = cloud.gather_migrations

    def stalls_after_the_first(filters: dict[str, Any]) -> dict[str, Any]:
        if cloud.migration_reads:
            time.sleep(3)
        return read(filters)

    cloud.gather_migrations = stalls_after_the_first  # type: ignore[method-assign]
    start = time.monotonic()
    assert PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0))) == []
    waited = time.monotonic() - start
    assert PodFilter.lookup_timeout <= waited < PodFilter.lookup_timeout + 0.9
    assert "PodFilter's evacuation lookup did not answer within 2 s" in caplog.text


def test_an_anchor_avoids_the_destination_of_another_pods_evacuation(cloud: FakeCloud) -> None:
    evacuated = cloud.add(1, "dead", anchor=True)
    cloud.evacuate(evacuated, dest="c2")  # a host named by the caller: recorded at once
    result = PodFilter().filter_all(hosts("c1", "c2", "c3"), spec(pod_key(0), anchor=True))
    assert names(result) == ["c1", "c3"]


def test_a_rebuild_in_place_keeps_the_anchor_on_its_host(cloud: FakeCloud) -> None:
    anchor = cloud.add(0, "c1", anchor=True)
    cloud.task_states[anchor] = "rebuilding"  # a rebuild: no evacuation record
    assert names(PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0)))) == ["c1"]


def test_the_latest_evacuation_of_an_anchor_counts_not_a_stale_one(cloud: FakeCloud) -> None:
    # An evacuation whose conductor died stays "accepted" without a destination; the instance is reset
    # and evacuated again.
    anchor = cloud.add(0, "dead", anchor=True)
    cloud.evacuate(anchor)
    cloud.evacuate(anchor, dest="c2", status="pre-migrating")
    cloud.migrations.reverse()  # the database's order is no order
    assert names(PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0)))) == ["c2"]


def test_nothing_evacuated_costs_no_migration_read(cloud: FakeCloud) -> None:
    cloud.add(0, "c1", anchor=True)
    cloud.add(1, "c2", anchor=True)
    assert names(PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0)))) == ["c1"]
    assert cloud.migration_reads == 0


def test_an_unanswered_cell_in_the_migration_read_fails_closed(cloud: FakeCloud) -> None:
    anchor = cloud.add(0, "dead", anchor=True)
    cloud.evacuate(anchor, dest="c2")
    cloud.gather_migrations = lambda filters: {CELL: nova_context.did_not_respond_sentinel}  # type: ignore[method-assign]
    assert PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(0))) == []


def test_the_wait_for_a_destination_ends_far_before_the_schedulers_rpc_timeout() -> None:
    # The conductor's select_destinations call waits oslo.messaging's rpc_response_timeout (60 s by
    # default) for the whole filter chain: a member's wait and its reads must stay well inside it.
    assert 0 < PodFilter.destination_poll < PodFilter.destination_wait
    assert PodFilter.destination_wait + 2 * PodFilter.lookup_timeout < 60 / 4


def sized(name: str, free_vcpus: int, free_ram_mb: int, ratio: float = 1.0) -> Any:
    """A host state as the host manager fills it from its compute node (48 vCPUs, 64 GiB)."""
    state = host_manager.HostState(name, name, CELL)
    state.vcpus_total, state.vcpus_used, state.cpu_allocation_ratio = 48, 48 - free_vcpus, ratio
    state.total_usable_ram_mb, state.free_ram_mb, state.ram_allocation_ratio = 65536, free_ram_mb, 1.0
    state.total_usable_disk_gb, state.free_disk_mb, state.disk_allocation_ratio = 0, 0, 1.0
    return state


def test_an_anchor_goes_only_where_its_whole_pod_fits(cloud: FakeCloud) -> None:
    # A move: the anchor's row in its cell says its members need 12 vCPUs, 24 GiB.
    anchor = cloud.add(0, "source", anchor=True, **{INSTANCE_POD_ROOM_METADATA_KEY: "12,24576,0"})
    request = spec(pod_key(0), anchor=True, instance=anchor)
    request.flavor = objects.Flavor(vcpus=8, memory_mb=16384, root_gb=0, ephemeral_gb=0, swap=0)
    candidates = [
        sized("room-for-the-anchor-only", 10, 65536),  # before: chosen, and its members stranded
        sized("short-of-ram", 40, 30000),
        sized("room-for-the-pod", 20, 40960),
        sized("room-with-overcommit", 10, 65536, ratio=2.0),  # 96 - 38 = 58 vCPUs free
    ]
    assert names(PodFilter().filter_all(candidates, request)) == ["room-for-the-pod", "room-with-overcommit"]


def test_an_anchor_whose_room_cannot_be_read_gets_no_host(cloud: FakeCloud) -> None:
    anchor = cloud.add(0, None, anchor=True, **{INSTANCE_POD_ROOM_METADATA_KEY: "lots"})
    request = spec(pod_key(0), anchor=True, instance=anchor)
    assert PodFilter().filter_all([sized("c1", 48, 65536)], request) == []


def test_an_anchor_without_room_metadata_and_members_are_not_sized(cloud: FakeCloud) -> None:
    anchor = cloud.add(0, None, anchor=True)  # an anchor booted before webex_pod_room
    assert names(
        PodFilter().filter_all([sized("c1", 1, 1)], spec(pod_key(0), anchor=True, instance=anchor))
    ) == ["c1"]
    cloud.add(1, "c2", anchor=True, **{INSTANCE_POD_ROOM_METADATA_KEY: "40,60000,0"})
    assert names(PodFilter().filter_all([sized("c2", 1, 1)], spec(pod_key(1)))) == ["c2"]


class FakeApiDatabase:
    """The API database's ``build_requests`` table: Nova's ``BuildRequest`` object writes and reads it."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.reads = 0

    def insert(self, context: Any, updates: dict[str, Any]) -> dict[str, Any]:
        row = {"id": len(self.rows) + 1, "created_at": None, "updated_at": None, **updates}
        self.rows[updates["instance_uuid"]] = row
        return row

    def select(self, context: Any, instance_uuid: str) -> dict[str, Any]:
        self.reads += 1
        if instance_uuid not in self.rows:
            raise exception.BuildRequestNotFound(uuid=instance_uuid)
        return self.rows[instance_uuid]


@pytest.fixture
def api_db() -> Iterator[FakeApiDatabase]:
    fake = FakeApiDatabase()
    with (
        mock.patch.object(objects.BuildRequest, "_create_in_db", side_effect=fake.insert),
        mock.patch.object(objects.BuildRequest, "_get_by_instance_uuid_from_db", side_effect=fake.select),
    ):
        yield fake


def flavor(vcpus: int, ram_mb: int) -> Any:
    return objects.Flavor(vcpus=vcpus, memory_mb=ram_mb, root_gb=0, ephemeral_gb=0, swap=0, extra_specs={})


def post_server(
    pod: int, role: str, size: Any, count: int = 1, room: str | None = None, group: Any = None
) -> Any:
    """The API half of ``POST /servers``, as nova 34 builds a create's records before the scheduler runs.

    ``nova/compute/api.py``: ``API.create`` turns the hints into filter properties
    (``scheduler_utils.build_filter_properties``); ``_create_instance`` reads the ``group`` hint's group
    (``_get_requested_instance_group``); ``_provision_instances``, for each of the request's instances,
    builds its ``RequestSpec.from_components`` with ``num_instances`` set to the request's count, and an
    ``Instance`` it does not store ("Create an instance object, but do not store in db yet"), kept in a
    ``BuildRequest`` in the API database. Every instance of one request gets the same hints and metadata.
    The conductor schedules with the first spec (``conductor/manager.py`` ``schedule_and_build_instances``).
    """
    context = nova_context.RequestContext(user_id="user", project_id="project", is_admin=False)
    hints: dict[str, Any] = {NOVA_POD_HINT: pod_key(pod)}
    if group is not None:
        hints["group"] = group.uuid
    properties = scheduler_utils.build_filter_properties(hints, None, None, size)
    metadata = {
        INSTANCE_SERVICE_METADATA_KEY: SERVICE,
        INSTANCE_POD_METADATA_KEY: pod_key(pod),
        INSTANCE_POD_ROLE_METADATA_KEY: role,
        **({INSTANCE_POD_ROOM_METADATA_KEY: room} if room is not None else {}),
    }
    specs = []
    for _ in range(count):
        instance_uuid = str(uuid.uuid4())
        spec = objects.RequestSpec.from_components(
            context, instance_uuid, {}, size, None, None, properties, group, None
        )
        spec.num_instances = count
        instance = objects.Instance(context=context, uuid=instance_uuid, metadata=metadata)
        objects.BuildRequest(
            context,
            instance=instance,
            instance_uuid=instance_uuid,
            project_id="project",
            block_device_mappings=objects.BlockDeviceMappingList(),
            tags=objects.TagList(),
        ).create()
        if group is not None:
            group.members.append(instance_uuid)  # InstanceGroup.add_members, before the scheduler runs
        specs.append(spec)
    return specs


def schedule(cloud: FakeCloud, api_db: FakeApiDatabase, specs: list[Any], candidates: list[Any]) -> list[str]:
    """The scheduler and conductor for one create: each instance's host, written to the cell after.

    ``nova/scheduler/manager.py`` ``_schedule``: one spec for all, its ``instance_uuid`` set to each
    instance's in turn, each instance filtered from the hosts left for the one before, the chosen host
    consumed and added to the group by Nova's own ``_consume_selected_host``. Then the conductor's
    ``schedule_and_build_instances`` creates each instance in its cell and deletes its build request.
    """
    request = specs[0]
    instance_uuids = [spec.instance_uuid for spec in specs]
    filters = [affinity_filter.ServerGroupAntiAffinityFilter(), PodFilter()]
    handler = nova_filters.HostFilterHandler()
    remaining, chosen = candidates, []
    for index, instance_uuid in enumerate(instance_uuids):
        request.instance_uuid = instance_uuid
        remaining = handler.get_filtered_objects(filters, remaining, request, index)
        if not remaining:
            raise exception.NoValidHost(reason="")
        host = remaining[0]
        scheduler_manager.SchedulerManager._consume_selected_host(host, request, instance_uuid=instance_uuid)
        chosen.append(host.host)
    for instance_uuid, host_name in zip(instance_uuids, chosen, strict=True):
        cloud.instances[instance_uuid] = (host_name, row_metadata(api_db.rows.pop(instance_uuid)))
    return chosen


def row_metadata(row: dict[str, Any]) -> dict[str, str]:
    return dict(objects.BuildRequest._from_db_object(None, objects.BuildRequest(), row).instance.metadata)


def service_group() -> Any:
    return objects.InstanceGroup(uuid=str(uuid.uuid4()), policy="anti-affinity", members=[], hosts=[])


def test_created_pods_are_sized_from_the_anchors_build_request(
    cloud: FakeCloud, api_db: FakeApiDatabase
) -> None:
    # The program's creates, one server per request: each anchor, then each of its members.
    group = service_group()
    anchor, member = flavor(2, 4096), flavor(4, 16384)
    candidates = [
        sized("room-for-the-anchor-only", 20, 20000),  # first in the list: an anchor not sized lands here
        sized("room-for-one-pod", 20, 40000),
        sized("room-for-another-pod", 20, 40000),
    ]
    pods = []
    for pod in range(2):
        hosts_of_pod = schedule(
            cloud, api_db, post_server(pod, ANCHOR_ROLE, anchor, room="8,32768,0", group=group), candidates
        )
        for _ in range(2):
            hosts_of_pod += schedule(cloud, api_db, post_server(pod, MEMBER_ROLE, member), candidates)
        pods.append(hosts_of_pod)
    assert pods == [["room-for-one-pod"] * 3, ["room-for-another-pod"] * 3]
    # A third pod's anchor fits on the free host alone, its pod does not: refused, not stranded.
    with pytest.raises(exception.NoValidHost):
        schedule(
            cloud, api_db, post_server(2, ANCHOR_ROLE, anchor, room="8,32768,0", group=group), candidates
        )


def test_a_multi_create_of_members_joins_the_anchor_without_an_api_database_read(
    cloud: FakeCloud, api_db: FakeApiDatabase
) -> None:
    group = service_group()
    candidates = [sized("small", 20, 20000), sized("large", 40, 60000)]
    assert schedule(
        cloud,
        api_db,
        post_server(0, ANCHOR_ROLE, flavor(2, 4096), room="12,49152,0", group=group),
        candidates,
    ) == ["large"]
    reads = api_db.reads
    members = post_server(0, MEMBER_ROLE, flavor(4, 16384), count=3)
    assert members[0].num_instances == 3
    assert schedule(cloud, api_db, members, candidates) == ["large"] * 3
    assert api_db.reads == reads  # a member needs no room: only its anchor's host


def test_a_multi_create_of_anchors_sizes_each_host_from_the_first_build_request(
    cloud: FakeCloud, api_db: FakeApiDatabase
) -> None:
    # The closest a single request comes to a whole pod: one request gives every instance the same
    # hints and metadata, so a pod's anchor and members cannot share one. Anchors land apart (the
    # group, re-checked per instance), each on a host that passed the room check.
    candidates = [sized("small", 20, 20000), sized("large-1", 40, 60000), sized("large-2", 40, 60000)]
    anchors = post_server(0, ANCHOR_ROLE, flavor(2, 4096), count=2, room="12,49152,0", group=service_group())
    assert schedule(cloud, api_db, anchors, candidates) == ["large-1", "large-2"]
    assert api_db.reads == 1


def test_a_slow_build_request_read_fails_closed_within_the_timeout(
    cloud: FakeCloud, api_db: FakeApiDatabase
) -> None:
    (request,) = post_server(0, ANCHOR_ROLE, flavor(2, 4096), room="8,32768,0", group=service_group())
    answer = api_db.select

    def slow(*args: Any) -> dict[str, Any]:
        time.sleep(3)  # the API database under a lock
        return answer(*args)

    with mock.patch.object(objects.BuildRequest, "_get_by_instance_uuid_from_db", side_effect=slow):
        started = time.monotonic()
        assert PodFilter().filter_all([sized("c1", 48, 65536)], request) == []
        assert time.monotonic() - started < 2.9


def test_a_move_reads_the_row_and_not_the_api_database(cloud: FakeCloud, api_db: FakeApiDatabase) -> None:
    anchor = cloud.add(0, "source", anchor=True, **{INSTANCE_POD_ROOM_METADATA_KEY: "12,24576,0"})
    request = spec(pod_key(0), anchor=True, instance=anchor)
    request.flavor = flavor(8, 16384)
    passing = PodFilter().filter_all([sized("small", 10, 65536), sized("large", 20, 40960)], request)
    assert (names(passing), api_db.reads) == (["large"], 0)


def test_an_anchor_with_neither_row_nor_build_request_is_not_sized(
    cloud: FakeCloud, api_db: FakeApiDatabase
) -> None:
    # A server deleted while it is scheduled (the conductor then builds nothing), or a moved anchor
    # whose webex_service metadata was removed: no room known, as for an anchor booted before the key.
    assert names(PodFilter().filter_all([sized("c1", 1, 1)], spec(pod_key(0), anchor=True))) == ["c1"]
    assert api_db.reads == 1


@pytest.mark.parametrize("raw", ["chat-pod-0", ["a/b/c", "d/e/f"], "a/b"])
def test_malformed_hint_rejects_every_host(cloud: FakeCloud, raw: object) -> None:
    assert PodFilter().filter_all(hosts("c1", "c2"), spec(raw)) == []
    assert cloud.reads == 0


def test_unanswered_cell_rejects_every_host(cloud: FakeCloud) -> None:
    cloud.cell_down = True
    assert PodFilter().filter_all(hosts("c2"), spec(pod_key(0), anchor=True)) == []


def test_a_three_second_lookup_fails_closed_within_the_timeout(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.add(0, "c1", anchor=True)
    answer = cloud.gather

    def slow(*args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(3)  # a database under a lock, or a cell that stopped answering
        return answer(*args, **kwargs)

    with mock.patch.object(nova_context, "scatter_gather_skip_cell0", side_effect=slow):
        started = time.monotonic()
        result = PodFilter().filter_all(hosts("c1", "c2"), spec(pod_key(1), anchor=True))
        waited = time.monotonic() - started
    assert result == []
    assert PodFilter.lookup_timeout <= waited < 2.9
    assert "did not answer within 2 s" in caplog.text


def test_host_passes_is_the_same_rule_for_one_host(cloud: FakeCloud) -> None:
    cloud.add(0, "c1", anchor=True)
    c1, c2 = hosts("c1", "c2")
    request = spec(pod_key(1), anchor=True)
    assert (PodFilter().host_passes(c1, request), PodFilter().host_passes(c2, request)) == (False, True)


def test_real_host_manager_loads_ours_by_dotted_path_next_to_nova_anti_affinity(cloud: FakeCloud) -> None:
    from webex_scheduler_filters import render

    CONF.set_override(
        "available_filters",
        ["nova.scheduler.filters.all_filters", render.NOVA_FILTER_PATH],
        group="filter_scheduler",
    )
    CONF.set_override(
        "enabled_filters",
        ["ServerGroupAntiAffinityFilter", render.NOVA_FILTER_NAME],
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
            "ServerGroupAntiAffinityFilter",
            "PodFilter",
        ]
        other = cloud.add(0, "c1", anchor=True)
        request = spec(pod_key(1), anchor=True)
        request.instance_group.members = [other]
        request.instance_group.policies = ["anti-affinity"]
        states = hosts("c1", "c2", "c3")
        states[0].instances = {other: None}
        assert names(manager.get_filtered_hosts(states, request)) == ["c2", "c3"]
    finally:
        CONF.clear_override("available_filters", group="filter_scheduler")
        CONF.clear_override("enabled_filters", group="filter_scheduler")


hint_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=80),
    st.binary(max_size=20),
    st.lists(st.one_of(st.text(max_size=40), st.integers(), st.none()), max_size=5),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.sampled_from([pod_key(0), pod_key(1), "dc1/chat/x"]),
)


class OddHost:
    def __init__(self, host: object) -> None:
        self.host = host


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=hint_values,
    anchor=st.booleans(),
    host_names=st.lists(
        st.one_of(st.text(max_size=10), st.none(), st.integers(), st.lists(st.integers(), max_size=2)),
        max_size=6,
    ),
)
def test_fuzz_never_raises_and_never_passes_another_pods_host(
    cloud: FakeCloud, raw: object, anchor: bool, host_names: list[object]
) -> None:
    cloud.instances.clear()
    cloud.add(5, "c1", anchor=True)
    candidates = [OddHost(h) for h in host_names] + hosts("c1", "c9")
    request = spec(anchor=anchor)
    # Stored behind the field's type coercion, as a corrupt or foreign request spec carries them.
    request._obj_scheduler_hints = {NOVA_POD_HINT: raw}
    result = PodFilter().filter_all(candidates, request)
    # Nova hands a one-element list over as its element (RequestSpec.get_scheduler_hint).
    seen = request.get_scheduler_hint(NOVA_POD_HINT)
    if seen is None or seen in ("", []):
        assert result == candidates
    else:
        assert "c1" not in [h.host for h in result]
        assert all(isinstance(h.host, str) and h.host for h in result)
