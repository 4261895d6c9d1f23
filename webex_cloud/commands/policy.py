"""`python -m webex_cloud policy --stack <stack>`: run the real policy pack over the offline plan."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from webex_cloud import atomic, cli_common
from webex_cloud.cli_common import ArgumentParser, add_project_option, add_stack_option, select_stacks
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import known_stacks
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PACK_DIR, PROJECT, PROJECT_DIR
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import PlanError, read_plan
from webex_cloud.plan.parallel import render_plans
from webex_cloud.policy_check.analyzer import PackError
from webex_cloud.policy_check.check import PolicyRun, format_run, running_pack
from webex_cloud.policy_check.config import PolicyConfigError, load_config_file
from webex_cloud.policy_check.wire import NO_UNKNOWNS, UnknownInput, Unknowns
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import load_snapshot, snapshot_from_plan
from webex_cloud.release.disruption import released


@dataclasses.dataclass(frozen=True)
class OldSide:
    """What the stack is now, to tell what this plan releases: a base plan, or the deployed state."""

    base: Path | None = None
    state: str | None = None
    checkpoint: Path | None = None

    @property
    def given(self) -> bool:
        return self.base is not None or self.state is not None or self.checkpoint is not None


class UsageError(Exception):
    """Bad arguments or input files; the message is printed as is."""


def _plan(stack: str, path: Path | None, project: Path) -> dict[str, Any]:
    """The given plan file, or a fresh render (so the verdicts never judge a stale file)."""
    if path is not None:
        plan = read_plan(path)
        if plan.stack != stack:
            raise UsageError(f"{path} is the plan of stack {plan.stack!r}, not {stack!r}")
        return plan.to_json()
    try:
        return render_plan(stack, project_dir=project)
    except CatalogError as error:
        raise UsageError(f"{stack}: {error}") from None


def _peer_plans(stack: str, given: list[str], project: Path) -> dict[str, dict[str, Any]]:
    paths: dict[str, Path] = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--peer-plan takes STACK=PATH, not {item!r}")
        paths[name] = Path(path)
    peers = [s for s in known_stacks(project) if s != stack]
    unknown = sorted(set(paths) - set(peers))
    if unknown:
        raise UsageError(f"--peer-plan names {', '.join(unknown)}; the other stacks are: {', '.join(peers)}")
    given_plans = {peer: _plan(peer, paths[peer], project) for peer in peers if peer in paths}
    rendered, errors = render_plans([peer for peer in peers if peer not in paths], project)
    if errors:
        raise UsageError("\n".join(f"{peer}: {error}" for peer, error in errors.items()))
    return {peer: given_plans.get(peer) or rendered[peer] for peer in peers}


def released_services(stack: str, plan: dict[str, Any], old: OldSide | None) -> list[str] | None:
    """The services whose serving pods going from ``old`` to ``plan`` disrupts, as the preview finds
    them (release/disruption.py :func:`released`); None when no old side is given. Raises
    PreviewInputError (an old side that cannot be read, or of another stack)."""
    if old is None or not old.given:
        return None
    new = snapshot_from_plan(plan, source=f"the plan of {stack}")
    if old.base is not None:
        base = load_snapshot(old.base)
        if base.stack != stack:
            raise PreviewInputError(str(old.base), f"is the plan of stack {base.stack!r}, not {stack!r}")
        changes = diff_snapshots(base, new)
    else:
        from webex_cloud.preview.state import deployed_state  # boto3 only when needed

        deployed = deployed_state(old.state, old.checkpoint, PROJECT, stack)
        changes = diff_snapshots(deployed.snapshot(), new, old_only_keys_count=False)
    return sorted({release.service for release in released(changes)})


def run(
    stack: str,
    *,
    plan_path: Path | None = None,
    peer_plans: list[str] | None = None,
    config_file: Path | None = None,
    unknowns: Unknowns = NO_UNKNOWNS,
    project: Path = PROJECT_DIR,
    pack: Path = PACK_DIR,
    write_config: Path | None = None,
    old: OldSide | None = None,
) -> PolicyRun:
    """Check one stack; raises UsageError, PolicyConfigError, PlanError, PackError or PreviewInputError
    with a message."""
    if write_config is not None and write_config.is_dir():
        raise UsageError(f"--write-config {write_config} is a folder; name the JSON file to write")
    if stack not in known_stacks(project):
        raise UsageError(f"unknown stack {stack!r}; stacks: {', '.join(known_stacks(project)) or 'none'}")
    # A config file that cannot be read is refused before any plan is rendered (seconds per stack).
    overrides = [(str(config_file), load_config_file(config_file))] if config_file else []
    plan = _plan(stack, plan_path, project)
    peers = _peer_plans(stack, peer_plans or [], project)
    release = released_services(stack, plan, old)
    with running_pack(pack) as checker:
        if write_config is not None:
            config = checker.config_for(plan, peers, overrides, release)
            document = {name: {"enforcementLevel": level, **props} for name, (level, props) in config.items()}
            try:
                atomic.write_text(write_config, json.dumps(document, indent=2, sort_keys=True) + "\n")
            except atomic.OutputError as error:
                raise UsageError(f"--write-config: {error}") from None
        return checker.check(plan, peers, overrides, unknowns, release)


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_common.run("policy", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud policy",
        description="Run the policy pack (policies/) over a stack's offline plan exactly as `pulumi preview "
        "--policy-pack policies` runs it, and print the verdicts. Exit status: 0 passed, 1 a mandatory "
        "violation, 2 unusable input, 3 internal error.",
    )
    add_stack_option(parser)
    parser.add_argument("--plan", type=Path, help="plan file to check (default: render the stack now)")
    parser.add_argument(
        "--peer-plan",
        action="append",
        default=[],
        metavar="STACK=PATH",
        help="plan of another stack for the cross-datacenter policy (default: render every other stack, "
        "in one worker process per core)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="policy config JSON (as for --policy-pack-config), merged over the facts derived from the plans",
    )
    parser.add_argument(
        "--unknown",
        action="append",
        default=[],
        metavar="TYPE_OR_URN=PATH",
        help="send this input as unknown, as during a preview (repeatable; globs allowed)",
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="send every input computed from another resource's id as unknown, as in a "
        "first `pulumi preview`",
    )
    parser.add_argument(
        "--write-config",
        type=Path,
        metavar="FILE",
        help="also write the merged policy config, for `pulumi preview --policy-pack-config`",
    )
    old = parser.add_mutually_exclusive_group()
    old.add_argument(
        "--base",
        type=Path,
        metavar="FILE",
        help="the base branch's plan of the stack: the services this plan releases against it are judged "
        "by release-judged-by-users (without --base, --state or --checkpoint that policy is not applicable)",
    )
    old.add_argument(
        "--state",
        metavar="URL",
        help="instead of --base: the stack's last checkpoint in this S3 state backend (`pulumi login` URL)",
    )
    old.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="instead of --base: a checkpoint file (.json, .json.gz)",
    )
    add_project_option(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the verdicts as one JSON document instead of text"
    )
    args = parser.parse_args(argv)
    project: Path = args.project
    old_side = OldSide(args.base, args.state, args.checkpoint)
    single = [
        name
        for name, given in (
            ("--plan", args.plan),
            ("--write-config", args.write_config),
            ("--base", args.base),
            ("--checkpoint", args.checkpoint),
        )
        if given
    ]
    stacks = select_stacks(args.stack, project, single)
    runs: list[PolicyRun] = []
    try:
        specs = tuple(UnknownInput.parse(spec) for spec in args.unknown)
        unknowns = Unknowns(specs, computed_ids=args.preview)
        for stack in stacks:
            runs.append(
                run(
                    stack,
                    plan_path=args.plan,
                    peer_plans=args.peer_plan,
                    config_file=args.config,
                    unknowns=unknowns,
                    project=project,
                    pack=project / "policies",
                    write_config=args.write_config,
                    old=old_side,
                )
            )
    except (UsageError, PolicyConfigError, PlanError, PackError, PreviewInputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    passed = all(result.passed for result in runs)
    if args.json:
        document = {"passed": passed, "stacks": [run_json(result) for result in runs]}
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        for result in runs:
            print(format_run(result))
        if args.write_config:
            print(f"  policy config written to {args.write_config}")
    return ExitCode.OK if passed else ExitCode.BLOCKING


def run_json(result: PolicyRun) -> dict[str, Any]:
    """One stack's verdicts as the --json output carries them."""
    return {**dataclasses.asdict(result), "passed": result.passed}
