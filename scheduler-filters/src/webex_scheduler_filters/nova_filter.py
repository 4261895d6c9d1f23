"""Nova adapter: a pod's members on its anchor's host, the service's pods on different hosts.

Enable it in nova-scheduler with (see :mod:`webex_scheduler_filters.render`)::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = webex_scheduler_filters.nova_filter.PodFilter
    enabled_filters = ...,ServerGroupAntiAffinityFilter,PodFilter

Only APIs present since Zed are used: ``BaseHostFilter``, ``RequestSpec.get_scheduler_hint``,
``InstanceList.get_by_filters`` with a ``metadata`` filter, ``context.scatter_gather_skip_cell0``,
``BuildRequest.get_by_instance_uuid``, ``MigrationList.get_by_filters`` and
``scheduler.utils.request_is_rebuild``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterable
from typing import Any

from nova import context as nova_context
from nova import exception, objects
from nova.compute import task_states
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils
from oslo_log import log as logging

from webex_scheduler_filters import deadline, pod_rules
from webex_scheduler_filters.hints import (
    INSTANCE_SERVICE_METADATA_KEY,
    NOVA_POD_HINT,
    OWNERSHIP_SERVICE_METADATA_KEY,
)

LOG = logging.getLogger(__name__)


class ServiceLookupError(Exception):
    """The service's placed instances could not be read in full."""


class PodFilter(filters.BaseHostFilter):  # type: ignore[misc]
    """Members on their anchor's host; no pod instance on a host of another pod of its service;
    an anchor only where its members fit too."""

    # Other requests' instances cannot move while this request is scheduled, and the scheduler
    # narrows the same host list for every instance of a multi-create, so filtering for the
    # first instance covers them all.
    run_filter_once_per_request = True
    # A rebuild stays on its host, which passed this filter when the instance was placed.
    RUN_ON_REBUILD = False
    #: Seconds the service's lookup may take before the request fails closed (a slow cell
    #: database would otherwise hold the worker up to Nova's 60 s ``CELL_TIMEOUT`` per query).
    lookup_timeout = deadline.LOOKUP_TIMEOUT_SECONDS
    #: Seconds a member waits for its evacuated anchor's destination to be chosen (a parallel
    #: evacuation issues both at once, and the destination is known only once the anchor's
    #: destination compute has claimed it); past it the member fails closed. Each read during the
    #: wait has its own ``lookup_timeout``; the whole stays far below the scheduler's 60 s RPC timeout.
    destination_wait = 5.0
    #: Seconds between two reads of the anchor's migration while waiting.
    destination_poll = 0.1

    def filter_all(self, filter_obj_list: Iterable[Any], spec_obj: Any) -> list[Any]:
        hosts = list(filter_obj_list)
        uuid = getattr(spec_obj, "instance_uuid", None)
        try:
            # Overriding filter_all bypasses BaseHostFilter._filter_one, where RUN_ON_REBUILD is honoured.
            if scheduler_utils.request_is_rebuild(spec_obj):
                return hosts
            hint = pod_rules.parse_pod_hint(spec_obj.get_scheduler_hint(NOVA_POD_HINT))
            if hint.status is pod_rules.HintStatus.ABSENT:
                return hosts
            if hint.status is pod_rules.HintStatus.MALFORMED:
                # Fail closed: the request says it is a pod instance, but not of which pod.
                LOG.warning(
                    "PodFilter: malformed %(key)s hint on instance %(uuid)s (%(problem)s), "
                    "rejecting all hosts",
                    {"key": NOVA_POD_HINT, "uuid": uuid, "problem": hint.problem},
                )
                return []
            anchor = _is_anchor(spec_obj)
            placed = deadline.within(
                self.lookup_timeout,
                "PodFilter's service lookup",
                lambda: self.placement(spec_obj, hint, anchor),
            )
            if not anchor:
                placed = self.await_anchor_destination(spec_obj, hint, placed)
            decision = pod_rules.decide(hint, uuid, anchor, placed)
        except deadline.LookupTimeout as slow:
            # Fail closed, on time: a stalled database must not stall the scheduler.
            LOG.warning(
                "PodFilter: %(slow)s for instance %(uuid)s, rejecting all hosts",
                {"slow": slow, "uuid": uuid},
            )
            return []
        except Exception:
            # Fail closed: without the service's placement any choice may co-locate two pods or
            # split one. This also covers a database or cell outage, where Nova would fail anyway.
            LOG.warning(
                "PodFilter: cannot read the service's instances for instance %(uuid)s, rejecting all hosts",
                {"uuid": uuid},
                exc_info=True,
            )
            return []
        if decision.problem:
            LOG.info("PodFilter: instance %(uuid)s: %(problem)s", {"uuid": uuid, "problem": decision.problem})
        passing = [h for h in hosts if pod_rules.host_passes(getattr(h, "host", None), decision)]
        if decision.room is not None:
            need = _flavor_size(spec_obj) + decision.room
            passing = [h for h in passing if pod_rules.has_room(_free(h), need, _counts_disk(h))]
        LOG.debug(
            "PodFilter: pod %(pod)s avoids %(forbidden)s, needs %(required)s, "
            "%(left)d of %(total)d hosts pass",
            {
                "pod": hint.key,
                "forbidden": sorted(decision.forbidden),
                "required": "any" if decision.required is None else sorted(decision.required),
                "left": len(passing),
                "total": len(hosts),
            },
        )
        return passing

    def host_passes(self, host_state: Any, spec_obj: Any) -> bool:
        # The per-host entry point of BaseHostFilter. The scheduler calls filter_all, which
        # reads the service once for the whole host list; this reads it for one host.
        return bool(self.filter_all([host_state], spec_obj))

    def placement(
        self, spec_obj: Any, hint: pod_rules.PodHint, anchor: bool
    ) -> list[pod_rules.PlacedInstance]:
        """The service's placed instances with their evacuations and, for an anchor, the request's own
        instance (its room).

        At a move the instance has its row in its cell, which the service query finds. At create
        it has none yet: nova 34 ``nova/compute/api.py`` ``_provision_instances`` keeps the new
        instance in a BuildRequest in the API database ("Create an instance object, but do not
        store in db yet"), and ``nova/conductor/manager.py`` ``schedule_and_build_instances``
        writes it to the cell (``instance.create()``) only after the scheduler has chosen its
        host. The anchor's ``webex_pod_room`` is then read from the BuildRequest's copy.
        """
        service = hint.service
        placed = self.evacuations(spec_obj, self.service_instances(spec_obj, service))
        own_uuid = getattr(spec_obj, "instance_uuid", None)
        if anchor and own_uuid and not any(p.uuid == own_uuid for p in placed):
            pending = self.requested_instance(spec_obj, service)
            if pending is not None:
                placed.append(pending)
        return placed

    def await_anchor_destination(
        self, spec_obj: Any, hint: pod_rules.PodHint, placed: list[pod_rules.PlacedInstance]
    ) -> list[pod_rules.PlacedInstance]:
        """``placed`` once the member's evacuated anchor has a destination, or after ``destination_wait``.

        The wait is outside the lookup's deadline (a sleep holds no database), each re-read inside it.
        """
        waited_until = time.monotonic() + self.destination_wait
        while pod_rules.unscheduled_anchors(hint.key, placed) and time.monotonic() < waited_until:
            time.sleep(self.destination_poll)
            placed = deadline.within(
                self.lookup_timeout,
                "PodFilter's evacuation lookup",
                functools.partial(self.evacuations, spec_obj, placed),
            )
        return placed

    def evacuations(
        self, spec_obj: Any, placed: list[pod_rules.PlacedInstance]
    ) -> list[pod_rules.PlacedInstance]:
        """``placed`` with each in-progress evacuation and its destination, read from Nova's migrations.

        While an instance is evacuated its ``host`` stays the dead source until the destination
        compute has rebuilt it. In nova 34: ``nova/compute/api.py`` ``API.evacuate`` (l. 5720)
        sets the task state ``rebuilding`` and creates a Migration (``migration_type`` ``evacuation``,
        status ``accepted``, ``dest_compute`` only for a host the caller named, l. 5752);
        ``nova/conductor/manager.py`` ``rebuild_instance`` (l. 1233) schedules it with
        ``ignore_hosts = [instance.host]`` and does not record the choice; the destination's
        ``nova/compute/resource_tracker.py`` ``_claim_existing_migration`` (l. 438) sets
        ``dest_compute`` and status ``pre-migrating``; ``finish_evacuation`` (l. 2150) moves
        ``instance.host`` and only then marks the migration ``done``. So an ``accepted`` or
        ``pre-migrating`` evacuation is in progress, its ``dest_compute`` is its destination once
        known. Read only for the instances in a rebuild task state: one query per cell per
        source host, none when nothing is evacuated.
        """
        sources = sorted({p.host for p in placed if p.rebuilding and p.host})
        if not sources:
            return placed
        latest: dict[str, Any] = {}
        for source in sources:
            results = nova_context.scatter_gather_skip_cell0(
                spec_obj._context,
                objects.MigrationList.get_by_filters,
                {
                    "source_compute": source,
                    "migration_type": "evacuation",
                    "status": ["accepted", "pre-migrating"],
                },
            )
            for cell_uuid, result in results.items():
                if nova_context.is_cell_failure_sentinel(result):
                    raise ServiceLookupError(f"cell {cell_uuid} did not answer")
                for migration in result:
                    # A stale record (an evacuation whose conductor died, the instance reset and
                    # evacuated again) is older than the current one.
                    known = latest.get(migration.instance_uuid)
                    if known is None or migration.id > known.id:
                        latest[migration.instance_uuid] = migration
        return [
            dataclasses.replace(p, evacuating=True, destination=_destination(latest[p.uuid]))
            if p.rebuilding and p.uuid in latest
            else p
            for p in placed
        ]

    def requested_instance(self, spec_obj: Any, service: str) -> pod_rules.PlacedInstance | None:
        """The instance being created as its BuildRequest holds it, or None when it has none.

        None also on a move of an instance the service query missed (its ``webex_service``
        metadata removed): such an anchor has no room requirement, as before it had the key. A
        BuildRequest deleted while its instance is scheduled is a server deleted during its
        create, which the conductor then does not build.
        """
        try:
            build_request = objects.BuildRequest.get_by_instance_uuid(
                spec_obj._context, spec_obj.instance_uuid
            )
        except exception.BuildRequestNotFound:
            return None
        instance = build_request.instance
        return pod_rules.placed_instance(instance.uuid, None, instance.metadata, service)

    def service_instances(self, spec_obj: Any, service: str) -> list[pod_rules.PlacedInstance]:
        """The service's live instances with their hosts and pod metadata: two queries per cell.

        The first finds this design's instances (``webex_service``), the second those the first
        pod design booted, which carry only the ownership keys: during a move to this design
        they are the old pods, and a new pod must not land on their hosts. Nova ANDs every
        ``metadata`` pair it is given, so "either key" cannot be one query. Runs with the
        request's own context: Nova scopes a non-admin's instance query to its project
        (``nova/db/main/api.py`` ``instance_get_all_by_filters_sort``), so a hint cannot reveal
        another project's placement.
        """
        queries = (
            ({INSTANCE_SERVICE_METADATA_KEY: service}, pod_rules.placed_instance),
            (
                {OWNERSHIP_SERVICE_METADATA_KEY: pod_rules.service_name(service)},
                pod_rules.placed_first_design_instance,
            ),
        )
        placed: list[pod_rules.PlacedInstance] = []
        for metadata, read in queries:
            results = nova_context.scatter_gather_skip_cell0(
                spec_obj._context,
                objects.InstanceList.get_by_filters,
                {"metadata": metadata, "deleted": False},
                expected_attrs=["metadata"],
            )
            for cell_uuid, result in results.items():
                if nova_context.is_cell_failure_sentinel(result):
                    raise ServiceLookupError(f"cell {cell_uuid} did not answer")
                for instance in result:
                    found = read(instance.uuid, instance.host, instance.metadata, service)
                    if found is not None:
                        rebuilding = instance.task_state in task_states.rebuild_states
                        placed.append(dataclasses.replace(found, rebuilding=rebuilding))
        return placed


def _destination(migration: Any) -> str | None:
    """The migration's ``dest_compute`` once set (an unset field reads as None)."""
    value = migration.dest_compute if migration.obj_attr_is_set("dest_compute") else None
    return value if isinstance(value, str) and value else None


def _flavor_size(spec_obj: Any) -> pod_rules.Room:
    """The request's own flavor (the anchor's), which Placement claims for the anchor itself."""
    flavor = getattr(spec_obj, "flavor", None) if spec_obj.obj_attr_is_set("flavor") else None
    if flavor is None:
        return pod_rules.Room()
    return pod_rules.Room(
        float(flavor.vcpus),
        float(flavor.memory_mb),
        float((flavor.root_gb or 0) + (flavor.ephemeral_gb or 0)),
    )


def _free(host_state: Any) -> pod_rules.Room:
    """A host's free resources with its allocation ratios, as Nova's retired RamFilter, CoreFilter and
    DiskFilter computed them from ``HostState`` (nova 34 ``nova/scheduler/host_manager.py``)."""
    ram_total = float(host_state.total_usable_ram_mb)
    ram = ram_total * float(host_state.ram_allocation_ratio) - (ram_total - float(host_state.free_ram_mb))
    vcpus = float(host_state.vcpus_total) * float(host_state.cpu_allocation_ratio) - float(
        host_state.vcpus_used
    )
    disk_total = float(host_state.total_usable_disk_gb or 0)
    disk = disk_total * float(host_state.disk_allocation_ratio) - (
        disk_total - float(host_state.free_disk_mb or 0) / 1024
    )
    return pod_rules.Room(vcpus, ram, disk)


def _counts_disk(host_state: Any) -> bool:
    """Disk is checked only on a host that reports some (a volume-backed host reports none)."""
    return bool(getattr(host_state, "total_usable_disk_gb", 0))


def _is_anchor(spec_obj: Any) -> bool:
    """An anchor is the pod instance booted into a server group (its service's anti-affinity group)."""
    group = getattr(spec_obj, "instance_group", None)
    return group is not None and "uuid" in group and bool(group.uuid)
