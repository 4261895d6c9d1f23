"""A drain in three named steps, as `kubectl drain` has them: cordon, move (each pod whole), wait.

Each step is a function a test calls alone; :func:`drain` is their composition. Nothing is changed before
every check passed (the refusals of the move plan, the proof that the stack stays whole without the
hosts). The cordon's reason marks the host as the project's maintenance (``MARK`` + who and when), which
`undrain` requires before it enables a host, and which drift and alerts can read from Nova.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from webex_cloud.cloud import operations
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import (
    MAINTENANCE_MARK,
    ComputeService,
    Server,
    read_compute_services,
    read_server,
)
from webex_cloud.maintenance.moves import IN_FLIGHT, Move

MARK: Final = MAINTENANCE_MARK
"""The start of the disabled_reason of a host this project drained."""
START_GRACE: Final = 30.0
"""Seconds a live migration may take to show up (status MIGRATING or a task state) after Nova's 202."""
POLL: Final = 2.0


class DrainError(Exception):
    """A step failed; the message says what, where, and how to go on (rerunning resumes)."""


@dataclass(frozen=True)
class Moved:
    move: Move
    to_host: str
    seconds: float


@dataclass
class Progress:
    """What a drain did, for the summary and --json."""

    cordoned: list[str] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)


def reason(stack: str, who: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{MARK} drain of stack {stack} by {who} at {stamp}"


def compute_services(session: Session, hosts: Iterable[str]) -> dict[str, ComputeService]:
    """The nova-compute service of each host; a host Nova does not know is an error."""
    wanted = list(hosts)
    known = {s.host: s for s in read_compute_services(session)}
    missing = [h for h in wanted if h not in known]
    if missing:
        raise DrainError(
            f"Nova has no nova-compute service on {', '.join(missing)}; hosts it knows: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    return {h: known[h] for h in wanted}


def cordon(session: Session, service: ComputeService, why: str) -> bool:
    """Disable the host for new placements; False when it already was (a rerun)."""
    if not service.enabled:
        return False
    operations.disable_compute_service(session, service.id, why)
    return True


def uncordon(session: Session, service: ComputeService, force: bool = False) -> bool:
    """Enable a host this project drained; False when it already was enabled."""
    if service.enabled:
        return False
    if not service.disabled_reason.startswith(MARK) and not force:
        raise DrainError(
            f"host {service.host} was disabled by someone else "
            f"({service.disabled_reason or 'no reason given'}); it is not enabled "
            "(pass --force to enable it anyway)"
        )
    operations.enable_compute_service(session, service.id)
    return True


def stopped(problem: str, hosts: Sequence[str]) -> str:
    """A failed drain's message with the state it leaves: the hosts stay cordoned, so nothing new lands
    there while someone looks, and the two ways on (resume, or give the hosts back as they are)."""
    flags = " ".join(f"--host {host}" for host in hosts)
    return (
        f"{problem}. The drain stopped: {', '.join(hosts)} stay(s) disabled ({MARK}), with every pod "
        f"not yet moved still on it; rerun the drain to go on, or run `maintain undrain {flags}` to "
        "enable the host(s) again as they are"
    )


def wait_moved(
    session: Session,
    server_id: str,
    from_host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Server:
    """Wait until Nova has the server ACTIVE, idle, on another host; a migration that failed or ran out
    of time is a DrainError."""
    start = clock()
    started = False
    while True:
        server = read_server(session, server_id)
        if server.status == "ERROR":
            raise DrainError(
                f"server {server.name} ({server_id}) went to ERROR while it moved off {from_host}"
            )
        busy = server.status in IN_FLIGHT or server.task_state is not None
        started = started or busy
        if not busy and server.status == "ACTIVE":
            if server.host and server.host != from_host:
                return server
            if started or clock() - start > START_GRACE:
                raise DrainError(
                    f"Nova did not move server {server.name} ({server_id}): it is still on {from_host}; "
                    f"see `openstack server migration list {server_id}`; rerun the drain to try again"
                )
        if clock() - start > timeout:
            raise DrainError(
                f"server {server.name} ({server_id}) is still {server.status.lower()} after {timeout:g} s; "
                "rerun the drain to wait for it"
            )
        sleep(POLL)


def move_pod(
    session: Session,
    pod: tuple[Move, ...],
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> list[Moved]:
    """Move one pod: the anchor first (the scheduler picks its host), then each member, which the Nova
    filter sends to the anchor's host; each waited for before the next."""
    done: list[Moved] = []
    for move in pod:
        began = clock()
        operations.live_migrate(session, move.server_id)
        server = wait_moved(session, move.server_id, move.from_host, timeout, clock)
        moved = Moved(move, server.host or "", clock() - began)
        say(
            f"moved {move.name} ({'anchor' if move.anchor else 'member'} of {move.pod}) "
            f"{move.from_host} -> {moved.to_host} in {moved.seconds:.1f} s"
        )
        if not move.anchor and done and moved.to_host != done[0].to_host:
            raise DrainError(
                f"pod {move.pod} is split: its anchor moved to {done[0].to_host}, member {move.name} to "
                f"{moved.to_host}; is the scheduler's pod filter enabled? (docs/scheduler-filters.md)"
            )
        done.append(moved)
    return done
