"""A drain in three named steps, as `kubectl drain` has them: cordon, move (each pod whole), wait.

Each step is a function a test calls alone; :func:`drain` is their composition. Nothing is changed before
every check passed (the refusals of the move plan, the proof that the stack stays whole without the
hosts). The cordon's reason marks the host as the project's maintenance (``MARK`` + who and when), which
`undrain` requires before it enables a host, and which drift and alerts can read from Nova.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from webex_cloud.cloud import operations
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import (
    COLD_MIGRATION,
    LIVE_MIGRATION,
    MAINTENANCE_MARK,
    ComputeService,
    Server,
    read_compute_services,
    read_migrations,
    read_project,
    read_server,
)
from webex_cloud.maintenance.gate import GateResult
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
    cold: str | None = None
    """When Nova refused the live migration (its record's status): moved cold, with downtime."""

    def document(self) -> dict[str, object]:
        return {
            "server": self.move.name,
            "pod": self.move.pod,
            "from": self.move.from_host,
            "to": self.to_host,
            "seconds": round(self.seconds, 1),
            "migration": "cold" if self.cold else "live",
        }


@dataclass(frozen=True)
class PodMoved:
    servers: tuple[Moved, ...]
    gate: GateResult | None


class GateFailed(DrainError):
    """A moved pod does not serve: the drain stops; ``done`` is what moved, with the failed gate."""

    def __init__(self, message: str, pod: str, done: PodMoved) -> None:
        super().__init__(message)
        self.pod = pod
        self.done = done


def reason(stack: str, who: str, now: datetime | None = None, action: str = "drain") -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{MARK} {action} of stack {stack} by {who} at {stamp}"


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


GATE_FAILED: Final = "; gate failed: "
"""What a drain adds to its hosts' disabled_reason when a moved pod's gate failed: the record, in Nova
where every machine reads it, that tells the rerun to gate that pod again before it moves anything."""


def failed_gate(services: Iterable[ComputeService]) -> str | None:
    """The pod whose gate failed in an earlier run of a drain of these hosts, if any."""
    marks = {
        s.disabled_reason.partition(GATE_FAILED)[2]
        for s in services
        if not s.enabled and s.disabled_reason.startswith(MARK) and GATE_FAILED in s.disabled_reason
    }
    return min(marks) if marks else None


def mark_gate(session: Session, services: Iterable[ComputeService], why: str, pod: str | None) -> None:
    """Record (``pod``) or clear (None) a failed gate in the cordoned hosts' reason, keeping the reason
    the drain cordoned them with (``why`` for a host this run cordoned); the hosts stay disabled."""
    for service in services:
        cordoned = service.disabled_reason.partition(GATE_FAILED)[0]
        base = cordoned if cordoned.startswith(MARK) else why
        operations.disable_compute_service(session, service.id, base + (f"{GATE_FAILED}{pod}" if pod else ""))


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


LIVE_REFUSED: Final = frozenset({"error", "failed"})
"""Statuses of a live-migration record Nova refused (``error``: the conductor's pre-checks or the scheduler
said no, nothing was touched) or rolled back (``failed``): the server runs on its host as before."""


class LiveRefused(DrainError):
    """Nova would not live-migrate the server; ``status`` is its migration record's."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


def wait_moved(
    session: Session,
    server_id: str,
    from_host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    refused: Callable[[], str | None] = lambda: None,
    settled: str = "ACTIVE",
) -> Server:
    """Wait until Nova has the server ``settled`` (ACTIVE; VERIFY_RESIZE for a cold migration awaiting
    its confirmation), idle, on another host. A migration that failed or ran out of time is a DrainError;
    one that ``refused`` reports (a status, while the server still runs on ``from_host``) a LiveRefused."""
    start = clock()
    started = False
    while True:
        server = read_server(session, server_id)
        if server.status == "ERROR":
            raise DrainError(
                f"server {server.name} ({server_id}) went to ERROR while it moved off {from_host}"
            )
        busy = (server.status in IN_FLIGHT and server.status != settled) or server.task_state is not None
        started = started or busy
        if not busy and server.status in {settled, "ACTIVE"}:
            if server.status == settled and server.host and server.host != from_host:
                return server
            status = refused() if server.host == from_host else None
            if status:
                raise LiveRefused(
                    f"Nova refused to live-migrate server {server.name} ({server_id}) off {from_host} "
                    f"(its migration record ended {status!r})",
                    status,
                )
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


def _new_refusal(session: Session, server_id: str, known: frozenset[int]) -> str | None:
    """The status of the live-migration record Nova made for this request, when it refused it."""
    new = [m for m in read_migrations(session, server_id, LIVE_MIGRATION) if m.id not in known]
    return new[-1].status if new and new[-1].status in LIVE_REFUSED else None


def confirm_cold(
    session: Session,
    server_id: str,
    from_host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Server:
    """Wait for a cold migration to reach VERIFY_RESIZE on another host, confirm it, wait for ACTIVE."""
    moved = wait_moved(session, server_id, from_host, timeout, clock, sleep, settled="VERIFY_RESIZE")
    operations.confirm_resize(session, server_id)
    wait_moved(session, server_id, from_host, timeout, clock, sleep)
    return moved


def unconfirmed(session: Session, hosts: Sequence[str]) -> list[tuple[Server, str]]:
    """Cold migrations off ``hosts`` that a killed drain left (RESIZE: still moving; VERIFY_RESIZE: moved,
    not confirmed — it waits forever unless Nova's ``resize_confirm_window`` is set), each with the host
    it left. The rerun finishes them before it plans: until then the pod counts as not serving."""
    resizing = [s for s in read_project(session).servers if s.status in {"RESIZE", "VERIFY_RESIZE"}]
    found: list[tuple[Server, str]] = []
    for server in resizing:
        records = read_migrations(session, server.id, COLD_MIGRATION)
        if records and records[-1].source in hosts:
            found.append((server, records[-1].source))
    return found


def move_server(
    session: Session,
    move: Move,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Moved:
    """Live-migrate the server; when Nova refuses, cold-migrate it instead (the scheduler chooses again,
    never a forced host): the instance is down while it moves, which :class:`Moved` records."""
    began = clock()
    known = frozenset(m.id for m in read_migrations(session, move.server_id, LIVE_MIGRATION))
    operations.live_migrate(session, move.server_id)
    try:
        server = wait_moved(
            session,
            move.server_id,
            move.from_host,
            timeout,
            clock,
            sleep,
            refused=lambda: _new_refusal(session, move.server_id, known),
        )
        return Moved(move, server.host or "", clock() - began)
    except LiveRefused as refusal:
        operations.cold_migrate(session, move.server_id)
        server = confirm_cold(session, move.server_id, move.from_host, timeout, clock, sleep)
        return Moved(move, server.host or "", clock() - began, cold=refusal.status)


def move_pod(
    session: Session,
    pod: tuple[Move, ...],
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    gate: Callable[[str], GateResult] | None = None,
) -> PodMoved:
    """Move one pod: the anchor first (the scheduler picks its host), then each member, which the Nova
    filter sends to the anchor's host; each waited for before the next. Then the service's health gate
    on the pod's instances: a pod that does not serve on its new host stops the drain."""
    done: list[Moved] = []
    for move in pod:
        moved = move_server(session, move, timeout, clock, sleep)
        how = (
            f" by COLD migration (live migration refused: Nova's record ended {moved.cold!r}; "
            "the instance was down while it moved)"
            if moved.cold
            else ""
        )
        say(
            f"moved {move.name} ({'anchor' if move.anchor else 'member'} of {move.pod}) "
            f"{move.from_host} -> {moved.to_host} in {moved.seconds:.1f} s{how}"
        )
        if not move.anchor and done and moved.to_host != done[0].to_host:
            raise DrainError(
                f"pod {move.pod} is split: its anchor moved to {done[0].to_host}, member {move.name} to "
                f"{moved.to_host}; is the scheduler's pod filter enabled? (docs/scheduler-filters.md)"
            )
        done.append(moved)
    result = gate(pod[0].pod) if gate is not None else None
    if result is not None:
        say(result.describe())
        if result.passed is False:
            raise GateFailed(
                f"pod {pod[0].pod} of {pod[0].service} does not serve on {done[-1].to_host} after its move: "
                f"its health gate failed after {result.seconds:.1f} s "
                f"({'; '.join(result.not_serving) or 'see the lines above'}); find why its instances do "
                "not answer there (the gate probes what the catalog's rollout health check names) before "
                "going on",
                pod[0].pod,
                PodMoved(tuple(done), result),
            )
    return PodMoved(tuple(done), result)
