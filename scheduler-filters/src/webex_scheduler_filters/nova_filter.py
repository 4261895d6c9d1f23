"""Nova adapter: keeps the pods of one service on different hosts.

Enable it in nova-scheduler with (see :mod:`webex_scheduler_filters.render`)::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = webex_scheduler_filters.nova_filter.SiblingPodAntiAffinityFilter
    enabled_filters = ...,ServerGroupAffinityFilter,SiblingPodAntiAffinityFilter

Only APIs present since Zed are used: ``BaseHostFilter``, ``RequestSpec.get_scheduler_hint``,
``InstanceGroup.get_by_uuid``, ``InstanceList.get_by_filters``,
``context.scatter_gather_skip_cell0`` and ``scheduler.utils.request_is_rebuild``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nova import context as nova_context
from nova import exception, objects
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils
from oslo_log import log as logging

from webex_scheduler_filters import pod_rules
from webex_scheduler_filters.hints import NOVA_POD_HINT, NOVA_SIBLING_GROUPS_HINT

LOG = logging.getLogger(__name__)


class SiblingHostLookupError(Exception):
    """The hosts of the sibling pods could not be read in full."""


class MalformedHintError(ValueError):
    """The request carries the sibling hint, but its value cannot be honoured."""


class SiblingPodAntiAffinityFilter(filters.BaseHostFilter):  # type: ignore[misc]
    """Reject hosts that run an instance of another pod of the same service."""

    # Sibling pods are other requests' instances: they cannot move while this request is
    # scheduled, and the scheduler narrows the same host list for every instance of a
    # multi-create, so filtering for the first instance covers them all.
    run_filter_once_per_request = True
    # A rebuild stays on its host, which passed this filter when the instance was placed.
    RUN_ON_REBUILD = False

    def filter_all(self, filter_obj_list: Iterable[Any], spec_obj: Any) -> list[Any]:
        hosts = list(filter_obj_list)
        try:
            if scheduler_utils.request_is_rebuild(spec_obj):
                return hosts
            forbidden = self._forbidden_hosts(spec_obj)
        except MalformedHintError as error:
            # Fail closed: the request asks to be kept apart from pods it does not name
            # readably. A "no valid host" is visible and fixable, a co-location is silent.
            LOG.warning(
                "SiblingPodAntiAffinityFilter: malformed %(key)s hint on instance %(uuid)s "
                "(%(problem)s), rejecting all hosts",
                {
                    "key": NOVA_SIBLING_GROUPS_HINT,
                    "uuid": getattr(spec_obj, "instance_uuid", None),
                    "problem": error,
                },
            )
            return []
        except Exception:
            # Fail closed: without the siblings' hosts any choice may co-locate two pods. This
            # also covers a database or cell outage, where Nova itself would fail the request.
            LOG.warning(
                "SiblingPodAntiAffinityFilter: cannot read sibling pods of instance "
                "%(uuid)s, rejecting all hosts",
                {"uuid": getattr(spec_obj, "instance_uuid", None)},
                exc_info=True,
            )
            return []
        if forbidden is None:
            return hosts
        passing = [h for h in hosts if pod_rules.host_passes(getattr(h, "host", None), forbidden)]
        LOG.debug(
            "SiblingPodAntiAffinityFilter: pod %(pod)s avoids %(forbidden)s, %(left)d of %(total)d "
            "hosts pass",
            {
                "pod": _hint(spec_obj, NOVA_POD_HINT),
                "forbidden": sorted(forbidden),
                "left": len(passing),
                "total": len(hosts),
            },
        )
        return passing

    def host_passes(self, host_state: Any, spec_obj: Any) -> bool:
        # The per-host entry point of BaseHostFilter. The scheduler calls filter_all, which
        # reads the siblings once for the whole host list; this reads them for one host.
        return bool(self.filter_all([host_state], spec_obj))

    def _forbidden_hosts(self, spec_obj: Any) -> frozenset[str] | None:
        """Hosts this request must avoid, or None when the request carries no sibling hint.

        Raises :class:`MalformedHintError` for a hint that cannot be read, and lets lookup
        errors through: :meth:`filter_all` turns both into "no host passes".
        """
        group = getattr(spec_obj, "instance_group", None)
        own_group = getattr(group, "uuid", None) if group is not None and "uuid" in group else None
        hint = pod_rules.parse_sibling_hint(_hint(spec_obj, NOVA_SIBLING_GROUPS_HINT), own_group)
        if hint.status is pod_rules.HintStatus.ABSENT:
            return None
        if hint.status is pod_rules.HintStatus.MALFORMED:
            raise MalformedHintError(hint.problem)
        if not hint.groups:
            return frozenset()
        return pod_rules.forbidden_hosts(self.sibling_hosts(spec_obj, hint.groups))

    def sibling_hosts(self, spec_obj: Any, groups: frozenset[str]) -> list[str | None]:
        """Hosts of the members of the sibling server groups: one lookup per request.

        Reads the groups from the API database and the members' hosts from every cell, with
        the request's own context, so a hint cannot reveal another project's placement.
        """
        context = spec_obj._context
        members: set[str] = set()
        for group_uuid in sorted(groups):
            try:
                group = objects.InstanceGroup.get_by_uuid(context, group_uuid)
            except exception.InstanceGroupNotFound:
                # A deleted sibling pod has no members left to avoid.
                continue
            members.update(group.members or [])
        members.discard(spec_obj.instance_uuid)
        if not members:
            return []
        results = nova_context.scatter_gather_skip_cell0(
            context,
            objects.InstanceList.get_by_filters,
            {"uuid": sorted(members), "deleted": False},
            expected_attrs=[],
        )
        hosts: list[str | None] = []
        for cell_uuid, result in results.items():
            if nova_context.is_cell_failure_sentinel(result):
                raise SiblingHostLookupError(f"cell {cell_uuid} did not answer")
            hosts.extend(instance.host for instance in result)
        return hosts


def _hint(spec_obj: Any, key: str) -> object:
    return spec_obj.get_scheduler_hint(key)
