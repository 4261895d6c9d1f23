"""Retype, migrate, manage, clusters and down backends through Cinder's real FilterScheduler.

Cinder 29 hands the filters no scheduler hints on these paths (``volume/api.py`` retype passes
``filter_properties={}``, migrate and manage none); the group key is in the volume's metadata,
which ``FilterScheduler.populate_filter_properties`` copies to ``filter_properties['metadata']``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cinder import context as cinder_context
from cinder import exception
from cinder.scheduler import filter_scheduler

from conftest import CONF, GROUP, Cloud, layout, pool, with_backends
from webex_scheduler_filters import render
from webex_scheduler_filters.hints import VOLUME_GROUP_METADATA_KEY


def request_spec(cloud: Cloud, volume_id: str, host: str, project: str | None = None) -> dict[str, Any]:
    """What the volume API builds from the volume for retype, migrate and manage: no hints."""
    return {
        "volume_id": volume_id,
        "volume_type": {"name": "replica", "extra_specs": {}},
        "volume_properties": {
            "size": 1,
            "host": host,
            "project_id": project or cloud.project,
            "metadata": {VOLUME_GROUP_METADATA_KEY: GROUP},
        },
    }


def test_retype_with_migration_keeps_the_replica_out_of_its_siblings_domain(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    cloud.add_volume(GROUP, "cinder-a@ssd#p1")
    moving = cloud.add_volume(GROUP, "cinder-old@ssd#p1")  # on a backend being retired
    spec = request_spec(cloud, moving, "cinder-old@ssd#p1")
    with with_backends(scheduler, layout()):
        chosen = scheduler.find_retype_backend(cloud.context, spec, {}, migration_policy="on-demand")
    assert chosen.host != "cinder-a@ssd#p1"


def test_migrate_into_a_used_domain_is_refused_and_elsewhere_allowed(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    cloud.add_volume(GROUP, "cinder-a@ssd#p1")
    moving = cloud.add_volume(GROUP, "cinder-c@ssd#p1")
    admin = cinder_context.get_admin_context()  # migrate is an admin action, in the admin's project
    spec = request_spec(cloud, moving, "cinder-c@ssd#p1")
    with with_backends(scheduler, layout()):
        with pytest.raises(exception.NoValidBackend):
            scheduler.backend_passes_filters(admin, "cinder-a@ssd#p1", spec, {})
        assert scheduler.backend_passes_filters(admin, "cinder-b@ssd#p1", spec, {}).host == "cinder-b@ssd#p1"


def test_manage_existing_with_the_group_metadata_is_spread_too(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    cloud.add_volume(GROUP, "cinder-b@ssd#p1")
    spec = request_spec(cloud, str(uuid.uuid4()), "cinder-b@ssd#p1")
    with with_backends(scheduler, layout()), pytest.raises(exception.NoValidBackend):
        scheduler.backend_passes_filters(cloud.context, "cinder-b@ssd", spec, {})


def test_sibling_on_a_down_backend_keeps_its_domain_through_the_rendered_map(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    # cinder-a1 (rack-a) is down: no live state reports its label.
    cloud.add_volume(GROUP, "cinder-a1@ssd#p1")
    conf = render.cinder_scheduler_conf(failure_domains={"rack-a": ["cinder-a1@ssd", "cinder-a2@ssd"]})
    CONF.set_override("failure_domains", conf.rsplit("= ", 1)[1].strip(), group="webex_scheduler_filters")
    try:
        backends = [pool("cinder-a2@ssd", None, free=4000), pool("cinder-b@ssd", "rack-b")]
        with with_backends(scheduler, backends):
            chosen = scheduler._get_weighted_candidates(cloud.context, request_spec(cloud, "new", "x"), {})
        assert [w.obj.host for w in chosen] == ["cinder-b@ssd#p1"]
    finally:
        CONF.clear_override("failure_domains", group="webex_scheduler_filters")


def test_active_active_cluster_sibling_matched_by_cluster_when_its_representative_host_changes(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    sibling = cloud.add_volume(GROUP, "node1@rbd#p1")
    from cinder.db import api as db

    db.volume_update(cinder_context.get_admin_context(), sibling, {"cluster_name": "cluster-a@rbd#p1"})
    backends = [
        pool("node2@rbd", "rack-a", free=4000, cluster="cluster-a@rbd"),
        pool("cinder-b@ssd", "rack-b"),
    ]
    with with_backends(scheduler, backends):
        chosen = scheduler._get_weighted_candidates(cloud.context, request_spec(cloud, "new", "x"), {})
    assert [w.obj.host for w in chosen] == ["cinder-b@ssd#p1"]


def test_retype_after_a_member_deletes_the_group_key_keeps_the_spread(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    from cinder.db import api as db

    admin = cinder_context.get_admin_context()
    cloud.add_volume(GROUP, "cinder-a@ssd#p1")
    moving = cloud.add_volume(GROUP, None)  # as the VolumeGroup component creates it: hint and metadata
    with with_backends(scheduler, layout()):
        placed = scheduler._schedule(
            cloud.context,
            request_spec(cloud, moving, "x"),
            {"scheduler_hints": {VOLUME_GROUP_METADATA_KEY: GROUP}},
        )
    assert placed.obj.host != "cinder-a@ssd#p1"
    # Its backend is being retired, so the retype must move it.
    db.volume_update(admin, moving, {"host": "cinder-old@ssd#p1", "status": "available"})

    # A project member deletes the key (a member's right: cinder/policies/volume_metadata.py), then retypes.
    db.volume_metadata_delete(cloud.context, moving, VOLUME_GROUP_METADATA_KEY)
    retype = request_spec(cloud, moving, "cinder-old@ssd#p1")
    retype["volume_properties"]["metadata"] = {}
    with with_backends(scheduler, layout()):
        chosen = scheduler.find_retype_backend(cloud.context, retype, {}, migration_policy="on-demand")
    assert chosen.host != "cinder-a@ssd#p1"  # CapacityWeigher's choice without the spread

    # Moved there, the keyless replica still keeps the next one out of its rack.
    db.volume_update(admin, moving, {"host": chosen.host})
    with with_backends(scheduler, layout()):
        left = scheduler._get_weighted_candidates(
            cloud.context, request_spec(cloud, str(uuid.uuid4()), "x"), {}
        )
    assert [w.obj.host for w in left] == sorted({"cinder-b@ssd#p1", "cinder-c@ssd#p1"} - {chosen.host})


def test_a_three_second_lookup_fails_closed_within_the_timeout(
    cloud: Cloud,
    scheduler: filter_scheduler.FilterScheduler,
    caplog: pytest.LogCaptureFixture,
    production_deadline: float,
) -> None:
    import time
    from unittest import mock

    from cinder.db import api as db

    cloud.add_volume(GROUP, "cinder-a@ssd#p1")
    answer = db.volume_get_all_by_project

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)  # a database under a lock
        return answer(*args, **kwargs)  # late: dropped by the filter (the fixture waits for it)

    spec = request_spec(cloud, str(uuid.uuid4()), "x")
    with with_backends(scheduler, layout()), mock.patch.object(db, "volume_get_all_by_project", slow):
        started = time.monotonic()
        chosen = scheduler._schedule(cloud.context, spec, {})
        waited = time.monotonic() - started
    assert chosen is None  # schedule_create_volume raises NoValidBackend on it
    assert production_deadline <= waited < 2.9
    assert "did not answer within 2 s" in caplog.text
