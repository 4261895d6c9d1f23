"""`python -m webex_cloud preview`: the risk-ranked preview report of one stack.

Exit status (webex_cloud.exit_codes): 0 nothing blocking, 1 something is (the reasons go to stderr),
2 an input cannot be used (the error names it; nothing is written) or the preview itself failed,
3 an internal error. A plan read from its default place (build/plan) that is older than the catalog
and stack files (a later `plan` failed, or was never run) is refused rather than silently diffed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from webex_cloud import atomic, paths
from webex_cloud.change.model import ChangeSet
from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_project_option,
    add_stack_option,
    select_stacks,
    stale_plan,
)
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT
from webex_cloud.preview.errors import PreviewInputError, decode_text, parse_json
from webex_cloud.preview.events import load_event_log, policy_risks
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import Snapshot, load_snapshot
from webex_cloud.preview.pulumi_json import load_preview, parse_preview
from webex_cloud.preview.render import Report, headline, render_json, render_markdown
from webex_cloud.preview.risks import Risk, rank
from webex_cloud.preview.topology import merge, topology_from_snapshot


def parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m webex_cloud preview",
        description="Risk-ranked report of what one stack will change: from a real `pulumi preview --json` "
        "output, or offline from two plans (base branch -> this branch), optionally against the last "
        "deployed checkpoint in the S3 state backend.",
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument(
        "--preview", metavar="FILE", help="output of `pulumi preview --json --show-sames` ('-' for stdin)"
    )
    parser.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="this branch's offline plan (default: <project>/build/plan/<stack>.json)",
    )
    parser.add_argument("--base", type=Path, metavar="FILE", help="the base branch's offline plan")
    parser.add_argument(
        "--state",
        metavar="URL",
        help="S3 state backend, as given to `pulumi login` "
        "(s3://bucket?endpoint=host:port&s3ForcePathStyle=true); its last checkpoint is the old side",
    )
    parser.add_argument(
        "--event-log",
        type=Path,
        metavar="FILE",
        help="the engine event log of the same `pulumi preview` (--event-log FILE, with "
        "PULUMI_DEBUG_COMMANDS=true): its policy violations and errors, which --json leaves out",
    )
    parser.add_argument(
        "--preview-exit",
        type=int,
        metavar="N",
        help="the exit status of that `pulumi preview`: non-zero is a failed preview unless the "
        "event log explains it with a mandatory violation",
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
    document = parse_json(decode_text(sys.stdin.buffer.read(), "<stdin>"), "<stdin>")
    topology = topology_from_snapshot(topology_plan) if topology_plan else None
    return parse_preview(document, source="<stdin>", stack=stack, topology=topology)


def build_changes(args: argparse.Namespace) -> ChangeSet:
    """Pick the source from the options and produce the change set (raises PreviewInputError)."""
    plan_path: Path = args.plan or paths.plan_path(args.stack, paths.plan_dir(args.project))
    if args.plan is None and plan_path.exists():
        stale = stale_plan(plan_path, args.project)
        if stale:
            raise PreviewInputError(str(plan_path), stale.removeprefix(f"{plan_path} "))
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
        return replace(changes, topology=topology, notes=tuple(notes))
    assert base is not None  # checked above: without --state there is a --base
    return diff_snapshots(base, new)


def build_report(args: argparse.Namespace, extra: list[Risk] | None = None) -> Report:
    """The change set of the chosen source, its risks and, for a real preview, the engine's own
    verdicts (raises PreviewInputError)."""
    if not isinstance(args.stack, str):
        # A report is of one stack: the same --stack option as every command, given once.
        try:
            args.stack = select_stacks(args.stack, args.project, ["a preview's inputs"], known_only=False)[0]
        except CommandError as error:
            raise PreviewInputError("--stack", str(error)) from None
    changes = build_changes(args)
    risks = list(extra or [])
    errors = list(changes.errors)
    if args.event_log:
        log = load_event_log(args.event_log)
        risks += policy_risks(log)
        errors += [e for e in log.errors if e not in errors]
    mandatory = any(r.kind == "policy" and r.level.name == "BLOCKING" for r in risks)
    if args.preview_exit and not errors and not mandatory:
        # The CLI failed and said why nowhere we read: never a verdict (see its stderr).
        errors.append(
            f"`pulumi preview` exited {args.preview_exit} without reporting an error; see its output"
        )
    if errors != list(changes.errors):
        changes = replace(changes, errors=tuple(errors))
    return Report(changes=changes, risks=tuple(rank(changes, risks)))


def exit_code(report: Report) -> ExitCode:
    if report.failed:
        return ExitCode.INPUT
    return ExitCode.BLOCKING if report.blocking else ExitCode.OK


def write_report(report: Report, markdown: Path | None, json_out: Path | None) -> None:
    """Both renderings (Markdown to stdout without a path), each file written atomically; raises OSError."""
    text = render_markdown(report)
    if markdown:
        atomic.write_text(markdown, text)
    else:
        sys.stdout.write(text)
    if json_out:
        atomic.write_text(json_out, json.dumps(render_json(report), indent=2) + "\n")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        report = build_report(args)
        write_report(report, args.markdown, args.json_out)
    except PreviewInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except OSError as error:
        print(f"error: cannot write the report: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except Exception as bug:  # a bug: no traceback for the reader, the exit status says so
        if os.environ.get("WEBEX_DEBUG") == "1":
            raise
        print(f"internal error: {type(bug).__name__}: {bug} (WEBEX_DEBUG=1 shows where)", file=sys.stderr)
        return ExitCode.INTERNAL
    print(headline(report), file=sys.stderr)
    for message in report.changes.errors:
        print(f"error: {message}", file=sys.stderr)
    for risk in report.blocking:
        print(f"blocking: {risk.kind}: {risk.subject}: {risk.reason}", file=sys.stderr)
    return exit_code(report)
