"""Cinder adapter: spreads the replicas of one volume group over distinct failure domains.

Registered under the ``cinder.scheduler.filters`` entry point as ``VolumeGroupSpreadFilter``;
enable it with ``[DEFAULT] scheduler_default_filters`` (see
:mod:`webex_scheduler_filters.render`). Backends declare their domain with
``extra_capabilities = {"failure_domain": "<label>"}``.

Only APIs present since Zed are used: ``BaseBackendFilter`` and
``cinder.db.api.volume_get_all_by_project`` with a ``metadata`` filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cinder.scheduler import filters
from oslo_log import log as logging

from webex_scheduler_filters import volume_rules
from webex_scheduler_filters.hints import CINDER_VOLUME_GROUP_HINT, VOLUME_GROUP_METADATA_KEY
from webex_scheduler_filters.pod_rules import HintStatus

LOG = logging.getLogger(__name__)


class VolumeGroupSpreadFilter(filters.BaseBackendFilter):  # type: ignore[misc]
    """Reject backends whose failure domain already holds a replica of the volume's group.

    The decision needs every candidate backend at once (a sibling's failure domain is read
    from its backend's state), so the filter works in ``filter_all``, which Cinder's filter
    handler calls, and must come first in ``scheduler_default_filters``.
    """

    def filter_all(self, filter_obj_list: Iterable[Any], filter_properties: Any) -> list[Any]:
        backends = list(filter_obj_list)
        try:
            hints = filter_properties.get("scheduler_hints") or {}
            hint = volume_rules.parse_group_hint(hints.get(CINDER_VOLUME_GROUP_HINT))
            if hint.status is HintStatus.ABSENT:
                return backends
            if hint.status is HintStatus.MALFORMED:
                # Fail closed: the request says it is a replica, but not of which group, so
                # any backend may share a failure domain with its siblings.
                LOG.warning(
                    "VolumeGroupSpreadFilter: malformed %(key)s hint (%(problem)s), rejecting all backends",
                    {"key": CINDER_VOLUME_GROUP_HINT, "problem": hint.problem},
                )
                return []
            siblings = self.placed_sibling_hosts(filter_properties, hint.key)
            named = [(backend, backend.host) for backend in backends if _has_host(backend)]
            known = volume_rules.domains_by_backend(
                (host, getattr(backend, "capabilities", None)) for backend, host in named
            )
            used = volume_rules.used_domains(siblings, known)
        except Exception:
            # Fail closed: without the siblings' placement any choice may stack replicas in
            # one failure domain; Cinder reports "no valid backend" and the caller retries.
            LOG.warning(
                "VolumeGroupSpreadFilter: cannot read the volume group's replicas, rejecting all backends",
                exc_info=True,
            )
            return []
        # A backend state without a host name cannot be told apart from a sibling's backend.
        passing = [
            backend
            for backend, host in named
            if volume_rules.domains_pass(known[volume_rules.backend_of(host)], used)
        ]
        LOG.debug(
            "VolumeGroupSpreadFilter: group %(group)s uses %(used)s, %(left)d of %(total)d backends pass",
            {"group": hint.key, "used": sorted(used), "left": len(passing), "total": len(backends)},
        )
        return passing

    def placed_sibling_hosts(self, filter_properties: Any, group_key: str) -> list[str | None]:
        """Cinder hosts of the group's other replicas, in one database query.

        The query runs with the request's context in its project only, so a hint naming
        another project's group neither reveals nor constrains that project's volumes.
        """
        # Imported here, not at the top: the database layer is only needed when a replica is
        # scheduled, and tools that load the filter without a database (the plan-time proof,
        # next to Nova, whose options clash with cinder.db's) never reach it.
        from cinder.db import api as db

        context = filter_properties["context"]
        request_spec = filter_properties.get("request_spec") or {}
        own_id = request_spec.get("volume_id")
        volumes = db.volume_get_all_by_project(
            context,
            context.project_id,
            None,
            None,
            filters={"metadata": {VOLUME_GROUP_METADATA_KEY: group_key}, "no_migration_targets": True},
        )
        # The volume being scheduled is excluded: on a migration or retype it still sits on
        # its old backend, which must not count against its new one.
        return [volume.host for volume in volumes if volume.id != own_id]


def _has_host(backend: Any) -> bool:
    host = getattr(backend, "host", None)
    return isinstance(host, str) and bool(host)
