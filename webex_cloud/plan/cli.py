"""`python -m webex_cloud plan`: render the offline plan of datacenter stacks, no cloud or CLI needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import known_stacks
from webex_cloud.plan.document import dumps, render_plan, summary

PROJECT_DIR = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud plan",
        description="Run the Pulumi program of each stack under the SDK's mock engine and write the "
        "desired-state graph as JSON (build/plan/<stack>.json) with a short summary.",
    )
    parser.add_argument("--stack", action="append", help="stack to render (repeatable; default: every stack)")
    parser.add_argument(
        "--project", type=Path, default=PROJECT_DIR, help="project folder (default: this checkout)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <project>/build/plan)"
    )
    args = parser.parse_args(argv)
    stacks = args.stack or known_stacks(args.project)
    out_dir: Path = args.out or args.project / "build" / "plan"
    failed = False
    for stack in stacks:
        try:
            plan = render_plan(stack, project_dir=args.project)
        except CatalogError as error:
            print(f"{stack}: {error}", file=sys.stderr)
            failed = True
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{stack}.json"
        target.write_text(dumps(plan), encoding="utf-8")
        print(summary(plan))
        print(f"  plan written to {target}\n")
    return 1 if failed else 0
