"""`python -m webex_cloud audit --stack dc1`: where a stack's pods and replicas really are.

Reads the project's servers and volumes through the OpenStack API (two paginated GETs; nothing is ever
written) with the credentials of the stack's ``openstack:cloud`` entry of clouds.yaml, compares them with
the stack's offline plan (default ``build/plan/<stack>.json``) and reports, with UUIDs, every pod split over
hosts, every two pods of a service on one host, every two replicas of a volume group in one failure domain,
every catalog instance or volume that is missing, and every instance or volume carrying the stack's
ownership keys that the catalog does not expect.

Least privilege: a project reader is enough for the co-location checks (Nova's per-project ``hostId``);
host names need the Nova rule os_compute_api:os-extended-server-attributes and the replicas' failure
domains the Cinder rule volume_extension:volume_host_attribute (both admin by default). What the role may
not see is reported as "could not check ...", never guessed.

Exit status: 0 clean, 1 a violation, 2 the plan, the stack or the cloud cannot be used, 3 an internal error.
Every API call has a timeout (--timeout), so a scheduled run ends.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from webex_cloud.atomic import OutputError
from webex_cloud.audit.compare import Report, audit
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.audit.observed import Observation, ReadError, read_cloud
from webex_cloud.audit.picture import audit_picture
from webex_cloud.audit.render import to_json, to_text
from webex_cloud.cli_common import CommandError, add_project_option, add_stack_option, select_stacks
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import read_stack_config, stack_file
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT_DIR, plan_dir, plan_path
from webex_cloud.picture import write
from webex_cloud.plan.format import PlanError, read_plan

CLOUD_KEY = "openstack:cloud"
DEFAULT_TIMEOUT = 30.0


class InputError(Exception):
    """Unusable input (exit 2): the message names the file or option and the fix."""


def stack_cloud(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """The clouds.yaml entry the stack deploys with (``openstack:cloud`` of its stack file)."""
    try:
        config = read_stack_config(project_dir, stack)
    except CatalogError as error:
        raise InputError(error.render()) from None
    cloud = config.get(CLOUD_KEY)
    if not isinstance(cloud, str) or not cloud:
        raise InputError(
            f"{stack_file(stack)}: config.{CLOUD_KEY} is not set; name the stack's clouds.yaml entry there "
            "or pass --cloud NAME"
        )
    return cloud


def connect(cloud: str, clouds_yaml: Path | None, timeout: float) -> Any:
    """An authenticated openstacksdk connection whose every request times out after ``timeout`` seconds."""
    import openstack
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions
    from openstack.config import loader

    where = (
        str(clouds_yaml)
        if clouds_yaml
        else "clouds.yaml (OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/)"
    )
    if clouds_yaml is not None and not clouds_yaml.is_file():
        raise InputError(f"{clouds_yaml}: no such clouds.yaml (--clouds-yaml)")
    try:
        config = loader.OpenStackConfig(config_files=[str(clouds_yaml)] if clouds_yaml else None)
        region = config.get_one(cloud=cloud, api_timeout=timeout)
        conn = openstack.connection.Connection(config=region)
        conn.authorize()
    except exceptions.ConfigException as error:
        raise InputError(
            f"{where}: cloud {cloud!r} cannot be used ({error}); add it or pass --cloud NAME"
        ) from None
    except (exceptions.SDKException, ksa.ClientException) as error:
        raise InputError(
            f"cloud {cloud!r} of {where}: cannot authenticate ({type(error).__name__}: {error}); "
            "check its auth section and that the identity endpoint answers"
        ) from None
    return conn


def read(conn: Any) -> Observation:
    from keystoneauth1 import exceptions as ksa

    try:
        return read_cloud(conn)
    except ksa.ClientException as error:
        raise ReadError(f"the cloud did not answer ({type(error).__name__}: {error})") from None


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
    cloud = args.cloud or stack_cloud(args.stack, args.project)
    conn = connect(cloud, args.clouds_yaml, args.timeout)
    try:
        observation = read(conn)
    except ReadError as error:
        raise InputError(f"cloud {cloud!r}: {error}") from None
    finally:
        conn.close()
    report = audit(expected, observation)
    source = {"cloud": cloud, "project": observation.project, "plan": str(path)}
    if args.svg:
        write(audit_picture(expected, report, observation.host_names_visible), args.svg)
    return report, to_json(report, source) if args.json else to_text(report, source)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--plan", type=Path, help="plan file (default: <project>/build/plan/<stack>.json)")
    parser.add_argument("--cloud", help=f"clouds.yaml entry (default: the stack's {CLOUD_KEY})")
    parser.add_argument(
        "--clouds-yaml", type=Path, help="clouds.yaml file (default: openstacksdk's search path)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per API call (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (format webex-cloud.audit/v1)"
    )
    parser.add_argument("--svg", type=Path, help="also write the picture of where things are to this file")
    args = parser.parse_args(argv)
    try:
        # An audit reads one stack's cloud: the same --stack option as every command, given once.
        args.stack = select_stacks(args.stack, args.project, ["an audit's cloud"])[0]
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    try:
        report, text = run(args)
    except (InputError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except Exception as error:  # a bug: say so, without a traceback unless asked
        if os.environ.get("WEBEX_DEBUG") == "1":
            traceback.print_exc()
        print(
            f"internal error: {type(error).__name__}: {error} (WEBEX_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL
    sys.stdout.write(text)
    return ExitCode.OK if report.clean else ExitCode.BLOCKING
