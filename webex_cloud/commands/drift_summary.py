"""`python -m webex_cloud drift-summary --reports DIR`: drift across the fleet, one document.

Reads each stack's latest report (``DIR/<stack>.json``, what ``drift --json-out`` writes and the daily
run keeps as the artifact ``drift-<stack>``) for every stack under stacks/ (or each ``--stack``), and
writes one summary: per stack its verdict (clean, drift none blocking, partly unchecked, blocking,
stale, no report, unusable report), its blocking count, its drift per class and the age of its report,
worst first (webex_cloud/drift/fleet.py). ``--markdown FILE`` and ``--json FILE`` write it; the Markdown
is printed too. The daily run (.github/workflows/drift-daily.yml) writes it after every stack's job.

Exit status: 0 the summary is written, whatever it says (each stack's own job fails on its drift); 2 a
folder, stack or option that cannot be used; 3 an internal error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from webex_cloud.atomic import write_text
from webex_cloud.cli_common import ArgumentParser, CommandError, add_stack_option, select_stacks
from webex_cloud.cli_common import run as cli_run
from webex_cloud.drift.fleet import summarize, to_json, to_markdown
from webex_cloud.drift.published import MAX_AGE
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT_DIR


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_run("drift-summary", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud drift-summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--reports",
        type=Path,
        required=True,
        metavar="DIR",
        help="the stacks' drift reports, DIR/<stack>.json",
    )
    add_stack_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the summary as Markdown here")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="write it as JSON (webex-cloud.drift-fleet/v1)"
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=MAX_AGE.total_seconds() / 3600,
        metavar="HOURS",
        help=f"a report older than this is stale (default {MAX_AGE.total_seconds() / 3600:g})",
    )
    args = parser.parse_args(argv)
    if args.max_age <= 0:
        raise CommandError(f"--max-age takes a number of hours above 0, not {args.max_age:g}")
    if not args.reports.is_dir():
        raise CommandError(
            f"--reports {args.reports}: no such folder; give the folder the daily run's drift-<stack> "
            "artifacts were downloaded into"
        )
    stacks = select_stacks(args.stack, PROJECT_DIR)
    now = dt.datetime.now(dt.UTC)
    limit = dt.timedelta(hours=args.max_age)
    rows = summarize(stacks, args.reports, now, limit)
    markdown = to_markdown(rows, now, limit)
    if args.markdown is not None:
        write_text(args.markdown, markdown)
    if args.json is not None:
        write_text(args.json, to_json(rows, now, limit))
    sys.stdout.write(markdown)
    return ExitCode.OK
