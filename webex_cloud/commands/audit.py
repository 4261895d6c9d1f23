"""`python -m webex_cloud audit --stack dc1`: where a stack's pods and replicas really are.

Reads the project's servers and volumes through the OpenStack API (two paginated GETs; nothing is ever
written) as the stack's read-only identity (``identities.reader`` of its stack file, a clouds.yaml entry;
a token that could write is refused, docs/identities.md), compares them with
the stack's offline plan (default ``build/plan/<stack>.json``) and reports, with UUIDs, every pod split over
hosts, every two pods of a service on one host, every two replicas of a volume group in one failure domain,
every catalog instance or volume that is missing, and every instance or volume carrying the stack's
ownership keys that the catalog does not expect. A broken pod rule is traced to the move that caused it
(the servers' instance actions: a live migration or evacuation that forced its host), with the command
that puts the server back through the scheduler (webex_cloud/audit/moves.py).

Least privilege: a project reader is all it needs for the co-location checks (Nova's per-project ``hostId``);
host names need the Nova rule os_compute_api:os-extended-server-attributes and the replicas' failure
domains the Cinder rule volume_extension:volume_host_attribute (both admin by default; grant them to a
read-only role, docs/identities.md). What the role may not see is reported as "could not check ...",
never guessed.

Exit status: 0 clean, 1 a violation, 2 the plan, the stack or the cloud cannot be used, 3 an internal error.
Every API call has a timeout (--timeout), so a scheduled run ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webex_cloud.audit.compare import Report, audit
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.audit.moves import explain_moves
from webex_cloud.audit.picture import audit_picture
from webex_cloud.audit.render import to_json, to_text
from webex_cloud.cli_common import (
    ArgumentParser,
    add_cloud_options,
    add_project_option,
    add_stack_option,
    select_stacks,
)
from webex_cloud.cli_common import run as cli_run
from webex_cloud.cloud.access import Access
from webex_cloud.cloud.entry import stack_entry
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import connect
from webex_cloud.cloud.views import read_instance_actions, read_project
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plan_dir, plan_path
from webex_cloud.picture import write
from webex_cloud.plan.format import PlanError, read_plan


class InputError(Exception):
    """Unusable input (exit 2): the message names the file or option and the fix."""


def run(args: argparse.Namespace) -> tuple[Report, str]:
    path: Path = args.plan or plan_path(args.stack, plan_dir(args.project))
    try:
        plan = read_plan(path)
        expected = expected_from_plan(plan, str(path))
    except PlanError as error:
        raise InputError(str(error)) from None
    if plan.stack != args.stack:
        raise InputError(
            f"{path} is the plan of stack {plan.stack!r}, not {args.stack!r}; pass the right --plan"
        )
    cloud = args.cloud or stack_entry(args.stack, Access.READ, args.project)
    with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
        observation = read_project(session)
        report = audit(expected, observation)
        explain_moves(report, expected, observation, lambda uuid: read_instance_actions(session, uuid))
    source = {"cloud": cloud, "project": observation.project, "plan": str(path)}
    if args.svg:
        write(audit_picture(expected, report, observation.host_names_visible), args.svg)
    return report, to_json(report, source) if args.json else to_text(report, source)


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_run("audit", _main, argv, unusable=(InputError, CloudError))


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--plan", type=Path, help="plan file (default: <project>/build/plan/<stack>.json)")
    add_cloud_options(parser, "reader")
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (format webex-cloud.audit/v1)"
    )
    parser.add_argument("--svg", type=Path, help="also write the picture of where things are to this file")
    args = parser.parse_args(argv)
    # An audit reads one stack's cloud: the same --stack option as every command, given once.
    args.stack = select_stacks(args.stack, args.project, ["an audit's cloud"])[0]
    report, text = run(args)
    sys.stdout.write(text)
    return ExitCode.OK if report.clean else ExitCode.BLOCKING
