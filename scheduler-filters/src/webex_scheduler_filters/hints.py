"""The scheduler-hint contract between the Pulumi components and the scheduler filters.

The components write these keys into the scheduler hints (and volume metadata) of every
pod instance and replica volume; the Nova and Cinder filters read them. Both sides import
this module, so a renamed key cannot silently break placement.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Nova hint: ``<datacenter>/<service>``, the service a pod instance belongs to.
NOVA_SERVICE_HINT = "webex_service"
#: Nova hint: the pod's name (unique within the datacenter), e.g. ``messaging-pod-1``.
NOVA_POD_HINT = "webex_pod"
#: Nova hint: server-group UUIDs of the *other* pods of the same service, joined by
#: :data:`LIST_SEPARATOR`. A host that runs a member of any of them is not eligible.
NOVA_SIBLING_GROUPS_HINT = "webex_sibling_pod_groups"

#: Cinder hint and volume metadata key: ``<datacenter>/<service>/<volume group>``.
#: Replicas carrying the same value must land in distinct failure domains. The filter
#: finds the placed siblings through the metadata key, so it is written on both.
CINDER_VOLUME_GROUP_HINT = "webex_volume_group"
VOLUME_GROUP_METADATA_KEY = CINDER_VOLUME_GROUP_HINT
#: Cinder hint: the replica's index within its group, for logs and audits.
CINDER_REPLICA_HINT = "webex_replica"

#: Key of a Cinder backend's ``extra_capabilities`` naming its storage failure domain.
#: A backend that does not declare one is its own failure domain (``host@backend``).
FAILURE_DOMAIN_CAPABILITY = "failure_domain"

LIST_SEPARATOR = ","


def join_list(values: Iterable[str]) -> str:
    """Encode a list hint as one string (the provider's hint map holds strings only)."""
    return LIST_SEPARATOR.join(values)


def split_list(value: object) -> list[str]:
    """Decode a list hint as Nova or Cinder hands it over: a string, or a list of strings.

    Anything else (None, numbers, nested structures) yields no entries rather than an error:
    the caller decides whether an empty result means pass or fail.
    """
    items: list[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return []
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        out.extend(part.strip() for part in item.split(LIST_SEPARATOR) if part.strip())
    return out
