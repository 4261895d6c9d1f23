"""`python -m webex_cloud drift --stack dc1`: what changed behind the program's back, three ways.

Reads the stack's plan (default ``build/plan/<stack>.json``), its last checkpoint (``--state URL``, the
S3 backend as `preview --state` reads it, or ``--checkpoint FILE``) and the live APIs (Nova, Cinder,
Neutron, the compute services) as the stack's read-only identity (``identities.reader``; a token that
could write is refused, docs/identities.md), and reports per resource:

- live vs state (out of band): what ``pulumi refresh --preview-only`` would show;
- state vs plan (pending change): what the program changes at the next `up`;
- the servers' images in Glance (``--glance``): deleted, deactivated, or another image under the name
  they booted;
- the controllers (``--controllers``, over SSH through the drift reader login): the filter release and
  scheduler config fragments on each, against what the stack's rollout deployed;
- live vs rules: the audit's placement check on the same inventory (a broken pod rule with the move
  that caused it, from the servers' instance actions, and the scheduler-routed fix), and N+1 without
  the hosts Nova reports disabled or down;

with what the next `up` would do to each difference (revert, replace, recreate, apply, nothing: modelled
from the pinned provider's schema, no engine runs) and its risk. Blocking drift that no entry of
``drift-acks/<stack>.yaml`` acknowledges makes the exit status 1, which stops the deploy (docs/drift.md).

Exit status: 0 no blocking drift, 1 blocking drift, 2 the plan, checkpoint, acknowledgements, stack or
cloud cannot be used, 3 an internal error. Every API call has a timeout (--timeout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from webex_cloud.atomic import write_text
from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_cloud_options,
    add_stack_option,
    select_stacks,
)
from webex_cloud.cli_common import run as cli_run
from webex_cloud.cloud.access import Access
from webex_cloud.cloud.entry import stack_entry
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage, read_image, read_images
from webex_cloud.cloud.inventory import read_inventory
from webex_cloud.cloud.session import connect
from webex_cloud.cloud.views import read_instance_actions
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_catalog
from webex_cloud.drift.acks import AckError, read_acks
from webex_cloud.drift.controllers import NO_READER, controller_plane, read_controllers
from webex_cloud.drift.findings import Drift
from webex_cloud.drift.glance import ReadImage
from webex_cloud.drift.report import DriftReport, three_way, to_json, to_text
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT, PROJECT_DIR, drift_ack_path, plan_path
from webex_cloud.plan.format import Plan, PlanError, read_plan
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.state import DeployedState, deployed_state


class InputError(Exception):
    """Unusable input (exit 2): the message names the file or option and the fix."""


def checkpoint(args: argparse.Namespace) -> DeployedState:
    try:
        return deployed_state(args.state, args.checkpoint, PROJECT, args.stack)
    except PreviewInputError as error:
        raise InputError(str(error)) from None


def on_controllers(plan: Plan, deployed: DeployedState) -> tuple[list[Drift], list[str]]:
    """The controllers read over SSH and compared with their rollouts (webex_cloud/drift/controllers.py)."""
    judged, unread = read_controllers(plan, [(r.urn, r.type, r.inputs) for r in deployed.resources.values()])
    return [d for verdict in judged.values() for d in verdict.drift], unread


def _controllers_source(plan: Plan, asked: bool) -> str:
    if not asked:
        return (
            "not read: their filter release and scheduler fragments need --controllers (SSH, through the "
            "drift reader login)"
        )
    reader = controller_plane(plan).drift_reader
    return NO_READER if reader is None else f"read over SSH as {reader.user} (--controllers)"


def run(args: argparse.Namespace, now: dt.datetime) -> DriftReport:
    path: Path = args.plan or plan_path(args.stack)
    try:
        plan = read_plan(path)
    except PlanError as error:
        raise InputError(str(error)) from None
    if plan.stack != args.stack:
        raise InputError(
            f"{path} is the plan of stack {plan.stack!r}, not {args.stack!r}; pass the right --plan"
        )
    ack_path: Path = args.acks or drift_ack_path(args.stack)
    acks = read_acks(ack_path, now.date())
    try:
        catalog = load_catalog(PROJECT_DIR)
    except CatalogError as error:
        raise InputError(error.render()) from None
    deployed = checkpoint(args)
    controllers = on_controllers(plan, deployed) if args.controllers else None
    cloud = args.cloud or stack_entry(args.stack, Access.READ)
    with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
        inventory = read_inventory(session)
        glance: tuple[Sequence[GlanceImage], ReadImage] | None = None
        unlisted = ""
        if args.glance:
            try:
                glance = (read_images(session), lambda image_id: read_image(session, image_id))
            except CloudError as error:
                unlisted = str(error)
        report = three_way(
            plan,
            str(path),
            deployed,
            inventory,
            catalog,
            acks,
            now.date(),
            lambda uuid: read_instance_actions(session, uuid),
            controllers,
            glance,
        )
    if unlisted:
        report.could_not_check.append(
            f"the servers' images in Glance: the images cannot be listed ({unlisted})"
        )
    report.sources = {
        "plan": str(path),
        "checkpoint": deployed.location + (f" ({deployed.time})" if deployed.time else ""),
        "cloud": cloud,
        "project": inventory.project,
        "acknowledgements": str(ack_path),
        "controllers": _controllers_source(plan, args.controllers),
    }
    report.generated = now
    return report


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_run("drift", _main, argv, unusable=(InputError, AckError, CloudError))


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    parser.add_argument("--plan", type=Path, help="plan file (default: build/plan/<stack>.json)")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--state", metavar="URL", help="the S3 state backend (`pulumi login` URL)")
    state.add_argument("--checkpoint", type=Path, metavar="FILE", help="a checkpoint file (.json, .json.gz)")
    parser.add_argument("--acks", type=Path, help="acknowledgements (default: drift-acks/<stack>.yaml)")
    add_cloud_options(parser, "reader")
    parser.add_argument(
        "--glance",
        action="store_true",
        help="also read the images the servers run in Glance: deleted (or no longer shown to this "
        "project), deactivated, or another image under the name they booted (warnings)",
    )
    parser.add_argument(
        "--controllers",
        action="store_true",
        help="also read each controller over SSH (through the stack's drift reader login, its host key "
        "pinned; the reader key from your ssh-agent): its filter release and scheduler fragments against "
        "what the stack deployed",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON (webex-cloud.drift/v1)")
    parser.add_argument(
        "--json-out",
        type=Path,
        metavar="FILE",
        help='also write the JSON report here (what pr-check --drift reads for its "would also revert")',
    )
    args = parser.parse_args(argv)
    # Drift reads one stack's cloud and checkpoint: the same --stack option, given once.
    args.stack = select_stacks(args.stack, PROJECT_DIR, ["drift's cloud and checkpoint"])[0]
    if not (args.state or args.checkpoint):
        raise CommandError(
            "drift needs the stack's last checkpoint: give --state URL (the S3 backend, as "
            "`pulumi login` takes it) or --checkpoint FILE"
        )
    report = run(args, dt.datetime.now(dt.UTC))
    ack_path = report.sources.get("acknowledgements", "")
    if args.json_out is not None:
        write_text(args.json_out, to_json(report))
    sys.stdout.write(to_json(report) if args.json else to_text(report, ack_path))
    return ExitCode.BLOCKING if report.blocking else ExitCode.OK
