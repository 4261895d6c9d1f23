"""`python -m webex_cloud <command>`: one entry point, each command in its own module.

Commands are imported lazily so that `plan` does not pay for the preview or policy code.
"""

from __future__ import annotations

import importlib
import os
import sys

from webex_cloud.exit_codes import ExitCode

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("webex_cloud.plan.cli", "render the offline plan of one or more datacenter stacks"),
    "place": ("webex_cloud.placement.cli", "place a plan's pods and volumes through the real filters"),
    "policy": ("webex_cloud.policy_check.cli", "run the policy pack against a plan"),
    "preview": ("webex_cloud.preview.cli", "risk-ranked preview report of what a stack will change"),
    "stacks": ("webex_cloud.stacks.cli", "list the datacenter stacks with their deploy wave and runner"),
    "pr-check": (
        "webex_cloud.preview.pr_check",
        "the whole pull-request check of every stack, and its comment",
    ),
    "audit": ("webex_cloud.audit.cli", "where a stack's pods and replicas really are, against its plan"),
}


def usage() -> str:
    lines = ["usage: python -m webex_cloud <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines.append("\n`python -m webex_cloud <command> --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        result: int = module.main(rest)
    except Exception as error:
        # Every expected failure is reported by the command itself (exit 1 or 2); what reaches
        # here is a bug, and must not read like bad input.
        if os.environ.get("WEBEX_DEBUG") == "1":
            raise
        print(
            f"internal error in `python -m webex_cloud {name}` (a bug, not your input): "
            f"{type(error).__name__}: {error}; rerun with WEBEX_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL
    return result
