"""`python -m webex_cloud stacks`: the datacenter stacks, their deploy waves and runners, and what each
stack's deploy job is given: ``timeout_minutes`` (the steps before ``up`` and the slowest release the
catalog can produce there, bounded by the provider's and the gates' own time limits) and ``parallel``
(``PULUMI_PARALLEL``: the widest moment of those releases). A service whose release cannot fit the job
limit is refused here, and by the catalog check (config/release_time.py).

Read from stacks/Pulumi.*.yaml (``deploy: {wave, runner, bake_s}`` under ``webex-cloud:datacenter``),
the only list of datacenters, and catalog/*.yaml: the workflows build their matrices from this command's
output. With ``--deploy`` (the deploy workflow's first job) it refuses, exit 1, while the fleet's freeze
switch (``deployments/freeze.yaml``, webex_cloud/config/freeze.py) is on: no stack's job is ever started.
"""

from __future__ import annotations

import argparse
import json
import sys

from webex_cloud.cli_common import ArgumentParser, add_project_option
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.freeze import read_freeze, refusal
from webex_cloud.config.models import MAX_WAVES
from webex_cloud.exit_codes import ExitCode
from webex_cloud.stacks.waves import StackEntry, github_outputs, load_stacks, waves


def _table(entries: list[StackEntry]) -> str:
    width = max(len("stack"), *(len(entry.stack) for entry in entries))
    lines = [f"{'stack':<{width}}  wave  bake_s  timeout  parallel  runner"]
    lines += [
        f"{entry.stack:<{width}}  {entry.wave:>4}  {entry.bake_s:>6}  {entry.timeout_minutes:>3} min  "
        f"{entry.parallel:>8}  {entry.runner}"
        for entry in entries
    ]
    return "\n".join(lines)


def _waves_text(entries: list[StackEntry]) -> str:
    return "\n".join(
        f"wave {index}: " + ", ".join(f"{entry.stack} (runner {entry.runner})" for entry in members)
        for index, members in enumerate(waves(entries), start=1)
    )


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud stacks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--waves", action="store_true", help="group the stacks by deploy wave, in order")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON (for workflows and scripts)")
    form.add_argument(
        "--github-output",
        action="store_true",
        help="print `name=value` step outputs for $GITHUB_OUTPUT: stacks, waves and "
        f"wave_1..wave_{MAX_WAVES} (each a JSON list of {{stack, wave, runner, timeout_minutes, "
        "parallel, bake_s}} for a matrix include; [] when unused)",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="list for a deployment: refuse (exit 1) while the freeze switch (deployments/freeze.yaml) is on",
    )
    add_project_option(parser)
    args = parser.parse_args(argv)
    try:
        entries = load_stacks(args.project)
        freeze = read_freeze(args.project) if args.deploy else None
    except CatalogError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    if freeze is not None:
        print(f"::error title=deploy frozen::{refusal(freeze)}")
        return ExitCode.BLOCKING
    if args.github_output:
        print("\n".join(f"{name}={value}" for name, value in github_outputs(entries).items()))
    elif args.json and args.waves:
        document = [
            {"wave": index, "stacks": [entry.to_json() for entry in members]}
            for index, members in enumerate(waves(entries), start=1)
        ]
        print(json.dumps(document, indent=2))
    elif args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
    elif args.waves:
        print(_waves_text(entries))
    else:
        print(_table(entries))
    return ExitCode.OK
