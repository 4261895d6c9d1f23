"""The one forced-command line (webex_cloud/forced_command.py), as OpenSSH 9.2 reads it (sshd(8)
AUTHORIZED_KEYS FILE FORMAT): a key smuggling options or a second line is refused, a command holding a
quote reaches the real sshd word for word."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.test_root_commands import problems
from tests.conftest import ProjectCopy
from tests.controller.test_reader_sshd import Controller, _keygen, controller
from webex_cloud.config.loader import DATACENTER_KEY
from webex_cloud.controller.remote import rolling_deploy
from webex_cloud.drift.controllers import ssh_argv
from webex_cloud.forced_command import forced_command_line

__all__ = ["controller"]

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3gBmlaVO1M4mPnXvH2cQ9ksWlC6t8xLr0dZfUu1Rk3 webex-facts-dc1"


@pytest.mark.parametrize(
    "key, why",
    [
        (f'command="/bin/sh" {KEY}', "has the key type"),  # options of the key's owner, before the type
        (f"no-pty {KEY}", "has the key type"),
        (f"{KEY}\n{KEY}", "spans several lines"),  # a second entry, free of restrict
        (f'{KEY}\ncommand="/bin/sh" {KEY}', "spans several lines"),
        (f"{KEY}\r", "spans several lines"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3gBmla", "truncated or malformed"),
    ],
)
def test_a_key_carrying_options_or_a_second_line_is_refused(key: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        forced_command_line(["/usr/local/bin/receive"], key)


def test_a_facts_key_that_is_no_sound_key_is_refused_naming_field_and_secret(project: ProjectCopy) -> None:
    """The stack file's facts key is checked as the reader key is: before, a truncated key passed the
    pattern and went into the nodes' user data, a login that never works."""
    truncated = KEY.split()[0] + " " + KEY.split()[1][:40]
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"]["instances"].update(facts_key=truncated))
    field = f"config.{DATACENTER_KEY}.monitoring.instances.facts_key"
    (problem,) = [p for p in problems(project) if p.field == field]
    assert "truncated or malformed ssh-ed25519 key" in problem.message
    assert "FACTS_PUSH_KEY" in problem.message and "ssh-keygen -y -f" in problem.message


def test_a_command_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        forced_command_line(["/usr/local/bin/receive", "a\nb"], KEY)


def test_the_line_is_restrict_then_the_command_then_the_key_unchanged() -> None:
    line = forced_command_line(["/usr/local/bin/receive", "/var/lib/x"], KEY)
    assert line == f'restrict,command="/usr/local/bin/receive /var/lib/x" {KEY}'


def test_the_controllers_install_takes_the_line_this_module_writes() -> None:
    """The install runs on the controller without this package, so it checks the line's start with its
    own copy of it (rolling_deploy.FORCED_PREFIX): a change of the options here must move that too."""
    line = forced_command_line(["/usr/bin/python3", "/opt/read.py"], KEY)
    assert line.startswith(rolling_deploy.FORCED_PREFIX) and "\n" not in line


def test_a_command_with_quotes_and_backslashes_reaches_sshd_word_for_word(
    controller: Controller, tmp_path: Path
) -> None:
    """The real sshd runs the line's command: the words it gets are the words given, a double quote
    (escaped as sshd(8) says), a single quote, a backslash and a space included."""
    key = _keygen(tmp_path / "forced", "forced")
    words = ['a"b', "it's", "back\\slash\\", 'end"', "two words", "$HOME;id"]
    echo = tmp_path / "echo.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    keys = controller.root / "authorized_keys"
    before = keys.read_text()
    keys.write_text(before + forced_command_line([sys.executable, str(echo), *words], key) + "\n")
    try:
        argv = ssh_argv(controller.plane, "127.0.0.1", controller.root / "known_hosts", "anything")
        argv = [argv[0], "-i", str(tmp_path / "forced"), "-o", "IdentitiesOnly=yes", *argv[1:]]
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    finally:
        keys.write_text(before)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == words
