"""`python -m webex_cloud <command>`: one entry point, each command in its own module.

This module only dispatches: commands are imported lazily (so that `plan` does not pay for the preview
or policy code), and what they share (``--stack``, the plan's freshness check, the exit-code contract)
lives below them in webex_cloud/cli_common.py; no module imports this one.
"""

from __future__ import annotations

import importlib
import sys

from webex_cloud.cli_common import run, version
from webex_cloud.exit_codes import ExitCode

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": (
        "webex_cloud.plan.cli",
        "render the offline plan of the datacenter stacks and check its policies",
    ),
    "place": ("webex_cloud.placement.cli", "place a plan's pods and volumes through the real filters"),
    "policy": ("webex_cloud.policy_check.cli", "run the policy pack against a plan"),
    "preview": ("webex_cloud.preview.cli", "risk-ranked preview report of what a stack will change"),
    "comment": ("webex_cloud.preview.comment", "assemble the pull-request comment from the CI outputs"),
    "release": (
        "webex_cloud.controller.release",
        "show the scheduler-filter release this checkout rolls out",
    ),
    "stacks": ("webex_cloud.stacks.cli", "list the datacenter stacks with their deploy wave and runner"),
    "pr-check": (
        "webex_cloud.preview.pr_check",
        "the whole pull-request check of every stack, and its comment",
    ),
    "audit": ("webex_cloud.audit.cli", "where a stack's pods and replicas really are, against its plan"),
    "monitoring": (
        "webex_cloud.monitoring.cli",
        "write a stack's Prometheus, rules, Alertmanager and blackbox config from the catalog",
    ),
}
"""Every command; `python -m webex_cloud.preview.comment` and `.controller.release` run the same code."""

WHOLE_CHECKOUT: tuple[str, ...] = ("comment", "release", "stacks")
"""The commands that take no ``--stack``: they work on the whole checkout (the filter release, the list
of stacks) or on a folder of every stack's CI outputs; every other command takes it the same way."""


def usage() -> str:
    lines = ["usage: python -m webex_cloud <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += [
        "",
        "`python -m webex_cloud <command> --help` for a command's options; `--version` for the version.",
        "Every command but " + ", ".join(WHOLE_CHECKOUT) + " takes `--stack STACK` (repeatable; default: "
        "every stack under stacks/).",
        "Exit status: 0 nothing found, 1 a blocking finding, 2 unusable input, 3 internal error.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return ExitCode.OK if argv else ExitCode.INPUT
    if argv[0] == "--version":
        print(f"webex-cloud {version()}")
        return ExitCode.OK
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return ExitCode.INPUT

    def command(args: list[str]) -> int:
        module = importlib.import_module(COMMANDS[name][0])
        result: int = module.main(args)
        return result

    return run(name, command, rest)
