"""`python -m webex_cloud last-good --stack S --state URL --commit SHA`: record the last good deploy.

After a stack's `up` and bake succeeded, the deploy job stores this checkout's data (catalog, holds,
the stack's file) as the stack's last good deploy beside its state
(``deployments/<stack>/last-good.json``, webex_cloud/rollback/last_good.py); `python -m webex_cloud
rollback` deploys it again when a later release fails.
"""

from __future__ import annotations

from pathlib import Path

from webex_cloud.cli_common import ArgumentParser, add_backend_options, select_stacks
from webex_cloud.cli_common import run as cli_run
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.holds import read_holds
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.state import StateBackendError
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import LastGoodError, NoRecord, build, still_named


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m webex_cloud last-good", description=__doc__)
    add_backend_options(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="record nothing: refuse (exit 1) a checkout that still names a release rolled back since "
        "the last good deploy, its service not held (the deploy runs this before `up`)",
    )
    args = parser.parse_args(argv)
    (stack,) = select_stacks(args.stack, args.project, ["--state"])
    if args.check:
        return _check(args.state, stack, args.project)
    record = build(args.project, stack, args.commit)
    where = store.put(args.state, record)
    print(
        f"last good deploy of {stack} recorded: {where} "
        f"(commit {args.commit[:12]}, {len(record.files)} files)"
    )
    return ExitCode.OK


def _check(state: str, stack: str, project: Path) -> int:
    # Only a missing record means "nothing rolled back yet": a record that cannot be read or fails its
    # checks (LastGoodError) is unusable input, or a tampered record would let a rolled-back release
    # through this gate.
    try:
        record = store.get(state, stack)
    except NoRecord:
        print(f"{stack}: no last good deploy recorded yet: no rolled-back release to refuse")
        return ExitCode.OK
    named = still_named(record, project, set(read_holds(project).by_service))
    for line in named:
        print(
            f"::error title=rolled-back release still on main::{stack}: {line}; merge its hold pull "
            "request, or a fix, before deploying (docs/releasing.md section 6)"
        )
    if named:
        return ExitCode.BLOCKING
    print(f"{stack}: no rolled-back release named (last good {record.commit[:12]})")
    return ExitCode.OK


def main(argv: list[str]) -> int:
    return cli_run("last-good", _main, argv, unusable=(StateBackendError, CatalogError, LastGoodError))
