"""`python -m webex_cloud judge --stack dc1 --service meetings-media --wave 1`: judge a release wave now.

Runs what a wave's gate runs once the wave has baked (``release/probe.py``'s ``bake_and_judge``, through
the same ``release/rollout.py`` ``analysis_spec`` and ``release/analysis.py`` ``analyse``): the wave's pods
against the pods later waves change, each metric over the last ``bake_s`` seconds (``--window-s`` to look
at another span, ``--at`` to judge another moment), through the stack's Prometheus (``--prometheus`` to
ask another, e.g. through a tunnel). Prints the verdict and the numbers behind it (``--json``: as JSON).
Nothing is changed: it only reads Prometheus.

Exit status: 0 the wave passes, 1 it fails or cannot be judged, 2 unusable input (an unknown service or
wave, a stack without monitoring; the message says what to give), 3 an internal error.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace

from webex_cloud import paths
from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_project_option,
    add_stack_option,
    run,
    seconds,
    select_stacks,
)
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.release import rollout
from webex_cloud.release.analysis import AnalysisSpec, analyse, describe, prometheus_query


def _wave_analysis(args: argparse.Namespace, stack: str) -> tuple[str, AnalysisSpec, int]:
    """The analysis the gate of the wave holds, with this command's overrides; raises CommandError."""
    deployment = load_deployment(args.project, stack)
    services = {d.service.name: d.service for d in deployment.services}
    service = services.get(args.service)
    if service is None:
        raise CommandError(
            f"--service {args.service!r}: not deployed in {stack}; "
            f"services there: {', '.join(sorted(services))}"
        )
    count = len(rollout.waves(service.pods.count, service.rollout.max_unavailable))
    if not 1 <= args.wave <= count:
        raise CommandError(f"--wave {args.wave}: {service.name} is released in waves 1 to {count} in {stack}")
    prometheus = tuple(args.prometheus or rollout.prometheus_urls(deployment.datacenter))
    spec = rollout.analysis_spec(service, deployment.datacenter.name, args.wave, prometheus)
    if spec is None:
        raise CommandError(
            f"{paths.stack_file(stack)}: config.webex-cloud:datacenter.monitoring: not declared, so {stack} "
            "has no Prometheus to judge releases by; declare it (docs/monitoring.md) or give --prometheus URL"
        )
    if args.window_s is not None:
        spec = replace(spec, bake_s=args.window_s)
    return deployment.datacenter.name, spec, count


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud judge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--service", required=True, help="catalog service whose release wave to judge")
    parser.add_argument(
        "--wave", required=True, type=int, help="the wave (1-based, as the gates number them)"
    )
    parser.add_argument(
        "--prometheus",
        action="append",
        metavar="URL",
        help="ask this Prometheus (http://host:9090; repeatable) instead of the stack's monitoring nodes",
    )
    parser.add_argument(
        "--window-s", type=seconds, help="judge this many seconds before --at (default: the bake time)"
    )
    parser.add_argument("--at", type=float, help="judge the window ending at this Unix time (default: now)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args(argv)
    stack = select_stacks(args.stack, args.project, ("--service",))[0]
    datacenter, spec, count = _wave_analysis(args, stack)
    at = time.time() if args.at is None else args.at
    verdict = analyse(
        spec, prometheus_query(spec.prometheus, at), service=args.service, datacenter=datacenter
    )
    if args.json:
        print(
            json.dumps(
                {"stack": stack, "service": args.service, "wave": args.wave, "at": at, **asdict(verdict)}
            )
        )
    else:
        print(
            f"{stack}/{args.service} wave {args.wave}/{count}: new pods {', '.join(spec.new_pods)}; old pods "
            f"{', '.join(spec.old_pods) or 'none left (absolute limits only)'}; "
            f"window {spec.bake_s:g}s ending {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(at))}; "
            f"Prometheus {', '.join(spec.prometheus)}"
        )
        for line in describe(verdict):
            print(line)
    return ExitCode.OK if verdict.passed else ExitCode.BLOCKING


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    code: int = run("judge", _main, argv, unusable=(CatalogError,))
    return code
