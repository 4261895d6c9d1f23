"""The front door, tried as a new user would: the README's command list is the dispatcher's, one
``--stack`` convention kept by every command's --help, typed paths taken from where the user stands,
and a command run before the bootstrap names the bootstrap instead of reporting a bug."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from webex_cloud import cli, cli_common
from webex_cloud.commands import policy as policy_cli
from webex_cloud.exit_codes import ExitCode

README = (REPO / "README.md").read_text(encoding="utf-8")


def _sentence(starts: str) -> str:
    """The README's words from ``starts`` to the next semicolon, on one line."""
    text = " ".join(README.split())
    begin = text.index(starts)
    return text[begin : text.index(";", begin)]


def test_the_readme_lists_every_command_of_the_dispatcher() -> None:
    listed = re.findall(r"`([a-z-]+)`", _sentence("Every command (`python -m webex_cloud --help` lists them"))
    assert listed == list(cli.COMMANDS)


def test_the_readme_names_the_commands_without_stack() -> None:
    named = re.findall(r"`([a-z-]+)`", _sentence("Every command but"))
    assert tuple(named[: len(cli.WHOLE_CHECKOUT)]) == cli.WHOLE_CHECKOUT
    assert "`--stack STACK`" in _sentence("Every command but")


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_commands_help_keeps_the_stack_convention(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith(f"usage: python -m webex_cloud {command}")
    takes_stack = "--stack STACK" in shown
    assert takes_stack == (command not in cli.WHOLE_CHECKOUT), shown
    if takes_stack:
        assert "repeatable; default: every stack under stacks/" in shown


@pytest.mark.parametrize("command", cli.WHOLE_CHECKOUT)
def test_a_command_without_stack_refuses_it_with_exit_2(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--stack", "dc1"])
    assert done.value.code == ExitCode.INPUT
    assert "error:" in capsys.readouterr().err


def test_a_typed_path_is_taken_from_the_users_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_checkout = REPO / "build/policy/dc1.json"
    before = in_checkout.stat().st_mtime_ns if in_checkout.exists() else None
    monkeypatch.chdir(tmp_path)
    code = policy_cli.main(["--stack", "dc1", "--write-config", "build/policy/dc1.json"])
    assert code == ExitCode.OK, capsys.readouterr().err
    assert (tmp_path / "build/policy/dc1.json").is_file()
    assert (in_checkout.stat().st_mtime_ns if in_checkout.exists() else None) == before


def test_a_missing_dependency_names_the_bootstrap_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    def before_bootstrap(argv: list[str]) -> int:
        raise ModuleNotFoundError("No module named 'pydantic'", name="pydantic")

    assert cli_common.run("plan", before_bootstrap, []) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "needs 'pydantic'" in err and "run `bash scripts/bootstrap.sh`" in err and "a bug" not in err


def test_a_missing_module_of_our_own_is_still_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(argv: list[str]) -> int:
        raise ModuleNotFoundError("No module named 'webex_cloud.gone'", name="webex_cloud.gone")

    assert cli_common.run("plan", broken, []) == ExitCode.INTERNAL
    assert "(a bug, not your input)" in capsys.readouterr().err


def test_a_command_run_without_the_installed_packages_says_run_the_bootstrap(tmp_path: Path) -> None:
    """`python -S` loads no site-packages: the interpreter a new user has before the bootstrap."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [sys.executable, "-S", "-m", "webex_cloud", "plan", "--stack", "dc1"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert "run `bash scripts/bootstrap.sh`" in done.stderr and "Traceback" not in done.stderr


def test_the_old_release_command_is_refused_with_its_new_name(tmp_path: Path) -> None:
    """`release` alone means a service's release in waves; the controllers' is `filter-release`. A
    script that still types the old name stops with exit 2 and the new name, whatever it asked."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for args in (["release"], ["release", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "webex_cloud", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == ExitCode.INPUT and done.stdout == ""
        assert "the command 'release' is now 'filter-release'" in done.stderr
        assert f"python -m webex_cloud filter-release {' '.join(args[1:])}".strip() in done.stderr
    assert "release" not in cli.COMMANDS and "filter-release" in cli.COMMANDS
