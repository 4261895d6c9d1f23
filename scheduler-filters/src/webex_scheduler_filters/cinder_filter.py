"""Cinder adapter: spreads the replicas of one volume group over distinct failure domains.

Registered under the ``cinder.scheduler.filters`` entry point as ``VolumeGroupSpreadFilter``;
enable it with ``[DEFAULT] scheduler_default_filters`` and give it the stack's failure-domain
map with ``[webex_scheduler_filters] failure_domains`` (both rendered by
:mod:`webex_scheduler_filters.render`). Backends may also declare their domain with
``extra_capabilities = {"failure_domain": "<label>"}``; the rendered map wins.

Only APIs present since Zed are used: ``BaseBackendFilter``, ``BackendState.backend_id``/
``cluster_name`` and ``cinder.db.api.volume_get_all_by_project`` with a ``metadata`` filter.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from cinder.scheduler import filters
from oslo_config import cfg
from oslo_log import log as logging

from webex_scheduler_filters import deadline, volume_rules
from webex_scheduler_filters.hints import (
    CINDER_CONFIG_GROUP,
    CINDER_FAILURE_DOMAINS_OPTION,
    CINDER_VOLUME_GROUP_HINT,
    NOT_A_REPLICA,
    VOLUME_GROUP_METADATA_KEY,
)
from webex_scheduler_filters.pod_rules import HintStatus

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.register_opts(
    [
        cfg.StrOpt(
            CINDER_FAILURE_DOMAINS_OPTION,
            default="",
            help="JSON object mapping each '<host or cluster>@<backend>' to its failure domain; "
            "rendered by `python -m webex_scheduler_filters.render cinder-scheduler`.",
        )
    ],
    group=CINDER_CONFIG_GROUP,
)


@functools.lru_cache(maxsize=4)
def _domain_map(raw: str) -> dict[str, str]:
    return volume_rules.parse_domain_map(raw)


class VolumeGroupSpreadFilter(filters.BaseBackendFilter):  # type: ignore[misc]
    """Reject backends whose failure domain already holds a replica of the volume's group.

    The decision needs every candidate backend at once (a sibling's live label is read from its
    backend's state), so the filter works in ``filter_all``, which Cinder's filter handler
    calls, and comes first in ``scheduler_default_filters``.
    """

    #: Seconds the replica lookup may take before the request fails closed.
    lookup_timeout = deadline.LOOKUP_TIMEOUT_SECONDS

    def filter_all(self, filter_obj_list: Iterable[Any], filter_properties: Any) -> list[Any]:
        backends = list(filter_obj_list)
        try:
            request_spec = filter_properties.get("request_spec") or {}
            volume = request_spec.get("volume_properties") or {}
            requested = volume_rules.request_group(
                filter_properties.get("scheduler_hints"),
                filter_properties.get("metadata"),
                volume.get("metadata") if isinstance(volume, Mapping) else None,
            )
            group, siblings = deadline.within(
                self.lookup_timeout,
                "VolumeGroupSpreadFilter's replica lookup",
                lambda: self.group_and_siblings(filter_properties, requested),
            )
            if group.status is HintStatus.ABSENT:
                return backends
            if group.status is HintStatus.MALFORMED:
                # Fail closed: the request says it is a replica, but not of which group, so
                # any backend may share a failure domain with its siblings.
                LOG.warning(
                    "VolumeGroupSpreadFilter: malformed %(key)s (%(problem)s), rejecting all backends",
                    {"key": CINDER_VOLUME_GROUP_HINT, "problem": group.problem},
                )
                return []
            named = [(backend, _location(backend)) for backend in backends]
            live = volume_rules.domains_by_backend(
                (location, getattr(backend, "capabilities", None))
                for backend, location in named
                if location is not None
            )
            static = self.static_domains()
            used = volume_rules.used_domains(siblings, static, live)
        except deadline.LookupTimeout as slow:
            # Fail closed, on time: a stalled database must not stall cinder-scheduler.
            LOG.warning("VolumeGroupSpreadFilter: %(slow)s, rejecting all backends", {"slow": slow})
            return []
        except Exception:
            # Fail closed: without the siblings' placement (or with an unreadable domain map)
            # any choice may stack replicas in one failure domain.
            LOG.warning(
                "VolumeGroupSpreadFilter: cannot read the volume group's replicas, rejecting all backends",
                exc_info=True,
            )
            return []
        # A backend state without a host name cannot be told apart from a sibling's backend.
        passing = [
            backend
            for backend, location in named
            if location is not None
            and volume_rules.domains_pass(volume_rules.domains_of(location, static, live), used)
        ]
        LOG.debug(
            "VolumeGroupSpreadFilter: group %(group)s uses %(used)s, %(left)d of %(total)d backends pass",
            {"group": group.key, "used": sorted(used), "left": len(passing), "total": len(backends)},
        )
        return passing

    def static_domains(self) -> Mapping[str, str]:
        """The rendered failure-domain map of cinder-scheduler's configuration."""
        return _domain_map(getattr(getattr(CONF, CINDER_CONFIG_GROUP), CINDER_FAILURE_DOMAINS_OPTION) or "")

    def group_and_siblings(
        self, filter_properties: Any, requested: volume_rules.GroupHint
    ) -> tuple[volume_rules.GroupHint, list[volume_rules.Location]]:
        """The volume's group (see linked_group) and where its other replicas are."""
        group = self.linked_group(filter_properties, requested)
        if group.status is not HintStatus.VALID:
            return group, []
        return group, self.placed_siblings(filter_properties, group.key)

    def linked_group(
        self, filter_properties: Any, requested: volume_rules.GroupHint
    ) -> volume_rules.GroupHint:
        """The volume's group from the link project members cannot write, else the request's.

        User metadata is writable by every project member (cinder 29 ``cinder/policies/
        volume_metadata.py``), so deleting ``webex_volume_group`` before a retype or migrate
        would place the replica freely and hide it from its siblings. Admin metadata is written
        only with an admin context (``cinder/db/api.py`` ``volume_admin_metadata_update`` is
        ``@require_admin_context``; no API lets a member set it), so the first time the filter
        places a volume of a group it records the group there, and from then on that link
        decides: a deleted or rewritten user key changes nothing. Cinder's ``metadata`` volume
        filter matches user *or* admin metadata (``_process_volume_filters``), so the siblings
        query finds a replica by either.
        """
        # Imported here, not at the top: see placed_siblings.
        from cinder import exception
        from cinder.db import api as db

        request_spec = filter_properties.get("request_spec") or {}
        volume_id = request_spec.get("volume_id")
        if not (isinstance(volume_id, str) and volume_id):
            return requested
        admin = filter_properties["context"].elevated()
        try:
            raw = db.volume_admin_metadata_get(admin, volume_id).get(VOLUME_GROUP_METADATA_KEY)
        except exception.VolumeNotFound:
            return requested  # no volume row (deleted meanwhile): nothing to read or record
        if raw == NOT_A_REPLICA:
            return volume_rules.GroupHint(HintStatus.ABSENT)
        linked = volume_rules.parse_group_hint(raw)
        if linked.status is not HintStatus.ABSENT:
            return linked
        if requested.status is HintStatus.ABSENT:
            requested, link = self.origin_group(filter_properties, request_spec)
            if link:
                db.volume_admin_metadata_update(admin, volume_id, {VOLUME_GROUP_METADATA_KEY: link}, False)
                return requested
        if requested.status is HintStatus.VALID:
            db.volume_admin_metadata_update(
                admin, volume_id, {VOLUME_GROUP_METADATA_KEY: requested.key}, False
            )
        return requested

    def origin_group(
        self, filter_properties: Any, request_spec: Mapping[str, Any]
    ) -> tuple[volume_rules.GroupHint, str]:
        """A copy's group and the link to record: joined only when it replaces a lost replica.

        A volume made from a replica (backup restored to a new volume, create from backup,
        snapshot or clone) comes with no hint and no group metadata; the backup's metadata
        restore (``cinder/backup/driver.py`` ``BackupMetadataAPI.put``) gives it the group key
        only after it is placed. So the filter decides here, from the source replica's link:

        - the source is **gone** (the lost replica being restored): the new volume takes its
          place, spread like any replica, and is linked to the group;
        - the source **still exists** (a copy for inspection; a snapshot or a clone always has
          its source, and Cinder places it on the source's backend, ``VolumeCastTask``
          ``resource_backend``): it is no replica. It is placed freely and linked to
          :data:`NOT_A_REPLICA`, so a restored group key never makes it a sibling.

        - the source's row is **purged** from the database (``cinder-manage db purge`` removes
          soft-deleted rows with their metadata), or the snapshot's or backup's is: whether it was a
          replica cannot be told, and the backup's metadata restore may give it the group key and a
          replica's name afterwards. It is placed freely and linked to :data:`NOT_A_REPLICA`, so
          it never joins the group silently (a purge would otherwise turn a copy into a phantom
          replica that refuses legitimate ones); a lost replica is restored with its spread by
          restoring into the replica the program re-creates with its hint, and the audit reports a
          volume holding a replica's name where the spread does not allow it.

        Returns the group (ABSENT when unconstrained) and the link to record ("" for none: not
        made from a replica, or the source's link is unreadable).
        """
        found = volume_rules.origin(request_spec)
        if found is None:
            return volume_rules.GroupHint(HintStatus.ABSENT), ""
        context = filter_properties["context"]
        source = _source_volume(context, found)
        link = None if source is None else _replica_link(context.elevated(read_deleted="yes"), source)
        if link is None:
            LOG.warning(
                "VolumeGroupSpreadFilter: %(kind)s %(id)s comes from a volume purged from the database: "
                "placed freely and linked as no replica; to restore a lost replica with its spread, "
                "restore into the replica the program re-creates",
                {"kind": found.kind, "id": found.id},
            )
            return volume_rules.GroupHint(HintStatus.ABSENT), NOT_A_REPLICA
        group, gone = link
        if group.status is not HintStatus.VALID:
            return volume_rules.GroupHint(HintStatus.ABSENT), ""
        if gone:
            LOG.info(
                "VolumeGroupSpreadFilter: %(kind)s %(id)s restores lost replica %(source)s of %(group)s",
                {"kind": found.kind, "id": found.id, "source": source, "group": group.key},
            )
            return group, group.key
        return volume_rules.GroupHint(HintStatus.ABSENT), NOT_A_REPLICA

    def placed_siblings(self, filter_properties: Any, group_key: str) -> list[volume_rules.Location]:
        """Where the group's other replicas are, in one database query.

        The query runs in the *volume's* project (an admin migrating it carries the admin's
        project), with the request's context, so a key naming another project's group neither
        reveals nor constrains that project's volumes for a non-admin.
        """
        # Imported here, not at the top: the database layer is only needed when a replica is
        # scheduled, and tools that load the filter without a database (the plan-time proof,
        # next to Nova, whose options clash with cinder.db's) never reach it.
        from cinder.db import api as db

        context = filter_properties["context"]
        request_spec = filter_properties.get("request_spec") or {}
        volume = request_spec.get("volume_properties") or {}
        project = (volume.get("project_id") if isinstance(volume, Mapping) else None) or context.project_id
        own_id = request_spec.get("volume_id")
        # Elevated, still limited to the volume's project: an admin context loads each volume's
        # admin metadata in the same query (``_volume_get_query`` joinedloads it).
        volumes = db.volume_get_all_by_project(
            context.elevated(),
            project,
            None,
            None,
            filters={"metadata": {VOLUME_GROUP_METADATA_KEY: group_key}, "no_migration_targets": True},
        )
        # The volume being scheduled is excluded: on a migration or retype it still sits on
        # its old backend, which must not count against its new one.
        # A volume whose link names no or another group (a copy restored with the group's key,
        # a volume relabelled by another group's restore) is no sibling, whatever its user key.
        return [
            volume_rules.Location(v.host, v.cluster_name or None)
            for v in volumes
            if v.id != own_id and isinstance(v.host, str) and v.host and _linked_to(v, group_key)
        ]


def _linked_to(volume: Any, group_key: str) -> bool:
    """Whether a volume row's admin link (if it has one) names this group."""
    for row in getattr(volume, "volume_admin_metadata", None) or []:
        if row.key == VOLUME_GROUP_METADATA_KEY:
            return bool(row.value == group_key)
    return True


def _source_volume(context: Any, found: volume_rules.Origin) -> str | None:
    """The volume a snapshot, backup or clone was taken from, read in the request's project."""
    from cinder import exception
    from cinder.db import api as db

    if found.kind == "volume":
        return found.id
    try:
        if found.kind == "snapshot":
            return str(db.snapshot_get(context.elevated(read_deleted="yes"), found.id).volume_id)
        return str(db.backup_get(context, found.id, read_deleted="yes").volume_id)
    except (exception.SnapshotNotFound, exception.BackupNotFound):
        return None


def _replica_link(admin: Any, volume_id: str) -> tuple[volume_rules.GroupHint, bool] | None:
    """A volume's group link (else, placed before links, its user key), even deleted, and if it is;
    None when its row is gone from the database (purged).

    ``volume_destroy`` soft-deletes the volume's admin metadata with it (``VOLUME_DEPENDENT_MODELS``
    in cinder 29 ``cinder/db/api.py``), and the API's metadata reads skip deleted rows, so the
    rows are read with ``read_deleted="yes"``; a purged database has none left.
    """
    api, models = _db_internals()
    reader = getattr(getattr(api, "main_context_manager", None), "reader", None)
    with reader.using(admin) if reader is not None else contextlib.nullcontext():
        volume = api.model_query(admin, models.Volume, read_deleted="yes").filter_by(id=volume_id).first()
        if volume is None:
            return None
        # The admin link; a volume placed before links were recorded is a member by its user key.
        raw = None
        for model in (models.VolumeAdminMetadata, models.VolumeMetadata):
            row = (
                api.model_query(admin, model, read_deleted="yes")
                .filter_by(volume_id=volume_id, key=VOLUME_GROUP_METADATA_KEY)
                .order_by(model.id.desc())
                .first()
            )
            if row is not None:
                raw = row.value
                break
        deleted = bool(volume.deleted)
    group = (
        volume_rules.GroupHint(HintStatus.ABSENT)
        if raw == NOT_A_REPLICA
        else volume_rules.parse_group_hint(raw)
    )
    return group, deleted


def _db_internals() -> tuple[Any, Any]:
    """Cinder's database module holding ``model_query``, and its models.

    ``cinder.db.api`` and ``cinder.db.models`` since 2023.1, under ``cinder.db.sqlalchemy`` before (Zed).
    """
    from cinder.db import api as db

    if hasattr(db, "model_query"):
        return db, importlib.import_module("cinder.db.models")
    return importlib.import_module("cinder.db.sqlalchemy.api"), importlib.import_module(
        "cinder.db.sqlalchemy.models"
    )


def _location(backend: Any) -> volume_rules.Location | None:
    host = getattr(backend, "host", None)
    if not (isinstance(host, str) and host):
        return None
    cluster = getattr(backend, "cluster_name", None)
    return volume_rules.Location(host, cluster if isinstance(cluster, str) and cluster else None)
