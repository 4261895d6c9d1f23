"""Log shipping (``monitoring.logs``): the rsyslog drop-ins ``monitoring --stack`` writes, checked by
Debian's rsyslogd 8.2302 (``-N1``) and run by it: a real rsyslogd ships a scheduler's "No valid host"
line to a collector on 127.0.0.1 over TCP and counts it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ProjectCopy
from tests.monitoring.tools import require
from webex_cloud.commands.monitoring import main
from webex_cloud.config.models import LogShipping
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring import logs
from webex_cloud.monitoring_ops import check


def test_every_example_stack_writes_drop_ins_rsyslogd_accepts(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("promtool", "amtool", "rsyslogd")
    assert main(["--project", str(project.root), "--out", str(tmp_path), "--check"]) == ExitCode.OK
    said = capsys.readouterr().out
    for stack in ("dc1", "dc2"):
        folder = tmp_path / stack / logs.FOLDER
        assert sorted(p.name for p in folder.iterdir()) == ["controllers.conf", "instances.conf"]
        assert f"ok: rsyslogd -N1 {logs.FOLDER}/controllers.conf" in said
        assert f'target="logs.{stack}.ops.example" port="6514"' in (folder / "instances.conf").read_text()


def test_rsyslogd_refuses_a_drop_in_it_cannot_read(tmp_path: Path) -> None:
    """The check can fail: a parameter rsyslog does not know is an error of the validation run."""
    require("rsyslogd")
    shipping = LogShipping(target="127.0.0.1", port=1, protocol="tcp")
    (tmp_path / logs.FOLDER).mkdir()
    for name, text in logs.rsyslog_files("dc1", shipping).items():
        (tmp_path / name).write_text(text.replace("queue.saveOnShutdown", "queue.saveOnShutdwn"))
    with pytest.raises(check.CheckFailed, match="saveOnShutdwn"):
        check.check_rsyslog(tmp_path)


@pytest.mark.parametrize(
    ("logs_field", "wanted"),
    [
        ({"target": "logs.example", "protocol": "udp"}, "monitoring.logs.protocol"),
        ({"target": "logs.example"}, "protocol tls needs ca_file (the collector's CA) and permitted_peer"),
        (
            {"target": "logs.example", "protocol": "tcp", "ca_file": "/etc/ca.pem"},
            "ca_file and permitted_peer are for protocol tls",
        ),
        ({"target": "logs example", "protocol": "tcp"}, "monitoring.logs.target"),
    ],
)
def test_an_unusable_logs_section_is_refused_naming_the_field(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str], logs_field: Any, wanted: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].update(logs=logs_field))

    code = main(["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path)])

    assert code == ExitCode.INPUT
    said = capsys.readouterr().err
    assert "stacks/Pulumi.dc1.yaml" in said and wanted in said
    assert not (tmp_path / "dc1").exists()


def test_a_stack_without_logs_has_no_drop_ins_and_a_removed_section_removes_them(
    project: ProjectCopy, tmp_path: Path
) -> None:
    assert main(["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path)]) == ExitCode.OK
    assert (tmp_path / "dc1" / logs.FOLDER / "instances.conf").exists()
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].pop("logs"))

    assert main(["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path)]) == ExitCode.OK

    assert list((tmp_path / "dc1" / logs.FOLDER).iterdir()) == []


class Collector:
    """A syslog-over-TCP collector on 127.0.0.1 (octet-counted or newline-framed), keeping every line."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.lines: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        with connection, connection.makefile("r", encoding="utf-8", errors="replace") as stream:
            for line in stream:
                self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not received in {timeout:g} s; got {self.lines[-5:]}")


def test_a_real_rsyslogd_ships_a_schedulers_no_valid_host_line_and_counts_it(tmp_path: Path) -> None:
    """The controllers' drop-in run by rsyslogd: a line nova-scheduler writes to its log file reaches the
    collector tagged with its program, and the "No valid host" counter it bumped is reported by impstats
    and shipped too. Only the log paths and the stats interval differ from what the controllers get."""
    require("rsyslogd")
    collector = Collector()
    scheduler_log = tmp_path / "nova-scheduler.log"
    scheduler_log.write_text("")
    shipping = LogShipping(target="127.0.0.1", port=collector.port, protocol="tcp")
    drop_in = (
        logs.rsyslog_files("dc1", shipping)[f"{logs.FOLDER}/controllers.conf"]
        .replace("/var/log/nova/nova-scheduler.log", str(scheduler_log))
        .replace("/var/log/cinder/cinder-scheduler.log", str(tmp_path / "cinder-scheduler.log"))
        .replace('interval="60"', 'interval="1"')
    )
    (tmp_path / "controllers.conf").write_text(drop_in)
    (tmp_path / "rsyslog.conf").write_text(
        f'global(workDirectory="{tmp_path}")\n'
        f'module(load="imuxsock" SysSock.Use="off")\n'
        f'include(file="{tmp_path / "controllers.conf"}")\n'
    )
    daemon = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(tmp_path / "rsyslog.conf"), "-i", str(tmp_path / "rsyslogd.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(1.0)
        with scheduler_log.open("a") as out:
            out.write(
                "2026-12-07 06:02:11.123 4242 INFO nova.scheduler.manager [req-1] no allocation candidates "
                "... No valid host was found. There are not enough hosts available.\n"
            )
        # On a busy machine shipping it has taken close to the former 20 s here: a minute of slack.
        (shipped,) = collector.wait_for("No valid host was found", timeout=60.0)
        assert " nova-scheduler " in shipped  # RFC 5424: ... HOSTNAME APP-NAME ...
        # impstats reports every second, from before the line was read too: a report with the counter
        # and no count can come first (it once did), so wait for the report that counts it.
        reports = collector.wait_for('"nova-scheduler": 1', timeout=60.0)
        counted = [line for line in reports if f'"name": "{logs.COUNTER}"' in line][-1]
        stats = json.loads(counted[counted.index("{") :])
        assert " rsyslogd-pstats " in counted
        assert stats["origin"] == "dynstats.bucket" and stats["values"] == {"nova-scheduler": 1}
    finally:
        daemon.send_signal(signal.SIGTERM)
        output = daemon.communicate(timeout=30)[0].decode("utf-8", "replace")
        collector.server.close()
    assert "error" not in output.lower(), output
    assert os.path.exists(tmp_path)  # nothing was written outside it (workDirectory, queue files)
