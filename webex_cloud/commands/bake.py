"""`python -m webex_cloud bake --stack S --plan FILE --seconds N`: the canary's bake.

Waits N seconds (``deploy.bake_s`` of the stack file), then probes every health gate of the stack's
plan again (webex_cloud/release/bake.py). Exit 0 when all serve, 1 when one does not (the deploy job
then rolls the stack back and the next wave never starts), 2 on an unusable plan.
"""

from __future__ import annotations

from pathlib import Path

from webex_cloud.cli_common import (
    ArgumentParser,
    add_project_option,
    add_stack_option,
    seconds,
    select_stacks,
)
from webex_cloud.cli_common import run as cli_run
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import PlanError, read_plan
from webex_cloud.release.bake import BakeError, bake, gate_specs


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m webex_cloud bake", description=__doc__)
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument(
        "--plan", type=Path, required=True, help="the stack's plan (python -m webex_cloud plan)"
    )
    parser.add_argument("--seconds", type=seconds, required=True, help="how long to bake first")
    args = parser.parse_args(argv)
    (stack,) = select_stacks(args.stack, args.project, ["--plan"])
    plan = read_plan(args.plan)
    specs = gate_specs(plan, str(args.plan))
    return ExitCode.OK if bake(specs, args.seconds, label=stack) else ExitCode.BLOCKING


def main(argv: list[str]) -> int:
    return cli_run("bake", _main, argv, unusable=(PlanError, BakeError))
