"""The command line as a user meets it: the same from any folder, one --stack convention, --version,
every command in --help, JSON where a machine reads it, the shared exit codes, atomic output files."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.placement.test_placement_proof import PlanBuilder
from webex_cloud import atomic, cli, cli_common, paths
from webex_cloud.commands import place as place_cli
from webex_cloud.commands import plan as plan_cli
from webex_cloud.commands import policy as policy_cli
from webex_cloud.commands import preview as preview_cli
from webex_cloud.exit_codes import ExitCode

STACK_COMMANDS = ["plan", "place", "policy", "preview", "audit", "drift", "images", "monitoring"]


def run_module(
    *args: str, cwd: Path, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "webex_cloud", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=preexec_fn,
    )


def test_version_and_help_work_from_any_folder(tmp_path: Path) -> None:
    version = run_module("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"webex-cloud {cli_common.version()}"
    shown = run_module("--help", cwd=tmp_path)
    assert shown.returncode == 0
    listed = {line.split()[0] for line in shown.stdout.splitlines() if line.startswith("  ")}
    assert listed == set(cli.COMMANDS) >= {*STACK_COMMANDS, "comment", "filter-release"}


@pytest.mark.parametrize("command", STACK_COMMANDS)
def test_every_stack_command_takes_the_same_stack_option(command: str, tmp_path: Path) -> None:
    shown = run_module(command, "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "--stack STACK" in shown.stdout and "repeatable; default: every stack under stacks/" in " ".join(
        shown.stdout.split()
    )


@pytest.mark.parametrize("command", STACK_COMMANDS)
def test_an_unknown_stack_exits_2_in_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "--stack", "dc9"]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert ("unknown stack 'dc9'" in err or "give --preview FILE" in err) and "Traceback" not in err


def test_a_per_stack_file_option_needs_exactly_one_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert place_cli.main(["--plan", "x.json"]) == ExitCode.INPUT
    assert "--plan names one stack's file: give exactly one --stack (of dc1, dc2)" in capsys.readouterr().err


def test_plan_out_naming_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert plan_cli.main(["--stack", "dc1", "--out", str(target)]) == ExitCode.INPUT
    assert "is a file; name a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_policy_write_config_naming_a_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy_cli.main(["--stack", "dc1", "--write-config", str(tmp_path)]) == ExitCode.INPUT
    assert "is a folder; name the JSON file to write" in capsys.readouterr().err


def test_place_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = PlanBuilder(hosts=3)
    plan.service("chat", pods=2)
    path = plan.write(tmp_path)
    code = place_cli.main(["--stack", "dc1", "--plan", str(path), "--engine", "rules", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK and document["passed"] is True
    [stack] = document["stacks"]
    [service] = stack["services"]
    assert service["name"] == "chat" and service["placed"] is True and stack["blocking"] == []
    assert len({host for hosts in service["pods"].values() for host in hosts}) == 2


def test_policy_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = policy_cli.main(["--stack", "dc1", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK and document["passed"] is True
    [stack] = document["stacks"]
    assert stack["stack"] == "dc1" and "controller-ssh-host-keys" in stack["levels"]
    assert all(v["level"] == "advisory" and v["policy"] and v["message"] for v in stack["violations"])


def _stale_setup(project: ProjectCopy, monkeypatch: pytest.MonkeyPatch) -> Path:
    plan = project.root / "build/plan/dc1.json"
    plan.parent.mkdir(parents=True)
    plan.write_text("{}")
    os.utime(plan, (1_000_000, 1_000_000))  # older than every input file
    monkeypatch.setattr(paths, "PROJECT_DIR", project.root)
    monkeypatch.setattr(paths, "plan_path", lambda stack, plan_dir=plan.parent: plan_dir / f"{stack}.json")
    return plan


def test_preview_refuses_a_default_plan_older_than_the_input(
    project: ProjectCopy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _stale_setup(project, monkeypatch)
    code = preview_cli.main(["--stack", "dc1", "--base", str(plan)])
    err = capsys.readouterr().err
    assert code == ExitCode.INPUT
    assert "is older than catalog/" in err and "run `python -m webex_cloud plan` first" in err


def test_stale_plan_is_none_for_a_plan_newer_than_every_input(project: ProjectCopy) -> None:
    plan = project.root / "build/plan/dc1.json"
    plan.parent.mkdir(parents=True)
    plan.write_text("{}")
    for source in [*project.root.glob("catalog/**/*.yaml"), *project.root.glob("stacks/*.yaml")]:
        os.utime(source, (1_000_000, 1_000_000))
    assert cli_common.stale_plan(plan, project.root) is None
    os.utime(project.root / "catalog/images/images.yaml")  # the image catalog is an input of the plan too
    assert "older than catalog/images/images.yaml" in (cli_common.stale_plan(plan, project.root) or "")
    os.utime(project.root / "catalog/images/images.yaml", (1_000_000, 1_000_000))
    os.utime(project.root / "stacks/Pulumi.dc2.yaml")  # an edit after the plan
    assert "older than stacks/Pulumi.dc2.yaml" in (cli_common.stale_plan(plan, project.root) or "")


def test_a_bug_exits_3_with_one_line_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.delenv(cli_common.DEBUG_VARIABLE, raising=False)
    assert cli_common.run("plan", broken, []) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "internal error in `python -m webex_cloud plan` (a bug, not your input): RuntimeError: boom" in err
    assert "Traceback" not in err


_FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from webex_cloud import atomic
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        atomic.write_text(Path(sys.argv[1]), "x" * 100_000)
    except atomic.OutputError as error:
        print(error)
        sys.exit(2)
    """
)


def test_a_full_disk_leaves_the_previous_file_and_nothing_partial(tmp_path: Path) -> None:
    target = tmp_path / "dc1.json"
    target.write_text("previous plan")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(target)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot write {target}: File too large" in done.stdout
    assert target.read_text() == "previous plan"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dc1.json"]


def test_the_plan_command_on_a_full_disk_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # a plan is about 1 MB

    done = run_module(
        "plan", "--stack", "dc1", "--no-policy", "--out", str(tmp_path), cwd=tmp_path, preexec_fn=limit
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert "File too large" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_creates_the_folder_and_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "report.md"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two" and sorted(p.name for p in target.parent.iterdir()) == ["report.md"]
    with pytest.raises(atomic.OutputError, match="is a folder"):
        atomic.write_text(tmp_path, "x")
