"""`python -m webex_cloud place --stack <stack>`: prove a plan's placement through the real filters.

Reads the offline plan (default ``<project>/build/plan/<stack>.json``; ``--project``: the checkout)
and places every pod instance and replica volume in creation order through Nova's and Cinder's
filter pipelines with our filters:
with Nova's default weighers (spreading) in **every** service order (Pulumi creates services in
parallel; webex_cloud.placement.proof says how every order is covered). Every outcome is checked
for the invariants (pods of a service pairwise on distinct hosts, every pod whole, replicas
pairwise in distinct failure domains) and, unless the stack sets ``placement.n_plus_one: false``,
that after the loss of any single host every lost pod can be placed again in every evacuation
order, and after the loss of any single failure domain every lost replica. The loss of each
availability zone is reported. A packing choice (not Nova's default) is also tried in a few
service orders (``--shuffles``); what it cannot place is a warning.
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
    ArgumentParser,
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
    Placement,
    ServiceResult,
    pipelines,
    place,
    service_orders,
)
from webex_cloud.placement.picture import placement_picture
from webex_cloud.placement.plan import load_placement
from webex_cloud.placement.proof import DEFAULT_LIMIT, Proof, prove
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


def _apply_proof(shown: Placement, proof: Proof) -> None:
    """The shown run's verdicts become the proof's: over every order, not only the shown one."""
    for result in shown.services:
        mine = [f for f in proof.findings if f.service == result.name]
        result.violations = [
            f.problem for f in mine if f.kind == "placement" and f.problem not in result.unplaced
        ]
        result.host_recovery = [f.problem for f in mine if f.kind == "host"]
        result.domain_recovery = [f.problem for f in mine if f.kind == "domain"]


def format_zones(proof: Proof) -> list[str]:
    """What each service keeps when an availability zone is lost, in its worst service order."""
    lines = []
    for zone in sorted({z.zone for z in proof.zones}):
        parts = [
            f"{z.service} {z.left} of {z.pods} pods "
            f"({'keeps' if z.keeps else 'below'} pods - max_unavailable = {z.required})"
            for z in proof.zones
            if z.zone == zone
        ]
        lines.append(
            f"losing availability zone {zone} (worst order, before re-placement): {'; '.join(parts)}"
        )
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
    parser = ArgumentParser(
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
        "--shuffles",
        type=int,
        default=2,
        help="random service orders the packing sample tries besides forward and reverse "
        "(the proof with Nova's weighers covers every order)",
    )
    parser.add_argument(
        "--max-states",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"placement states the proof may follow before it stops, not proven (default {DEFAULT_LIMIT})",
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
    proof = prove(plan, engine, plan.n_plus_one, args.max_states)
    shown = place(plan, engine, "spread", None, plan.n_plus_one)
    _apply_proof(shown, proof)
    samples: list[Placement] = [
        place(plan, engine, "pack", order, plan.n_plus_one) for order in service_orders(plan, args.shuffles)
    ]
    if args.svg:
        write(placement_picture(plan, shown.services), args.svg)
    say(
        f"placement of stack {plan.stack} ({path}) through {engine.name}, Nova's default weighers, "
        "catalog order"
    )
    for result in shown.services:
        say("\n".join(format_service(result, plan.n_plus_one)))
    for line in format_zones(proof):
        say(line)
    say(
        f"proof over every service order: {proof.service_orders} orders, {proof.states} placement states, "
        f"{proof.placements} distinct placements"
        + (
            f"; N+1 over every evacuation order of every host's pods ({proof.evacuation_states} states) and "
            f"every single failure-domain loss"
            if plan.n_plus_one
            else "; N+1 not required"
        )
    )
    findings: dict[str, list[dict[str, str]]] = {"blocking": [], "advisory": []}
    for finding in proof.findings:
        where = f"[order {','.join(finding.order)}]"
        print(f"error: {where} service {finding.service}: {finding.problem}", file=sys.stderr)
        findings["blocking"].append(
            {
                "policy": "spread",
                "order": ",".join(finding.order),
                "evacuation": ",".join(finding.evacuation),
                "service": finding.service,
                "problem": finding.problem,
            }
        )
    if not proof.complete:
        message = (
            f"the proof followed more than {args.max_states} states and stopped: not proven "
            "(raise --max-states, or split the stack)"
        )
        print(f"error: {message}", file=sys.stderr)
        findings["blocking"].append({"policy": "spread", "order": "", "service": "", "problem": message})
    for run_ in samples:
        for result, problem in run_.advisory():
            print(
                f"warning: [pack, order {','.join(run_.order)}] service {result.name}: {problem}",
                file=sys.stderr,
            )
            findings["advisory"].append(
                {"policy": "pack", "order": ",".join(run_.order), "service": result.name, "problem": problem}
            )
        for result, problem in run_.blocking():
            print(
                f"error: [pack, order {','.join(run_.order)}] service {result.name}: {problem}",
                file=sys.stderr,
            )
            findings["blocking"].append(
                {"policy": "pack", "order": ",".join(run_.order), "service": result.name, "problem": problem}
            )
    failed = bool(findings["blocking"])
    if findings["advisory"]:
        print(
            "warning: with a packing weigher (not Nova's default) some pods cannot be placed; see the "
            "warnings (docs/scheduler-filters.md, plan-time placement proof)",
            file=sys.stderr,
        )
    if failed:
        names = sorted({f["service"] for f in findings["blocking"] if f["service"]})
        print(
            f"cannot place {', '.join(names) or 'the stack'} fault tolerantly in every order", file=sys.stderr
        )
    else:
        say(f"all {len(shown.services)} services placed and fault tolerant in every order")
    document = {
        "stack": plan.stack,
        "plan": str(path),
        "engine": engine.name,
        "passed": not failed,
        "service_orders": proof.service_orders,
        "placements": proof.placements,
        "zones": [
            {
                "zone": z.zone,
                "service": z.service,
                "pods": z.pods,
                "left": z.left,
                "required": z.required,
                "keeps": z.keeps,
                "order": ",".join(z.order),
            }
            for z in proof.zones
        ],
        "services": [service_json(r) for r in shown.services],
        **findings,
    }
    return (ExitCode.BLOCKING if failed else ExitCode.OK), document
