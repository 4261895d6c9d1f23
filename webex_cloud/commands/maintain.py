"""`python -m webex_cloud maintain {drain,undrain,ok-to-stop} --stack S ...`: hardware work without downtime.

  drain --host H [--host H2] [--dry-run]   prove the stack stays whole without H (capacity, N+1), refuse
                                           before any change if not; then cordon H and move each pod on it
                                           whole, anchor first, to hosts the scheduler's filters choose
  undrain --host H                         enable a host this project drained
  ok-to-stop [--down H]                    which hosts and failure domains can be taken down now

drain and undrain run as the stack's operator identity (``identities.operator``, role admin;
docs/identities.md), never CI's. An interrupted drain is resumed by running it again. docs/maintenance.md.

Exit status: 0 done (or, for ok-to-stop, the list printed), 1 refused (nothing was changed), 2 unusable
input or a failed step (the message says how to go on), 3 an internal error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webex_cloud.audit.expected import expected_from_plan
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
from webex_cloud.cloud.session import connect
from webex_cloud.cloud.views import read_project
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain as steps
from webex_cloud.maintenance.moves import plan_drain
from webex_cloud.maintenance.proof import can_lose, ok_to_stop, unknown
from webex_cloud.paths import PROJECT_DIR, plan_path
from webex_cloud.placement.engine import PIPELINES_UNAVAILABLE, pipelines
from webex_cloud.placement.plan import PlacementPlan, load_placement
from webex_cloud.plan.format import Plan, PlanError, read_plan

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


def _drain(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    plan, placement, path = _plans(args.stack, args.plan)
    bad = unknown(placement, args.host, ())
    if bad:
        raise CommandError(
            f"{', '.join(bad)} is not in stack {args.stack}'s inventory ({path}); hosts: "
            f"{', '.join(h.name for h in placement.hosts)}"
        )
    verdict = can_lose(placement, _engine(placement), args.host)
    report: dict[str, Any] = {
        "stack": args.stack,
        "hosts": args.host,
        "refused": list(verdict.reasons),
        "already": list(verdict.already),
    }
    for problem in verdict.already:
        print(f"warning: already without the drain: {problem}", file=sys.stderr)
    if not verdict.ok:
        return ExitCode.BLOCKING, report
    say(
        f"proof: stack {args.stack} stays placeable{' and N+1' if placement.n_plus_one else ''} "
        f"without {verdict.what}"
    )
    budget = {name: spec.max_unavailable for name, spec in plan.services.items()}
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    # A dry run reads what only an operator sees (host names, compute services): the same identity.
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        services = steps.compute_services(session, args.host)
        observation = read_project(session)
        if not observation.host_names_visible and observation.servers:
            raise CommandError(
                f"cloud {cloud!r}: the identity cannot see host names; use the operator identity"
            )
        moves = plan_drain(expected_from_plan(plan, str(path)), observation.servers, args.host, budget)
        report |= {
            "refused": list(moves.refusals),
            "moves": [
                {"server": m.name, "id": m.server_id, "pod": m.pod, "from": m.from_host} for m in moves.moves
            ],
        }
        if moves.refusals:
            return ExitCode.BLOCKING, report
        for pod in moves.pods:
            say(
                f"{'would move' if args.dry_run else 'moves'} pod {pod[0].pod} of {pod[0].service}: "
                + ", ".join(m.name for m in pod)
            )
        if args.dry_run:
            say(
                f"dry run: would cordon {', '.join(args.host)} and move {len(moves.moves)} server(s) "
                f"of {len(moves.pods)} pod(s)"
            )
            return ExitCode.OK, report
        why = steps.reason(args.stack, getpass.getuser())
        for host, service in services.items():
            say(f"cordon {host}: {'disabled' if steps.cordon(session, service, why) else 'already disabled'}")
        try:
            for server in moves.in_flight:
                say(f"waiting for {server.name}, which Nova is changing ({server.status.lower()})")
                steps.wait_moved(session, server.id, server.host or "", args.move_timeout)
            moved = [m for pod in moves.pods for m in steps.move_pod(session, pod, args.move_timeout, say)]
        except steps.DrainError as error:
            raise steps.DrainError(steps.stopped(str(error), args.host)) from None
        left = [s.name for s in read_project(session).servers if s.host in args.host]
        report["moved"] = [
            {"server": m.move.name, "from": m.move.from_host, "to": m.to_host, "seconds": round(m.seconds, 1)}
            for m in moved
        ]
        report["left_on_hosts"] = left
    if left:
        raise steps.DrainError(
            f"servers still on {', '.join(args.host)} after the drain: {', '.join(left)}; rerun it"
        )
    say(
        f"drained {', '.join(args.host)}: {len(moved)} server(s) moved; the host stays disabled until "
        "`maintain undrain`"
    )
    return ExitCode.OK, report


def _undrain(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    cloud = args.cloud or stack_entry(args.stack, Access.OPERATE)
    with connect(cloud, Access.OPERATE, args.clouds_yaml, args.timeout) as session:
        services = steps.compute_services(session, args.host)
        for host, service in services.items():
            changed = steps.uncordon(session, service, args.force)
            say(f"{host}: {'enabled' if changed else 'already enabled'}")
    return ExitCode.OK, {"stack": args.stack, "hosts": args.host, "enabled": True}


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
            {"hosts": list(v.hosts), "domains": list(v.domains), "ok": v.ok, "reasons": list(v.reasons)}
            for v in verdicts
        ],
    }
    return ExitCode.OK, document


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    code: int = run("maintain", _main, argv, unusable=(CloudError, steps.DrainError))
    return code


ACTIONS = {
    "drain": "move every pod off --host, whole, after proving the stack stays N+1 without it",
    "undrain": "enable --host again after a drain",
    "ok-to-stop": "which hosts and failure domains can be taken down now",
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
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
    parser.add_argument("--dry-run", action="store_true", help="drain: print the moves, change nothing")
    parser.add_argument(
        "--move-timeout",
        type=seconds,
        default=DEFAULT_MOVE_TIMEOUT,
        help=f"drain: seconds one server may take to move (default {DEFAULT_MOVE_TIMEOUT:g})",
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
    if args.action in ("drain", "undrain") and not args.host:
        raise CommandError(f"maintain {args.action} needs --host HOST (repeatable)")
    misplaced = [
        option
        for option, given, allowed in (
            ("--host", args.host, ("drain", "undrain")),
            ("--dry-run", args.dry_run, ("drain",)),
            ("--force", args.force, ("undrain",)),
            ("--down", args.down, ("ok-to-stop",)),
        )
        if given and args.action not in allowed
    ]
    if misplaced:
        raise CommandError(f"maintain {args.action} does not take {', '.join(misplaced)}")
    say: Callable[[str], None] = (lambda _: None) if args.json else print
    action = {"drain": _drain, "undrain": _undrain, "ok-to-stop": _ok_to_stop}[args.action]
    code, document = action(args, say)
    for refusal in document.get("refused", []):
        print(f"refused: {refusal}", file=sys.stderr)
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    return code
