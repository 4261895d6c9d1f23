"""`python -m webex_cloud place --stack <stack>`: prove a plan's placement through the real filters.

Reads the offline plan (default ``build/plan/<stack>.json``) and places every pod instance and
replica volume in creation order through Nova's and Cinder's filter pipelines with our filters:
with a packing choice and with Nova's default weighers (spreading), each in several service
orders (Pulumi creates services in parallel). Every run checks the invariants (pods of a service
pairwise on distinct hosts, every pod whole, replicas pairwise in distinct failure domains) and,
unless the stack sets ``placement.n_plus_one: false``, that after the loss of any single host or
failure domain every lost pod and replica can be placed again with the capacity left.
Exit status (webex_cloud.exit_codes): 0 all placed and fault tolerant, 1 something is not, 2 the plan
cannot be read or Nova/Cinder cannot be loaded, 3 an internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_path
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud place",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="datacenter stack (its stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
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
    args = parser.parse_args(argv)
    path: Path = args.plan or plan_path(args.stack)
    try:
        plan = load_placement(path)
        if args.plan is None and plan.stack != args.stack:
            raise PlanError(str(path), f"this is the plan of stack {plan.stack!r}, not {args.stack!r}")
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    try:
        engine = pipelines(plan, args.engine)
    except PIPELINES_UNAVAILABLE as error:
        # Only a missing or unloadable Nova/Cinder lands here; any other failure is a bug and
        # reaches the command's internal-error report.
        print(
            f"error: --engine openstack needs Nova and Cinder importable ({type(error).__name__}: {error}); "
            "install them with `pip install -c constraints/openstack.txt nova cinder`",
            file=sys.stderr,
        )
        return ExitCode.INPUT
    runs: list[Placement] = [
        place(plan, engine, policy, order, plan.n_plus_one)
        for policy in POLICIES
        for order in service_orders(plan, args.shuffles)
    ]
    shown = next(run for run in runs if run.policy == "spread")
    if args.svg:
        write(placement_picture(plan, shown.services), args.svg)
    print(
        f"placement of stack {plan.stack} ({path}) through {engine.name}, Nova's default weighers, "
        "catalog order"
    )
    for result in shown.services:
        print("\n".join(format_service(result, plan.n_plus_one)))
    print(
        f"{len(runs)} runs ({', '.join(POLICIES)} x {len(runs) // len(POLICIES)} service orders); N+1 "
        f"{'checked over' if plan.n_plus_one else 'not required for'} {shown.hosts_checked} host and "
        f"{shown.domains_checked} failure-domain losses per run"
    )
    for run in runs:
        where = f"[{run.policy}, order {','.join(run.order)}]"
        for result, problem in run.advisory():
            print(f"warning: {where} service {result.name}: {problem}", file=sys.stderr)
        for result, problem in run.blocking():
            print(f"error: {where} service {result.name}: {problem}", file=sys.stderr)
    failed = [run for run in runs if run.blocking()]
    if any(run.advisory() for run in runs):
        print(
            "warning: with a packing weigher (not Nova's default) some pods cannot be placed; see the "
            "warnings (docs/scheduler-filters.md, plan-time placement proof)",
            file=sys.stderr,
        )
    if failed:
        names = sorted({r.name for run in failed for r, _ in run.blocking()})
        print(
            f"{len(failed)} of {len(runs)} runs cannot place {', '.join(names)} fault tolerantly",
            file=sys.stderr,
        )
        return ExitCode.BLOCKING
    print(f"all {len(shown.services)} services placed and fault tolerant in every run")
    return ExitCode.OK
