"""`python -m webex_cloud monitoring --stack dc1`: write the stack's generated monitoring.

Writes ``build/monitoring/<stack>/`` (``prometheus.yml``, ``blackbox.yml``, ``alertmanager.yml``,
``rules/*.rules.yml`` and beside them their promtool unit tests ``rules/*.test.yml``) from the catalog and
the stack file, offline: nothing reads the cloud. Every file is written atomically, and files of an
earlier run that this one no longer generates (a removed service's rules) are removed, so the folder is
exactly this catalog's monitoring. ``--check`` then runs the tools that read the files (``promtool check
config``, ``promtool check rules``, ``promtool test rules``, ``amtool check-config``), as the deploy does
before it reloads a node; ``--reload URL=DIR`` (repeatable) then applies them to the running Prometheus
pair one node at a time without a restart: checked first, ``POST /-/reload``, then read back (the node
must serve exactly the generated rule groups and scrape jobs), the next node only once this one did.
``--reload-nodes`` does the same to the stack's own ``monitoring.nodes`` over SSH, as the deploy does after
``pulumi up``, each node's host keys pinned from what its console shows (read through Nova as the stack's
read-only identity, monitoring_ops/host_keys.py; a node that cannot be pinned stops it before any node
is touched); a stack without ``monitoring`` has nothing to reload (exit 0, said so). ``--facts FILE``
instead runs the live placement audit once, as the stack's read-only identity through webex_cloud/cloud,
and writes its verdict as metrics for the rules (monitoring_ops/facts.py; docs/monitoring.md).

Exit status: 0 written (and checked, and reloaded), 1 a check or a reload failed (a node's host keys
not pinned included), 2 unusable input (the message names the file, the field and the fix; a cloud that
cannot be read, its console refused, likewise), 3 an internal error.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

from webex_cloud import atomic, paths
from webex_cloud.cli_common import ArgumentParser, add_cloud_options, add_stack_option, select_stacks
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.resolved import Deployment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring.contract import ALERTMANAGER_PORT
from webex_cloud.monitoring.logs import FOLDER as LOGS_FOLDER
from webex_cloud.monitoring.logs import rsyslog_files
from webex_cloud.monitoring.model import NotMonitored, stack_watch
from webex_cloud.monitoring.render import render
from webex_cloud.monitoring_ops.check import CheckFailed, ToolMissing, check_folder
from webex_cloud.monitoring_ops.reload import Node, NodeT, ReloadFailed, SshNode, reload_pair

MONITORING_DIR = paths.BUILD_DIR / "monitoring"


def node_argument(text: str) -> Node:
    """``http://host:9090=/etc/prometheus``: a Prometheus node and its config folder; its Alertmanager
    is the same host's :9093, reading ``alertmanager.yml`` from that folder (the pair's layout)."""
    url, separator, folder = text.partition("=")
    host = urllib.parse.urlsplit(url).hostname if url.startswith("http://") else None
    if not separator or host is None or not folder:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give URL=DIR, like http://10.250.1.15:9090=/etc/prometheus"
        )
    return Node(url.rstrip("/"), Path(folder), alertmanager_url=f"http://{host}:{ALERTMANAGER_PORT}")


def generate_logs(project_dir: Path, stack: str) -> dict[str, str]:
    """The stack's rsyslog drop-ins (``monitoring.logs``), written beside the monitoring files; never
    installed on the monitoring nodes."""
    datacenter = load_deployment(project_dir, stack).datacenter
    return rsyslog_files(datacenter.name, datacenter.monitoring.logs if datacenter.monitoring else None)


def generate(project_dir: Path, stack: str) -> dict[str, str]:
    """The files of one stack (raises CatalogError or NotMonitored on unusable input)."""
    deployment = load_deployment(project_dir, stack)
    return render(stack_watch(deployment, paths.stack_file(stack)), paths.stack_file(stack))


def pair_secrets(project_dir: Path, stack: str) -> tuple[list[IPv4Address], dict[str, bytes] | None]:
    """The stack's ``monitoring.nodes`` (the stack generated, so it is monitored) and, for a pair the
    stack deploys, the secret files its nodes get, decrypted (raises SecretsUnusable, CatalogError)."""
    from webex_cloud.config.loader import read_stack_config
    from webex_cloud.monitoring import secrets
    from webex_cloud.monitoring_ops.secrets import decrypted, node_files

    datacenter = load_deployment(project_dir, stack).datacenter
    monitoring = datacenter.monitoring
    assert monitoring is not None, "generate() refuses a stack without monitoring"
    if monitoring.instances is None:
        return list(monitoring.nodes), None
    label = paths.stack_file(stack)
    secrets.check_declared(read_stack_config(project_dir, stack), monitoring, stack, label)
    values = decrypted(project_dir, stack, label)
    return list(monitoring.nodes), node_files(
        values, secrets.required(monitoring), datacenter.region, stack, label
    )


def write_folder(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write every file atomically, then remove the generated files of an earlier run that are gone."""
    written = []
    for relative, text in sorted(files.items()):
        target = folder / relative
        atomic.write_text(target, text)
        written.append(target)
    keep = {folder / relative for relative in files}
    for stale in sorted([*folder.glob("**/*.yml"), *folder.glob(f"{LOGS_FOLDER}/*.conf")]):
        if stale not in keep:
            stale.unlink()
    return written


def alert_changes(base: Path, stack: str, files: dict[str, str]) -> str:
    """The alert diff of one stack against the base checkout (generated from its files by this code)."""
    from webex_cloud.monitoring_ops import diff

    base_files: dict[str, str] = {}
    if (base / paths.stack_file(stack)).exists():
        try:
            base_files = generate(base, stack)
        except NotMonitored:
            base_files = {}
        except CatalogError as error:
            return f"**{stack} alerts**: the base cannot be generated ({len(error.problems)} problems)\n"
    return diff.render(stack, diff.diff(base_files, files))


def write_facts(args: argparse.Namespace, stack: str) -> int:
    """Read the stack's project through webex_cloud/cloud, audit it against its plan, judge N+1 and (with
    --controllers) the controllers as drift does, and write the metrics."""
    from webex_cloud.audit.compare import audit
    from webex_cloud.audit.expected import expected_from_plan
    from webex_cloud.cloud.access import Access
    from webex_cloud.cloud.entry import stack_entry
    from webex_cloud.cloud.errors import CloudError
    from webex_cloud.cloud.session import connect
    from webex_cloud.cloud.views import read_compute_services, read_project
    from webex_cloud.config.loader import load_catalog
    from webex_cloud.drift.controllers import read_controllers
    from webex_cloud.monitoring_ops.facts import exposition, live_n_plus_one
    from webex_cloud.monitoring_ops.facts_push import PushFailed, push_facts
    from webex_cloud.monitoring_ops.host_keys import NotPinned, known_hosts_file, pin_nodes
    from webex_cloud.paths import PROJECT
    from webex_cloud.plan.format import PlanError, read_plan
    from webex_cloud.preview.errors import PreviewInputError
    from webex_cloud.preview.state import deployed_state

    plan_file: Path = args.plan or paths.plan_path(stack)
    project: Path = args.project.resolve()
    try:
        deployment = load_deployment(project, stack)
        watch = stack_watch(deployment, paths.stack_file(stack))
    except NotMonitored as error:
        if args.push_nodes:
            print(f"{stack}: not monitored (no monitoring section in its stack file): no facts to push")
            return ExitCode.OK
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except CatalogError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    try:
        addresses = push_addresses(deployment, stack) if args.push_nodes else []
        catalog = load_catalog(project)
        plan = read_plan(plan_file)
        expected = expected_from_plan(plan, str(plan_file))
        deployed = deployed_state(args.state, args.checkpoint, PROJECT, stack) if args.controllers else None
        cloud = args.cloud or stack_entry(stack, Access.READ, project)
        read_at = time.time()
        with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
            observation = read_project(session)
            try:
                compute = read_compute_services(session)
                refused = ""
            except CloudError as error:
                compute, refused = None, str(error)
            try:
                pins = pin_nodes(session, addresses) if addresses else []
                unpinned = ""
            except NotPinned as error:
                pins, unpinned = [], str(error)
    except (CatalogError, PlanError, CloudError, PreviewInputError, NoFactsLogin) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    live = live_n_plus_one(plan, catalog, compute, expected.hosts, refused)
    if deployed is not None:
        resources = [(r.urn, r.type, r.inputs) for r in deployed.resources.values()]
        judged, unread = read_controllers(plan, resources)
        live = replace(live, controllers=judged, unchecked=(*live.unchecked, *unread))
    facts = exposition(watch, audit(expected, observation), observation.servers, read_at, live)
    atomic.write_text(args.facts, facts)
    print(f"{stack}: placement facts -> {args.facts}")
    if unpinned:
        print(f"{stack}: facts not pushed, no node touched: {unpinned}", file=sys.stderr)
        return ExitCode.BLOCKING
    if not pins:
        return ExitCode.OK
    with known_hosts_file(pins) as known_hosts:
        try:
            for line in push_facts([pin.address for pin in pins], known_hosts, facts.encode()):
                print(f"  {line}")
        except PushFailed as error:
            print(f"{stack}: facts not pushed to every node: {error}", file=sys.stderr)
            return ExitCode.BLOCKING
    return ExitCode.OK


FACTS_ONLY = (
    ("--plan", "plan"),
    ("--push-nodes", "push_nodes"),
    ("--controllers", "controllers"),
    ("--state", "state"),
    ("--checkpoint", "checkpoint"),
)
"""The options of ``--facts`` alone (option, its attribute)."""


class NoFactsLogin(Exception):
    """The stack's pair has no facts login to push to (exit 2); the message names the field."""


def push_addresses(deployment: Deployment, stack: str) -> list[str]:
    """The nodes the facts go to: a pair the stack deploys with a facts login (raises NoFactsLogin)."""
    monitoring = deployment.datacenter.monitoring
    field = f"{paths.stack_file(stack)}: config.webex-cloud:datacenter.monitoring.instances"
    if monitoring is None or monitoring.instances is None:
        raise NoFactsLogin(
            f"{field}: unset, so the stack deploys no pair and its nodes have no facts login; an existing "
            "pair's operators run `monitoring --facts FILE` into its textfile folder themselves"
        )
    if monitoring.instances.facts_key is None:
        raise NoFactsLogin(
            f"{field}.facts_key: not set, so the nodes have no facts login to push to; set it to the public "
            "half of the facts key (`ssh-keygen -y -f <key>`, the secret FACTS_PUSH_KEY) and rebuild the "
            "nodes (the login is made at first boot; docs/monitoring.md)"
        )
    return [str(node) for node in monitoring.nodes]


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud monitoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    parser.add_argument(
        "--project", type=Path, default=paths.PROJECT_DIR, help="project folder (default: this checkout)"
    )
    parser.add_argument(
        "--out", type=Path, help="folder holding one folder per stack (default: <project>/build/monitoring)"
    )
    parser.add_argument(
        "--reload",
        action="append",
        metavar="URL=DIR",
        type=node_argument,
        help="after writing, check and apply the files to this Prometheus (started with "
        "--web.enable-lifecycle) whose config folder is DIR, one node at a time in the order given "
        "(repeatable; one --stack)",
    )
    parser.add_argument(
        "--reload-nodes",
        action="store_true",
        help="after writing, check and apply the files to the stack's monitoring.nodes, one at a time, "
        f"over SSH as {SshNode.user} (the deploy key in ssh-agent; the deploy runs this after `pulumi up`), "
        "held to the host keys each node's console shows (read as the stack's reader identity); "
        "a stack without monitoring: nothing to do, exit 0 (one --stack)",
    )
    parser.add_argument(
        "--facts",
        type=Path,
        metavar="FILE",
        help="instead of writing the configuration, run the live placement audit once (the stack's "
        "read-only identity) and write its verdict as metrics to FILE, for node_exporter's textfile "
        "collector (one --stack)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        metavar="DIR",
        help="also print which alerts change against the checkout in DIR (its catalog and stack files, "
        "generated by this code; a stack it does not monitor counts as no alerts)",
    )
    parser.add_argument(
        "--plan", type=Path, help="with --facts: plan file (default: build/plan/<stack>.json)"
    )
    parser.add_argument(
        "--push-nodes",
        action="store_true",
        help="with --facts: then hand the facts to each of the stack's monitoring.nodes over SSH as the "
        "facts login (the facts key in ssh-agent), held to the host keys its console shows",
    )
    parser.add_argument(
        "--controllers",
        action="store_true",
        help="with --facts: also read each controller over SSH as drift --controllers does (the key "
        "from your ssh-agent) and export its filter release and schedulers (needs --state or --checkpoint)",
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--state", metavar="URL", help="with --controllers: the S3 state backend")
    state.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="with --controllers: a checkpoint file"
    )
    add_cloud_options(parser, "reader")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run promtool and amtool on what was written (they must be installed)",
    )
    args = parser.parse_args(argv)
    given = (("--reload", args.reload), ("--reload-nodes", args.reload_nodes), ("--facts", args.facts))
    single = [name for name, option in given if option]
    if args.reload and args.reload_nodes:
        parser.error("give --reload URL=DIR or --reload-nodes, not both")
    facts_only = [name for name, option in FACTS_ONLY if getattr(args, option)]
    if facts_only and args.facts is None:
        # Otherwise the files would be generated instead, exit 0, and the facts never pushed or read.
        parser.error(f"{', '.join(facts_only)} only work with --facts FILE")
    project: Path = args.project.resolve()
    stacks = select_stacks(args.stack, project, single)
    if args.facts is not None:
        if args.controllers and not (args.state or args.checkpoint):
            parser.error(
                "--controllers judges each controller against the stack's checkpoint: give --state URL "
                "or --checkpoint FILE"
            )
        if (args.state or args.checkpoint) and not args.controllers:
            parser.error(
                "--state and --checkpoint are read for --controllers only: add it, or leave them out"
            )
        return write_facts(args, stacks[0])
    generated: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for stack in stacks:
        try:
            generated[stack] = generate(project, stack)
        except CatalogError as error:
            problems.append(f"{stack}: {error}")
        except NotMonitored as error:
            if args.reload_nodes:
                print(f"{stack}: not monitored (no monitoring section in its stack file): nothing to reload")
                return ExitCode.OK
            problems.append(f"{stack}: {error}")
    if problems:
        # Nothing is written when any stack is unusable: the folders stay as the last good run left them.
        print("\n".join(problems), file=sys.stderr)
        return ExitCode.INPUT
    if args.base is not None:
        for stack, files in generated.items():
            print(alert_changes(args.base.resolve(), stack, files), end="")
    out: Path = args.out or project / "build" / MONITORING_DIR.name
    failed = False
    for stack, files in generated.items():
        folder = out / stack
        write_folder(folder, {**files, **generate_logs(project, stack)})
        alerts = sum(
            text.count("\n  - alert: ") for name, text in files.items() if name.endswith(".rules.yml")
        )
        print(f"{stack}: {len(files)} files, {alerts} alerts -> {folder}")
        if args.check:
            try:
                for line in check_folder(folder):
                    print(f"  {line}")
            except ToolMissing as error:
                print(f"error: {error}", file=sys.stderr)
                return ExitCode.INPUT
            except CheckFailed as error:
                print(f"{stack}: check failed: {error}", file=sys.stderr)
                failed = True
    if failed:
        return ExitCode.BLOCKING
    if args.reload_nodes:
        return reload_nodes(args, project, stacks[0], generated[stacks[0]])
    if args.reload:
        return reload(args.reload, stacks[0], generated[stacks[0]])
    return ExitCode.OK


def reload(
    nodes: Sequence[NodeT],
    stack: str,
    files: dict[str, str],
    prepare: Callable[[NodeT], list[str]] | None = None,
) -> int:
    try:
        for line in reload_pair(nodes, files, prepare=prepare):
            print(f"  {line}")
    except ToolMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except (CheckFailed, ReloadFailed) as error:
        print(f"{stack}: reload stopped: {error}", file=sys.stderr)
        return ExitCode.BLOCKING
    return ExitCode.OK


def reload_nodes(args: argparse.Namespace, project: Path, stack: str, files: dict[str, str]) -> int:
    """Pin every node's host keys from its console (as the stack's reader), then reload them over SSH
    held to those keys; a node that cannot be pinned stops the reload before any node is touched."""
    from webex_cloud.cloud.access import Access
    from webex_cloud.cloud.entry import stack_entry
    from webex_cloud.cloud.errors import CloudError
    from webex_cloud.cloud.session import connect
    from webex_cloud.monitoring.secrets import SecretsUnusable
    from webex_cloud.monitoring_ops.host_keys import NotPinned, known_hosts_file, pin_nodes
    from webex_cloud.monitoring_ops.secrets import place

    try:
        nodes, secret_files = pair_secrets(project, stack)
    except (SecretsUnusable, CatalogError) as error:
        print(f"error: {stack}: reload stopped, no node touched:\n{error}", file=sys.stderr)
        return ExitCode.INPUT
    addresses = [str(node) for node in nodes]
    try:
        cloud = args.cloud or stack_entry(stack, Access.READ, project)
        with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
            pins = pin_nodes(session, addresses)
    except CloudError as error:
        print(f"error: {stack}: {error}", file=sys.stderr)
        return ExitCode.INPUT
    except NotPinned as error:
        print(f"{stack}: reload stopped, no node touched: {error}", file=sys.stderr)
        return ExitCode.BLOCKING
    for pin in pins:
        kinds = ", ".join(kind for kind, _ in pin.keys)
        print(f"  pinned {pin.address} ({pin.server.name}): {kinds}, from its console")
    with known_hosts_file(pins) as path:
        targets = [SshNode(pin.address, path) for pin in pins]
        if secret_files is None:
            print("  secrets: monitoring.instances unset: the pair's operators place them, not the deploy")
            return reload(targets, stack, files)
        placed = secret_files
        return reload(targets, stack, files, prepare=lambda node: place(node, placed))
