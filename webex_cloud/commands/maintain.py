"""`python -m webex_cloud maintain {drain,evacuate,undrain,ok-to-stop} --stack S`: hardware work, no downtime.

  drain --host H [--host H2] [--dry-run]   prove the stack stays whole without H (capacity, N+1), refuse
        [--zone Z] [--state URL]           before any change if not or if the stack's deploy lock is held;
        [--address-map F] [--heartbeat S]  then hold that lock (its heartbeat refreshed), cordon H and move
                                           each pod on it whole, anchor first, to hosts the scheduler's
                                           filters choose (cold when Nova refuses a live migration), each
                                           pod followed by its health gate; a failed gate stops the drain.
                                           --zone Z: every host of Z, all cordoned, emptied host by host
  evacuate --host H [--dry-run]            rebuild every pod of a dead host (its compute service down)
        [--zone Z] [--state URL]           elsewhere, whole: all anchors first, then each member once
                                           its anchor is rebuilt, on hosts the filters choose, each pod
                                           then gated; holds the deploy lock, leaves H disabled
  drain --backend B [--failure-domain D]   prove the stack stays whole without those Cinder backends, refuse
        [--dry-run] [--state URL]          before any change if not, or if a replica cannot be migrated
                                           (snapshots, an attachment Nova cannot swap, no backend of its
                                           type in a failure domain its siblings leave free); then hold the
                                           deploy lock, disable the backends for new volumes and migrate
                                           each replica, one at a time, waiting on its migration_status
  undrain --host H | --zone Z |            enable hosts or backends this project drained or evacuated
        --backend B | --failure-domain D
  ok-to-stop [--down H]                    which hosts, zones, failure domains and backends can be taken
                                           down now

drain, evacuate and undrain run as the stack's operator identity (``identities.operator``, role admin;
docs/identities.md), never CI's. An interrupted drain is resumed by running it again. docs/maintenance.md.

Exit status: 0 done (or, for ok-to-stop, the list printed), 1 refused (nothing was changed), 2 unusable
input or a failed step (the message says how to go on), 3 an internal error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from webex_cloud.audit.expected import Expected, expected_from_plan
from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_cloud_options,
    add_stack_option,
    run,
    seconds,
    select_stacks,
    stale_plan,
)
from webex_cloud.cloud.access import Access
from webex_cloud.cloud.entry import stack_entry
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import Session, connect
from webex_cloud.cloud.views import (
    ComputeService,
    VolumeService,
    read_compute_services,
    read_project,
    read_snapshotted_volumes,
    read_volume_services,
)
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain as steps
from webex_cloud.maintenance import evacuation, lock, storage
from webex_cloud.maintenance.gate import GateSpecError, pod_gates, probe_pod
from webex_cloud.maintenance.moves import DrainPlan, plan_drain
from webex_cloud.maintenance.proof import Verdict, can_lose, ok_to_stop, unknown, zone_hosts
from webex_cloud.paths import PROJECT, PROJECT_DIR, plan_path
from webex_cloud.placement.engine import PIPELINES_UNAVAILABLE, pipelines
from webex_cloud.placement.plan import PlacementPlan, load_placement
from webex_cloud.plan.format import Plan, PlanError, read_plan
from webex_cloud.release.probe import GateSpec

DEFAULT_MOVE_TIMEOUT = 900.0


def _plans(stack: str, given: Path | None) -> tuple[Plan, PlacementPlan, Path]:
    path = given or plan_path(stack)
    try:
        if given is None and (stale := stale_plan(path, PROJECT_DIR)):
            raise CommandError(stale)
        plan = read_plan(path)
        placement = load_placement(path)
    except PlanError as error:
        raise CommandError(str(error)) from None
    if plan.stack != stack:
        raise CommandError(
            f"{path} is the plan of stack {plan.stack!r}, not {stack!r}; pass the right --plan"
        )
    return plan, placement, path


def _engine(placement: PlacementPlan) -> Any:
    try:
        return pipelines(placement, "auto")
    except PIPELINES_UNAVAILABLE as error:
        raise CommandError(f"the placement proof cannot run ({type(error).__name__}: {error})") from None


def _backend(args: argparse.Namespace) -> lock.Store:
    url = args.state or os.environ.get("PULUMI_BACKEND_URL")
    if not url:
        raise CommandError(
            "maintain drain holds the stack's deploy lock in its state backend: pass --state URL (the "
            "`pulumi login` URL, s3://... or file://...) or set PULUMI_BACKEND_URL"
        )
    return lock.open_store(url)


def _address_map(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        found: Any = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"--address-map {path}: cannot read it as JSON ({error})") from None
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise CommandError(f"--address-map {path}: expected a JSON object {{instance: address}}")
    return {str(k): v for k, v in found.items()}


class _Terminated(Exception):
    """SIGTERM, raised where the drain or evacuation is, so that its lock is released on the way out."""


@contextmanager
def _deploy_lock(
    store: lock.Store,
    args: argparse.Namespace,
    purpose: dict[str, Any],
    report: dict[str, Any],
    say: Callable[[str], None],
) -> Iterator[lock.Heartbeat | None]:
    """Hold the stack's deploy lock for the block, refreshed by its heartbeat (None, with the refusal in
    the report, when another holds it), released on every way out, SIGTERM included."""
    try:
        taken = lock.acquire(store, PROJECT, args.stack, purpose, args.take_over)
    except lock.LockHeld as held:
        report["refused"] = [str(held)]
        yield None
        return
    say(
        f"lock: holding the deploy lock of stack {args.stack} ({taken.where})"
        + (f", taken over from an interrupted run of this {args.action}" if taken.resumed else "")
    )
    report["lock"] = taken.where

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated(
            f"the {args.action} was stopped by signal {signum}; its deploy lock is released and the "
            f"host(s) stay disabled: rerun the same {args.action} to go on, or `maintain undrain` to "
            "enable them as they are"
        )

    previous = signal.signal(signal.SIGTERM, terminate)
    beat = lock.Heartbeat(taken).start()
    try:
        yield beat
    finally:
        signal.signal(signal.SIGTERM, previous)
        beat.stop()
        taken.release()  # a lost lock: its file is gone or stale; deleting ours is safe either way
        say(f"lock: {'lost' if beat.lost else 'released'} ({taken.where})")


def _inputs(
    args: argparse.Namespace,
) -> tuple[Plan, PlacementPlan, Path, lock.Store, dict[str, GateSpec], dict[str, str]]:
    """What a drain or an evacuation reads before it connects: the plans (its hosts checked against
    the inventory), the lock's backend, the pods' gates and the gates' address map."""
    plan, placement, path = _plans(args.stack, args.plan)
    args.host = _hosts(args, placement, path)
    return plan, placement, path, _backend(args), pod_gates(plan, str(path)), _address_map(args.address_map)


def _hosts(args: argparse.Namespace, placement: PlacementPlan, path: Path) -> list[str]:
    """``--host`` and every host of each ``--zone`` (the inventory's, in its order), each once."""
    zones = sorted({h.availability_zone for h in placement.hosts})
    if bad_zones := [z for z in args.zone if z not in zones]:
        raise CommandError(
            f"--zone {', '.join(bad_zones)}: no host of stack {args.stack}'s inventory ({path}) is in it; "
            f"zones: {', '.join(zones)}"
        )
    hosts = list(dict.fromkeys([*args.host, *zone_hosts(placement, args.zone)]))
    if bad := unknown(placement, hosts, ()):
        raise CommandError(
            f"{', '.join(bad)} is not in stack {args.stack}'s inventory ({path}); hosts: "
            f"{', '.join(h.name for h in placement.hosts)}"
        )
    return hosts


def _zone_mismatch(args: argparse.Namespace, session: Session) -> None:
    """Warn where Nova's zones disagree with the inventory's for a drained zone: a host Nova puts in it
    that the inventory does not (not drained), or a drained host Nova puts elsewhere."""
    if not args.zone:
        return
    for service in read_compute_services(session):
        if service.zone in args.zone and service.host not in args.host:
            print(
                f"warning: Nova puts {service.host} in zone {service.zone}, the stack's inventory does not: "
                "it is not drained",
                file=sys.stderr,
            )
        elif service.host in args.host and service.zone and service.zone not in args.zone:
            print(
                f"warning: Nova puts {service.host} in zone {service.zone}, not in {', '.join(args.zone)} "
                "as the stack's inventory does; it is drained as the inventory says",
                file=sys.stderr,
            )


def _proven(
    stack: str, placement: PlacementPlan, verdict: Verdict, report: dict[str, Any], say: Callable[[str], None]
) -> bool:
    """Whether a drain may go on after the proof; its refusals and warnings go into the report."""
    report |= {"refused": list(verdict.reasons), "already": list(verdict.already)}
    for problem in verdict.already:
        print(f"warning: already without the drain: {problem}", file=sys.stderr)
    if verdict.ok:
        n_plus_one = " and N+1" if placement.n_plus_one else ""
        say(f"proof: stack {stack} stays placeable{n_plus_one} without {verdict.what}")
    return verdict.ok


def _drain(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    plan, placement, path, store, gates, address_map = _inputs(args)
    verdict = can_lose(placement, _engine(placement), args.host)
    report: dict[str, Any] = {"stack": args.stack, "hosts": args.host}
    if not _proven(args.stack, placement, verdict, report, say):
        return ExitCode.BLOCKING, report
    purpose = {
        "action": "drain",
        "stack": args.stack,
        "hosts": sorted(args.host),
        "by": getpass.getuser(),
        lock.INTERVAL: args.heartbeat,
    }
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    # A dry run reads what only an operator sees (host names, compute services): the same identity.
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        services = steps.compute_services(session, args.host)
        _zone_mismatch(args, session)
        if args.dry_run:
            held = lock.check(store, PROJECT, args.stack, purpose, args.take_over)
            if held:
                report["refused"] = [held]
                return ExitCode.BLOCKING, report
            return _moves(args, plan, path, session, report, say)[0], report
        with _deploy_lock(store, args, purpose, report, say) as beat:
            if beat is None:
                return ExitCode.BLOCKING, report
            for server, source in steps.unconfirmed(session, args.host):
                say(f"finishing the cold migration of {server.name} off {source}, left by an interrupted run")
                steps.confirm_cold(session, server.id, source, args.move_timeout)
            code, moves = _moves(args, plan, path, session, report, say)
            if moves is None:
                return code, report
            return _move(args, session, services, moves, gates, address_map, report, say, beat), report


def _cordon(
    session: Session, services: dict[str, ComputeService], why: str, say: Callable[[str], None]
) -> None:
    for host, service in services.items():
        say(f"cordon {host}: {'disabled' if steps.cordon(session, service, why) else 'already disabled'}")


def _moves(
    args: argparse.Namespace,
    plan: Plan,
    path: Path,
    session: Session,
    report: dict[str, Any],
    say: Callable[[str], None],
) -> tuple[int, DrainPlan | None]:
    """The moves from where the servers are now; None (and exit 1) when refused or only a dry run."""
    budget = {name: spec.max_unavailable for name, spec in plan.services.items()}
    observation = read_project(session)
    if not observation.host_names_visible and observation.servers:
        raise CommandError(
            f"cloud {session.cloud!r}: the identity cannot see host names; use the operator identity"
        )
    moves = plan_drain(expected_from_plan(plan, str(path)), observation.servers, args.host, budget)
    report |= {
        "refused": list(moves.refusals),
        "moves": [
            {"server": m.name, "id": m.server_id, "pod": m.pod, "from": m.from_host} for m in moves.moves
        ],
    }
    if moves.refusals:
        return ExitCode.BLOCKING, None
    for pod in moves.pods:
        say(
            f"{'would move' if args.dry_run else 'moves'} pod {pod[0].pod} of {pod[0].service}: "
            + ", ".join(m.name for m in pod)
        )
    if args.dry_run:
        say(
            f"dry run: would take the deploy lock, cordon {', '.join(args.host)} and move "
            f"{len(moves.moves)} server(s) of {len(moves.pods)} pod(s), each pod followed by its health gate"
        )
        return ExitCode.OK, None
    return ExitCode.OK, moves


def _move(
    args: argparse.Namespace,
    session: Session,
    services: dict[str, ComputeService],
    moves: DrainPlan,
    gates: dict[str, GateSpec],
    address_map: dict[str, str],
    report: dict[str, Any],
    say: Callable[[str], None],
    beat: lock.Heartbeat,
) -> int:
    """Cordon, move each pod (then its gate), check the hosts are empty; the report records every step.
    A lock the heartbeat lost stops the drain before the next pod: pods move whole or not at all."""
    why = steps.reason(args.stack, getpass.getuser())
    _cordon(session, services, why, say)
    done: list[steps.PodMoved] = []
    report["moved"], report["gates"] = [], []

    def record(pod: steps.PodMoved) -> None:
        done.append(pod)
        report["moved"] += [m.document() for m in pod.servers]
        if pod.gate is not None:
            report["gates"].append(pod.gate.document())

    try:
        failed = steps.failed_gate(services.values())
        if failed is not None:
            # A pod this drain moved did not serve: nothing more moves until it does.
            say(f"gate again: pod {failed}, whose gate failed in an earlier run of this drain")
            result = probe_pod(gates, failed, address_map=address_map, say=say)
            say(result.describe())
            record(steps.PodMoved((), result))
            if result.passed is False:
                raise steps.DrainError(
                    f"pod {failed} still does not serve after its move ({'; '.join(result.not_serving)}); "
                    "nothing more was moved"
                )
            steps.mark_gate(session, services.values(), why, None)
        for server in moves.in_flight:
            say(f"waiting for {server.name}, which Nova is changing ({server.status.lower()})")
            steps.wait_moved(session, server.id, server.host or "", args.move_timeout)
        for index, pod in enumerate(moves.pods):
            if beat.lost is not None:
                raise steps.DrainError(beat.lost)
            if len(args.host) > 1 and (index == 0 or moves.pods[index - 1][0].from_host != pod[0].from_host):
                say(f"host {pod[0].from_host}: moving its pods")
            gate = partial(probe_pod, gates, address_map=address_map, say=say)
            record(steps.move_pod(session, pod, args.move_timeout, say, gate=gate))
    except steps.DrainError as error:
        if isinstance(error, steps.GateFailed):
            record(error.done)
            steps.mark_gate(session, services.values(), why, error.pod)
        report["stopped"] = steps.stopped(str(error), args.host)
        return ExitCode.INPUT
    left = [s.name for s in read_project(session).servers if s.host in args.host]
    report["left_on_hosts"] = left
    if left:
        report["stopped"] = (
            f"servers still on {', '.join(args.host)} after the drain: {', '.join(left)}; rerun it"
        )
        return ExitCode.INPUT
    moved = [m for pod in done for m in pod.servers]
    cold = [m.move.name for m in moved if m.cold]
    say(
        f"drained {', '.join(args.host)}: {len(moved)} server(s) moved"
        + (f" ({len(cold)} cold, with downtime: {', '.join(cold)})" if cold else "")
        + f", {sum(1 for p in done if p.gate and p.gate.passed)} of {len(done)} pod gate(s) passed; "
        "the host stays disabled until `maintain undrain`"
    )
    return ExitCode.OK


def _backends(args: argparse.Namespace, placement: PlacementPlan, path: Path) -> list[str]:
    """``--backend`` and every backend of each ``--failure-domain`` (the inventory's), each once."""
    if bad := unknown(placement, (), args.failure_domain, args.backend):
        known = sorted(b for members in placement.failure_domains.values() for b in members)
        raise CommandError(
            f"{', '.join(bad)} is not in stack {args.stack}'s inventory ({path}); failure domains: "
            f"{', '.join(sorted(placement.failure_domains))}; backends: {', '.join(known)}"
        )
    domains = [b for d in args.failure_domain for b in placement.failure_domains[d]]
    return list(dict.fromkeys([*args.backend, *domains]))


def _volume_services(session: Session, backends: list[str]) -> dict[str, VolumeService]:
    known = {s.host: s for s in read_volume_services(session)}
    if missing := [b for b in backends if b not in known]:
        raise steps.DrainError(
            f"Cinder has no cinder-volume service {', '.join(missing)}; backends it knows: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    return {b: known[b] for b in backends}


def _storage_plan(
    session: Session, expected: Expected, backends: list[str], report: dict[str, Any]
) -> storage.StoragePlan:
    """The migrations from where the volumes are now, recorded in the report."""
    observation = read_project(session)
    if not observation.backends_visible and observation.volumes:
        raise CommandError(
            f"cloud {session.cloud!r}: the identity cannot see volume backends; use the operator identity"
        )
    moves = storage.plan_storage_drain(
        expected, observation.volumes, observation.servers, backends, read_snapshotted_volumes(session)
    )
    report |= {
        "refused": list(moves.refusals),
        "moves": [
            {
                "volume": m.name,
                "id": m.volume_id,
                "group": m.group,
                "from": m.from_backend,
                "to": m.to_backend,
                "attached": m.attached,
            }
            for m in moves.moves
        ],
    }
    return moves


def _drain_storage(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    """Drain Cinder backends: the proof without them, then each replica migrated into a failure domain
    its siblings do not use, one at a time, holding the deploy lock (webex_cloud/maintenance/storage.py)."""
    plan, placement, path = _plans(args.stack, args.plan)
    backends = _backends(args, placement, path)
    verdict = can_lose(placement, _engine(placement), (), args.failure_domain, backends=backends)
    report: dict[str, Any] = {"stack": args.stack, "backends": backends}
    if not _proven(args.stack, placement, verdict, report, say):
        return ExitCode.BLOCKING, report
    store = _backend(args)
    expected = expected_from_plan(plan, str(path))
    purpose = {
        "action": "drain",
        "stack": args.stack,
        "hosts": sorted(backends),
        "by": getpass.getuser(),
        lock.INTERVAL: args.heartbeat,
    }
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        services = _volume_services(session, backends)
        moves = _storage_plan(session, expected, backends, report)
        if moves.refusals:
            return ExitCode.BLOCKING, report
        verb = "would migrate" if args.dry_run else "migrates"
        for move in moves.moves:
            say(
                f"{verb} {move.name} ({move.group}{', attached' if move.attached else ''}) "
                f"{move.from_backend} -> {move.to_backend}"
            )
        if args.dry_run:
            held = lock.check(store, PROJECT, args.stack, purpose, args.take_over)
            report["refused"] = [held] if held else []
            if not held:
                say(
                    f"dry run: would take the deploy lock, disable {', '.join(backends)} for new volumes and "
                    f"migrate {len(moves.moves)} replica(s), one at a time"
                )
            return (ExitCode.BLOCKING if held else ExitCode.OK), report
        with _deploy_lock(store, args, purpose, report, say) as beat:
            if beat is None:
                return ExitCode.BLOCKING, report
            return _migrate(args, session, expected, backends, services, moves, report, say, beat), report


def _migrate(
    args: argparse.Namespace,
    session: Session,
    expected: Expected,
    backends: list[str],
    services: dict[str, VolumeService],
    moves: storage.StoragePlan,
    report: dict[str, Any],
    say: Callable[[str], None],
    beat: lock.Heartbeat,
) -> int:
    """Wait for migrations a killed run left, cordon the backends, migrate each replica and wait."""
    report["moved"] = []
    state = "not yet disabled"
    try:
        if moves.in_flight:
            for volume in moves.in_flight:
                say(f"waiting for {volume.name}, which Cinder is migrating ({volume.migration_status})")
                storage.wait_migrated(session, volume.id, volume.backend or "", args.move_timeout)
            moves = _storage_plan(session, expected, backends, report)
            if moves.refusals:
                return ExitCode.BLOCKING
        why = steps.reason(args.stack, getpass.getuser())
        for backend, service in services.items():
            changed = storage.cordon(session, service, why)
            say(f"cordon {backend}: {'disabled' if changed else 'already disabled'}")
        state = "stay(s) disabled for new volumes"
        for move in moves.moves:
            if beat.lost is not None:
                raise steps.DrainError(beat.lost)
            landed, seconds = storage.move_volume(session, move, args.move_timeout)
            report["moved"].append(
                {
                    "volume": move.name,
                    "group": move.group,
                    "from": move.from_backend,
                    "to": landed,
                    "seconds": round(seconds, 1),
                    "attached": move.attached,
                }
            )
            say(f"migrated {move.name} ({move.group}) {move.from_backend} -> {landed} in {seconds:.1f} s")
    except steps.DrainError as error:
        report["stopped"] = (
            f"{error}. The drain stopped: {', '.join(backends)} {state}, with every replica not yet "
            "migrated still on it; rerun the drain to go on, or `maintain undrain` to enable the backend(s) "
            "again as they are"
        )
        return ExitCode.INPUT
    left = [
        v.name
        for v in read_project(session).volumes
        if v.backend in backends and not (v.migration_status or "").startswith(storage.TARGET)
    ]
    report["left_on_backends"] = left
    if left:
        report["stopped"] = (
            f"volumes still on {', '.join(backends)} after the drain: {', '.join(left)}; rerun it"
        )
        return ExitCode.INPUT
    say(
        f"drained {', '.join(backends)}: {len(report['moved'])} replica(s) migrated, each group's replicas "
        "in distinct failure domains; the backend(s) stay disabled until `maintain undrain`"
    )
    return ExitCode.OK


def _evacuate(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    plan, placement, path, store, gates, address_map = _inputs(args)
    report: dict[str, Any] = {"stack": args.stack, "hosts": args.host, "refused": []}
    # The hosts are gone already: a proof that fails is no reason to leave their pods down, but the
    # operator must know that some may not find room (and that N+1 is spent until the hosts return).
    verdict = can_lose(placement, _engine(placement), args.host)
    report["proof"] = list(verdict.reasons)
    for problem in verdict.reasons:
        print(f"warning: without {verdict.what}: {problem}", file=sys.stderr)
    purpose = {
        "action": "evacuate",
        "stack": args.stack,
        "hosts": sorted(args.host),
        "by": getpass.getuser(),
        lock.INTERVAL: args.heartbeat,
    }
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        services = steps.compute_services(session, args.host)
        if up := sorted(host for host, service in services.items() if service.up):
            report["refused"] = [
                f"{', '.join(up)}: the compute service is up, and Nova evacuates only from a host whose "
                "service is down (compute/api.py API.evacuate, ComputeServiceInUse); for a host that "
                "runs, use `maintain drain`, which moves its pods live"
            ]
            return ExitCode.BLOCKING, report
        moves = evacuation.plan_evacuation(
            expected_from_plan(plan, str(path)), read_project(session).servers, args.host
        )
        for stranger in moves.strangers:
            print(f"warning: not the stack's, left where it is: {stranger}", file=sys.stderr)
        report["moves"] = [
            {"server": m.name, "id": m.server_id, "pod": m.pod, "from": m.from_host, "anchor": m.anchor}
            for m in moves.moves
        ]
        verb = "would evacuate" if args.dry_run else "evacuates"
        for label, group in (("anchors", moves.anchors), ("then members", moves.members)):
            if group:
                say(f"{verb} {label}: {', '.join(m.name for m in group)}")
        if args.dry_run:
            held = lock.check(store, PROJECT, args.stack, purpose, args.take_over)
            report["refused"] = [held] if held else []
            return (ExitCode.BLOCKING if held else ExitCode.OK), report
        with _deploy_lock(store, args, purpose, report, say) as beat:
            if beat is None:
                return ExitCode.BLOCKING, report
            why = steps.reason(args.stack, getpass.getuser(), action="evacuation")
            _cordon(session, services, why, say)
            done = evacuation.evacuate(session, moves, args.move_timeout, say)
            report["moved"] = [m.document() for m in done.moved]
            report["failed"], report["split"] = done.failed, list(done.split.values())
            pods = sorted({m.move.pod for m in done.moved} - set(done.split))
            results = [probe_pod(gates, pod, address_map=address_map, say=say) for pod in pods]
            for result in results:
                say(result.describe())
            report["gates"] = [r.document() for r in results]
            not_serving = [r.pod for r in results if r.passed is False]
            problems = [*done.failed, *done.split.values()] + [
                f"pod {p} does not serve after its evacuation" for p in not_serving
            ]
            if problems:
                report["stopped"] = (
                    f"{'; '.join(problems)}. {', '.join(args.host)} stay(s) disabled; once the cause is "
                    "fixed, rerun the evacuation: it goes on from where the servers are"
                )
                return ExitCode.INPUT, report
            say(
                f"evacuated {', '.join(args.host)}: {len(done.moved)} server(s) of {len(pods)} pod(s) "
                "rebuilt elsewhere, every pod whole and serving; the host(s) stay disabled until "
                "`maintain undrain`"
            )
            return ExitCode.OK, report


def _undrain(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    backends: list[str] = []
    if args.zone or args.backend or args.failure_domain:
        _, placement, path = _plans(args.stack, args.plan)
        args.host = _hosts(args, placement, path)
        backends = _backends(args, placement, path)
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        for host, service in steps.compute_services(session, args.host).items() if args.host else ():
            changed = steps.uncordon(session, service, args.force)
            say(f"{host}: {'enabled' if changed else 'already enabled'}")
        for backend, volumes in _volume_services(session, backends).items() if backends else ():
            changed = storage.uncordon(session, volumes, args.force)
            say(f"{backend}: {'enabled' if changed else 'already enabled'}")
    return ExitCode.OK, {"stack": args.stack, "hosts": args.host, "backends": backends, "enabled": True}


def _ok_to_stop(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    _, placement, path = _plans(args.stack, args.plan)
    bad = unknown(placement, args.down, ())
    if bad:
        raise CommandError(f"--down {', '.join(bad)} is not in stack {args.stack}'s inventory ({path})")
    verdicts = ok_to_stop(placement, _engine(placement), args.down)
    for verdict in verdicts:
        first = verdict.reasons[0] if verdict.reasons else ""
        say(f"{'ok     ' if verdict.ok else 'NOT ok '} {verdict.what}{': ' + first if first else ''}")
    document = {
        "stack": args.stack,
        "down": args.down,
        "already": sorted({p for v in verdicts for p in v.already}),
        "verdicts": [
            {
                "hosts": list(v.hosts),
                "zones": list(v.zones),
                "domains": list(v.domains),
                "backends": list(v.backends),
                "ok": v.ok,
                "reasons": list(v.reasons),
            }
            for v in verdicts
        ],
    }
    return ExitCode.OK, document


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    code: int = run(
        "maintain",
        _main,
        argv,
        unusable=(CloudError, steps.DrainError, lock.LockError, GateSpecError, _Terminated),
    )
    return code


ACTIONS = {
    "drain": "move every pod off --host, whole, after proving the stack stays N+1 without it",
    "evacuate": "rebuild every pod of a dead --host elsewhere, whole, anchors first",
    "undrain": "enable --host again after a drain or an evacuation",
    "ok-to-stop": "which hosts, zones, failure domains and backends can be taken down now",
}


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud maintain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "action", choices=list(ACTIONS), help="; ".join(f"{k}: {v}" for k, v in ACTIONS.items())
    )
    add_stack_option(parser)
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST",
        help="compute host to drain or undrain (repeatable)",
    )
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        metavar="ZONE",
        help="every host of this availability zone of the stack's inventory, as if each were given with "
        "--host (repeatable)",
    )
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        metavar="HOST@BACKEND",
        help="a Cinder backend whose replicas to migrate off, or to undrain (repeatable)",
    )
    parser.add_argument(
        "--failure-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="every backend of this storage failure domain, as if each were given with --backend",
    )
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
    parser.add_argument("--dry-run", action="store_true", help="drain: print the moves, change nothing")
    parser.add_argument(
        "--move-timeout",
        type=seconds,
        default=DEFAULT_MOVE_TIMEOUT,
        help=f"drain: seconds one server may take to move (default {DEFAULT_MOVE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--state",
        metavar="URL",
        help="drain: the stack's state backend (`pulumi login` URL, s3://... or file://...; default "
        "$PULUMI_BACKEND_URL), where the drain holds the stack's deploy lock",
    )
    parser.add_argument(
        "--address-map",
        type=Path,
        metavar="FILE",
        help="drain: JSON {instance: address} the pod gates probe instead of the plan's addresses "
        "(probing from elsewhere), as the release gate's probe takes it",
    )
    parser.add_argument(
        "--take-over",
        action="store_true",
        help="drain: take over the deploy lock a drain of the same hosts left, without a heartbeat, on "
        "another machine (only once you know its process is gone; a fresh heartbeat is never taken over, "
        "a stale one is taken over without this)",
    )
    parser.add_argument(
        "--heartbeat",
        type=seconds,
        default=lock.HEARTBEAT_S,
        metavar="SECONDS",
        help=f"drain, evacuate: seconds between two refreshes of the held deploy lock (default "
        f"{lock.HEARTBEAT_S:g}); the lock file records it, and another run judges the lock stale after "
        f"{lock.STALE_BEATS} missed beats (never under {lock.stale_after(0):g} s)",
    )
    parser.add_argument("--force", action="store_true", help="undrain: enable a host someone else disabled")
    parser.add_argument(
        "--down",
        action="append",
        default=[],
        metavar="HOST",
        help="ok-to-stop: a host already down (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_cloud_options(parser, "operator")
    args = parser.parse_args(argv)
    args.stack = select_stacks(args.stack, PROJECT_DIR, [f"maintain {args.action}"])[0]
    compute, disks = bool(args.host or args.zone), bool(args.backend or args.failure_domain)
    if args.action in ("drain", "undrain") and not (compute or disks):
        raise CommandError(
            f"maintain {args.action} needs --host HOST, --zone ZONE, --backend HOST@BACKEND or "
            "--failure-domain DOMAIN (repeatable)"
        )
    if args.action == "evacuate" and not compute:
        raise CommandError("maintain evacuate needs --host HOST or --zone ZONE (repeatable)")
    if args.action == "drain" and compute and disks:
        raise CommandError(
            "maintain drain takes compute hosts (--host, --zone) or storage (--backend, --failure-domain), "
            "not both in one run: drain one, then the other"
        )
    misplaced = [
        option
        for option, given, allowed in (
            ("--host", args.host, ("drain", "evacuate", "undrain")),
            ("--zone", args.zone, ("drain", "evacuate", "undrain")),
            ("--backend", args.backend, ("drain", "undrain")),
            ("--failure-domain", args.failure_domain, ("drain", "undrain")),
            ("--dry-run", args.dry_run, ("drain", "evacuate")),
            ("--state", args.state, ("drain", "evacuate")),
            ("--address-map", args.address_map, ("drain", "evacuate")),
            ("--take-over", args.take_over, ("drain", "evacuate")),
            ("--heartbeat", args.heartbeat != lock.HEARTBEAT_S, ("drain", "evacuate")),
            ("--force", args.force, ("undrain",)),
            ("--down", args.down, ("ok-to-stop",)),
        )
        if given and args.action not in allowed
    ]
    if misplaced:
        raise CommandError(f"maintain {args.action} does not take {', '.join(misplaced)}")
    say: Callable[[str], None] = (lambda _: None) if args.json else print
    action = {"drain": _drain, "evacuate": _evacuate, "undrain": _undrain, "ok-to-stop": _ok_to_stop}[
        args.action
    ]
    if args.action == "drain" and disks:
        action = _drain_storage
    code, document = action(args, say)
    for refusal in document.get("refused", []):
        print(f"refused: {refusal}", file=sys.stderr)
    if "stopped" in document:
        print(f"error: {document['stopped']}", file=sys.stderr)
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    return code
