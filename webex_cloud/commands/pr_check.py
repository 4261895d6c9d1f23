"""`python -m webex_cloud pr-check`: the whole pull-request check, every stack, one comment.

The workflow (.github/workflows/pr-preview.yml) checks out the pull request into ``pr/`` (with its
``.venv``) and the base commit into ``base/`` (a plain checkout), then runs this command from ``pr/``.
Per stack it runs, each as its own process whose output and exit status land in ``OUT/<stack>/``:

1. ``plan``: this branch's offline plan (``plan --stack S --out DIR --no-policy``);
2. ``policy``: this branch's policy pack over it (every stack is planned before any is policed: the
   other stacks' plans are its peers); then ``main-policy``: the BASE's pack (its rules, and the config
   facts derived through its ``webex_policies``) over the same plans, writing the
   ``--policy-pack-config`` a real preview needs. A branch that weakens or deletes a rule under
   ``policies/`` is still judged by the rule as the base has it; a changed pack is named in the comment
   for a code owner's review (``policy-change.txt``). Both verdicts block;
3. ``place``: the placement proof over the same plan;
4. ``base-plan``: the base commit's plan, rendered by the base's *own* code with the command line
   ``plan --stack S --out DIR --no-policy`` (a contract: every commit from now on keeps it). A base
   without the stack file is a new datacenter (an empty base: everything is a create); a base that
   fails to render for any other reason is "base unusable", never an empty base;
5. ``preview``: the risk-ranked report (base plan → plan, or the last checkpoint with ``--state``, or
   a real ``pulumi preview`` with ``--pulumi``), plus the subnet pins this stack needs.

Then ``OUT/comment.md`` is the one pull-request comment (webex_cloud.commands.comment). The exit status
is the worst of all steps (webex_cloud.exit_codes): 3 before 2 before 1 before 0.

Stacks are checked one per core at a time (``--jobs``); each step prints one progress line as it
ends (stack, step, exit status, seconds) and each stack a summary line. ``--project DIR`` checks that
project (its stacks, catalog and policy pack) with this checkout's code, as every command's
``--project`` does; the base commit is always rendered by its own code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from webex_cloud import atomic
from webex_cloud.cli_common import (
    CommandError,
    add_project_option,
    add_stack_option,
    select_stacks,
    usable_cores,
)
from webex_cloud.commands import comment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT, PROJECT_DIR, plan_path, stack_file
from webex_cloud.plan.format import dumps, empty_plan
from webex_cloud.preview import base_cache
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.pins import unpinned
from webex_cloud.preview.plans import load_snapshot
from webex_cloud.preview.render import headline

#: The pull request's checkout relative to its own code; the base is given on the command line.
BASE_PLAN_ARGS = ("plan", "--stack", "{stack}", "--out", "{out}", "--no-policy")
"""The stable contract a base commit is rendered with (module docstring, step 4)."""
RUNTIME_REQUIREMENTS = "requirements.txt"
EMPTY_BASE_NOTE = (
    "the base commit has no stack file for {stack}: a new datacenter, every resource is a create"
)


@dataclass(frozen=True)
class Step:
    name: str
    code: int
    seconds: float = 0.0


def _run(
    args: Sequence[str],
    *,
    cwd: Path,
    out: Path,
    name: str,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
) -> Step:
    """Run one step, its output into ``<name>.txt`` (stdout into ``stdout`` when given) and its status
    into ``<name>.rc``."""
    start = time.perf_counter()
    with (out / f"{name}.txt").open("wb") as log, (stdout or Path(os.devnull)).open("wb") as data:
        try:
            code = subprocess.run(
                list(args),
                cwd=cwd,
                stdout=data if stdout else log,
                stderr=log if stdout else subprocess.STDOUT,
                env=env,
                check=False,
            ).returncode
        except OSError as error:
            log.write(f"cannot run {args[0]}: {error}\n".encode())
            code = ExitCode.INPUT
    # A signal (negative status) or an unexpected status is no verdict.
    code = code if code in tuple(ExitCode) else ExitCode.INTERNAL
    (out / f"{name}.rc").write_text(f"{code}\n")
    return Step(name, code, time.perf_counter() - start)


def _record(out: Path, name: str, code: int, text: str) -> Step:
    (out / f"{name}.txt").write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    (out / f"{name}.rc").write_text(f"{code}\n")
    return Step(name, code)


def _requirements(checkout: Path) -> list[str]:
    path = checkout / RUNTIME_REQUIREMENTS
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def base_python(pr_dir: Path, base_dir: Path, log: list[str]) -> Path:
    """The interpreter that renders the base: the pull request's when the runtime requirements are
    the same, else a venv of the base's own (``base/.venv``, created once). ``pr_dir`` is the
    checkout of the code that runs (its requirements are this interpreter's), not a ``--project``."""
    if _requirements(pr_dir) == _requirements(base_dir):
        log.append(f"base requirements equal this branch's: the base renders with {sys.executable}")
        return Path(sys.executable)
    python = base_dir / ".venv" / "bin" / "python"
    log.append(f"base requirements differ from this branch's: installing them into {base_dir / '.venv'}")
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(base_dir / ".venv")
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            RUNTIME_REQUIREMENTS,
        ],
        cwd=base_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PreviewInputError(
            str(base_dir / RUNTIME_REQUIREMENTS),
            f"cannot install the base's requirements: {done.stderr[-2000:]}",
        )
    return python


def judged_project(pr_dir: Path, base_dir: Path, folder: Path) -> Path:
    """A project made of this branch's files (stacks, catalog, program) with a copy of the base's
    policy pack in place of the branch's. The pack runs in ``<pack>/../.venv`` (PulumiPolicy.yaml):
    here a link to this interpreter's venv, the one the branch's own pack runs in."""
    folder.mkdir(parents=True)
    for entry in pr_dir.iterdir():
        if entry.name not in ("policies", ".venv"):
            (folder / entry.name).symlink_to(entry.resolve())
    shutil.copytree(base_dir / "policies", folder / "policies", ignore=_ignore_caches)
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent.absolute())
    return folder


def _not_the_pack(name: str) -> bool:
    """Build output and tools' caches (``__pycache__``, ``*.egg-info``, ``.ruff_cache``, ``.venv``...)."""
    return name == "__pycache__" or name.endswith(".egg-info") or name.startswith(".")


def _ignore_caches(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if _not_the_pack(name)}


def changed_pack_files(pr_dir: Path, base_dir: Path) -> list[str]:
    """The files under ``policies/`` that differ between the branch and the base (added, removed or
    edited); build output and tools' caches left out, as in the copy judged_project makes."""

    def files(root: Path) -> dict[str, bytes]:
        pack = root / "policies"
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(pack.rglob("*"))
            if p.is_file() and not any(_not_the_pack(part) for part in p.relative_to(pack).parts)
        }

    mine, theirs = files(pr_dir), files(base_dir)
    return sorted(name for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name))


def base_env(base_dir: Path) -> dict[str, str]:
    """The base's own code first on the path: its program, its hint contract, its policy rules."""
    entries = [base_dir, base_dir / "scheduler-filters" / "src", base_dir / "policies"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in entries if p.exists())
    return env


@dataclass(frozen=True)
class Options:
    pr_dir: Path
    base_dir: Path
    out: Path
    stacks: tuple[str, ...]
    state: str | None
    pulumi: bool
    commit: str
    jobs: int = 1
    base_cache: Path | None = None
    """Where base plans are kept by content (webex_cloud.preview.base_cache); None: always rendered."""
    judged: Path | None = None
    """This branch's data with the base's policy pack (judged_project); None: the base is unusable."""


def _branch_plan(options: Options, stack: str) -> Path:
    return plan_path(stack, options.out / stack / "plan-files")


def plan_stack(options: Options, stack: str) -> Step:
    """Step 1: this branch's plan of ``stack``, into ``OUT/<stack>/plan-files``."""
    out = options.out / stack
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # This branch's commands run from its code (this checkout) on the project it was given.
    args = ["plan", "--project", str(options.pr_dir), "--stack", stack, "--no-policy"]
    args += ["--out", str(_branch_plan(options, stack).parent)]
    return _progress(
        stack, _run([sys.executable, "-m", "webex_cloud", *args], cwd=PROJECT_DIR, out=out, name="plan")
    )


def check_stack(
    options: Options,
    stack: str,
    python: Path | None,
    base_problem: str | None,
    peers: Sequence[str] = (),
    base_digest: str | None = None,
) -> list[Step]:
    """Steps 2-5 of a stack whose plan (step 1) succeeded; ``peers``: the other stacks whose plans
    this check made, handed to the policy step so that it does not render them again."""
    out = options.out / stack
    me = [sys.executable, "-m", "webex_cloud"]
    project = ["--project", str(options.pr_dir)]
    base_dir = out / "base-files"
    plan_file = _branch_plan(options, stack)
    steps: list[Step] = []
    config = out / "policy-config.json"
    peer_plans = [arg for peer in peers for arg in ("--peer-plan", f"{peer}={_branch_plan(options, peer)}")]
    policy = ["policy", *project, "--stack", stack, "--plan", str(plan_file), *peer_plans]
    steps.append(_progress(stack, _run([*me, *policy], cwd=PROJECT_DIR, out=out, name="policy")))
    steps.append(_progress(stack, _main_policy(options, stack, plan_file, peer_plans, config)))
    svg = str(out / comment.PLACEMENT_PICTURE)
    place = ["place", *project, "--stack", stack, "--plan", str(plan_file), "--svg", svg]
    steps.append(_progress(stack, _run([*me, *place], cwd=PROJECT_DIR, out=out, name="place")))
    base_file: Path | None = None
    if base_problem is not None:
        steps.append(_record(out, "base-plan", ExitCode.INPUT, f"base unusable: {base_problem}"))
    elif not (options.base_dir / stack_file(stack)).exists():
        steps.append(_record(out, "base-plan", ExitCode.OK, EMPTY_BASE_NOTE.format(stack=stack)))
    elif (cached := _cached_base(options, stack, base_digest)) is not None:
        base_file = plan_path(stack, base_dir)
        atomic.write_bytes(base_file, cached.read_bytes())
        note = f"base plan reused from {cached} (the base checkout and interpreter are unchanged)"
        steps.append(_progress(stack, _record(out, "base-plan", ExitCode.OK, note)))
    else:
        assert python is not None  # a usable base always has an interpreter
        contract = [part.format(stack=stack, out=base_dir) for part in BASE_PLAN_ARGS]
        step = _run(
            [str(python), "-m", "webex_cloud", *contract],
            cwd=options.base_dir,
            out=out,
            name="base-plan",
            env=base_env(options.base_dir),
        )
        _progress(stack, step)
        base_file = plan_path(stack, base_dir)
        if step.code != ExitCode.OK or not base_file.exists():
            # Never an empty base: that would make every resource of the stack a create.
            with (out / "base-plan.txt").open("a", encoding="utf-8") as log:
                log.write(f"base unusable: the base commit's plan of {stack} failed (exit {step.code})\n")
            step = _record(out, "base-plan", ExitCode.INPUT, (out / "base-plan.txt").read_text())
        elif options.base_cache is not None and base_digest is not None:
            base_cache.store(options.base_cache, base_digest, stack, base_file)
        steps.append(step)
    if steps[-1].code != ExitCode.OK:
        return [*steps, _record(out, "preview", ExitCode.INPUT, "no preview: the base is unusable")]
    steps.append(_progress(stack, _preview(options, stack, out, plan_file, base_file, config)))
    return steps


def _main_policy(options: Options, stack: str, plan_file: Path, peer_plans: list[str], config: Path) -> Step:
    """The base's pack over this branch's plan: what a branch's edit of ``policies/`` cannot weaken.

    The pack's rules (its process, and the config facts the harness derives through
    ``webex_policies``) are the base's; the harness that reads the stack files and speaks the
    Analyzer protocol is this branch's, so a branch that changes the stack-file format is still
    judged (the base's loader would refuse the new keys)."""
    out = options.out / stack
    if options.judged is None:
        return _record(out, "main-policy", ExitCode.INPUT, "main's policy pack cannot run: the base has none")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(options.judged / "policies"), *filter(None, [env.get("PYTHONPATH")])]
    )
    args = ["policy", "--project", str(options.judged), "--stack", stack, "--plan", str(plan_file)]
    return _run(
        [sys.executable, "-m", "webex_cloud", *args, *peer_plans, "--write-config", str(config)],
        cwd=PROJECT_DIR,
        out=out,
        name="main-policy",
        env=env,
    )


def _cached_base(options: Options, stack: str, base_digest: str | None) -> Path | None:
    if options.base_cache is None or base_digest is None:
        return None
    kept = base_cache.entry(options.base_cache, base_digest, stack)
    return kept if kept.is_file() else None


def _progress(stack: str, step: Step) -> Step:
    """One line per finished step (stack, step, exit status, seconds), so a long check is seen to move."""
    print(f"{stack} {step.name}: exit {step.code}, {step.seconds:.1f} s", flush=True)
    return step


def _preview(
    options: Options, stack: str, out: Path, plan_file: Path, base_file: Path | None, config: Path
) -> Step:
    from webex_cloud.commands import preview as cli

    start = time.perf_counter()
    argv = ["--stack", stack, "--project", str(options.pr_dir), "--plan", str(plan_file)]
    argv += ["--markdown", str(out / "preview.md")]
    argv += ["--json", str(out / "preview.json")]
    if options.pulumi:
        pulumi_rc = _run(
            [
                "pulumi",
                "preview",
                "--json",
                "--show-sames",
                "--policy-pack",
                # Main's pack, as main-policy ran it (that step blocks when the base has none).
                str((options.judged or options.pr_dir) / "policies"),
                "--policy-pack-config",
                str(config),
                "--stack",
                f"organization/{PROJECT}/{stack}",
                "--event-log",
                str(out / "events.jsonl"),
            ],
            cwd=options.pr_dir,
            out=out,
            name="pulumi-preview",
            # --event-log is registered only with PULUMI_DEBUG_COMMANDS (webex_cloud.preview.events).
            env={**os.environ, "PULUMI_DEBUG_COMMANDS": "true"},
            stdout=out / "pulumi-preview.json",
        ).code
        argv += ["--preview", str(out / "pulumi-preview.json"), "--preview-exit", str(pulumi_rc)]
        if (out / "events.jsonl").exists():
            argv += ["--event-log", str(out / "events.jsonl")]
    else:
        if base_file is not None:
            argv += ["--base", str(base_file)]
        if options.state:
            argv += ["--state", options.state]
    new_datacenter = base_file is None and not options.state and not options.pulumi
    if new_datacenter:
        argv += ["--base", str(_empty_base(out / "base-files", stack))]
    try:
        extra = unpinned(load_snapshot(plan_file), options.pr_dir / stack_file(stack))
        args = cli.parser().parse_args(argv)
        report = cli.build_report(args, extra)
        if new_datacenter:
            note = EMPTY_BASE_NOTE.format(stack=stack)
            report = replace(report, changes=replace(report.changes, notes=(*report.changes.notes, note)))
        cli.write_report(report, args.markdown, args.json_out)
    except PreviewInputError as error:
        failed = _record(out, "preview", ExitCode.INPUT, f"error: {error}")
        return replace(failed, seconds=time.perf_counter() - start)
    lines = [headline(report)]
    lines += [f"error: {message}" for message in report.changes.errors]
    lines += [f"blocking: {r.kind}: {r.subject}: {r.reason}" for r in report.blocking]
    step = _record(out, "preview", cli.exit_code(report), "\n".join(lines))
    return replace(step, seconds=time.perf_counter() - start)


def _empty_base(folder: Path, stack: str) -> Path:
    """The plan of a stack that does not exist yet: the old side of a new datacenter."""
    folder.mkdir(parents=True, exist_ok=True)
    target = plan_path(stack, folder)
    target.write_text(dumps(empty_plan(stack)), encoding="utf-8")
    return target


def _worst(codes: Sequence[int]) -> ExitCode:
    for code in (ExitCode.INTERNAL, ExitCode.INPUT, ExitCode.BLOCKING):
        if code in codes:
            return code
    return ExitCode.OK


def run(options: Options) -> ExitCode:
    options.out.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    python: Path | None = None
    problem: str | None = None
    if not (options.base_dir / "Pulumi.yaml").exists():
        problem = f"{options.base_dir} is not a checkout of the project (no Pulumi.yaml)"
    else:
        try:
            # This interpreter runs this checkout's code: its requirements are the ones to compare
            # (a --project folder holds no code and no requirements).
            python = base_python(PROJECT_DIR, options.base_dir, log)
        except PreviewInputError as error:
            problem = str(error)
    digest = None
    if python is not None and options.base_cache is not None:
        digest = base_cache.checkout_digest(options.base_dir, python)
        log.append(f"base checkout digest {digest}: base plans kept under {options.base_cache}")
    with tempfile.TemporaryDirectory(prefix="pr-check-") as scratch:
        if (options.base_dir / "policies" / "PulumiPolicy.yaml").is_file():
            judged = judged_project(options.pr_dir, options.base_dir, Path(scratch) / "project")
            options = replace(options, judged=judged)
            changed = changed_pack_files(options.pr_dir, options.base_dir)
            if changed:
                (options.out / comment.POLICY_CHANGE).write_text("\n".join(changed) + "\n", encoding="utf-8")
        codes = _check_every_stack(options, python, problem, digest)
    (options.out / "pr-check.txt").write_text("\n".join(log) + "\n", encoding="utf-8")
    body = comment.build(options.out, options.commit)
    (options.out / "comment.md").write_text(body, encoding="utf-8")
    worst = _worst(codes)
    print(f"comment written to {options.out / 'comment.md'}; exit {int(worst)} ({worst.name.lower()})")
    return worst


def _check_every_stack(
    options: Options, python: Path | None, problem: str | None, digest: str | None
) -> list[int]:
    codes: list[int] = []
    # Every stack's plan first: the policy step of each stack reads its peers' plans (the
    # cross-datacenter rules) and would otherwise render every peer again, N x (N - 1) renders.
    # Stacks are independent (each step a process of its own, its files under OUT/<stack>/): one
    # stack per worker, as many workers as cores; the comment reads the folders in stack order.
    with ThreadPoolExecutor(max_workers=max(1, min(options.jobs, len(options.stacks)))) as pool:
        planned = dict(
            zip(options.stacks, pool.map(lambda s: plan_stack(options, s), options.stacks), strict=True)
        )
        ready = [stack for stack, step in planned.items() if step.code == ExitCode.OK]

        def check(stack: str) -> list[Step]:
            steps = [planned[stack]]
            if steps[0].code == ExitCode.OK:  # nothing else can be judged without this branch's plan
                peers = [peer for peer in ready if peer != stack]
                steps += check_stack(options, stack, python, problem, peers, digest)
            shown = ", ".join(f"{s.name} {s.code}" for s in steps)
            print(f"{stack}: {shown} ({sum(s.seconds for s in steps):.1f} s)", flush=True)
            return steps

        for steps in pool.map(check, options.stacks):
            codes += [s.code for s in steps]
    return codes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_cloud pr-check",
        description="The pull-request check of every stack (plan, policy, placement, base plan, preview) "
        "and the one comment, as .github/workflows/pr-preview.yml runs it.",
    )
    parser.add_argument("--base-dir", type=Path, required=True, help="a checkout of the base commit")
    parser.add_argument("--out", type=Path, required=True, help="folder for every output and comment.md")
    add_stack_option(parser)
    add_project_option(parser)
    parser.add_argument("--state", metavar="URL", help="diff against the last checkpoint of this S3 backend")
    parser.add_argument(
        "--pulumi", action="store_true", help="run a real `pulumi preview` (credentials configured)"
    )
    parser.add_argument("--commit", default="HEAD", help="the pull request's head commit, for the comment")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="check N stacks at a time (default: one per core; 1: one after another)",
    )
    parser.add_argument(
        "--base-cache",
        type=Path,
        metavar="DIR",
        help="keep base plans here by content (the base checkout's files and the interpreter) and "
        "reuse them while those are unchanged (default: render every base plan)",
    )
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs takes a number of stacks at a time, 1 or more, not {args.jobs}")
    if args.state and args.pulumi:
        print("error: --state and --pulumi are two sources of the old side; give one", file=sys.stderr)
        return ExitCode.INPUT
    try:
        stacks = tuple(select_stacks(args.stack, args.project))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    options = Options(
        pr_dir=args.project,
        base_dir=args.base_dir.resolve(),
        out=args.out.resolve(),
        stacks=stacks,
        state=args.state,
        pulumi=args.pulumi,
        commit=args.commit,
        jobs=args.jobs or usable_cores(),
        base_cache=args.base_cache.resolve() if args.base_cache else None,
    )
    try:
        return run(options)
    except Exception as bug:  # a bug: the exit status says so; no traceback for the reader
        if os.environ.get("WEBEX_DEBUG") == "1":
            raise
        print(f"internal error: {type(bug).__name__}: {bug} (WEBEX_DEBUG=1 shows where)", file=sys.stderr)
        return ExitCode.INTERNAL
