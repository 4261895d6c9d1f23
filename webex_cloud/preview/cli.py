"""`python -m webex_cloud preview`: the risk-ranked preview report of one stack.

Exit status: 0 when nothing is blocking, 1 when something is (the reasons go to stderr), 2 when an input
cannot be used (the error names it; nothing is written), 3 on an internal error. A plan read from its
default place (build/plan) that is older than the catalog and stack files (a later `plan` failed, or
was never run) is refused rather than silently diffed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from webex_cloud import atomic, paths
from webex_cloud.cli import add_stack_option, run, select_stacks, stale_plan
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.model import ChangeSet
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import Snapshot, load_snapshot
from webex_cloud.preview.pulumi_json import load_preview, parse_preview
from webex_cloud.preview.render import Report, headline, render_json, render_markdown
from webex_cloud.preview.risks import rank
from webex_cloud.preview.topology import merge, topology_from_snapshot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud preview",
        description="Risk-ranked report of what one stack will change: from a real `pulumi preview --json` "
        "output, or offline from two plans (base branch -> this branch), optionally against the last "
        "deployed checkpoint in the S3 state backend.",
    )
    add_stack_option(parser)
    parser.add_argument(
        "--preview", metavar="FILE", help="output of `pulumi preview --json --show-sames` ('-' for stdin)"
    )
    parser.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="this branch's offline plan (default: build/plan/<stack>.json)",
    )
    parser.add_argument("--base", type=Path, metavar="FILE", help="the base branch's offline plan")
    parser.add_argument(
        "--state",
        metavar="URL",
        help="S3 state backend, as given to `pulumi login` "
        "(s3://bucket?endpoint=host:port&s3ForcePathStyle=true); its last checkpoint is the old side",
    )
    parser.add_argument("--project-name", default=PROJECT, help=f"Pulumi project name (default {PROJECT})")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="write the Markdown report here (default: print it)"
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", dest="json_out", help="write the JSON report here"
    )
    return parser


def _read_stdin_preview(stack: str, topology_plan: Snapshot | None) -> ChangeSet:
    text = sys.stdin.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PreviewInputError("<stdin>", f"not JSON (line {error.lineno}: {error.msg})") from None
    topology = topology_from_snapshot(topology_plan) if topology_plan else None
    return parse_preview(document, source="<stdin>", stack=stack, topology=topology)


def build_changes(args: argparse.Namespace) -> ChangeSet:
    """Pick the source from the options and produce the change set (raises PreviewInputError)."""
    plan_path: Path = args.plan or paths.plan_path(args.stack)
    if args.plan is None and plan_path.exists():
        stale = stale_plan(plan_path, paths.PROJECT_DIR)
        if stale:
            raise PreviewInputError(str(plan_path), stale.removeprefix(f"{plan_path}: "))
    if args.preview and (args.base or args.state):
        raise PreviewInputError(
            "arguments", "--preview is one source and --base/--state the other; give one of them"
        )
    if args.preview:
        # The plan only helps here (services, pods, controllers); a preview stands without it.
        plan = load_snapshot(plan_path) if args.plan or plan_path.exists() else None
        if args.preview == "-":
            return _read_stdin_preview(args.stack, plan)
        return load_preview(
            Path(args.preview), stack=args.stack, topology=topology_from_snapshot(plan) if plan else None
        )
    if not args.base and not args.state:
        raise PreviewInputError(
            "arguments",
            "give --preview FILE, or --base FILE and/or --state URL to diff this branch's plan against",
        )
    new = load_snapshot(plan_path)
    if new.stack != args.stack:
        raise PreviewInputError(str(plan_path), f"is the plan of stack {new.stack!r}, not {args.stack!r}")
    base = load_snapshot(args.base) if args.base else None
    if base is not None and base.stack != args.stack:
        raise PreviewInputError(str(args.base), f"is the plan of stack {base.stack!r}, not {args.stack!r}")
    if args.state:
        from webex_cloud.preview.state import StateBackend, parse_backend_url  # boto3 only when needed

        deployed = StateBackend(parse_backend_url(args.state)).read_checkpoint(args.project_name, args.stack)
        changes = diff_snapshots(deployed.snapshot(), new, old_only_keys_count=False)
        topology = merge(changes.topology, topology_from_snapshot(base)) if base else changes.topology
        notes = list(changes.notes)
        if deployed.pending_operations:
            notes.append(
                f"the last update of {args.stack} was interrupted: {deployed.pending_operations} "
                "operation(s) pending in the checkpoint; run `pulumi refresh` before deploying"
            )
        return ChangeSet(
            stack=changes.stack,
            source=changes.source,
            source_detail=changes.source_detail,
            changes=changes.changes,
            unchanged=changes.unchanged,
            reads=changes.reads,
            topology=topology,
            notes=tuple(notes),
        )
    assert base is not None  # checked above: without --state there is a --base
    return diff_snapshots(base, new)


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("preview", _main, argv)


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # A report diffs one stack's plans: the same --stack option as every command, given once.
    args.stack = select_stacks(args.stack, paths.PROJECT_DIR, ["a preview's inputs"], known_only=False)[0]
    try:
        changes = build_changes(args)
    except PreviewInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    report = Report(changes=changes, risks=tuple(rank(changes)))
    markdown = render_markdown(report)
    try:
        if args.markdown:
            atomic.write_text(args.markdown, markdown)
        else:
            sys.stdout.write(markdown)
        if args.json_out:
            atomic.write_text(args.json_out, json.dumps(render_json(report), indent=2) + "\n")
    except (atomic.OutputError, OSError) as error:
        print(f"error: cannot write the report: {error}", file=sys.stderr)
        return ExitCode.INPUT
    print(headline(report), file=sys.stderr)
    if report.blocking:
        for risk in report.blocking:
            print(f"blocking: {risk.kind}: {risk.subject}: {risk.reason}", file=sys.stderr)
        return ExitCode.BLOCKING
    return ExitCode.OK
