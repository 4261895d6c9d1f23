"""pr-check's pooled steps (issue 29): the policy steps of many stacks served by workers that keep their
policy pack running leave exactly what one process per step left, byte for byte.

The single-stack path is the command a step used to be: ``python -m webex_cloud policy ...`` as a
process of its own, main's pack first on its ``PYTHONPATH`` for ``main-policy``. The pooled path is
what pr-check runs now: ``policy`` in this branch's workers, ``main-policy`` in the judged workers
(webex_cloud.commands.judged_worker), each worker serving stack after stack with one pack process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from tests.conftest import REPO
from webex_cloud.commands import plan, policy
from webex_cloud.commands.pr_check import (
    _judged_workers,
    _workers,
    judged_project,
    run_command,
)
from webex_cloud.config.loader import known_stacks
from webex_cloud.exit_codes import ExitCode

STACKS = known_stacks(REPO)
#: What a policy step leaves: its output, its status and (main's pack) the config a real preview uses.
OUTPUTS = ("policy.txt", "policy.rc", "main-policy.txt", "main-policy.rc", "policy-config.json")


def _plans(folder: Path) -> dict[str, Path]:
    stacks = [arg for stack in STACKS for arg in ("--stack", stack)]
    assert plan.main([*stacks, "--no-policy", "--out", str(folder)]) == 0
    return {stack: folder / f"{stack}.json" for stack in STACKS}


def _args(stack: str, plans: dict[str, Path], project: Path) -> list[str]:
    peers = [arg for peer in STACKS if peer != stack for arg in ("--peer-plan", f"{peer}={plans[peer]}")]
    return ["--project", str(project), "--stack", stack, "--plan", str(plans[stack]), *peers]


def _single(stack: str, plans: dict[str, Path], judged: Path, out: Path) -> None:
    """Both policy steps of ``stack`` as the processes they were before the workers."""
    out.mkdir(parents=True)
    steps = [
        ("policy", _args(stack, plans, REPO), os.environ.get("PYTHONPATH")),
        (
            "main-policy",
            [*_args(stack, plans, judged), "--write-config", str(out / "policy-config.json")],
            os.pathsep.join([str(judged / "policies"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        ),
    ]
    for name, args, path in steps:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env |= {"PYTHONPATH": path} if path else {}
        with (out / f"{name}.txt").open("wb") as log:
            done = subprocess.run(
                [sys.executable, "-m", "webex_cloud", "policy", *args],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
                timeout=600,
            )
        (out / f"{name}.rc").write_text(f"{done.returncode}\n")


def _pooled(
    stack: str, plans: dict[str, Path], judged: Path, out: Path, workers: Executor, judging: Executor
) -> None:
    out.mkdir(parents=True)
    mine = workers.submit(run_command, policy.main, _args(stack, plans, REPO), out, "policy")
    main_args = [*_args(stack, plans, judged), "--write-config", str(out / "policy-config.json")]
    mains = judging.submit(run_command, policy.main, main_args, out, "main-policy")
    assert mine.result().code == ExitCode.OK and mains.result().code == ExitCode.OK


@pytest.mark.timeout(900)
def test_pooled_policy_steps_leave_what_one_process_per_step_left(tmp_path: Path) -> None:
    """Every example stack twice over, one worker each: each worker's pack serves a stack after
    another stack (and the first stack again), and every file matches the single-stack run's."""
    plans = _plans(tmp_path / "plans")
    judged = judged_project(REPO, REPO, tmp_path / "judged")
    for stack in STACKS:
        _single(stack, plans, judged, tmp_path / "single" / stack)
    with _workers(1) as workers, _judged_workers(judged) as judging:
        assert judging is not None
        for round_ in ("first", "again"):
            for stack in STACKS:
                _pooled(stack, plans, judged, tmp_path / round_ / stack, workers, judging)
    for round_ in ("first", "again"):
        for stack in STACKS:
            for name in OUTPUTS:
                single = _read(tmp_path / "single" / stack, name)
                pooled = _read(tmp_path / round_ / stack, name)
                assert pooled == single, f"{round_} {stack} {name}:\n{pooled}\n---\n{single}"
    assert "passed" in _read(tmp_path / "single" / STACKS[0], "policy.txt")


def _read(folder: Path, name: str) -> str:
    """A step's file, the folder it was written to (named in its output) written the same way."""
    return (folder / name).read_bytes().decode().replace(str(folder), "<stack folder>")


def _policies_origin() -> str:
    import webex_policies

    return str(webex_policies.__file__)


def _judged_policies(tmp_path: Path) -> Path:
    """A base's pack folder whose ``webex_policies`` can be told apart from this checkout's."""
    folder = tmp_path / "judged" / "policies"
    shutil.copytree(
        REPO / "policies", folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
    )
    return folder.parent


def _in_judged_worker(judged: Path, task: Callable[[], str]) -> str:
    with _judged_workers(judged) as judging:
        assert judging is not None
        return judging.submit(task).result()


def test_the_judged_workers_derive_facts_with_mains_rules(tmp_path: Path) -> None:
    """The harness in a judged worker imports the base's ``webex_policies``, not this branch's, as the
    process with the base's pack first on ``PYTHONPATH`` did."""
    judged = _judged_policies(tmp_path)
    origin = _in_judged_worker(judged, _policies_origin)
    assert Path(origin).resolve().is_relative_to((judged / "policies").resolve())


def test_a_judged_worker_without_mains_rules_refuses_every_step(tmp_path: Path) -> None:
    """A base pack folder without ``webex_policies`` would leave this branch's rules in place: the
    worker refuses to start, so main-policy gives no verdict (exit 3) instead of the branch's."""
    judged = tmp_path / "judged"
    (judged / "policies").mkdir(parents=True)
    with pytest.raises(BrokenProcessPool):
        _in_judged_worker(judged, _policies_origin)
