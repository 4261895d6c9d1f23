"""The scheduler-hint and metadata contract between the Pulumi components and the filters.

The components write these keys into the scheduler hints and the metadata of every pod
instance and replica volume; the Nova and Cinder filters read them. Both sides import this
module, so a renamed key cannot silently break placement.

Every hint map carries exactly one value: terraform-provider-openstack v3.4.0 hashes a
``scheduler_hints`` set element by ranging over its ``additional_properties`` Go map
(``resourceComputeSchedulerHintsHash`` in ``openstack/resource_openstack_compute_instance_v2.go``,
``blockStorageVolumeV3SchedulerHintsHash`` in ``openstack/blockstorage_volume_v3.go``), and Go
map order is random, so two distinct values make the hash, and with it the diff, random.
Everything else the filters need is metadata, which the provider stores as a plain map.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Nova hint on every pod instance: ``<datacenter>/<service>/<pod>``, the pod it belongs to.
NOVA_POD_HINT = "webex_pod"
#: Instance metadata, every pod instance: ``<datacenter>/<service>``. The Nova filter finds the
#: service's placed instances with this key, once per request.
INSTANCE_SERVICE_METADATA_KEY = "webex_service"
#: Instance metadata, every pod instance: ``<datacenter>/<service>/<pod>`` (the hint's value).
INSTANCE_POD_METADATA_KEY = "webex_pod"
#: Instance metadata: :data:`ANCHOR_ROLE` on a pod's first instance, :data:`MEMBER_ROLE` on the others.
INSTANCE_POD_ROLE_METADATA_KEY = "webex_pod_role"
ANCHOR_ROLE = "anchor"
MEMBER_ROLE = "member"
#: Instance metadata on a pod's anchor: ``<vcpus>,<ram_mb>,<disk_gb>``, what its members need on
#: the anchor's host beyond the anchor itself. ``PodFilter`` places an anchor only on a host with
#: room for the anchor's flavor plus this: a member follows its anchor, so an anchor placed
#: without it can strand its members (Nova knows no pod). Absent: no requirement (older anchors).
INSTANCE_POD_ROOM_METADATA_KEY = "webex_pod_room"
#: Ownership metadata every pod instance has carried since the first pod design (per-pod
#: ``affinity`` groups), and still carries: ``service=<service>``, ``datacenter=<datacenter>``,
#: ``pod=<pod>``. Instances booted by that design have no ``webex_*`` metadata; the Nova filter
#: finds them through these keys, so a stack moving to this design keeps its new pods off the
#: old pods' hosts (docs/scheduler-filters.md, "Moving a deployed stack to this design").
OWNERSHIP_SERVICE_METADATA_KEY = "service"
OWNERSHIP_DATACENTER_METADATA_KEY = "datacenter"
OWNERSHIP_POD_METADATA_KEY = "pod"
#: Separator of the parts of a service or pod key.
KEY_SEPARATOR = "/"

#: Cinder hint and volume metadata key: ``<datacenter>/<service>/<volume group>``.
#: Replicas carrying the same value must land in distinct failure domains. The filter
#: finds the placed siblings through the metadata key, and reads it on the paths that
#: carry no hints (retype, migrate, manage), so it is written on both.
CINDER_VOLUME_GROUP_HINT = "webex_volume_group"
VOLUME_GROUP_METADATA_KEY = CINDER_VOLUME_GROUP_HINT
#: Admin-metadata link value of a volume made from a live volume of a group (a snapshot, a
#: clone, a backup restored to a new volume while its source still exists): a copy of a replica,
#: not a replica. Its user metadata may name the group (restored with the backup); the filter
#: neither counts it as a sibling nor spreads it.
NOT_A_REPLICA = "-"
#: Volume metadata: the replica's index within its group, for logs and audits.
REPLICA_METADATA_KEY = "webex_replica"

#: Key of a Cinder backend's ``extra_capabilities`` naming its storage failure domain.
#: A backend that is in neither the rendered failure-domain map nor declares one is its own
#: failure domain (``host@backend``).
FAILURE_DOMAIN_CAPABILITY = "failure_domain"
#: oslo.config group and option of cinder-scheduler holding the rendered failure-domain map
#: (JSON: ``{"<host or cluster>@<backend>": "<failure domain>"}``).
CINDER_CONFIG_GROUP = "webex_scheduler_filters"
CINDER_FAILURE_DOMAINS_OPTION = "failure_domains"


def service_key(datacenter: str, service: str) -> str:
    """The value of :data:`INSTANCE_SERVICE_METADATA_KEY`."""
    return f"{datacenter}{KEY_SEPARATOR}{service}"


def pod_key(datacenter: str, service: str, pod: str) -> str:
    """The value of :data:`NOVA_POD_HINT` and :data:`INSTANCE_POD_METADATA_KEY`."""
    return f"{service_key(datacenter, service)}{KEY_SEPARATOR}{pod}"


def room_value(vcpus: float, ram_mb: float, disk_gb: float) -> str:
    """The value of :data:`INSTANCE_POD_ROOM_METADATA_KEY`."""
    return f"{vcpus:g},{ram_mb:g},{disk_gb:g}"


def first_string(value: object) -> object:
    """A hint as Nova or Cinder hands it over: a one-element list is its element."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


def distinct_values(values: Iterable[object]) -> int:
    """How many distinct values a hint map holds (the provider's hash is stable for at most one)."""
    return len({repr(value) for value in values})
