"""`python -m webex_cloud pr-data classify|apply`: a pull request's data for the credentialed preview.

``classify --repo R --base SHA --head SHA --out DIR`` (main's checkout ``R`` holding both commits'
objects; nothing of the branch is checked out or run) judges every path the branch changed as data or
code and writes ``DIR/overlay/`` (the data files, each stack file with main's provider and controller
fields) and ``DIR/verdict.json`` (kind, the reason per path, the stacks affected, both commits, the
SHA-256 of every file). ``apply --overlay DIR/overlay --verdict DIR/verdict.json --verdict-sha256 HEX``
checks all of it again and lays the data over this checkout (``--project``), main's, before its strict
loader reads it (webex_cloud/preview/pr_data.py, docs/ci-security.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from webex_cloud.cli_common import ArgumentParser, add_project_option, entry
from webex_cloud.cli_common import run as cli_run
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.pr_data import PrDataError, Verdict, classify, lay_over, load_verdict, sha256


def _summary(verdict: Verdict) -> str:
    lines = [
        f"{verdict.kind}: {len(verdict.paths)} changed paths, stacks to preview: "
        f"{', '.join(verdict.stacks) or 'none'}"
    ]
    lines += [f"  {entry.kind:<4}  {path}: {entry.reason}" for path, entry in verdict.paths.items()]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud pr-data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = parser.add_subparsers(dest="step", required=True)
    judge = steps.add_parser("classify", help="judge the branch's changes and write the overlay and verdict")
    judge.add_argument(
        "--repo", type=Path, default=Path("."), help="main's checkout with both commits fetched"
    )
    judge.add_argument("--base", required=True, help="the pull request's base commit (full SHA)")
    judge.add_argument("--head", required=True, help="the pull request's head commit (full SHA)")
    judge.add_argument("--out", type=Path, required=True, help="a new folder for overlay/ and verdict.json")
    judge.add_argument(
        "--github-output",
        action="store_true",
        help="print `kind=`, `stacks=` (a JSON matrix include) and `verdict_sha256=` for $GITHUB_OUTPUT "
        "(the verdict per path on stderr)",
    )
    apply = steps.add_parser("apply", help="check the overlay against its verdict and lay it over --project")
    apply.add_argument("--overlay", type=Path, required=True)
    apply.add_argument("--verdict", type=Path, required=True)
    apply.add_argument("--verdict-sha256", required=True, help="the SHA-256 the classify job reported")
    apply.add_argument("--head", help="refuse a verdict of another head commit")
    add_project_option(apply)
    args = parser.parse_args(argv)
    if args.step == "classify":
        verdict = classify(args.repo, args.base, args.head, args.out)
        if args.github_output:
            print(_summary(verdict), file=sys.stderr)
            matrix = json.dumps([{"stack": stack} for stack in verdict.stacks], separators=(",", ":"))
            digest = sha256((args.out / "verdict.json").read_bytes())
            print(f"kind={verdict.kind}\nstacks={matrix}\nverdict_sha256={digest}")
        else:
            print(_summary(verdict))
        return ExitCode.OK
    verdict = load_verdict(args.verdict, args.verdict_sha256)
    if args.head is not None and verdict.head_sha != args.head:
        raise PrDataError(f"{args.verdict}: the verdict is of {verdict.head_sha}, not of {args.head}")
    laid = lay_over(args.project, args.overlay, verdict)
    print(f"laid over {args.project}: {', '.join(laid) or 'nothing'} (head {verdict.head_sha[:12]})")
    return ExitCode.OK


def main(argv: list[str]) -> int:
    return cli_run("pr-data", _main, argv, unusable=(PrDataError,))


if __name__ == "__main__":
    sys.exit(entry(main, sys.argv[1:]))
