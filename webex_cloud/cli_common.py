"""What every command shares, below the commands and the dispatcher (webex_cloud/cli.py).

The ``--stack`` convention, the freshness check of a plan read from ``build/plan``, and the exit-code
contract (webex_cloud/exit_codes.py): unusable input is one line and exit code 2, an internal error one
line and exit code 3 instead of a traceback, and a dependency missing before the bootstrap names
``scripts/bootstrap.sh`` (exit code 2: nothing is wrong with the code); a reader that goes away
(``| head``) ends the command quietly (:func:`entry`). Only the standard library and the project's own
ground-floor modules are imported here, so this works before the bootstrap.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from webex_cloud import atomic, paths
from webex_cloud.exit_codes import ExitCode

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

DEBUG_VARIABLE = "WEBEX_DEBUG"


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, for every command: its help, usage, version and error messages are written like
    any other output, so a reader that went away (``--help | head -c0``) ends the command as it does for
    the command's own output (:func:`entry`: exit code 2, no traceback). argparse itself drops a failed
    write (``_print_message`` catches OSError; Lib/argparse.py, Python 3.11): with unbuffered output
    (PYTHONUNBUFFERED=1, ``python -u``) the help was lost and exit code 0 claimed."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            (file or sys.stderr).write(message)


class CommandError(Exception):
    """Unusable arguments or input: the message names what and the fix; exit code 2."""


def version() -> str:
    """The project's version: the installed distribution's, else the checkout's pyproject.toml."""
    try:
        return metadata.version("webex-cloud")
    except metadata.PackageNotFoundError:
        with (paths.PROJECT_DIR / "pyproject.toml").open("rb") as stream:
            return str(tomllib.load(stream)["project"]["version"])


def add_stack_option(parser: argparse.ArgumentParser) -> None:
    """The ``--stack`` option, the same for every command."""
    parser.add_argument(
        "--stack",
        action="append",
        metavar="STACK",
        help="datacenter stack (repeatable; default: every stack under stacks/)",
    )


DEFAULT_CLOUD_TIMEOUT = 30.0
"""Seconds per API call of a command that talks to a cloud, so that a scheduled run ends."""


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def add_cloud_options(parser: argparse.ArgumentParser, identity: str) -> None:
    """``--cloud``, ``--clouds-yaml`` and ``--timeout``, the same for every command that talks to a
    cloud; ``identity`` names the stack file's ``identities`` entry used when --cloud is not given."""
    parser.add_argument("--cloud", help=f"clouds.yaml entry (default: the stack's identities.{identity})")
    parser.add_argument(
        "--clouds-yaml", type=Path, help="clouds.yaml file (default: openstacksdk's search path)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_CLOUD_TIMEOUT,
        help=f"seconds per API call (default {DEFAULT_CLOUD_TIMEOUT:g})",
    )


def _project_folder(text: str) -> Path:
    """``--project``'s value, resolved; a folder that does not exist is unusable input (exit code 2)."""
    folder = Path(text).resolve()
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text}: no such folder (give a project folder: Pulumi.yaml, stacks/, catalog/)"
        )
    return folder


def usable_cores() -> int:
    """The cores this process may run on: the default number of workers of a command that has them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def add_project_option(parser: argparse.ArgumentParser) -> None:
    """The ``--project`` option, the same for every command that reads a project: the given folder is
    used for everything, its stacks/, its catalog/ and its build/ (``args.project``, resolved)."""
    parser.add_argument(
        "--project",
        type=_project_folder,
        default=paths.PROJECT_DIR,
        metavar="DIR",
        help="project folder: its stacks/, catalog/ and build/ (default: this checkout)",
    )


def select_stacks(
    given: Sequence[str] | None, project_dir: Path, single_for: Sequence[str] = (), known_only: bool = True
) -> list[str]:
    """The stacks a command runs on; ``single_for`` names the given options that hold one stack's file,
    which then require exactly one stack; ``known_only`` False accepts a stack without a file here (a
    report on another checkout's preview). Raises CommandError."""
    known = paths.known_stacks(project_dir)
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
        *sorted((project_dir / "catalog" / "images").glob("*.yaml")),  # the image catalog (docs/images.md)
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


BOOTSTRAP = "scripts/bootstrap.sh"


def _missing_dependency(error: ImportError) -> str | None:
    """The third-party module an ImportError lacks (the bootstrap was not run), or None for our own."""
    missing = error.name or ""
    if not missing or missing.split(".")[0] == "webex_cloud":
        return None
    return missing


def run(
    name: str,
    main: Callable[[list[str]], int],
    argv: list[str],
    unusable: tuple[type[Exception], ...] = (),
) -> int:
    """Run one command's ``main``: unusable input (CommandError, an unwritable output, or one of the
    command's own ``unusable`` errors, whose message names the file or option and the fix) becomes one
    line and exit code 2; a bug one line and exit code 3 (WEBEX_DEBUG=1 re-raises); a dependency that is
    not installed yet becomes the bootstrap's name and exit code 2."""
    input_errors: tuple[type[Exception], ...] = (CommandError, atomic.OutputError, *unusable)
    try:
        return main(argv)
    except BrokenPipeError:
        raise  # the reader of stdout went away: not a bug, and only the entry point can end quietly
    except input_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE) == "1":
            raise
        missing = _missing_dependency(error) if isinstance(error, ImportError) else None
        if missing is not None:
            print(
                f"error: `python -m webex_cloud {name}` needs {missing!r}, which is not installed for "
                f"{sys.executable}: run `bash {BOOTSTRAP}` (it creates .venv), then `.venv/bin/python -m "
                f"webex_cloud {name}`",
                file=sys.stderr,
            )
            return ExitCode.INPUT
        print(
            f"internal error in `python -m webex_cloud {name}` (a bug, not your input): "
            f"{type(error).__name__}: {error}; rerun with {DEBUG_VARIABLE}=1 for the traceback",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def entry(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """The exit status of ``main(argv)`` as a program's entry point (`python -m webex_cloud`, and a
    command module run alone) returns it: stdout is flushed here, and a reader that closed it early
    (``| head -1``) ends the command without a traceback, the standard recipe of Python's ``signal``
    documentation (stdout pointed at /dev/null so that the interpreter's last flush cannot fail again).
    Exit code 2, as for any output that cannot be written: what was printed did not all arrive, so
    neither verdict (0 or 1) may be claimed. The same for stderr (``2>&1 | head -1`` and an error
    message), which the interpreter would otherwise fail to flush at exit (status 120)."""
    try:
        try:
            return main(argv)
        finally:
            sys.stdout.flush()  # inside the guard: `--help` and short outputs fail only here
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # this stream's reader is the one gone: what it still holds goes nowhere
                os.dup2(devnull, stream.fileno())
        return ExitCode.INPUT


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """The options `rollback` and `last-good` share: one stack, its state backend, the commit."""
    add_stack_option(parser)
    parser.add_argument(
        "--state", required=True, help="the state backend URL (`pulumi login`'s: s3://... or file://...)"
    )
    parser.add_argument("--commit", required=True, help="the commit this run deploys ($GITHUB_SHA)")
    add_project_option(parser)
