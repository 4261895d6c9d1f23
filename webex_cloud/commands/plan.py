"""`python -m webex_cloud plan`: render the offline plan of datacenter stacks, no cloud or CLI needed.

The policy pack's verdicts are printed with the plans; a mandatory violation fails the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from webex_cloud import atomic, paths
from webex_cloud.cli_common import ArgumentParser, add_project_option, add_stack_option, run, select_stacks
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.document import summary
from webex_cloud.plan.format import dumps, empty_plan
from webex_cloud.plan.parallel import render_plans


def _out_dir(given: Path | None, project: Path) -> Path:
    out_dir = given or paths.plan_dir(project)
    if out_dir.exists() and not out_dir.is_dir():
        raise atomic.OutputError(f"--out {out_dir} is a file; name a folder (plans are <stack>.json in it)")
    return out_dir


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("plan", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud plan",
        description="Run the Pulumi program of each stack under the SDK's mock engine, write the "
        "desired-state graph as JSON (build/plan/<stack>.json) with a short summary, and check it "
        "with the policy pack. Exit status: 0 valid and no mandatory violation, 1 a mandatory "
        "violation, 2 invalid input (nothing written), 3 internal error.",
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <project>/build/plan)"
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument(
        "--empty",
        action="store_true",
        help="write the plan of a stack that has nothing (no program run, no policy check): the base "
        "side of a diff when the base branch cannot render the stack; needs --stack",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="render the stacks in N worker processes (default: one per core; 1: in this process)",
    )
    args = parser.parse_args(argv)
    project: Path = args.project
    try:
        out_dir = _out_dir(args.out, project)
        if args.empty:
            # The stack an empty plan stands for need not exist here (the base branch may lack it).
            return _write_empty(args.stack or [], out_dir)
    except atomic.OutputError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs takes a number of processes, 1 or more, not {args.jobs}")
    stacks = select_stacks(args.stack, project)
    rendered, errors = render_plans(stacks, project, args.jobs)
    for stack, invalid in errors.items():
        print(f"{stack}: {invalid}", file=sys.stderr)
    if errors:
        # Nothing is written unless every stack is valid: no mix of new and old plans (and place and
        # preview refuse the older plan still there: it predates the input's last change).
        return ExitCode.INPUT
    try:
        for stack, plan in rendered.items():
            target = paths.plan_path(stack, out_dir)
            atomic.write_text(target, dumps(plan))
            print(summary(plan))
            print(f"  plan written to {target}\n")
    except (atomic.OutputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    if args.no_policy:
        return ExitCode.OK
    return _check_policies(rendered, project)


def _write_empty(stacks: list[str], out_dir: Path) -> int:
    if not stacks:
        print("error: --empty needs --stack STACK (the stack the empty plan stands for)", file=sys.stderr)
        return ExitCode.INPUT
    for stack in stacks:
        target = paths.plan_path(stack, out_dir)
        atomic.write_text(target, dumps(empty_plan(stack)))
        print(f"empty plan of {stack} written to {target}")
    return ExitCode.OK


def _check_policies(rendered: dict[str, dict[str, Any]], project_dir: Path) -> int:
    # Lazily: the policy harness (and the pack it starts) is not needed for --no-policy.
    from webex_cloud.commands.pipeline import CHECK_ERRORS, check_plans

    try:
        text, passed = check_plans(rendered, project_dir=project_dir)
    except CHECK_ERRORS as error:
        print(f"policy check: {error}", file=sys.stderr)
        return ExitCode.INPUT
    print(text)
    return ExitCode.OK if passed else ExitCode.BLOCKING
