"""An operator's clouds.yaml that is incomplete or invalid: exit 2 with the file, the entry, the field and
the fix, before anything is sent (webex_cloud/cloud/clouds_yaml.py), for every command that reads the
live cloud, since all of them connect through webex_cloud/cloud/session.py.

Each entry's ``auth_url`` is 127.0.0.1 on a port nothing listens on, and every connection the command's
process opens is recorded: none may be opened at all.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO
from webex_cloud import cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


URL = f"http://127.0.0.1:{_closed_port()}/v3"
READER = f"""\
clouds:
  dc1-reader:
    region_name: RegionOne
    auth:
      auth_url: {URL}
      username: reader
      password: fake-password
      project_name: webex
      user_domain_name: Default
      project_domain_name: Default
"""


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "dc1.json"
    path.write_text(dumps(render_plan("dc1", project_dir=REPO)))
    return path


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address the command's process tries to connect to."""
    opened: list[object] = []
    connect = socket.socket.connect

    def record(self: socket.socket, address: object) -> None:
        opened.append(address)
        connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", record)
    return opened


# (what is wrong, the clouds.yaml text, the cloud named, what the message must name)
CASES: list[tuple[str, str, str, list[str]]] = [
    ("no password", READER.replace("      password: fake-password\n", ""), "dc1-reader",
     ["'dc1-reader'", "auth.password", "clouds.dc1-reader.auth", "secure.yaml"]),
    ("an empty password", READER.replace("fake-password", '""'), "dc1-reader",
     ["'dc1-reader'", "auth.password", "clouds.dc1-reader.auth"]),
    ("no auth_url", READER.replace(f"      auth_url: {URL}\n", ""), "dc1-reader",
     ["'dc1-reader'", "auth.auth_url", "clouds.dc1-reader.auth"]),
    ("an unknown cloud", READER, "dc9-reader",
     ["'dc9-reader'", "entries: dc1-reader", "add it under `clouds:`", "--cloud NAME"]),
    ("invalid YAML", READER.replace("    auth:\n", "    auth: [\n"), "dc1-reader",
     ["not valid YAML (line 6", "fix the file"]),
    ("an entry that is no mapping", "clouds:\n  dc1-reader: 5\n", "dc1-reader",
     ["clouds.dc1-reader is int, not a mapping", "`auth:` section"]),
    ("an auth that is no mapping", "clouds:\n  dc1-reader:\n    auth: reader\n", "dc1-reader",
     ["clouds.dc1-reader.auth is str, not a mapping", "auth_url"]),
    ("no clouds section", "cloud:\n  dc1-reader: {}\n", "dc1-reader", ["no `clouds:` mapping", "clouds: {"]),
    ("an unknown auth_type",
     READER.replace("    auth:\n", "    auth_type: passwd\n    auth:\n"), "dc1-reader",
     ["clouds.dc1-reader.auth_type 'passwd'", "v3applicationcredential"]),
    ("an application credential without its secret",
     READER.replace("    auth:\n", "    auth_type: v3applicationcredential\n    auth:\n").replace(
         "      password: fake-password\n", "      application_credential_id: cred-1\n"),
     "dc1-reader", ["'dc1-reader'", "auth secret", "auth.application_credential_secret"]),
]  # fmt: skip


def _audit(plan_file: Path, clouds: Path, cloud: str) -> list[str]:
    return [
        "audit",
        "--stack",
        "dc1",
        "--plan",
        str(plan_file),
        "--cloud",
        cloud,
        "--clouds-yaml",
        str(clouds),
    ]


def _undrain(plan_file: Path, clouds: Path, cloud: str) -> list[str]:
    return ["maintain", "undrain", "--stack", "dc1", "--host", "compute-1", "--cloud", cloud,
            "--clouds-yaml", str(clouds)]  # fmt: skip


@pytest.mark.parametrize("command", [_audit, _undrain], ids=["audit (reader)", "maintain (operator)"])
@pytest.mark.parametrize(("wrong", "text", "cloud", "named"), CASES, ids=[case[0] for case in CASES])
def test_an_incomplete_clouds_yaml_is_bad_input_naming_file_entry_field_and_fix(
    command: Callable[[Path, Path, str], list[str]],
    wrong: str,
    text: str,
    cloud: str,
    named: list[str],
    plan_file: Path,
    tmp_path: Path,
    connections: list[object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(text)
    code = cli.main(command(plan_file, clouds, cloud))
    err = capsys.readouterr().err
    assert code == ExitCode.INPUT, err
    assert err.startswith(f"error: {clouds}"), err
    for part in named:
        assert part in err, (part, err)
    assert "internal error" not in err and "Traceback" not in err
    assert "fake-password" not in err
    assert connections == []


def test_a_clouds_yaml_that_cannot_be_read_is_bad_input(
    plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clouds.yaml"
    folder.mkdir()
    assert cli.main(_audit(plan_file, folder, "dc1-reader")) == ExitCode.INPUT
    assert f"error: {folder}: this clouds.yaml is a folder" in capsys.readouterr().err
    missing = tmp_path / "nowhere.yaml"
    assert cli.main(_audit(plan_file, missing, "dc1-reader")) == ExitCode.INPUT
    assert f"error: {missing}: no such clouds.yaml" in capsys.readouterr().err


def test_the_command_run_for_real_without_a_password_exits_2_naming_the_fix(
    plan_file: Path, tmp_path: Path
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(CASES[0][1])
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", *_audit(plan_file, clouds, "dc1-reader"), "--timeout", "5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert done.stderr == (
        f"error: {clouds}: cloud 'dc1-reader' has no auth.password, which its auth_type 'password' needs; "
        "set it under clouds.dc1-reader.auth (or, being a secret, in a secure.yaml: OS_CLIENT_SECURE_FILE or "
        "openstacksdk's search path), or pass --cloud NAME; nothing was sent to the cloud\n"
    )
