"""`python -m webex_cloud place --stack <stack>`: prove a plan's placement through the real filters.

Reads the offline plan (default ``<project>/build/plan/<stack>.json``; ``--project``: the checkout)
and places every pod instance and replica volume in creation order through Nova's and Cinder's
filter pipelines with our filters:
with a packing choice and with Nova's default weighers (spreading), each in several service
orders (Pulumi creates services in parallel). Every run checks the invariants (pods of a service
pairwise on distinct hosts, every pod whole, replicas pairwise in distinct failure domains) and,
unless the stack sets ``placement.n_plus_one: false``, that after the loss of any single host or
failure domain every lost pod and replica can be placed again with the capacity left.
Exit status (webex_cloud.exit_codes): 0 all placed and fault tolerant, 1 something is not, 2 the plan
cannot be read (or, read from build/plan, is older than the catalog and stack files) or Nova/Cinder
cannot be loaded, 3 an internal error. ``--json`` prints one JSON document instead of the text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webex_cloud.cli_common import (
    CommandError,
    add_project_option,
    add_stack_option,
    run,
    select_stacks,
    stale_plan,
)
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_dir, plan_path
from webex_cloud.picture import write
from webex_cloud.placement.engine import (
    PIPELINES_UNAVAILABLE,
    POLICIES,
    Placement,
    ServiceResult,
    pipelines,
    place,
    service_orders,
)
from webex_cloud.placement.picture import placement_picture
from webex_cloud.placement.plan import load_placement
from webex_cloud.plan.format import PlanError


def format_service(result: ServiceResult, n_plus_one: bool) -> list[str]:
    lines = [f"service {result.name}: {'OK' if not result.problems else 'FAILED'}"]
    lines += [f"  pod {pod}: {', '.join(hosts) or '-'}" for pod, hosts in result.pod_hosts.items()]
    lines += [
        f"  volume group {group}: {', '.join(domains) or '-'}"
        for group, domains in result.group_domains.items()
    ]
    apart = not result.unplaced and not result.violations
    if n_plus_one:
        hosts = "yes" if apart and not result.host_recovery else "no"
        domains = "yes" if apart and not result.domain_recovery else "no"
        lines.append(f"  survives loss of any single host (every lost pod placed again): {hosts}")
        lines.append(
            f"  survives loss of any single failure domain (every lost replica placed again): {domains}"
        )
    else:
        lines.append(
            f"  pods apart, pods whole, replicas apart: {'yes' if apart else 'no'} (N+1 not required)"
        )
    for domain, pods in sorted(result.impaired.items()):
        lines.append(f"  losing {domain} impairs {', '.join(sorted(pods))} until its replica is placed again")
    return lines


def service_json(result: ServiceResult) -> dict[str, Any]:
    """One service's result (Nova's default weighers, catalog order) as ``--json`` carries it."""
    return {
        "name": result.name,
        "placed": not result.problems,
        "pods": result.pod_hosts,
        "volume_groups": result.group_domains,
        "problems": result.problems,
    }


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("place", _main, argv)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud place",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--plan", type=Path, help="plan file (default: <project>/build/plan/<stack>.json)")
    parser.add_argument(
        "--engine",
        choices=["auto", "openstack", "rules"],
        default="auto",
        help="filter pipelines: Nova's and Cinder's when installed (auto), required "
        "(openstack), or our rule functions alone (rules)",
    )
    parser.add_argument(
        "--shuffles", type=int, default=2, help="random service orders to try besides forward and reverse"
    )
    parser.add_argument(
        "--svg", type=Path, help="also write the picture of where things would be to this file (SVG)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as one JSON document instead of text"
    )
    args = parser.parse_args(argv)
    single = [name for name, given in (("--plan", args.plan), ("--svg", args.svg)) if given]
    # The given project is used for everything: its stacks, its build/plan, its staleness check.
    stacks = select_stacks(args.stack, args.project, single)
    code: int = ExitCode.OK
    documents = []
    for stack in stacks:
        result, document = _place_stack(stack, args)
        code = max(code, result)
        documents.append(document)
    if args.json:
        print(json.dumps({"passed": code == ExitCode.OK, "stacks": documents}, indent=2, sort_keys=True))
    return code


def _place_stack(stack: str, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    say: Callable[[str], None] = (lambda _: None) if args.json else print
    path: Path = args.plan or plan_path(stack, plan_dir(args.project))
    try:
        if args.plan is None:
            stale = stale_plan(path, args.project)
            if stale:
                raise CommandError(stale)
        plan = load_placement(path)
        if args.plan is None and plan.stack != stack:
            raise PlanError(str(path), f"this is the plan of stack {plan.stack!r}, not {stack!r}")
    except PlanError as error:
        raise CommandError(str(error)) from None
    try:
        engine = pipelines(plan, args.engine)
    except PIPELINES_UNAVAILABLE as error:
        # Only a missing or unloadable Nova/Cinder lands here; any other failure is a bug and
        # reaches the command's internal-error report.
        raise CommandError(
            f"--engine openstack needs Nova and Cinder importable ({type(error).__name__}: {error}); "
            "install them with `pip install -c constraints/openstack.txt nova cinder`"
        ) from None
    runs: list[Placement] = [
        place(plan, engine, policy, order, plan.n_plus_one)
        for policy in POLICIES
        for order in service_orders(plan, args.shuffles)
    ]
    shown = next(run for run in runs if run.policy == "spread")
    if args.svg:
        write(placement_picture(plan, shown.services), args.svg)
    say(
        f"placement of stack {plan.stack} ({path}) through {engine.name}, Nova's default weighers, "
        "catalog order"
    )
    for result in shown.services:
        say("\n".join(format_service(result, plan.n_plus_one)))
    say(
        f"{len(runs)} runs ({', '.join(POLICIES)} x {len(runs) // len(POLICIES)} service orders); N+1 "
        f"{'checked over' if plan.n_plus_one else 'not required for'} {shown.hosts_checked} host and "
        f"{shown.domains_checked} failure-domain losses per run"
    )
    findings: dict[str, list[dict[str, str]]] = {"blocking": [], "advisory": []}
    for run_ in runs:
        where = f"[{run_.policy}, order {','.join(run_.order)}]"
        for kind, label, items in (
            ("advisory", "warning", run_.advisory()),
            ("blocking", "error", run_.blocking()),
        ):
            for result, problem in items:
                print(f"{label}: {where} service {result.name}: {problem}", file=sys.stderr)
                findings[kind].append(
                    {
                        "policy": run_.policy,
                        "order": ",".join(run_.order),
                        "service": result.name,
                        "problem": problem,
                    }
                )
    failed = [run_ for run_ in runs if run_.blocking()]
    if findings["advisory"]:
        print(
            "warning: with a packing weigher (not Nova's default) some pods cannot be placed; see the "
            "warnings (docs/scheduler-filters.md, plan-time placement proof)",
            file=sys.stderr,
        )
    if failed:
        names = sorted({r.name for run_ in failed for r, _ in run_.blocking()})
        print(
            f"{len(failed)} of {len(runs)} runs cannot place {', '.join(names)} fault tolerantly",
            file=sys.stderr,
        )
    else:
        say(f"all {len(shown.services)} services placed and fault tolerant in every run")
    document = {
        "stack": plan.stack,
        "plan": str(path),
        "engine": engine.name,
        "passed": not failed,
        "runs": len(runs),
        "services": [service_json(r) for r in shown.services],
        **findings,
    }
    return (ExitCode.BLOCKING if failed else ExitCode.OK), document
