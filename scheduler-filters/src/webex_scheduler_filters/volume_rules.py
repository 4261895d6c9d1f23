"""Pure decision logic for spreading the replicas of a volume group over failure domains.

No OpenStack import: the Cinder adapter (:mod:`webex_scheduler_filters.cinder_filter`) and
the plan-time placement proof both call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from webex_scheduler_filters.hints import FAILURE_DOMAIN_CAPABILITY, VOLUME_GROUP_METADATA_KEY, first_string
from webex_scheduler_filters.pod_rules import HintStatus


@dataclass(frozen=True)
class GroupHint:
    """The decoded ``webex_volume_group`` hint (or metadata) of one request."""

    status: HintStatus
    key: str = ""
    problem: str = ""


def parse_group_hint(raw: object) -> GroupHint:
    """Decode the volume-group hint: one non-empty string (a one-element list is accepted).

    An unreadable value fails closed (``MALFORMED``): the request says it is a replica, and
    placing a replica blind may put two copies of the data behind one failure domain.
    """
    if raw is None or raw == "" or raw == [] or raw == ():
        return GroupHint(HintStatus.ABSENT)
    raw = first_string(raw)
    if not isinstance(raw, str):
        return GroupHint(HintStatus.MALFORMED, problem=f"expected one string, got {type(raw).__name__}")
    key = raw.strip()
    if not key:
        return GroupHint(HintStatus.MALFORMED, problem="blank volume-group key")
    return GroupHint(HintStatus.VALID, key)


def request_group(hints: object, *metadata: object) -> GroupHint:
    """The group of a request: its hint, else the volume's own metadata.

    Retype and migrate hand the filters no hints at all (cinder 29 ``volume/api.py`` retype
    passes ``filter_properties={}``, migrate none), manage-existing only what was posted; the
    volume's metadata (``filter_properties['metadata']``, or the request spec's
    ``volume_properties.metadata``) still carries the key there.
    """
    if isinstance(hints, Mapping):
        hinted = parse_group_hint(hints.get(VOLUME_GROUP_METADATA_KEY))
        if hinted.status is not HintStatus.ABSENT:
            return hinted
    for source in metadata:
        if isinstance(source, Mapping):
            found = parse_group_hint(source.get(VOLUME_GROUP_METADATA_KEY))
            if found.status is not HintStatus.ABSENT:
                return found
    return GroupHint(HintStatus.ABSENT)


#: ``cinder/backup/api.py`` (cinder 29.0.0) ``API.restore`` without a target volume creates one
#: named ``restore_backup_<backup id>`` with this description, and nothing else says it is a restore.
RESTORE_NAME_PREFIX = "restore_backup_"
RESTORE_DESCRIPTION = "auto-created_from_restore_from_backup"


@dataclass(frozen=True)
class Origin:
    """What a new volume is made from: ``kind`` is ``volume``, ``snapshot`` or ``backup``."""

    kind: str
    id: str


def origin(request_spec: object) -> Origin | None:
    """The volume, snapshot or backup a create request copies, from Cinder's request spec.

    The create flow (cinder 29 ``volume/flows/api/create_volume.py``) puts ``source_volid``,
    ``snapshot_id`` and ``backup_id`` (create from backup, microversion 3.47) in the request
    spec; a backup restored to a new volume (``backup/api.py`` ``API.restore``) carries none of
    them, only its name and description in ``volume_properties``.
    """
    if not isinstance(request_spec, Mapping):
        return None
    for key, kind in (("source_volid", "volume"), ("snapshot_id", "snapshot"), ("backup_id", "backup")):
        value = request_spec.get(key)
        if isinstance(value, str) and value:
            return Origin(kind, value)
    volume = request_spec.get("volume_properties")
    if not isinstance(volume, Mapping):
        return None
    name, description = volume.get("display_name"), volume.get("display_description")
    if (
        isinstance(name, str)
        and name.startswith(RESTORE_NAME_PREFIX)
        and len(name) > len(RESTORE_NAME_PREFIX)
        and description == RESTORE_DESCRIPTION
    ):
        return Origin("backup", name[len(RESTORE_NAME_PREFIX) :])
    return None


def backend_of(host: str) -> str:
    """``host@backend`` of a Cinder host string (``host@backend#pool`` or ``host@backend``)."""
    return host.partition("#")[0]


def failure_domain(capabilities: object, host: str) -> str:
    """The failure domain a backend declares, or the backend itself (not the pool) if none.

    Pools of one backend share its controller and disks, so they never count as distinct.
    """
    if isinstance(capabilities, Mapping):
        label = capabilities.get(FAILURE_DOMAIN_CAPABILITY)
        if isinstance(label, str) and label.strip():
            return label.strip()
    return backend_of(host)


def parse_domain_map(raw: object) -> dict[str, str]:
    """The rendered failure-domain map (JSON ``{"<host or cluster>@<backend>": "<domain>"}``).

    Raises ValueError for anything else: a scheduler whose map cannot be read must not guess.
    """
    if raw is None or raw == "":
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    ):
        raise ValueError("expected a JSON object mapping 'host@backend' to a failure-domain label")
    return {backend_of(k): v for k, v in value.items()}


@dataclass(frozen=True)
class Location:
    """Where Cinder says a volume is, or what a backend state is called."""

    host: str
    cluster: str | None = None

    def names(self) -> list[str]:
        """``cluster@backend`` first (the ``backend_id`` Cinder matches on), then ``host@backend``."""
        return [backend_of(name) for name in (self.cluster, self.host) if name]


def domains_by_backend(states: Iterable[tuple[Location, object]]) -> dict[str, frozenset[str]]:
    """Each backend's failure domains from its pools' live ``(location, capabilities)``, by every name.

    Pools of one backend normally agree; if their reports disagree (a label changed and not
    every pool has reported since), the backend counts as being in all of them.
    """
    found: dict[str, set[str]] = {}
    for location, capabilities in states:
        domain = failure_domain(capabilities, location.host)
        for name in location.names():
            found.setdefault(name, set()).add(domain)
    return {name: frozenset(domains) for name, domains in found.items()}


def domains_of(
    location: Location, static: Mapping[str, str], live: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """A backend's failure domains: the rendered map first, then live capabilities, else itself.

    The rendered map is known while the backend is down, which is exactly when a replacement
    replica is scheduled; a backend in neither counts as its own domain.
    """
    names = location.names()
    for name in names:
        if name in static:
            return frozenset({static[name]})
    for name in names:
        if name in live:
            return live[name]
    return frozenset(names[:1])


def used_domains(
    siblings: Iterable[Location], static: Mapping[str, str], live: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """Failure domains already holding a replica of the group."""
    used: set[str] = set()
    for sibling in siblings:
        used.update(domains_of(sibling, static, live))
    return frozenset(used)


def domains_pass(domains: frozenset[str], used: frozenset[str]) -> bool:
    """A backend is eligible when none of its failure domains holds a replica of the group."""
    return domains.isdisjoint(used)
