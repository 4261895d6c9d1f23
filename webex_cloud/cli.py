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
        "webex_cloud.commands.plan",
        "render the offline plan of the datacenter stacks and check its policies",
    ),
    "place": ("webex_cloud.commands.place", "place a plan's pods and volumes through the real filters"),
    "policy": ("webex_cloud.commands.policy", "run the policy pack against a plan"),
    "preview": ("webex_cloud.commands.preview", "risk-ranked preview report of what a stack will change"),
    "comment": ("webex_cloud.commands.comment", "assemble the pull-request comment from the CI outputs"),
    "filter-release": (
        "webex_cloud.commands.filter_release",
        "show the scheduler-filter release this checkout rolls out to the controllers",
    ),
    "stacks": ("webex_cloud.commands.stacks", "list the datacenter stacks with their deploy wave and runner"),
    "pr-check": (
        "webex_cloud.commands.pr_check",
        "the whole pull-request check of every stack, and its comment",
    ),
    "pr-data": (
        "webex_cloud.commands.pr_data",
        "a pull request's data files, judged by main's code, for the credentialed preview",
    ),
    "audit": ("webex_cloud.commands.audit", "where a stack's pods and replicas really are, against its plan"),
    "maintain": (
        "webex_cloud.commands.maintain",
        "drain or undrain compute hosts without downtime; which can be stopped now",
    ),
    "drift": (
        "webex_cloud.commands.drift",
        "what changed behind the program's back: live vs state vs plan, and the placement rules",
    ),
    "drift-summary": (
        "webex_cloud.commands.drift_summary",
        "drift across the fleet: every stack's verdict, drift per class and report age, one document",
    ),
    "checkpoint": (
        "webex_cloud.commands.checkpoint",
        "after a failed `up`: is the state sound, and does the next `up` gate every pod it changes",
    ),
    "images": (
        "webex_cloud.commands.images",
        "the images every pod boots: pinned in the image catalog, verified by their bytes in Glance",
    ),
    "monitoring": (
        "webex_cloud.commands.monitoring",
        "write a stack's Prometheus, rules, Alertmanager and blackbox config from the catalog",
    ),
    "last-good": (
        "webex_cloud.commands.last_good",
        "record a stack's deploy as its last good one, beside its state",
    ),
    "rollback": (
        "webex_cloud.commands.rollback",
        "roll a stack's failed release back to its last good deploy, or page",
    ),
    "hold-request": (
        "webex_cloud.commands.hold_request",
        "merge every stack's rollback of a release into its one hold pull request",
    ),
    "bake": ("webex_cloud.commands.bake", "wait a stack's bake time, then probe every health gate again"),
    "judge": (
        "webex_cloud.commands.judge",
        "judge a release wave by its metrics now, as its gate does after the bake",
    ),
}
"""Every command, each a module of webex_cloud/commands/ (`python -m webex_cloud.commands.comment` runs
the same code as `python -m webex_cloud comment`)."""

RENAMED: dict[str, str] = {"release": "filter-release"}
"""Old command names that are refused with the new name: "release" alone means a service's release in
health-gated waves (webex_cloud/release/, docs/releasing.md); the controllers' is the filter release."""

WHOLE_CHECKOUT: tuple[str, ...] = ("comment", "filter-release", "hold-request", "pr-data", "stacks")
"""The commands that take no ``--stack``: they work on the whole checkout (the filter release, the list
of stacks) or on a folder of every stack's CI outputs; every other command takes it the same way."""


def usage() -> str:
    lines = ["usage: python -m webex_cloud <command> [options]", "", "commands:"]
    lines += [f"  {name:<15} {help_text}" for name, (_, help_text) in COMMANDS.items()]
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
    if name in RENAMED:
        print(
            f"error: the command {name!r} is now {RENAMED[name]!r}: "
            f"python -m webex_cloud {RENAMED[name]} {' '.join(rest)}".rstrip(),
            file=sys.stderr,
        )
        return ExitCode.INPUT
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return ExitCode.INPUT

    def command(args: list[str]) -> int:
        module = importlib.import_module(COMMANDS[name][0])
        result: int = module.main(args)
        return result

    return run(name, command, rest)
