"""`python -m webex_cloud rollback --stack S ...`: a failed release goes back to the last good deploy.

After a stack's `up` or bake failed, it decides from the failed release's preview whether it rolls
back by itself (webex_cloud/rollback/reversible.py). If so, it deploys the last good data with this
checkout's code (`pulumi up`, the policy pack, the same gates), holds the changed services at their
last good release (deployments/holds.yaml, for the hold pull request) and exits 0. Otherwise, or when
the rollback itself fails, it pages: an ``::error title=PAGE ...::`` line, an issue-style job summary
(what, why, next) and exit 1, which fails the job. The freeze switch does not stop a rollback: going
back to the last good deploy is what a frozen fleet wants.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from webex_cloud import atomic
from webex_cloud.cli_common import ArgumentParser, CommandError, add_backend_options, select_stacks
from webex_cloud.cli_common import run as cli_run
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.holds import StackHolds, read_holds
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.pulumi_json import load_preview
from webex_cloud.preview.state import StateBackendError
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import LastGoodError, with_refused
from webex_cloud.rollback.reversible import Verdict
from webex_cloud.rollback.run import Outcome, decide, failure_reasons, hold, restore, summary


def _append(path: Path | None, text: str) -> None:
    if path is not None:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(text)


def _page(outcome: Outcome, args: argparse.Namespace) -> int:
    count = len(outcome.verdict.blockers)
    blockers = f"; {count} change(s) not reversible by themselves" if count else ""
    title = f"PAGE: rollback of {args.stack} needs a person"
    print(f"::error title={title}::{outcome.failure}{blockers}; see the job summary")
    for line in outcome.verdict.blockers:
        print(f"  not reversible: {line}")
    _append(args.summary, summary(outcome))
    return ExitCode.BLOCKING


def _run(args: argparse.Namespace) -> int:
    reasons = failure_reasons(args.log)
    try:
        changes = load_preview(args.preview, stack=args.stack)
    except PreviewInputError as error:
        unread = Outcome(
            args.stack, args.commit, Verdict((), ()), reasons, failure=f"unreadable preview: {error}"
        )
        return _page(unread, args)
    outcome = Outcome(args.stack, args.commit, decide(changes), reasons)
    if not outcome.verdict.automatic:
        outcome.failure = "the failed release changed something that does not roll back by itself"
        return _page(outcome, args)
    try:
        record = store.get(args.state, args.stack)
    except LastGoodError as error:
        outcome.failure = f"no usable last good deploy: {error}"
        return _page(outcome, args)
    outcome.last_good_commit = record.commit
    print(
        f"[rollback] {args.stack}: back to the last good deploy {record.commit[:12]} ({record.recorded_at})"
    )
    for line in outcome.verdict.reversible:
        print(f"[rollback]   {line}")
    failed = restore(record, changes, args.project, args.workdir)
    if failed:
        outcome.failure = failed
        return _page(outcome, args)
    outcome.rolled_back = True
    # Before the hold is written into this checkout: the refused texts are the failed release's.
    store.put(args.state, with_refused(record, args.project, args.commit))
    outcome.held = hold(record, args.project, outcome)
    print(
        f"::warning title=rolled back {args.stack}::{args.stack} is back at {record.commit[:12]}; held: "
        f"{', '.join(outcome.held) or 'nothing (no catalog file changed)'}"
    )
    _append(args.summary, summary(outcome))
    if args.hold_record is not None:
        # What the release's one hold pull request merges with the other stacks' (the `hold` job of
        # deploy.yml, webex_cloud/rollback/hold_request.py); written even when nothing is held, so the
        # pull request lists every stack that rolled back.
        holds = read_holds(args.project).by_service
        handed = StackHolds(stack=args.stack, commit=args.commit, holds={s: holds[s] for s in outcome.held})
        atomic.write_text(
            args.hold_record, yaml.safe_dump(handed.model_dump(mode="json"), sort_keys=True, width=100)
        )
    return ExitCode.OK


def main(argv: list[str]) -> int:
    return cli_run("rollback", _main, argv, unusable=(LastGoodError, StateBackendError, CatalogError))


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud rollback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_backend_options(parser)
    parser.add_argument(
        "--preview", type=Path, required=True, help="the failed release's `pulumi preview --json`"
    )
    parser.add_argument(
        "--log", type=Path, action="append", default=[], help="a log with the gate lines (repeatable)"
    )
    parser.add_argument(
        "--workdir", type=Path, required=True, help="an empty folder to deploy the last good data from"
    )
    parser.add_argument("--summary", type=Path, help="append the report to this file ($GITHUB_STEP_SUMMARY)")
    parser.add_argument(
        "--hold-record", type=Path, help="after a rollback, write the stack's holds here (for the hold PR)"
    )
    args = parser.parse_args(argv)
    (args.stack,) = select_stacks(args.stack, args.project, ["--preview", "--workdir"])
    if args.workdir.exists() and any(args.workdir.iterdir()):
        raise CommandError(f"--workdir {args.workdir} is not empty; name a new folder")
    return _run(args)
