"""`python -m webex_cloud checkpoint --stack dc1 --checkpoint out/state.json`: after a failed `pulumi up`,
is the state it left sound, and will the next `up` gate every pod it changes?

Reads a checkpoint (``pulumi stack export --file F`` output, or the state backend's ``<stack>.json``) and
the stack's plan (default ``build/plan/<stack>.json``), and reports (webex_cloud/preview/resume.py, each
rule cited to the pulumi/pulumi code it follows):

- every violation of the engine's integrity rules (a checkpoint the backend refuses);
- pending operations, with the exact command that resolves each (``--import-pending-creates``);
- resources deleted by a delete-before-replace whose create did not run;
- per gate of a wave the next `up` changes: whether its probe runs again, and the command that makes it
  run when it would not.

Exit status: 0 the next `up` may run as it is, 1 something must be fixed first (listed with its command),
2 the checkpoint, plan or stack cannot be used, 3 an internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_project_option,
    add_stack_option,
    select_stacks,
)
from webex_cloud.cli_common import run as cli_run
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_dir, plan_path
from webex_cloud.plan.format import PlanError, read_plan
from webex_cloud.preview.errors import PreviewInputError, read_json
from webex_cloud.preview.resume import Finding, check


def _text(stack: str, findings: list[Finding]) -> str:
    blocking = [f for f in findings if f.blocking]
    head = (
        f"{stack}: the next `up` must wait: {len(blocking)} thing(s) to fix first"
        if blocking
        else f"{stack}: the checkpoint is sound; the next `up` may run"
    )
    lines = [head]
    for finding in sorted(findings, key=lambda f: (not f.blocking, f.kind, f.urn)):
        mark = "FIX " if finding.blocking else "note"
        lines.append(f"  {mark} [{finding.kind}] {finding.message}")
        if finding.fix:
            lines.append(f"       fix: {finding.fix}")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--checkpoint", type=Path, required=True, help="`pulumi stack export --file` output")
    parser.add_argument("--plan", type=Path, help="the stack's plan (default build/plan/<stack>.json)")
    args = parser.parse_args(argv)
    (stack,) = select_stacks(args.stack, args.project, single_for=("--checkpoint",))
    path = args.plan or plan_path(stack, plan_dir(args.project))
    plan = read_plan(path)
    if plan.stack != stack:
        raise CommandError(
            f"{path} is the plan of stack {plan.stack!r}, not {stack!r}; pass the right --plan"
        )
    document = read_json(args.checkpoint)
    findings = check(document, plan.to_json(), str(args.checkpoint))
    print(_text(stack, findings))
    return ExitCode.BLOCKING if any(f.blocking for f in findings) else ExitCode.OK


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_run("checkpoint", _main, argv, unusable=(PreviewInputError, PlanError))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
