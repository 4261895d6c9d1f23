"""The deployed pair's secrets: from the stack's Pulumi secrets to each node, 0600, over the pinned login.

The nodes are dc1's two, behind the stand-in `ssh` of tests/monitoring/test_host_keys.py (their host
keys on consoles a Nova on 127.0.0.1 shows); `sudo -n <helper>` there runs the helper the user data
installs, as it is generated. The stack secrets are fake, "encrypted" by the stand-in `pulumi`.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.conftest import NODES, Stand
from tests.monitoring.tools import require
from tests.stacks.monitoring_node import FAKE_READER
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring import secrets
from webex_cloud.monitoring.node import DEPLOY_USER, Peering, user_data


def _secrets_on(stand: Stand, address: str) -> Path:
    return stand.bin / "nodes" / address / "etc/prometheus/secrets"


def _stack_secrets(stand: Stand) -> dict[str, Any]:
    return dict(
        yaml.safe_load((stand.project / "stacks/Pulumi.dc1.yaml").read_text())["config"][secrets.CONFIG_KEY]
    )


def _edit_secrets(stand: Stand, change: Any) -> None:
    path = stand.project / "stacks/Pulumi.dc1.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"][secrets.CONFIG_KEY])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _fake(value: str) -> dict[str, str]:
    return {"secure": "fake-cipher:" + base64.b64encode(value.encode()).decode()}


def test_each_node_gets_every_secret_0600_and_no_value_is_ever_in_a_command_or_the_log(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = stand.reload(capsys)

    assert code == ExitCode.OK, said
    names = set(_stack_secrets(stand))
    assert names == {
        "team-cloud-platform.key", "team-media.key", "team-signalling.key", "team-messaging.key",
        "team-recording.token", "team-telepresence.token", "watchdog.token", "openstack.env",
    }  # fmt: skip
    for address in NODES:
        folder = _secrets_on(stand, address)
        assert {p.name for p in folder.iterdir()} == names
        assert (folder.stat().st_mode & 0o777) == 0o750
        assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o600}
        assert (folder / "team-media.key").read_text() == "fake-team-media.key-value"
        # The reader's environment, completed with the stack's region for the discovery.
        assert (folder / "openstack.env").read_text() == FAKE_READER + "OS_REGION_NAME=RegionOne\n"
        assert (stand.bin / "nodes" / address / "systemctl.log").read_text() == "restart prometheus\n"
        assert f"{DEPLOY_USER}@{address}: secrets: 8 in place, changed: " in said
    logged = (stand.bin / "ssh.jsonl").read_text() + said
    for value in ("fake-team-media.key-value", "fake-application-credential-secret", "0123456789abcdef"):
        assert value not in logged


def test_a_second_deploy_changes_nothing_and_restarts_nothing_but_a_removed_secret_goes(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stand.reload(capsys)[0] == ExitCode.OK
    stray = _secrets_on(stand, NODES[0]) / "old-team.key"  # a receiver the stack no longer declares
    stray.write_text("fake-old")

    code, said = stand.reload(capsys)

    assert code == ExitCode.OK, said
    assert f"{DEPLOY_USER}@{NODES[0]}: secrets: 8 in place, changed: old-team.key" in said
    assert f"{DEPLOY_USER}@{NODES[1]}: secrets: 8 in place, changed: none" in said
    assert not stray.exists()
    for address in NODES:  # the reader's environment did not change: Prometheus was not restarted again
        assert (stand.bin / "nodes" / address / "systemctl.log").read_text() == "restart prometheus\n"


def test_a_new_reader_credential_restarts_prometheus_one_node_after_the_other(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stand.reload(capsys)[0] == ExitCode.OK
    rotated = FAKE_READER.replace("fake-application-credential-secret", "fake-rotated-secret")
    _edit_secrets(stand, lambda config: config.update({"openstack.env": _fake(rotated)}))

    code, said = stand.reload(capsys)

    assert code == ExitCode.OK, said
    for address in NODES:
        assert "fake-rotated-secret" in (_secrets_on(stand, address) / "openstack.env").read_text()
        assert (stand.bin / "nodes" / address / "systemctl.log").read_text().count("restart prometheus") == 2
        assert f"{DEPLOY_USER}@{address}: prometheus restarted with the new openstack.env" in said


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        (
            lambda config: config.pop("team-media.key"),
            'stacks/Pulumi.dc1.yaml: config.webex-cloud:monitoringSecrets["team-media.key"]: no secret for '
            "/etc/prometheus/secrets/team-media.key "
            "(monitoring.receivers.team-media.pagerduty.routing_key_file); run `pulumi config set --secret "
            "--stack dc1 --path 'monitoringSecrets[\"team-media.key\"]' <value>`",
        ),
        (
            lambda config: config.pop("openstack.env"),
            'config.webex-cloud:monitoringSecrets["openstack.env"]: no secret for /etc/prometheus/secrets/'
            "openstack.env (identities.reader (Prometheus' OpenStack discovery))",
        ),
        (
            lambda config: config.update({"gone-team.key": _fake("x")}),
            'config.webex-cloud:monitoringSecrets["gone-team.key"]: no receiver names '
            "/etc/prometheus/secrets/gone-team.key",
        ),
        (
            lambda config: config.update({"openstack.env": _fake("OS_AUTH_URL=https://k.example/v3\n")}),
            'config.webex-cloud:monitoringSecrets["openstack.env"]: OS_APPLICATION_CREDENTIAL_ID, '
            "OS_APPLICATION_CREDENTIAL_SECRET missing",
        ),
        (
            lambda config: config.update({"openstack.env": _fake(FAKE_READER + 'OS_REGION_NAME="a b"\n')}),
            "OS_REGION_NAME holds a quote, backslash, space or $",
        ),
        (
            lambda config: config.update({"team-media.key": "fake-in-clear"}),
            "config.webex-cloud:monitoringSecrets: a credential in plaintext",
        ),
    ],
)
def test_a_missing_clear_extra_or_malformed_secret_is_refused_before_any_login(
    stand: Stand, capsys: pytest.CaptureFixture[str], change: Any, wanted: str
) -> None:
    _edit_secrets(stand, change)

    code, said = stand.reload(capsys)

    assert code == ExitCode.INPUT
    assert wanted in said
    assert stand.logins() == []
    assert "fake-application-credential-secret" not in said and "fake-in-clear" not in said


def test_a_secret_file_outside_the_secrets_folder_is_refused_naming_the_receiver(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stand.project / "stacks/Pulumi.dc1.yaml"
    document = yaml.safe_load(path.read_text())
    receivers = document["config"]["webex-cloud:datacenter"]["monitoring"]["receivers"]
    receivers["team-media"]["pagerduty"]["routing_key_file"] = "/etc/team-media.key"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    code, said = stand.reload(capsys)

    assert code == ExitCode.INPUT
    assert (
        "config.webex-cloud:datacenter.monitoring.receivers.team-media.pagerduty.routing_key_file: "
        "/etc/team-media.key: the deploy places the pair's secrets in /etc/prometheus/secrets/ only" in said
    )
    assert stand.logins() == []


def test_a_node_without_the_sudo_rule_says_so_and_nothing_is_reloaded(
    stand: Stand, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node booted before the pair placed secrets has no helper rule: sudo asks for a password."""
    monkeypatch.setenv("STAND_IN_SUDO_REFUSED", "1")

    code, said = stand.reload(capsys)

    assert code == ExitCode.BLOCKING
    assert (
        f"{DEPLOY_USER}@{NODES[0]}: may not run /usr/local/sbin/webex-monitoring-secrets through sudo" in said
    )
    assert [json.loads(line)["command"] for line in (stand.bin / "ssh.jsonl").read_text().splitlines()] == [
        "sudo -n /usr/local/sbin/webex-monitoring-secrets"
    ]  # the first node only, and no file of the monitoring was sent


def _write_files(text: str) -> dict[str, tuple[str, str]]:
    document = yaml.safe_load(text.removeprefix("#cloud-config\n"))
    return {
        f["path"]: (gzip.decompress(base64.b64decode(f["content"])).decode(), f["permissions"])
        for f in document["write_files"]
    }


def test_the_user_data_installs_the_helper_the_sudo_rule_and_the_reader_environment_only() -> None:
    text = user_data(
        {"prometheus.yml": "global: {}\n"}, Peering("10.250.1.15", "10.250.1.16"), "ssh-ed25519 AAAA fake"
    )
    document = yaml.safe_load(text.removeprefix("#cloud-config\n"))
    files = _write_files(text)

    assert files[secrets.HELPER] == (secrets.helper_script(), "0755")  # what the stand-in runs
    assert files[secrets.PROMETHEUS_DROP_IN] == (
        "[Service]\nEnvironmentFile=-/etc/prometheus/secrets/openstack.env\n",
        "0644",
    )
    deploy = next(u for u in document["users"] if isinstance(u, dict) and u["name"] == DEPLOY_USER)
    # sudoers: "" after the command means it may only be run without arguments.
    assert deploy["sudo"] == 'ALL=(root) NOPASSWD: /usr/local/sbin/webex-monitoring-secrets ""'
    assert "sudo" in document["packages"]
    assert not any(path.startswith(secrets.SECRETS_DIR) for path in files)


def _verify_drop_in(tmp_path: Path, text: str) -> str:
    """`systemd-analyze verify` of Debian's prometheus unit with ``text`` as its drop-in: what it says."""
    require("systemd-analyze", "prometheus")  # Debian's package: the binary and the unit
    unit = Path("/lib/systemd/system/prometheus.service")
    (tmp_path / "prometheus.service.d").mkdir(parents=True)
    shutil.copy(unit, tmp_path / "prometheus.service")
    (tmp_path / "prometheus.service.d" / Path(secrets.PROMETHEUS_DROP_IN).name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "prometheus.service")],
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def test_systemd_reads_the_reader_environment_drop_in_of_debians_prometheus_unit(tmp_path: Path) -> None:
    said = _verify_drop_in(tmp_path / "ok", secrets.prometheus_drop_in())
    assert "webex-reader.conf" not in said, said
    # The verification can fail: a misspelt key in the same place is reported, naming the drop-in.
    said = _verify_drop_in(
        tmp_path / "bad", secrets.prometheus_drop_in().replace("EnvironmentFile", "EnvFile")
    )
    assert "webex-reader.conf:2: Unknown key 'EnvFile'" in said
