"""Backup restore of a volume replica through Cinder 29's real backup API and metadata restore.

The loopback OpenStack runs no cinder-backup, so restore is proven here. What cinder 29.0.0 does:

- ``cinder/backup/api.py`` ``API.restore`` without a ``volume_id`` calls
  ``self.volume_api.create(context, size, name, description)``: no metadata, no scheduler hints.
  The scheduler sees no group key and the spread cannot constrain where the volume lands.
- ``cinder/backup/driver.py`` ``BackupMetadataAPI``: ``get`` saves the volume's metadata with
  the backup, ``put`` (``BackupDriver.put_metadata``, called by the chunked drivers after the
  data) restores it with ``volume_metadata_update(..., delete=True)``: the backup's metadata,
  group key included, *replaces* the target's. ``_restore_vol_base_meta`` also gives an
  auto-created target (named ``restore_backup_<id>``) the backed-up volume's name.

Only the boundaries are replaced: the RPC cast to cinder-backup, and ``volume_api.create``, which
records what restore asks for and schedules it through the real FilterScheduler with the request
the create flow builds from those arguments (``cinder/volume/api.py`` ``create``: ``metadata or
{}``; ``cinder/volume/flows/api/create_volume.py`` ``VolumeCastTask``: scheduler hints only if given).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from cinder import context as cinder_context
from cinder import objects
from cinder.backup import api as backup_api
from cinder.backup import driver as backup_driver
from cinder.backup import rpcapi as backup_rpcapi
from cinder.db import api as db
from cinder.objects import fields
from cinder.scheduler import filter_scheduler

from conftest import GROUP, Cloud, layout, with_backends
from webex_scheduler_filters.cinder_filter import VolumeGroupSpreadFilter
from webex_scheduler_filters.hints import NOT_A_REPLICA, REPLICA_METADATA_KEY, VOLUME_GROUP_METADATA_KEY

BACKUP_HOST = "backup-1"
DOMAIN_OF = {"cinder-a@ssd#p1": "rack-a", "cinder-b@ssd#p1": "rack-b", "cinder-c@ssd#p1": "rack-c"}


@dataclass
class Restore:
    """Cinder's real backup API with its two outbound calls recorded."""

    api: backup_api.API
    creates: list[mock._Call] = field(default_factory=list)
    casts: list[mock._Call] = field(default_factory=list)


def create_spec(
    volume_id: str,
    size: int,
    project: str,
    metadata: dict[str, str] | None,
    name: str | None = None,
    description: str | None = None,
    **origin: str,
) -> dict[str, Any]:
    """The request spec of the create flow (``volume/flows/api/create_volume.py``): the volume's
    properties (its name and description among them) and the ids it is made from."""
    return {
        "volume_id": volume_id,
        "volume_type": {"name": "replica", "extra_specs": {}},
        "volume_properties": {
            "size": size,
            "project_id": project,
            "metadata": metadata or {},
            "display_name": name,
            "display_description": description,
        },
        "source_volid": None,
        "snapshot_id": None,
        "backup_id": None,
        **origin,
    }


@pytest.fixture
def restore(cloud: Cloud, scheduler: filter_scheduler.FilterScheduler) -> Iterator[Restore]:
    # A live cinder-backup service: API.restore picks the host to cast to from the services table.
    db.service_create(
        cinder_context.get_admin_context(),
        {
            "host": BACKUP_HOST,
            "binary": "cinder-backup",
            "topic": "cinder-backup",
            "availability_zone": "nova",
            "disabled": False,
            # The RPC clients refuse to talk to a service that reports no version.
            "rpc_current_version": backup_rpcapi.BackupAPI.RPC_API_VERSION,
            "object_current_version": objects.base.OBJ_VERSIONS.get_current(),
        },
    )
    with mock.patch("cinder.rpc.get_client"), mock.patch("cinder.rpc.get_notifier"):
        recorded = Restore(backup_api.API())

    def create(context: Any, size: int, name: str, description: str, **kwargs: Any) -> dict[str, Any]:
        recorded.creates.append(mock.call(context, size, name, description, **kwargs))
        volume_id = str(uuid.uuid4())
        # Cinder would give it the default volume type; no filter in the chain reads its name.
        spec = create_spec(volume_id, size, cloud.project, kwargs.get("metadata"), name, description)
        hints = kwargs.get("scheduler_hints")
        properties = {"scheduler_hints": hints} if hints else {}
        # The create flow writes the volume row before it casts to the scheduler.
        db.volume_create(
            cinder_context.get_admin_context(),
            {
                "id": volume_id,
                "volume_type_id": cloud.volume_type,
                "project_id": cloud.project,
                "size": size,
                "display_name": name,
                "display_description": description,
                "status": "creating",
                "metadata": kwargs.get("metadata") or {},
            },
        )
        with with_backends(scheduler, layout()):
            chosen = scheduler._schedule(context, spec, properties)
        assert chosen is not None, "no valid backend for the restore's volume"
        db.volume_update(
            cinder_context.get_admin_context(), volume_id, {"host": chosen.obj.host, "status": "available"}
        )
        return {"id": volume_id}

    def cast(context: Any, host: str, backup: Any, volume_id: str, volume_is_new: bool) -> None:
        recorded.casts.append(mock.call(host, backup.id, volume_id, volume_is_new))

    with (
        mock.patch.object(recorded.api.volume_api, "create", side_effect=create),
        mock.patch.object(recorded.api.backup_rpcapi, "restore_backup", side_effect=cast),
    ):
        yield recorded


def member(cloud: Cloud) -> cinder_context.RequestContext:
    """A project member's context, as keystonemiddleware builds it: restore is a member's action."""
    return cinder_context.RequestContext(user_id="user", project_id=cloud.project, roles=["member", "reader"])


def replica(cloud: Cloud, index: int, host: str) -> str:
    return cloud.add_volume(
        GROUP, host, name=f"dc1-store-{index}", metadata={REPLICA_METADATA_KEY: str(index)}
    )


def back_up(cloud: Cloud, volume_id: str) -> tuple[str, str]:
    """A finished backup of the volume and the metadata cinder-backup stored with it."""
    admin = cinder_context.get_admin_context()
    saved = backup_driver.BackupMetadataAPI(admin).get(volume_id)
    backup = objects.Backup(
        context=admin,
        volume_id=volume_id,
        user_id="user",
        project_id=cloud.project,
        host=BACKUP_HOST,
        availability_zone="nova",
        status=fields.BackupStatus.AVAILABLE,
        size=1,
    )
    backup.create()
    return backup.id, saved


def lose_backed_up_replica(cloud: Cloud) -> tuple[str, str]:
    """Replica 0 on rack-a; replica 1, on rack-b, backed up and then lost."""
    replica(cloud, 0, "cinder-a@ssd#p1")
    lost = replica(cloud, 1, "cinder-b@ssd#p1")
    backed_up = back_up(cloud, lost)
    db.volume_destroy(cinder_context.get_admin_context(), lost)
    return backed_up


def put_metadata(volume_id: str, saved: str) -> None:
    """What the backup driver does once the data is restored."""
    backup_driver.BackupMetadataAPI(cinder_context.get_admin_context()).put(volume_id, saved)


def siblings(cloud: Cloud) -> list[str]:
    """The group's placed replicas as the filter finds them."""
    found = VolumeGroupSpreadFilter().placed_siblings(cloud.properties(GROUP), GROUP)
    return sorted(location.host for location in found)


def next_replica_hosts(cloud: Cloud, scheduler: filter_scheduler.FilterScheduler) -> list[str]:
    spec = create_spec(str(uuid.uuid4()), 1, cloud.project, {VOLUME_GROUP_METADATA_KEY: GROUP})
    with with_backends(scheduler, layout()):
        chosen = scheduler._get_weighted_candidates(cloud.context, spec, cloud.properties(GROUP))
    return sorted(w.obj.host for w in chosen)


def test_restore_of_a_lost_replica_to_a_new_volume_is_spread_and_joins_the_group(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler, restore: Restore
) -> None:
    backup_id, saved = lose_backed_up_replica(cloud)

    context = member(cloud)
    result = restore.api.restore(context, backup_id)

    (asked,) = restore.creates
    # Cinder asks for the volume with no metadata and no hint: only its name says it is a restore.
    assert asked == mock.call(
        context, 1, f"restore_backup_{backup_id}", "auto-created_from_restore_from_backup"
    )
    new = result["volume_id"]
    assert restore.casts == [mock.call(BACKUP_HOST, backup_id, new, True)]
    # Placed out of the surviving sibling's rack, although CapacityWeigher prefers rack-a
    # (before: rack-a, the replicas shared it), and linked to the lost replica's group.
    restored = db.volume_get(cinder_context.get_admin_context(), new)
    assert DOMAIN_OF[restored.host] != "rack-a"
    admin_link = db.volume_admin_metadata_get(cinder_context.get_admin_context(), new)
    assert admin_link[VOLUME_GROUP_METADATA_KEY] == GROUP
    assert siblings(cloud) == sorted(["cinder-a@ssd#p1", restored.host])

    put_metadata(new, saved)

    assert db.volume_metadata_get(cloud.context, new) == {
        VOLUME_GROUP_METADATA_KEY: GROUP,
        REPLICA_METADATA_KEY: "1",
    }
    assert db.volume_get(cinder_context.get_admin_context(), new).display_name == "dc1-store-1"
    # The group is whole again, in two racks; the next replica goes to the third.
    assert siblings(cloud) == sorted(["cinder-a@ssd#p1", restored.host])
    assert next_replica_hosts(cloud, scheduler) == sorted(
        h for h, d in DOMAIN_OF.items() if d not in {"rack-a", DOMAIN_OF[restored.host]}
    )


def test_restore_after_the_source_was_purged_never_joins_the_group_silently(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler, restore: Restore
) -> None:
    """`cinder-manage db purge` removed the lost replica's row and its metadata (cinder 29
    ``cinder/db/api.py`` ``purge_deleted_rows``; a negative age purges every deleted row): whether the
    backup's source was a replica cannot be told any more. Before, the restored volume got no link and
    the backup's metadata restore then made it a sibling by its user key, wherever it had landed."""
    backup_id, saved = lose_backed_up_replica(cloud)
    db.purge_deleted_rows(cinder_context.get_admin_context(), age_in_days=-1)

    new = restore.api.restore(member(cloud), backup_id)["volume_id"]
    put_metadata(new, saved)

    admin = cinder_context.get_admin_context()
    # It carries the replica's key and name, as the backup restored them, but its link says no replica.
    assert db.volume_metadata_get(cloud.context, new)[VOLUME_GROUP_METADATA_KEY] == GROUP
    assert db.volume_admin_metadata_get(admin, new) == {VOLUME_GROUP_METADATA_KEY: NOT_A_REPLICA}
    assert siblings(cloud) == ["cinder-a@ssd#p1"]
    assert next_replica_hosts(cloud, scheduler) == ["cinder-b@ssd#p1", "cinder-c@ssd#p1"]


def test_restore_of_a_live_replica_to_a_new_volume_is_a_copy_never_a_member(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler, restore: Restore
) -> None:
    replica(cloud, 0, "cinder-a@ssd#p1")
    backup_id, saved = back_up(cloud, replica(cloud, 1, "cinder-b@ssd#p1"))

    new = restore.api.restore(member(cloud), backup_id)["volume_id"]
    put_metadata(new, saved)

    # The copy landed where CapacityWeigher put it (rack-a) and its user metadata names the
    # group; before, that made it a third "replica" in rack-a and refused the next replica
    # rack-a *and* rack-b's siblings. Now its admin link says it is no replica.
    assert DOMAIN_OF[db.volume_get(cinder_context.get_admin_context(), new).host] == "rack-a"
    assert db.volume_metadata_get(cloud.context, new)[VOLUME_GROUP_METADATA_KEY] == GROUP
    assert db.volume_admin_metadata_get(cinder_context.get_admin_context(), new) == {
        VOLUME_GROUP_METADATA_KEY: NOT_A_REPLICA
    }
    assert siblings(cloud) == ["cinder-a@ssd#p1", "cinder-b@ssd#p1"]
    assert next_replica_hosts(cloud, scheduler) == ["cinder-c@ssd#p1"]


def test_volume_from_a_replicas_snapshot_stays_on_its_backend_and_out_of_the_group(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler
) -> None:
    replica(cloud, 0, "cinder-a@ssd#p1")
    source = replica(cloud, 1, "cinder-b@ssd#p1")
    admin = cinder_context.get_admin_context()
    snapshot = db.snapshot_create(
        admin,
        {
            "volume_id": source,
            "project_id": cloud.project,
            "user_id": "user",
            "volume_size": 1,
            "status": "available",
            "volume_type_id": cloud.volume_type,
        },
    )
    # What VolumeCastTask sends for a create from snapshot (snapshot_same_host): the snapshot's
    # backend only, as a scheduler check of its capacity.
    copy = cloud.add_volume(None, None, name="from-snapshot")
    spec = create_spec(copy, 1, cloud.project, None, "from-snapshot", None, snapshot_id=snapshot.id)
    with with_backends(scheduler, [b for b in layout() if b.host == "cinder-b@ssd#p1"]):
        chosen = scheduler._schedule(member(cloud), spec, {})
    assert chosen is not None and chosen.obj.host == "cinder-b@ssd#p1"
    db.volume_update(admin, copy, {"host": chosen.obj.host, "status": "available"})
    # A member copies the group key onto it: still no sibling.
    db.volume_metadata_update(cloud.context, copy, {VOLUME_GROUP_METADATA_KEY: GROUP}, False)
    assert db.volume_admin_metadata_get(admin, copy) == {VOLUME_GROUP_METADATA_KEY: NOT_A_REPLICA}
    assert siblings(cloud) == ["cinder-a@ssd#p1", "cinder-b@ssd#p1"]
    assert next_replica_hosts(cloud, scheduler) == ["cinder-c@ssd#p1"]


def test_restore_into_a_replacement_created_with_its_hint_keeps_the_replicas_apart(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler, restore: Restore
) -> None:
    backup_id, saved = lose_backed_up_replica(cloud)
    # The replacement as the VolumeGroup component creates it: hint and metadata.
    spec = create_spec(str(uuid.uuid4()), 1, cloud.project, {VOLUME_GROUP_METADATA_KEY: GROUP})
    with with_backends(scheduler, layout()):
        chosen = scheduler._schedule(cloud.context, spec, cloud.properties(GROUP)).obj.host
    assert DOMAIN_OF[chosen] != "rack-a"
    replacement = replica(cloud, 1, chosen)

    restore.api.restore(member(cloud), backup_id, volume_id=replacement)

    assert restore.creates == []
    assert restore.casts == [mock.call(BACKUP_HOST, backup_id, replacement, False)]
    put_metadata(replacement, saved)
    assert db.volume_metadata_get(cloud.context, replacement)[VOLUME_GROUP_METADATA_KEY] == GROUP
    hosts = [v.host for v in db.volume_get_all(cinder_context.get_admin_context())]
    assert sorted(DOMAIN_OF[h] for h in hosts) == sorted({DOMAIN_OF[h] for h in hosts})
    assert next_replica_hosts(cloud, scheduler) == sorted(
        h for h, d in DOMAIN_OF.items() if d not in {"rack-a", DOMAIN_OF[chosen]}
    )


def test_restore_into_another_groups_volume_relabels_it_but_its_link_keeps_it_out(
    cloud: Cloud, scheduler: filter_scheduler.FilterScheduler, restore: Restore
) -> None:
    backup_id, saved = back_up(cloud, replica(cloud, 1, "cinder-b@ssd#p1"))
    other = cloud.add_volume("dc1/other/store", None, name="dc1-other-0")
    # Placed by the filter as the component creates it: linked to its own group.
    spec = create_spec(other, 1, cloud.project, {VOLUME_GROUP_METADATA_KEY: "dc1/other/store"})
    with with_backends(scheduler, [b for b in layout() if b.host == "cinder-c@ssd#p1"]):
        chosen = scheduler._schedule(cloud.context, spec, {})
    db.volume_update(
        cinder_context.get_admin_context(), other, {"host": chosen.obj.host, "status": "available"}
    )

    restore.api.restore(member(cloud), backup_id, volume_id=other)
    put_metadata(other, saved)

    assert db.volume_metadata_get(cloud.context, other)[VOLUME_GROUP_METADATA_KEY] == GROUP
    assert db.volume_get(cinder_context.get_admin_context(), other).display_name == "dc1-other-0"
    # The user key moved; the admin link did not: not a sibling of the backup's group.
    assert siblings(cloud) == ["cinder-b@ssd#p1"]
