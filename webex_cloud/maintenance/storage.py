"""Draining Cinder backends: every replica moved off, one at a time, into a failure domain its siblings
do not use; the same check-lock-cordon-move-wait as a host drain.

Cinder's volume migration is not scheduled like Nova's: ``os-migrate_volume`` must name the destination
backend (webex_cloud/cloud/operations.py :func:`migrate_volume`), which the Cinder scheduler then checks
against its filters — ours (``VolumeGroupSpreadFilter``, docs/scheduler-filters.md) refuses a backend in
a sibling's failure domain. So the destination is chosen here, by the same rules (:func:`destination`):
a backend of the replica's volume type (the plan's convention: a type selects the backends named after
it, webex_cloud/placement/engine.py), not drained, in a failure domain no other replica of its group is
in or is going to; the scheduler remains the judge.

Attached replicas. Cinder 21.1.0 (Zed, ``volume/manager.py`` ``migrate_volume``) first lets the source
driver move the volume itself (``driver.migrate_volume``); the LVM driver and most others decline an
attached volume. Then ``_migrate_volume_generic`` creates the copy on the destination and, for an
attached volume, asks Nova to swap it under the running server (``compute.API.update_server_volume``,
Nova's swap volume), which calls Cinder back when it has copied the data. Nothing in the API says
whether a backend's driver moves attached volumes itself, so an attached replica is judged as Nova's
swap would judge it, and refused before anything changes where Nova would refuse the swap — then
Cinder's migration would end ``error`` half-way through, the copy deleted (:func:`swap_refusal`).

A rerun plans again from where the volumes are: what moved stays, a migration still running
(``migration_status`` starting/migrating/completing) is waited for first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import operations
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import MAINTENANCE_MARK, Server, Volume, VolumeService, read_volume
from webex_cloud.maintenance.drain import DrainError

MIGRATING: Final = frozenset({"starting", "migrating", "completing"})
"""``migration_status`` values of a volume Cinder is moving (cinder 21.1.0 ``volume/api.py`` sets
``starting``, ``volume/manager.py`` ``migrating`` then ``completing``)."""
TARGET: Final = "target:"
"""How the ``migration_status`` of a migration's temporary destination volume starts."""
MOVABLE: Final = frozenset({"available", "in-use"})
"""The statuses Cinder migrates from (``volume/api.py`` ``migrate_volume``'s conditional update)."""
SWAP_STATES: Final = frozenset({"ACTIVE", "PAUSED", "VERIFY_RESIZE"})
"""Server statuses of the vm_states Nova swaps a volume in (nova 34 ``compute/api.py`` ``swap_volume``:
ACTIVE, PAUSED, RESIZED — shown as VERIFY_RESIZE)."""
START_GRACE: Final = 30.0
POLL: Final = 2.0


@dataclass(frozen=True)
class VolumeMove:
    group: str
    name: str
    volume_id: str
    from_backend: str
    to_backend: str
    attached: bool


@dataclass(frozen=True)
class StoragePlan:
    backends: tuple[str, ...]
    moves: tuple[VolumeMove, ...]
    in_flight: tuple[Volume, ...]
    """Volumes on a drained backend that Cinder is migrating now: waited for before any new move."""
    refusals: tuple[str, ...]


def swap_refusal(volume: Volume, servers: Mapping[str, Server]) -> str | None:
    """Why Nova would refuse to swap this attached volume (so Cinder could not migrate it), or None.

    nova 34 ``compute/api.py`` ``swap_volume``: the server must be ACTIVE, PAUSED or RESIZED, and a
    volume with more than one attachment is ``MultiattachSwapVolumeNotSupported``; the libvirt driver
    (``virt/libvirt/driver.py`` ``swap_volume``) refuses an encrypted volume with native LUKS decryption,
    the default; the other drivers do not implement the swap (``virt/driver.py``)."""
    if len(volume.attached_to) > 1 or (volume.multiattach and volume.attached_to):
        return (
            f"it is attached to {len(volume.attached_to)} servers (multiattach), and Nova swaps no "
            "volume with more than one attachment"
        )
    if volume.encrypted:
        return "it is encrypted, and Nova's libvirt driver does not swap encrypted volumes"
    for server_id in volume.attached_to:
        server = servers.get(server_id)
        if server is not None and server.status not in SWAP_STATES:
            return (
                f"its server {server.name} is {server.status}, and Nova swaps volumes only under a server "
                "that is ACTIVE, PAUSED or resized"
            )
    return None


def destination(
    volume_type: str,
    from_backend: str,
    expected: Expected,
    drained: Iterable[str],
    sibling_domains: set[str],
    load: Mapping[str, int],
) -> str | None:
    """The backend a replica moves to: of its type, not drained, in a domain its siblings do not use;
    its own domain first (the group's spread unchanged), then the least loaded; None when there is none."""
    gone = set(drained)
    own = expected.domain_of(from_backend)
    wanted = volume_type or from_backend.partition("@")[2]
    candidates = [
        backend
        for domain, members in expected.failure_domains.items()
        if domain not in sibling_domains
        for backend in members
        if backend not in gone and backend.partition("@")[2] == wanted
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda b: (expected.domain_of(b) != own, load.get(b, 0), b))


def plan_storage_drain(
    expected: Expected,
    volumes: Iterable[Volume],
    servers: Iterable[Server],
    backends: Iterable[str],
    snapshotted: frozenset[str] = frozenset(),
) -> StoragePlan:
    """The migrations that empty ``backends`` of the plan's replicas, one replica at a time; pure."""
    drained = tuple(dict.fromkeys(backends))
    live = [v for v in volumes if not (v.migration_status or "").startswith(TARGET)]
    by_name: dict[str, list[Volume]] = {}
    for volume in live:
        by_name.setdefault(volume.name, []).append(volume)
    by_server = {s.id: s for s in servers}
    known = {name for group in expected.groups for name in group.replicas}
    refusals = [
        f"volume {v.name} ({v.id}) on {v.backend} is not a replica of the stack's plan; move or delete it "
        "by hand first (a drain moves only what the catalog knows)"
        for v in sorted(live, key=lambda v: v.name)
        if v.backend in drained and v.name not in known
    ]
    load: dict[str, int] = {}
    for volume in live:
        if volume.backend:
            load[volume.backend] = load.get(volume.backend, 0) + 1
    moves: list[VolumeMove] = []
    in_flight: list[Volume] = []
    for group in expected.groups:
        found = {name: by_name.get(name, []) for name in group.replicas}
        if any(len(f) > 1 for f in found.values()):
            refusals.append(f"group {group.key}: two volumes have the name of one replica; run the audit")
            continue
        replicas = [f[0] for f in found.values() if f]
        domains = {v.name: expected.domain_of(v.backend) for v in replicas if v.backend}
        for volume in replicas:
            if volume.backend not in drained:
                continue
            if volume.migration_status in MIGRATING:
                in_flight.append(volume)
                continue
            why = _unmovable(volume, by_server, snapshotted)
            if why:
                refusals.append(f"replica {volume.name} of {group.key} on {volume.backend}: {why}")
                continue
            siblings = {d for name, d in domains.items() if name != volume.name and d}
            target = destination(volume.volume_type, volume.backend or "", expected, drained, siblings, load)
            if target is None:
                refusals.append(
                    f"replica {volume.name} of {group.key} on {volume.backend}: no backend of type "
                    f"{volume.volume_type or '?'} outside the drained one(s) in a failure domain its "
                    f"siblings do not use ({', '.join(sorted(siblings)) or 'none'}); add one or drain less"
                )
                continue
            domains[volume.name] = expected.domain_of(target)
            load[target] = load.get(target, 0) + 1
            moves.append(
                VolumeMove(
                    group.key, volume.name, volume.id, volume.backend or "", target, bool(volume.attached_to)
                )
            )
    return StoragePlan(drained, tuple(moves), tuple(in_flight), tuple(refusals))


def _unmovable(volume: Volume, servers: Mapping[str, Server], snapshotted: frozenset[str]) -> str | None:
    """Why Cinder (or, for an attached volume, Nova's swap) would refuse this migration."""
    if volume.status not in MOVABLE:
        return f"it is {volume.status}, and Cinder migrates only available or in-use volumes"
    if volume.id in snapshotted:
        return "it has snapshots, and Cinder migrates no volume with snapshots; delete them first"
    if volume.replication_status not in (None, "disabled", "not-capable"):
        return f"it is replicated ({volume.replication_status}), and Cinder migrates no replicated volume"
    if volume.attached_to:
        swap = swap_refusal(volume, servers)
        if swap:
            return (
                f"attached, so Cinder would move it through Nova's swap volume, and {swap}; detach it (stop "
                "its pod) or move it by hand"
            )
    return None


def cordon(session: Session, service: VolumeService, why: str) -> bool:
    """Disable the backend for new volumes; False when it already was (a rerun)."""
    if not service.enabled:
        return False
    operations.disable_volume_service(session, service.host, why)
    return True


def uncordon(session: Session, service: VolumeService, force: bool = False) -> bool:
    """Enable a backend this project drained; False when it already was enabled."""
    if service.enabled:
        return False
    if not service.disabled_reason.startswith(MAINTENANCE_MARK) and not force:
        raise DrainError(
            f"backend {service.host} was disabled by someone else "
            f"({service.disabled_reason or 'no reason given'}); it is not enabled "
            "(pass --force to enable it anyway)"
        )
    operations.enable_volume_service(session, service.host)
    return True


def wait_migrated(
    session: Session,
    volume_id: str,
    from_backend: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Volume:
    """Wait until Cinder reports the migration ``success`` with the volume on another backend. ``error``
    is a DrainError: Cinder deleted its copy and the volume is whole where it was."""
    start = clock()
    while True:
        volume = read_volume(session, volume_id)
        status = volume.migration_status
        if status == "success" and volume.backend != from_backend and volume.status in MOVABLE:
            return volume
        if status == "error":
            raise DrainError(
                f"Cinder's migration of volume {volume.name} ({volume_id}) off {from_backend} ended error "
                f"(it is still on {volume.backend}, whole: Cinder deletes the copy it began); its scheduler "
                "refused the destination or the copy failed: see the cinder-scheduler and cinder-volume "
                "logs, then rerun the drain"
            )
        if status not in MIGRATING and clock() - start > START_GRACE:
            raise DrainError(
                f"Cinder did not migrate volume {volume.name} ({volume_id}): it is still on {from_backend} "
                f"(migration status {status or 'none'}); rerun the drain to try again"
            )
        if clock() - start > timeout:
            raise DrainError(
                f"volume {volume.name} ({volume_id}) is still {status} after {timeout:g} s; rerun the drain "
                "to wait for it"
            )
        sleep(POLL)


def move_volume(
    session: Session,
    move: VolumeMove,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, float]:
    """Migrate one replica to its destination and wait; where it ended and how long it took."""
    began = clock()
    operations.migrate_volume(session, move.volume_id, move.to_backend)
    volume = wait_migrated(session, move.volume_id, move.from_backend, timeout, clock, sleep)
    if volume.backend != move.to_backend:
        raise DrainError(
            f"Cinder moved volume {move.name} to {volume.backend}, not to {move.to_backend} as asked; check "
            "that its replicas are still in distinct failure domains (`python -m webex_cloud audit`)"
        )
    return volume.backend or "", clock() - began
