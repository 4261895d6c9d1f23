"""`python -m webex_cloud pr-check`: the whole pull-request check, every stack, one comment.

The workflow (.github/workflows/pr-preview.yml) checks out the pull request into ``pr/`` (with its
``.venv``) and the base commit into ``base/`` (a plain checkout), then runs this command from ``pr/``.
Per stack it runs these steps, whose output and exit status land in ``OUT/<stack>/``:

1. ``plan``: this branch's offline plan (``plan --stack S --out DIR --no-policy``);
2. ``policy``: the policy pack over it, writing the ``--policy-pack-config`` a real preview needs
   (every stack is planned before any is policed: the other stacks' plans are its peers);
3. ``place``: the placement proof over the same plan;
4. ``base-plan``: the base commit's plan, rendered by the base's *own* code with the command line
   ``plan --stack S --out DIR --no-policy`` (a contract: every commit from now on keeps it). A base
   without the stack file is a new datacenter (an empty base: everything is a create); a base that
   fails to render for any other reason is "base unusable", never an empty base;
5. ``preview``: the risk-ranked report (base plan → plan, or the last checkpoint with ``--state``, or
   a real ``pulumi preview`` with ``--pulumi``), plus the subnet pins this stack needs.

Then ``OUT/comment.md`` is the one pull-request comment (webex_cloud.commands.comment). The exit status
is the worst of all steps (webex_cloud.exit_codes): 3 before 2 before 1 before 0.

Steps 1-3 are this checkout's own commands, called through their Python entry points
(:func:`run_command`) in worker processes that live for the whole check, so the SDK, the policy
harness and Nova and Cinder are imported once per worker, not once per step; each step still gets
what its own process gave it: its stdout and stderr in ``<step>.txt``, its exit status in
``<step>.rc``, a crash of its worker recorded as exit 3. Step 4 is the base commit's code, so it stays
a process of the base's interpreter; step 5 runs in this process.

Stacks are checked one per core at a time (``--jobs``: as many workers, and as many stacks in
flight); each step prints one progress line as it ends (stack, step, exit status, seconds) and each
stack a summary line. ``--project DIR`` checks that
project (its stacks, catalog and policy pack) with this checkout's code, as every command's
``--project`` does; the base commit is always rendered by its own code.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from webex_cloud import atomic, cli_common
from webex_cloud.cli_common import (
    CommandError,
    add_project_option,
    add_stack_option,
    select_stacks,
    usable_cores,
)
from webex_cloud.commands import comment, place, plan, policy
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PROJECT, PROJECT_DIR, plan_path, stack_file
from webex_cloud.plan.format import dumps, empty_plan
from webex_cloud.preview import base_cache
from webex_cloud.preview.changed_stacks import changed_stacks
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


def _status_of(exit: SystemExit) -> int:
    """The exit status a process ending with ``exit`` has (argparse's errors and ``--help`` end so)."""
    if exit.code is None or isinstance(exit.code, int):
        return exit.code or 0
    print(exit.code, file=sys.stderr)
    return 1


def run_command(main: Callable[[list[str]], int], argv: list[str], out: Path, name: str) -> Step:
    """Run one of this checkout's commands by its entry point (``plan.main`` ...) as its own process
    ran it: stdout and stderr into ``<name>.txt`` (Python's streams, and the descriptors, which the
    processes it starts inherit: the policy pack's), the status into ``<name>.rc``. Only in a worker
    of :func:`_workers`, which runs one step at a time: the descriptors are the whole process's."""
    start = time.perf_counter()
    streams = sys.stdout, sys.stderr
    for stream in streams:
        stream.flush()
    saved = os.dup(1), os.dup(2)
    # One open file shared by every writer, so that none overwrites another's lines.
    with (out / f"{name}.txt").open("wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        text = os.fdopen(os.dup(log.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stdout = sys.stderr = text
        try:
            code = main(argv)
        except SystemExit as exit:
            code = _status_of(exit)
        finally:
            text.close()
            sys.stdout, sys.stderr = streams
            for descriptor, original in zip((1, 2), saved, strict=True):
                os.dup2(original, descriptor)
                os.close(original)
    # An unexpected status is no verdict, as a process's would be.
    code = code if code in tuple(ExitCode) else ExitCode.INTERNAL
    (out / f"{name}.rc").write_text(f"{code}\n")
    return Step(name, code, time.perf_counter() - start)


def _workers(jobs: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked worker would inherit this process's threads and their locks.
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def _command(
    workers: Executor, main: Callable[[list[str]], int], argv: list[str], out: Path, name: str
) -> Step:
    """One step by :func:`run_command` in a worker; a worker that died is exit 3 for the step."""
    try:
        return workers.submit(run_command, main, argv, out, name).result()
    except BrokenProcessPool as error:
        return _record(out, name, ExitCode.INTERNAL, f"the worker process running {name} died: {error}")


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
    changed_only: bool = False
    """Check only the stacks whose inputs differ from the base's (webex_cloud.preview.changed_stacks)."""


def _branch_plan(options: Options, stack: str) -> Path:
    return plan_path(stack, options.out / stack / "plan-files")


def plan_stack(options: Options, stack: str, workers: Executor) -> Step:
    """Step 1: this branch's plan of ``stack``, into ``OUT/<stack>/plan-files``."""
    out = options.out / stack
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # This branch's commands run from its code (this checkout) on the project it was given.
    args = ["--project", str(options.pr_dir), "--stack", stack, "--no-policy"]
    args += ["--out", str(_branch_plan(options, stack).parent)]
    return _progress(stack, _command(workers, plan.main, args, out, "plan"))


# --- changed stacks only (issue 29) ---
UNCHANGED_NOTE = (
    "unchanged: the same stack file, catalog files and code as the base commit, so the same plan; "
    "not checked again"
)


def peer_plan(options: Options, stack: str, workers: Executor, digest: str | None, needed: bool) -> bool:
    """An unchanged stack: its folder says so (``comment.UNCHANGED``), and its plan, the base's, is
    taken from the base cache or rendered when a checked stack's policy step needs it as a peer.
    True when the plan is there."""
    started = time.perf_counter()
    out = options.out / stack
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / comment.UNCHANGED).write_text(UNCHANGED_NOTE + "\n", encoding="utf-8")
    target = _branch_plan(options, stack)
    if (kept := _cached_base(options, stack, digest)) is not None:
        atomic.write_bytes(target, kept.read_bytes())
        how = f"plan reused from {kept}"
    elif needed:
        args = ["--project", str(options.pr_dir), "--stack", stack, "--no-policy"]
        step = _command(workers, plan.main, [*args, "--out", str(target.parent)], out, "peer-plan")
        how = f"plan rendered as a peer, exit {step.code}"
    else:
        how = "no plan needed"
    print(f"{stack}: unchanged, not checked again; {how} ({time.perf_counter() - started:.1f} s)", flush=True)
    return target.is_file()


# --- end of changed stacks only ---


def check_stack(
    options: Options,
    stack: str,
    python: Path | None,
    base_problem: str | None,
    workers: Executor,
    peers: Sequence[str] = (),
    base_digest: str | None = None,
    base_batch: Future[dict[str, Path]] | None = None,
) -> list[Step]:
    """Steps 2-5 of a stack whose plan (step 1) succeeded; ``peers``: the other stacks whose plans
    this check made, handed to the policy step so that it does not render them again;
    ``base_batch``: the base plans rendered together (:func:`base_plans`), a stack missing there is
    rendered alone."""
    out = options.out / stack
    project = ["--project", str(options.pr_dir)]
    base_dir = out / "base-files"
    plan_file = _branch_plan(options, stack)
    steps: list[Step] = []
    config = out / "policy-config.json"
    policed = [*project, "--stack", stack, "--plan", str(plan_file), "--write-config", str(config)]
    for peer in peers:
        policed += ["--peer-plan", f"{peer}={_branch_plan(options, peer)}"]
    steps.append(_progress(stack, _command(workers, policy.main, policed, out, "policy")))
    svg = str(out / comment.PLACEMENT_PICTURE)
    placed = [*project, "--stack", stack, "--plan", str(plan_file), "--svg", svg]
    steps.append(_progress(stack, _command(workers, place.main, placed, out, "place")))
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
    elif base_batch is not None and (batched := base_batch.result().get(stack)) is not None:
        base_file = plan_path(stack, base_dir)
        atomic.write_bytes(base_file, batched.read_bytes())
        if options.base_cache is not None and base_digest is not None:
            base_cache.store(options.base_cache, base_digest, stack, base_file)
        note = (
            f"base plan rendered by the base's code with the other stacks' in one `plan` ({BASE_PLANS_LOG})"
        )
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


# --- base plans in one process (issue 29) ---
BASE_PLANS_LOG = "base-plans.txt"
"""In OUT: the output of the one base `plan` of every stack (:func:`base_plans`)."""


def base_plans(options: Options, stacks: Sequence[str], python: Path, folder: Path) -> dict[str, Path]:
    """The base plans of ``stacks`` rendered by one process of the base's code, the contract's command
    line with every ``--stack`` (repeatable since the contract's first commit): one interpreter start
    and SDK import for all of them instead of one per stack (the largest cost of a cold check after
    the steps moved into workers). Stack -> plan file; empty when that `plan` failed, since it then
    writes nothing: each stack is then rendered alone, as before, and reports its own error."""
    head, tail = BASE_PLAN_ARGS[:1], BASE_PLAN_ARGS[3:]  # "plan" | "--stack", "{stack}" | the rest
    args = [*head, *(part for stack in stacks for part in ("--stack", stack))]
    args += [part.format(out=folder) for part in tail]
    start = time.perf_counter()
    with (options.out / BASE_PLANS_LOG).open("wb") as log:
        code = subprocess.run(
            [str(python), "-m", "webex_cloud", *args],
            cwd=options.base_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=base_env(options.base_dir),
            check=False,
        ).returncode
    print(f"base base-plans: exit {code}, {time.perf_counter() - start:.1f} s", flush=True)
    if code != ExitCode.OK:
        return {}
    return {stack: plan_path(stack, folder) for stack in stacks if plan_path(stack, folder).is_file()}


# --- end of base plans in one process ---


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
                str(options.pr_dir / "policies"),
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
    # --- changed stacks only (issue 29): see webex_cloud/preview/changed_stacks.py ---
    checked, unchanged = list(options.stacks), []
    if options.changed_only and problem is None:
        changed = changed_stacks(PROJECT_DIR, options.pr_dir, options.base_dir, options.stacks)
        checked = [stack for stack in options.stacks if stack in changed]
        unchanged = [stack for stack in options.stacks if stack not in changed]
        log += [f"{stack}: checked: {why}" for stack, why in changed.items()]
        log += [f"{stack}: {UNCHANGED_NOTE}" for stack in unchanged]
    # --- end of changed stacks only ---
    codes: list[int] = []
    # Every stack's plan first: the policy step of each stack reads its peers' plans (the
    # cross-datacenter rules) and would otherwise render every peer again, N x (N - 1) renders.
    # Stacks are independent (their files under OUT/<stack>/): one thread per stack in flight hands
    # its steps to the worker processes, as many of each as cores; the comment reads the folders in
    # stack order.
    jobs = max(1, min(options.jobs, len(options.stacks)))
    # The base plans no cache holds are rendered together while this branch is planned and checked.
    rendered = [
        stack
        for stack in checked
        if python is not None
        and problem is None
        and (options.base_dir / stack_file(stack)).exists()
        and _cached_base(options, stack, digest) is None
    ]
    with (
        tempfile.TemporaryDirectory(prefix="pr-check-base-") as base_folder,
        ThreadPoolExecutor(max_workers=1) as base_thread,
        _workers(jobs) as workers,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        batch = (
            base_thread.submit(base_plans, options, rendered, python, Path(base_folder))
            if python is not None and len(rendered) > 1
            else None
        )
        planned = dict(
            zip(checked, pool.map(lambda s: plan_stack(options, s, workers), checked), strict=True)
        )
        # An unchanged stack's plan is needed only as a peer of the stacks checked.
        as_peers = dict(
            zip(
                unchanged,
                pool.map(lambda s: peer_plan(options, s, workers, digest, bool(checked)), unchanged),
                strict=True,
            )
        )
        ready = [stack for stack, step in planned.items() if step.code == ExitCode.OK]
        ready = sorted([*ready, *(stack for stack, kept in as_peers.items() if kept)])

        def check(stack: str) -> list[Step]:
            steps = [planned[stack]]
            if steps[0].code == ExitCode.OK:  # nothing else can be judged without this branch's plan
                peers = [peer for peer in ready if peer != stack]
                steps += check_stack(options, stack, python, problem, workers, peers, digest, batch)
            shown = ", ".join(f"{s.name} {s.code}" for s in steps)
            print(f"{stack}: {shown} ({sum(s.seconds for s in steps):.1f} s)", flush=True)
            return steps

        for steps in pool.map(check, checked):
            codes += [s.code for s in steps]
    (options.out / "pr-check.txt").write_text("\n".join(log) + "\n", encoding="utf-8")
    body = comment.build(options.out, options.commit)
    (options.out / "comment.md").write_text(body, encoding="utf-8")
    worst = _worst(codes)
    print(f"comment written to {options.out / 'comment.md'}; exit {int(worst)} ({worst.name.lower()})")
    return worst


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_common.run("pr-check", _main, argv)


def _main(argv: list[str]) -> int:
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
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="check only the stacks whose inputs (stack file, the catalog files of their services, the "
        "code) differ from the base commit's; the others are shown as unchanged",
    )
    args = parser.parse_args(argv)
    if args.changed_only and (args.state or args.pulumi):
        parser.error(
            "--changed-only compares with the base commit; --state and --pulumi diff against the cloud"
        )
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
        changed_only=args.changed_only,
    )
    return run(options)
