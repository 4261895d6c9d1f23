"""Log shipping installed (``monitoring.logs``): the pods' and monitoring nodes' first boot, and the
controllers' deploy step, each check the drop-in with Debian's rsyslogd 8.2302 (``-N1``) before it goes
where rsyslog reads it, and restart rsyslog only after that check passed."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring.tools import require
from webex_cloud.config.models import LogShipping
from webex_cloud.controller.remote import rolling_deploy
from webex_cloud.monitoring import logs

SHIPPING = LogShipping(
    target="logs.dc1.ops.example", ca_file="/etc/ssl/certs/ca-certificates.crt", permitted_peer="logs.dc1"
)


def _cloud_config(text: str) -> dict[str, Any]:
    head, _, body = text.partition("\n")
    assert head == "#cloud-config"
    document = yaml.safe_load(body)
    assert isinstance(document, dict)
    return document


def _stand_in_systemctl(folder: Path, health: int = 0) -> Path:
    """A ``systemctl`` that records its arguments; ``is-active`` answers ``health``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "systemctl"
    tool.write_text(
        f'#!/bin/sh\necho "$*" >> {folder}/systemctl.log\n[ "$1" = is-active ] && exit {health}\nexit 0\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _calls(folder: Path) -> list[str]:
    log = folder / "systemctl.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_pods_first_boot_stages_the_instances_drop_in_and_installs_it_through_the_check() -> None:
    document = _cloud_config(logs.instance_user_data("dc1", SHIPPING) or "")
    assert document["packages"] == ["rsyslog", "rsyslog-gnutls"]
    assert document["write_files"] == [
        {"path": logs.STAGED, "content": logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/instances.conf"]}
    ]
    assert document["runcmd"] == [["sh", "-c", logs.install_script()]]
    assert logs.instance_user_data("dc1", None) is None


def _run_install(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    staged, target = tmp_path / "staged.conf", tmp_path / "rsyslog.d" / "60-webex-ship.conf"
    staged.write_text(conf)
    target.parent.mkdir()
    env = {**os.environ, "PATH": f"{_stand_in_systemctl(tmp_path)}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", "-c", logs.install_script(str(staged), str(target))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_first_boot_script_installs_what_rsyslogd_accepts_then_restarts_rsyslog(tmp_path: Path) -> None:
    require("rsyslogd")
    conf = logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/instances.conf"]
    done = _run_install(tmp_path, conf)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rsyslog.d" / "60-webex-ship.conf").read_text() == conf
    assert _calls(tmp_path) == ["restart rsyslog"]


def test_the_first_boot_script_leaves_a_refused_drop_in_staged_and_rsyslog_alone(tmp_path: Path) -> None:
    require("rsyslogd")
    conf = logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/instances.conf"]
    done = _run_install(tmp_path, conf.replace("queue.saveOnShutdown", "queue.saveOnShutdwn"))
    assert done.returncode != 0
    assert "saveOnShutdwn" in done.stdout + done.stderr
    assert not (tmp_path / "rsyslog.d" / "60-webex-ship.conf").exists()
    assert _calls(tmp_path) == []


def test_every_example_monitoring_node_ships_its_logs_the_same_way() -> None:
    from tests.conftest import REPO
    from webex_cloud.config.loader import load_deployment
    from webex_cloud.monitoring.node import pair_user_data
    from webex_cloud.paths import stack_file

    for stack in ("dc1", "dc2"):
        deployment = load_deployment(REPO, stack)
        shipping = deployment.datacenter.monitoring.logs if deployment.datacenter.monitoring else None
        assert shipping is not None
        for text in pair_user_data(deployment, stack_file(stack)) or ():
            document = _cloud_config(text)
            assert ["sh", "-c", logs.install_script()] in document["runcmd"]
            assert set(logs.packages(shipping)) <= set(document["packages"])
            assert logs.STAGED in {item["path"] for item in document["write_files"]}


# ----------------------------------------------------------------------------------------------------
# The controllers: the deploy script's `logs` step (webex_cloud/components/controller_logs.py runs it).


def _controller(tmp_path: Path, conf: str, health: int = 0) -> tuple[list[str], Path]:
    staging = tmp_path / "staging"
    staging.mkdir(mode=0o755)
    (staging / "controllers.conf").write_text(conf)
    (staging / "check.conf").write_text(logs.check_main(str(staging / "controllers.conf")))
    bin_dir = _stand_in_systemctl(tmp_path, health)
    target = tmp_path / "rsyslog.d" / "60-webex-ship.conf"
    argv = [
        "logs", "--from", str(staging / "controllers.conf"), "--check-with", str(staging / "check.conf"),
        "--to", str(target), "--restart", f"{bin_dir}/systemctl restart rsyslog",
        "--health", f"{bin_dir}/systemctl is-active --quiet rsyslog",
    ]  # fmt: skip
    return argv, target


def test_a_controller_gets_the_drop_in_rsyslogd_accepts_and_rsyslog_restarted(tmp_path: Path) -> None:
    require("rsyslogd")
    conf = logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/controllers.conf"]
    argv, target = _controller(tmp_path, conf)
    assert rolling_deploy.main(argv) == rolling_deploy.DEPLOYED
    assert target.read_text() == conf
    assert _calls(tmp_path) == ["restart rsyslog", "is-active --quiet rsyslog"]
    # Again: nothing to restart.
    assert rolling_deploy.main(argv) == rolling_deploy.DEPLOYED
    assert _calls(tmp_path)[2:] == ["is-active --quiet rsyslog"]


def test_a_drop_in_rsyslogd_refuses_changes_nothing_on_the_controller(tmp_path: Path) -> None:
    require("rsyslogd")
    conf = logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/controllers.conf"]
    argv, target = _controller(tmp_path, conf.replace('type="imfile"', 'type="imfyle"'))
    target.parent.mkdir()
    target.write_text("# what ran before\n")
    assert rolling_deploy.main(argv) == rolling_deploy.REFUSED
    assert target.read_text() == "# what ran before\n"
    assert _calls(tmp_path) == []


def test_rsyslog_unhealthy_after_the_restart_gets_its_previous_drop_in_back(tmp_path: Path) -> None:
    require("rsyslogd")
    conf = logs.rsyslog_files("dc1", SHIPPING)[f"{logs.FOLDER}/controllers.conf"]
    argv, target = _controller(tmp_path, conf, health=3)
    target.parent.mkdir()
    target.write_text("# what ran before\n")
    assert rolling_deploy.main(argv) == rolling_deploy.DEGRADED
    assert target.read_text() == "# what ran before\n"
    assert _calls(tmp_path).count("restart rsyslog") == 2
