"""`python -m webex_cloud hold-request`: the one hold pull request of a release, from every stack's rollback.

The deploy workflow's `hold` job runs it after the waves, with the `hold-<stack>` records the rolled
back stacks left (``--records``), main's holds file as it is now (``--main-contents``: a hold merged
since the release commit counts as held) and, when the release's branch ``hold/<commit>`` exists
already, that branch's file (``--branch-contents``), both as GitHub's contents API answered. It merges
them (webex_cloud/rollback/hold_request.py) and writes into ``--out``:

- ``holds.yaml`` when the branch needs this text (absent: the branch has it already);
- ``blob.txt``: the blob the write replaces (the branch's, else main's, which a new branch starts
  from; empty: no file yet);
- ``title.txt``, ``body.md`` and ``message.txt`` when there is a pull request to open or update.

Nothing at all when every held service is already held on main. It reads and writes files only; the
job's `gh` steps do the network.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from pathlib import Path

from webex_cloud import atomic
from webex_cloud.cli_common import ArgumentParser, CommandError
from webex_cloud.cli_common import run as cli_run
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.holds import HOLDS_FILE, StackHolds, holds_text, parse_holds
from webex_cloud.config.validation import validate
from webex_cloud.config.yaml_source import parse_yaml, read_text
from webex_cloud.exit_codes import ExitCode
from webex_cloud.rollback.hold_request import HoldRecordError, body, merge_holds, new_holds, title


def _records(folder: Path) -> list[StackHolds]:
    if not folder.is_dir():
        raise CommandError(f"--records {folder}: no such folder (the downloaded hold-<stack> artifacts)")
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        label = str(path)
        found.append(validate(StackHolds, parse_yaml(read_text(path, label), label), label))
    stacks = [record.stack for record in found]
    twice = sorted({stack for stack in stacks if stacks.count(stack) > 1})
    if twice:
        raise CommandError(f"--records {folder}: more than one hold record of {', '.join(twice)}")
    return found


def _contents(path: Path) -> tuple[str, str]:
    """A file's text and blob id, from a contents API answer."""
    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
        text = base64.b64decode(answer["content"]).decode()
        blob = answer["sha"]
    except (OSError, UnicodeDecodeError, ValueError, binascii.Error, KeyError, TypeError) as error:
        raise CommandError(
            f"--branch-contents {path}: not GitHub's contents answer for {HOLDS_FILE} ({error}); pass "
            f"what `gh api repos/OWNER/REPO/contents/{HOLDS_FILE}?ref=BRANCH` printed"
        ) from error
    if not isinstance(blob, str):
        raise CommandError(f"--branch-contents {path}: its `sha` is no blob id")
    return text, blob


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud hold-request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--records", type=Path, required=True, help="folder of hold-<stack> records")
    parser.add_argument("--commit", required=True, help="the release commit ($GITHUB_SHA)")
    parser.add_argument("--run-url", required=True, help="the deploy run, linked from the pull request")
    parser.add_argument(
        "--main-contents", type=Path, help="main's holds file, as the contents API answered (none: no file)"
    )
    parser.add_argument(
        "--branch-contents", type=Path, help="the hold branch's holds file, as the contents API answered"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the files described above")
    args = parser.parse_args(argv)

    main, blob = {}, ""
    if args.main_contents is not None:
        text, blob = _contents(args.main_contents)
        main = parse_holds(text, f"{HOLDS_FILE} on main")
    records = _records(args.records)
    branch, before = None, None
    if args.branch_contents is not None:
        before, blob = _contents(args.branch_contents)
        branch = parse_holds(before, f"{HOLDS_FILE} on hold/{args.commit}")
    merged = merge_holds(args.commit, main, branch, records)
    added = new_holds(main, merged)
    if not added:
        print(
            f"[hold-request] nothing to hold beyond main: {', '.join(merged.on_main) or 'no service'} "
            f"held already; stacks rolled back: {', '.join(merged.stacks) or 'none with a record'}"
        )
        return ExitCode.OK
    text = holds_text(merged.holds)
    if text != before:
        atomic.write_text(args.out / "holds.yaml", text)
    atomic.write_text(args.out / "blob.txt", blob)
    atomic.write_text(args.out / "title.txt", title(args.commit, added))
    atomic.write_text(args.out / "body.md", body(args.commit, main, merged, records, args.run_url))
    atomic.write_text(
        args.out / "message.txt",
        f"Hold {', '.join(added)} at the last good release: {args.commit[:12]} rolled back in "
        f"{', '.join(merged.stacks)}",
    )
    state = "unchanged" if text == before else "to write"
    stacks = ", ".join(merged.stacks)
    print(f"[hold-request] hold/{args.commit}: {', '.join(added)} held ({state}); stacks {stacks}")
    return ExitCode.OK


def main(argv: list[str]) -> int:
    return cli_run("hold-request", _main, argv, unusable=(CatalogError, HoldRecordError))
