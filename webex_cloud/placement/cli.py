"""`python -m webex_cloud place --stack dc1`: prove a plan's placement through the real filters.

Reads the offline plan (default ``build/plan/<stack>.json``), places every pod instance and
replica volume in creation order through Nova's and Cinder's filter pipelines with our
filters, and reports per service the hosts of each pod, the failure domains of each volume
group and whether the service survives losing any one host and any one failure domain.
Exit status (webex_cloud.exit_codes): 0 all placed and fault tolerant, 1 something is not, 2 the plan
cannot be read or Nova/Cinder cannot be loaded, 3 an internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from webex_cloud.cli import CommandError, add_stack_option, run, select_stacks, stale_plan
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT_DIR, plan_path
from webex_cloud.placement.engine import PIPELINES_UNAVAILABLE, Pipelines, ServiceResult, pipelines, place
from webex_cloud.placement.plan import load_placement
from webex_cloud.plan.format import PlanError


def format_service(result: ServiceResult) -> list[str]:
    lines = [f"service {result.name}: {'OK' if not result.problems else 'FAILED'}"]
    lines += [f"  pod {pod}: {', '.join(hosts) or '-'}" for pod, hosts in result.pod_hosts.items()]
    lines += [
        f"  volume group {group}: {', '.join(domains) or '-'}"
        for group, domains in result.group_domains.items()
    ]
    lines.append(f"  survives loss of any single host: {'no' if result.host_risks else 'yes'}")
    lines.append(f"  survives loss of any single failure domain: {'no' if result.domain_risks else 'yes'}")
    return lines


def service_json(result: ServiceResult) -> dict[str, Any]:
    """One service's result as the --json output carries it."""
    return {
        "name": result.name,
        "placed": not result.problems,
        "pods": result.pod_hosts,
        "volume_groups": result.group_domains,
        "survives_host_loss": not result.host_risks,
        "survives_failure_domain_loss": not result.domain_risks,
        "problems": result.problems,
    }


def _place_stack(
    stack: str, given: Path | None, engine: Pipelines, as_json: bool
) -> tuple[int, dict[str, Any]]:
    path: Path = given or plan_path(stack)
    if given is None:
        stale = stale_plan(path, PROJECT_DIR)
        if stale:
            raise CommandError(stale)
    try:
        plan = load_placement(path)
        if given is None and plan.stack != stack:
            raise PlanError(str(path), f"this is the plan of stack {plan.stack!r}, not {stack!r}")
    except PlanError as error:
        raise CommandError(str(error)) from None
    results = place(plan, engine)
    failed = [r for r in results if r.problems]
    if not as_json:
        print(f"placement of stack {plan.stack} ({path}) through {engine.name}")
        for result in results:
            print("\n".join(format_service(result)))
        for result in failed:
            for problem in result.problems:
                print(f"error: service {result.name}: {problem}", file=sys.stderr)
        if failed:
            print(
                f"{len(failed)} of {len(results)} services cannot be placed fault tolerantly: "
                f"{', '.join(r.name for r in failed)}",
                file=sys.stderr,
            )
        else:
            print(f"all {len(results)} services placed and fault tolerant")
    document = {
        "stack": plan.stack,
        "plan": str(path),
        "engine": engine.name,
        "passed": not failed,
        "services": [service_json(r) for r in results],
    }
    return (ExitCode.BLOCKING if failed else ExitCode.OK), document


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
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
    parser.add_argument(
        "--engine",
        choices=["auto", "openstack", "rules"],
        default="auto",
        help="filter pipelines: Nova's and Cinder's when installed (auto), required "
        "(openstack), or our rule functions alone (rules)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as one JSON document instead of text"
    )
    args = parser.parse_args(argv)
    stacks = select_stacks(args.stack, PROJECT_DIR, ["--plan"] if args.plan else [])
    try:
        engine = pipelines(args.engine)
    except PIPELINES_UNAVAILABLE as error:
        # Only a missing or unloadable Nova/Cinder lands here; any other failure is a bug and
        # reaches the command's internal-error report.
        print(
            f"error: --engine openstack needs Nova and Cinder importable ({type(error).__name__}: {error}); "
            "install them with `pip install -c constraints/openstack.txt nova cinder`",
            file=sys.stderr,
        )
        return ExitCode.INPUT
    code: int = ExitCode.OK
    documents = []
    for stack in stacks:
        result, document = _place_stack(stack, args.plan, engine, args.json)
        code = max(code, result)
        documents.append(document)
    if args.json:
        print(json.dumps({"passed": code == ExitCode.OK, "stacks": documents}, indent=2, sort_keys=True))
    return code
