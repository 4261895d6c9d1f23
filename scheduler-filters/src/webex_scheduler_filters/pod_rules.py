"""Pure decision logic for pods: together on their anchor's host, apart from the service's other pods.

No OpenStack import: the Nova adapter (:mod:`webex_scheduler_filters.nova_filter`) and the
plan-time placement proof both call these functions. The design is in docs/scheduler-filters.md
("Design"): a pod's anchor is in the service's ``anti-affinity`` server group, its members are
in none and follow the anchor; where everything is comes from instance metadata read per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from webex_scheduler_filters.hints import (
    ANCHOR_ROLE,
    INSTANCE_POD_METADATA_KEY,
    INSTANCE_POD_ROLE_METADATA_KEY,
    INSTANCE_POD_ROOM_METADATA_KEY,
    INSTANCE_SERVICE_METADATA_KEY,
    KEY_SEPARATOR,
    OWNERSHIP_DATACENTER_METADATA_KEY,
    OWNERSHIP_POD_METADATA_KEY,
    OWNERSHIP_SERVICE_METADATA_KEY,
    first_string,
    pod_key,
)


class HintStatus(Enum):
    """How a request's hint reads."""

    ABSENT = "absent"
    """No hint: the request is not a pod instance (or a volume replica), every host passes."""
    MALFORMED = "malformed"
    """The hint is there but cannot be honoured: no host passes (fail closed)."""
    VALID = "valid"
    """The hint names the pod (or the volume group)."""


@dataclass(frozen=True)
class PodHint:
    """The decoded ``webex_pod`` hint of one request."""

    status: HintStatus
    key: str = ""
    problem: str = ""

    @property
    def service(self) -> str:
        """``<datacenter>/<service>``, the value the service's instances carry as metadata."""
        return self.key.rpartition(KEY_SEPARATOR)[0]


def parse_pod_hint(raw: object) -> PodHint:
    """Decode the pod hint: one string ``<datacenter>/<service>/<pod>`` (a one-element list is accepted).

    A request that carries the key but whose value cannot be read is ``MALFORMED``: placing it
    anywhere could co-locate two pods of a service or split a pod, and a clean "no valid host"
    is visible and fixable where a silent co-location is not.
    """
    if raw is None or raw == "" or raw == [] or raw == ():
        return PodHint(HintStatus.ABSENT)
    raw = first_string(raw)
    if not isinstance(raw, str):
        return PodHint(HintStatus.MALFORMED, problem=f"expected one string, got {type(raw).__name__}")
    parts = raw.strip().split(KEY_SEPARATOR)
    if len(parts) != 3 or not all(part.strip() for part in parts):
        return PodHint(HintStatus.MALFORMED, problem=f"{raw[:64]!r} is not '<datacenter>/<service>/<pod>'")
    return PodHint(HintStatus.VALID, KEY_SEPARATOR.join(part.strip() for part in parts))


@dataclass(frozen=True)
class Room:
    """Resources: what a host has free, or what a pod needs."""

    vcpus: float = 0
    ram_mb: float = 0
    disk_gb: float = 0

    def __add__(self, other: Room) -> Room:
        return Room(self.vcpus + other.vcpus, self.ram_mb + other.ram_mb, self.disk_gb + other.disk_gb)


def parse_room(raw: object) -> tuple[Room | None, str]:
    """Decode ``webex_pod_room`` (``<vcpus>,<ram_mb>,<disk_gb>``): the room, or None and why not.

    Absent is ``(None, "")``: no requirement. Unreadable is ``(None, problem)``: the anchor
    says its members need room and not how much, so it fails closed.
    """
    if raw is None:
        return None, ""
    parts = raw.split(",") if isinstance(raw, str) else []
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(not (v >= 0) or v == float("inf") for v in values):
        return None, f"{INSTANCE_POD_ROOM_METADATA_KEY} {str(raw)[:64]!r} is not '<vcpus>,<ram_mb>,<disk_gb>'"
    return Room(*values), ""


def has_room(free: Room, need: Room, count_disk: bool = True) -> bool:
    """Whether a host's free resources hold ``need`` (disk only where the host reports it)."""
    return (
        free.vcpus >= need.vcpus
        and free.ram_mb >= need.ram_mb
        and (not count_disk or free.disk_gb >= need.disk_gb)
    )


@dataclass(frozen=True)
class PlacedInstance:
    """An instance of the service as the cell database holds it."""

    uuid: str
    host: str | None
    pod: str | None
    """Its ``webex_pod`` metadata (None: not written, or not a string)."""
    anchor: bool
    """Its ``webex_pod_role`` metadata is ``anchor``."""
    room: Room | None = None
    """An anchor's ``webex_pod_room``: what its members need beyond it (None: not written)."""
    room_problem: str = ""
    """Why ``webex_pod_room`` is there but cannot be read."""
    rebuilding: bool = False
    """Nova shows it in a rebuild task state: rebuilt in place, or evacuated off ``host`` (the
    adapter reads which from Nova's migration records)."""
    evacuating: bool = False
    """An evacuation of it is under way: ``host`` is the source it is leaving."""
    destination: str | None = None
    """Its evacuation's destination once chosen (the migration's ``dest_compute``); None while its
    evacuation waits for its turn in the scheduler, or when it is not evacuated."""

    @property
    def hosts(self) -> frozenset[str]:
        """The hosts it may run on before its move ends: its host, and its evacuation's destination."""
        return frozenset(h for h in (self.host, self.destination) if h)

    @property
    def following_host(self) -> str | None:
        """The host its pod's members must be on: an evacuated anchor's destination, else its host."""
        return self.destination if self.evacuating else self.host


def placed_instance(uuid: str, host: object, metadata: object, service: str) -> PlacedInstance | None:
    """One query result, or None when its metadata does not name this service.

    Nova's ``metadata`` filter matches "some key is ``webex_service`` and some value is the
    service" (``nova/db/main/api.py`` ``_exact_instance_filter``), not the pair, so the pair is
    checked here.
    """
    if not isinstance(metadata, Mapping) or metadata.get(INSTANCE_SERVICE_METADATA_KEY) != service:
        return None
    pod = metadata.get(INSTANCE_POD_METADATA_KEY)
    room, problem = parse_room(metadata.get(INSTANCE_POD_ROOM_METADATA_KEY))
    return PlacedInstance(
        uuid=uuid,
        host=host if isinstance(host, str) and host else None,
        pod=pod if isinstance(pod, str) and pod else None,
        anchor=metadata.get(INSTANCE_POD_ROLE_METADATA_KEY) == ANCHOR_ROLE,
        room=room,
        room_problem=problem,
    )


def service_name(service: str) -> str:
    """The catalog name in ``<datacenter>/<service>``: the value of the ownership ``service`` key."""
    return service.partition(KEY_SEPARATOR)[2]


def placed_first_design_instance(
    uuid: str, host: object, metadata: object, service: str
) -> PlacedInstance | None:
    """An instance booted by the first pod design (per-pod ``affinity`` groups), or None.

    Such an instance has no ``webex_*`` metadata, only the ownership keys: ``service``,
    ``datacenter`` and ``pod``, whose pod name is the one the new key is built from, so an old
    instance of the pod being replaced counts as the same pod. It is never an anchor: a member
    of the new design follows only a new anchor. An instance that carries ``webex_service`` is
    read by :func:`placed_instance` instead (both designs write the ownership keys).
    """
    if not isinstance(metadata, Mapping) or INSTANCE_SERVICE_METADATA_KEY in metadata:
        return None
    datacenter = service.partition(KEY_SEPARATOR)[0]
    if (
        metadata.get(OWNERSHIP_SERVICE_METADATA_KEY) != service_name(service)
        or metadata.get(OWNERSHIP_DATACENTER_METADATA_KEY) != datacenter
    ):
        return None
    pod = metadata.get(OWNERSHIP_POD_METADATA_KEY)
    return PlacedInstance(
        uuid=uuid,
        host=host if isinstance(host, str) and host else None,
        pod=pod_key(datacenter, service_name(service), pod) if isinstance(pod, str) and pod else None,
        anchor=False,
    )


@dataclass(frozen=True)
class PodDecision:
    """Which hosts one pod instance may use."""

    forbidden: frozenset[str]
    """Hosts of the service's other pods."""
    required: frozenset[str] | None
    """For a member: its anchor's host (empty: none is known, no host passes). None: any host."""
    problem: str = ""
    """Why no host can pass, for the log."""
    room: Room | None = None
    """For an anchor: what its members need on its host beyond the anchor (None: no requirement)."""


def decide(hint: PodHint, own_uuid: object, anchor: bool, placed: Iterable[PlacedInstance]) -> PodDecision:
    """Apply the two rules to the service's placed instances (the request's own is skipped).

    - apart: no host that runs an instance of another pod of the service (an instance whose
      pod cannot be read counts as another pod: the stricter reading);
    - together: a member only on the host of its pod's anchor. A member whose anchor has no
      host (shelved) or whose pod shows several anchors gets no host: it must never start a pod
      of its own, and the anchor is moved first;
    - evacuations: an instance being evacuated counts on its source and on its destination (another
      pod's instance keeps both free of this pod), and a member follows an evacuated anchor to its
      destination, not to the dead source. Until that destination is chosen the member gets no host
      (its evacuation fails with "No valid host", and evacuating it again once its anchor's is
      scheduled places it);
    - room: an anchor only where its members fit too (``decision.room``, from the anchor's own
      ``webex_pod_room``; the adapter checks it against each host's free resources).
    """
    forbidden: set[str] = set()
    anchor_hosts: set[str] = set()
    anchors = 0
    unscheduled_anchor = False
    own: PlacedInstance | None = None
    for instance in placed:
        if instance.uuid == own_uuid:
            own = instance
            continue
        if instance.pod != hint.key:
            forbidden |= instance.hosts
        elif instance.anchor:
            anchors += 1
            if instance.following_host:
                anchor_hosts.add(instance.following_host)
            elif instance.evacuating:
                unscheduled_anchor = True
    if anchor:
        # The anchor's own instance (its cell row at a move, its BuildRequest at create) says what
        # its members need.
        if own is not None and own.room_problem:
            return PodDecision(frozenset(forbidden), frozenset(), own.room_problem)
        return PodDecision(frozenset(forbidden), None, room=own.room if own is not None else None)
    if anchors > 1:
        return PodDecision(frozenset(forbidden), frozenset(), f"pod {hint.key} has {anchors} anchors")
    if unscheduled_anchor:
        return PodDecision(
            frozenset(forbidden),
            frozenset(),
            f"the anchor of pod {hint.key} is being evacuated and its destination is not chosen yet: "
            "evacuate this member again once the anchor's evacuation is scheduled",
        )
    if not anchor_hosts:
        return PodDecision(frozenset(forbidden), frozenset(), f"the anchor of pod {hint.key} has no host")
    return PodDecision(frozenset(forbidden), frozenset(anchor_hosts))


def unscheduled_anchors(pod: str, placed: Iterable[PlacedInstance]) -> list[str]:
    """The pod's anchors whose evacuation has no destination yet: what a member waits for."""
    return [p.uuid for p in placed if p.pod == pod and p.anchor and p.evacuating and not p.destination]


def host_passes(host: object, decision: PodDecision) -> bool:
    """A host is eligible if the decision allows it; a host state without a name never is."""
    if not (isinstance(host, str) and host) or host in decision.forbidden:
        return False
    return decision.required is None or host in decision.required
