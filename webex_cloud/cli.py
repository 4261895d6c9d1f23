"""`python -m webex_cloud <command>`: one entry point, each command in its own module.

Commands are imported lazily so that `plan` does not pay for the preview or policy code.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("webex_cloud.plan.cli", "render the offline plan of one or more datacenter stacks"),
    "place": ("webex_cloud.placement.cli", "place a plan's pods and volumes through the real filters"),
    "policy": ("webex_cloud.policy_check.cli", "run the policy pack against a plan"),
    "preview": ("webex_cloud.preview.cli", "risk-ranked preview report of what a stack will change"),
    "pr-check": (
        "webex_cloud.preview.pr_check",
        "the whole pull-request check of every stack, and its comment",
    ),
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
    result: int = module.main(rest)
    return result
