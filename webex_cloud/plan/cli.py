"""`python -m webex_cloud plan`: render the offline plan of datacenter stacks, no cloud or CLI needed.

The policy pack's verdicts are printed with the plans; a mandatory violation fails the command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from webex_cloud.config.loader import known_stacks
from webex_cloud.paths import PROJECT_DIR, plan_path
from webex_cloud.plan.document import summary
from webex_cloud.plan.format import dumps, empty_plan
from webex_cloud.plan.parallel import render_plans


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud plan",
        description="Run the Pulumi program of each stack under the SDK's mock engine, write the "
        "desired-state graph as JSON (build/plan/<stack>.json) with a short summary, and check it "
        "with the policy pack.",
    )
    parser.add_argument("--stack", action="append", help="stack to render (repeatable; default: every stack)")
    parser.add_argument("--project", type=Path, default=PROJECT_DIR, help="project folder (default: here)")
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
    if args.empty:
        return _write_empty(args.stack or [], args.out or args.project / "build" / "plan")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs takes a number of processes, 1 or more, not {args.jobs}")
    stacks = args.stack or known_stacks(args.project)
    if not stacks:
        print(f"error: no stack config (stacks/Pulumi.<stack>.yaml) under {args.project}", file=sys.stderr)
        return 2
    rendered, errors = render_plans(stacks, args.project, args.jobs)
    for stack, error in errors.items():
        print(f"{stack}: {error}", file=sys.stderr)
    if errors:
        # Nothing is written unless every stack is valid: no mix of new and old plans.
        return 1
    out_dir: Path = args.out or args.project / "build" / "plan"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stack, plan in rendered.items():
        target = plan_path(stack, out_dir)
        target.write_text(dumps(plan), encoding="utf-8")
        print(summary(plan))
        print(f"  plan written to {target}\n")
    if args.no_policy:
        return 0
    return _check_policies(rendered, args.project)


def _write_empty(stacks: list[str], out_dir: Path) -> int:
    if not stacks:
        print("error: --empty needs --stack STACK (the stack the empty plan stands for)", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    for stack in stacks:
        target = plan_path(stack, out_dir)
        target.write_text(dumps(empty_plan(stack)), encoding="utf-8")
        print(f"empty plan of {stack} written to {target}")
    return 0


def _check_policies(rendered: dict[str, dict[str, Any]], project_dir: Path) -> int:
    # Lazily: the policy harness (and the pack it starts) is not needed for --no-policy.
    from webex_cloud.pipeline import CHECK_ERRORS, check_plans

    try:
        text, passed = check_plans(rendered, project_dir=project_dir)
    except CHECK_ERRORS as error:
        print(f"policy check: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0 if passed else 1
