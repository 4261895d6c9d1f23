"""`python -m webex_cloud <command>`: one entry point, each command in its own module.

Commands are imported lazily so that `plan` does not pay for the preview or policy code. What every
command shares lives here: the ``--stack`` convention, the freshness check of a plan read from
``build/plan``, and the exit-code contract (webex_cloud/exit_codes.py), including an internal error
reported in one line with exit code 3 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from webex_cloud import atomic, paths
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
}
"""Every command; `python -m webex_cloud.preview.comment` and `.controller.release` run the same code."""

DEBUG_VARIABLE = "WEBEX_DEBUG"


class CommandError(Exception):
    """Unusable arguments or input: the message names what and the fix; exit code 2."""


def version() -> str:
    """The project's version: the installed distribution's, else the checkout's pyproject.toml."""
    try:
        return metadata.version("webex-cloud")
    except metadata.PackageNotFoundError:
        with (paths.PROJECT_DIR / "pyproject.toml").open("rb") as stream:
            return str(tomllib.load(stream)["project"]["version"])


def usage() -> str:
    lines = ["usage: python -m webex_cloud <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += [
        "",
        "`python -m webex_cloud <command> --help` for a command's options; `--version` for the version.",
        "Every command takes `--stack STACK` (repeatable; default: every stack under stacks/).",
        "Exit status: 0 nothing found, 1 a blocking finding, 2 unusable input, 3 internal error.",
    ]
    return "\n".join(lines)


def add_stack_option(parser: argparse.ArgumentParser) -> None:
    """The ``--stack`` option, the same for every command."""
    parser.add_argument(
        "--stack",
        action="append",
        metavar="STACK",
        help="datacenter stack (repeatable; default: every stack under stacks/)",
    )


def select_stacks(
    given: Sequence[str] | None, project_dir: Path, single_for: Sequence[str] = (), known_only: bool = True
) -> list[str]:
    """The stacks a command runs on; ``single_for`` names the given options that hold one stack's file,
    which then require exactly one stack; ``known_only`` False accepts a stack without a file here (a
    report on another checkout's preview). Raises CommandError."""
    from webex_cloud.config.loader import known_stacks

    known = known_stacks(project_dir)
    unknown = [stack for stack in given or [] if stack not in known and known_only]
    if unknown:
        raise CommandError(
            f"unknown stack {', '.join(map(repr, unknown))}; stacks under {project_dir / 'stacks'}: "
            f"{', '.join(known) or 'none'}"
        )
    stacks = list(dict.fromkeys(given)) if given else known
    if not stacks:
        raise CommandError(f"no stack config (stacks/Pulumi.<stack>.yaml) under {project_dir}")
    if single_for and len(stacks) != 1:
        raise CommandError(
            f"{' and '.join(single_for)} name{'s' if len(single_for) == 1 else ''} one stack's file: "
            f"give exactly one --stack (of {', '.join(stacks)})"
        )
    return stacks


def stale_plan(plan: Path, project_dir: Path) -> str | None:
    """Why the plan under build/plan cannot be trusted, or None: a plan older than a catalog or stack
    file is not this input's plan (a later `plan` that failed wrote nothing, so the older plan is
    still there). Only for plans read from their default place; an explicit file is the caller's."""
    try:
        written = plan.stat().st_mtime
    except OSError:
        return None  # the reader reports a missing plan
    inputs = [
        *sorted((project_dir / "catalog").glob("*.yaml")),
        *sorted((project_dir / "stacks").glob("*.yaml")),
    ]
    for source in inputs:
        try:
            changed = source.stat().st_mtime
        except OSError:
            continue
        if changed > written:
            return (
                f"{plan} is older than {source.relative_to(project_dir)}; run `python -m webex_cloud "
                "plan` first (or pass --plan FILE to use that file anyway)"
            )
    return None


def run(name: str, main: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run one command's ``main``: a bug becomes one line and exit code 3 (WEBEX_DEBUG=1 re-raises)."""
    try:
        return main(argv)
    except (CommandError, atomic.OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE) == "1":
            raise
        print(
            f"internal error in `python -m webex_cloud {name}` (a bug, not your input): "
            f"{type(error).__name__}: {error}; rerun with {DEBUG_VARIABLE}=1 for the traceback",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


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
