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
import sys
from pathlib import Path

from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_path
from webex_cloud.picture import write
from webex_cloud.placement.engine import PIPELINES_UNAVAILABLE, ServiceResult, pipelines, place
from webex_cloud.placement.picture import placement_picture
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud place",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", default="dc1", help="datacenter stack (default: dc1)")
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
    parser.add_argument(
        "--engine",
        choices=["auto", "openstack", "rules"],
        default="auto",
        help="filter pipelines: Nova's and Cinder's when installed (auto), required "
        "(openstack), or our rule functions alone (rules)",
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
    results = place(plan, engine)
    if args.svg:
        write(placement_picture(plan, results), args.svg)
    print(f"placement of stack {plan.stack} ({path}) through {engine.name}")
    for result in results:
        print("\n".join(format_service(result)))
    failed = [r for r in results if r.problems]
    for result in failed:
        for problem in result.problems:
            print(f"error: service {result.name}: {problem}", file=sys.stderr)
    if failed:
        print(
            f"{len(failed)} of {len(results)} services cannot be placed fault tolerantly: "
            f"{', '.join(r.name for r in failed)}",
            file=sys.stderr,
        )
        return ExitCode.BLOCKING
    print(f"all {len(results)} services placed and fault tolerant")
    return ExitCode.OK
