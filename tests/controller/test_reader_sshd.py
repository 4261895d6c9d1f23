"""The drift reader login against a real sshd (Debian 12's OpenSSH 9.2, installed by tools/sshd/install.sh),
on 127.0.0.1 only, with keys made here: the authorized_keys line the stack installs
(controller/reader.py) lets its key run the read script and nothing else, and drift reads a controller
through it with its own code (drift/controllers.py ``read_controller``: the pinned host key, the key in
an ssh-agent).

The sshd runs as this test's user and logs that user in (the tests run as root in CI, so the account is
root here, the worst case: a forced command that leaked would run as root). The "controller" is a folder:
the read script installed in it, its state dir and fragments; ``systemctl`` is the machine's own."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fast_tier
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.models import ControllerPlane
from webex_cloud.controller.reader import READ_SCRIPT, authorized_keys_line, read_script_sha256
from webex_cloud.drift.controllers import read_controller, ssh_argv
from webex_cloud.paths import PROJECT_DIR

SSHD = "/usr/sbin/sshd"


def _require_sshd() -> None:
    if not Path(SSHD).exists() and fast_tier():
        pytest.skip("fast tier: sshd not installed (bash tools/sshd/install.sh)")
    assert Path(SSHD).exists(), "sshd not installed: scripts/test.sh runs tools/sshd/install.sh first"


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Controller:
    def __init__(self, root: Path, plane: ControllerPlane, port: int, agent: dict[str, str]) -> None:
        self.root, self.plane, self.port, self.agent = root, plane, port, agent

    def ssh(self, *args: str, command: str = "", stdin: str = "") -> subprocess.CompletedProcess[str]:
        """The real ssh client, pinned as drift logs in, with ``args`` a hostile client would add."""
        argv = ssh_argv(self.plane, "127.0.0.1", self.root / "known_hosts", command)
        argv = [argv[0], *args, *argv[1:]] if command else [argv[0], *args, *argv[1:-1]]
        env = {**os.environ, **self.agent}
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False
        )


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    _require_sshd()
    root = tmp_path_factory.mktemp("controller")
    user = getpass.getuser()
    host_key = _keygen(root / "ssh_host_ed25519_key", "host")
    reader_key = _keygen(root / "reader", "drift-reader")
    port = _free_port()
    # The stack's plane, its paths moved into this folder (the read's own arguments), the reader this user.
    dumped: dict[str, Any] = load_deployment(PROJECT_DIR, "dc1").datacenter.controllers.model_dump(
        mode="json"
    )
    deploy = dumped["deploy"]
    deploy["python"] = "/usr/bin/python3"
    deploy["state_dir"] = f"{root}/state"
    for name in ("nova", "cinder"):
        deploy[name]["fragment_path"] = f"{root}/etc/{name}/50-webex-filters.conf"
    dumped["drift_reader"] = {
        "public_key": reader_key,
        "user": user,
        "script": f"{root}/opt/read_controller.py",
    }
    dumped["hosts"][0].update(address="127.0.0.1", host_key=host_key)
    dumped["ssh_port"] = port
    plane = ControllerPlane.model_validate(dumped)
    reader = plane.drift_reader
    assert reader is not None
    (root / "opt").mkdir()
    shutil.copyfile(READ_SCRIPT, reader.script)
    (root / "state").mkdir()
    (root / "state" / "current.json").write_text(json.dumps({"wheel_sha256": "ab" * 32}))
    for name in ("nova", "cinder"):
        fragment = Path(f"{root}/etc/{name}/50-webex-filters.conf")
        fragment.parent.mkdir(parents=True)
        fragment.write_text(f"[{name}]\n")
    (root / "authorized_keys").write_text(authorized_keys_line(plane, reader) + "\n")
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {root}/ssh_host_ed25519_key",
                f"PidFile {root}/sshd.pid",
                f"AuthorizedKeysFile {root}/authorized_keys",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",  # pytest's folders: the line's own options are what is under test
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = root / "sshd.log"
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log.open("w"))
    agent_dir = root / "agent"
    agent_dir.mkdir(mode=0o700)
    sock = str(agent_dir / "agent.sock")
    started = subprocess.run(["ssh-agent", "-a", sock, "-s"], capture_output=True, text=True, check=True)
    agent_pid = next(
        line.split("=", 1)[1].split(";")[0]
        for line in started.stdout.splitlines()
        if line.startswith("SSH_AGENT_PID")
    )
    agent = {"SSH_AUTH_SOCK": sock}
    try:
        subprocess.run(["ssh-add", "-q", str(root / "reader")], env={**os.environ, **agent}, check=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "sshd did not listen in 20 s: " + log.read_text()
                time.sleep(0.1)
        yield Controller(root, plane, port, agent)
    finally:
        server.terminate()
        server.wait(timeout=10)
        subprocess.run(["kill", agent_pid], check=False)


def _report(out: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(out)
    assert report["script_sha256"] == read_script_sha256()
    return report


def test_drift_reads_the_controller_through_the_reader_login(
    controller: Controller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in controller.agent.items():
        monkeypatch.setenv(name, value)
    state = read_controller(controller.plane, controller.plane.hosts[0].name, tmp_path)
    assert state.current == {"wheel_sha256": "ab" * 32}
    assert sorted(state.services) == ["cinder", "nova"]
    assert state.services["nova"].sha256 is not None


def test_whatever_the_client_asks_only_the_read_runs(controller: Controller) -> None:
    victim = controller.root / "victim"
    victim.mkdir()
    (victim / "keep").write_text("still here")
    for command in (f"rm -rf {victim}", "rm -rf /", "/bin/sh -i", f"echo pwned > {victim}/keep"):
        done = controller.ssh(command=command)
        assert done.returncode == 0, done.stderr
        assert _report(done.stdout)["current"] == {"wheel_sha256": "ab" * 32}, command
    assert (victim / "keep").read_text() == "still here"


def test_a_shell_with_a_terminal_gets_neither(controller: Controller) -> None:
    """An interactive login (no command, a pty forced, commands typed on stdin): ``restrict`` refuses
    the pty, and OpenSSH 9.2's client then closes a session it was told to force one for; what could
    come back is the read's report, never a shell's answer."""
    done = controller.ssh("-tt", stdin="id; echo PWNED\n")
    assert "PTY allocation request failed" in done.stderr
    assert "PWNED" not in done.stdout and "uid=" not in done.stdout
    if done.stdout.strip():
        _report(done.stdout.replace("\r\n", "\n"))
    typed = controller.ssh(stdin="id; echo PWNED\n")  # no pty asked: the read runs, stdin unread
    assert "PWNED" not in typed.stdout and _report(typed.stdout)["services"]


def test_no_forwarding_of_any_kind(controller: Controller) -> None:
    """``restrict``: no tcp forwarding (a way onto the management network), no agent forwarding."""
    forward = controller.ssh("-W", f"127.0.0.1:{controller.port}")
    assert forward.returncode == 255 and "administratively prohibited" in forward.stderr
    agent = controller.ssh("-A", command="echo $SSH_AUTH_SOCK")
    assert _report(agent.stdout)["services"]


def test_another_key_is_refused(controller: Controller, tmp_path: Path) -> None:
    _keygen(tmp_path / "other", "other")
    other = ("-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", str(tmp_path / "other"))
    done = controller.ssh(*other, command="true")
    assert done.returncode == 255 and "Permission denied (publickey)" in done.stderr
