"""The monitoring nodes' SSH host keys, pinned from their consoles (webex_cloud/monitoring_ops/host_keys.py).

The console is the one cloud-init 22.4.2 writes (tools/write-ssh-key-fingerprints, read in
canonical/cloud-init at tag 22.4.2): the nodes' keys are made by the real ``ssh-keygen``, Nova is a
stand-in on 127.0.0.1 answering ``os-getConsoleOutput`` (tests/cloud/fake_cloud.py) to openstacksdk's
own session, and `ssh` is the replays' stand-in node (tests/stacks/monitoring_node.py), which checks the
key its node presents against the known_hosts file it is given with the real ``ssh-keygen -F``.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import host_keys_stand_in as keys
from tests.monitoring.conftest import NODES, Stand
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring.node import Peering, user_data
from webex_cloud.monitoring_ops.host_keys import BEGIN, END, SILENCING_KEYS, NotPinned, parse_key_block
from webex_cloud.monitoring_ops.reload import SshNode


def _pairs(lines: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((line.split()[0], line.split()[1]) for line in lines)


def test_the_key_block_cloud_init_prints_gives_exactly_the_nodes_keys(tmp_path: Path) -> None:
    presented = keys.generate(tmp_path, ("ed25519", "ecdsa", "rsa"))
    console = keys.cloud_init_console(presented)
    assert parse_key_block(console) == _pairs(presented)
    # A node rebuilt in place prints a second block: its keys now are the last ones.
    newer = keys.generate(tmp_path / "rebuilt")
    assert parse_key_block(console + "\r\n" + keys.cloud_init_console(newer)) == _pairs(newer)


def _cut(line: str) -> str:
    """The key of ``line`` without its last byte, in valid base64: its type still reads right."""
    return base64.b64encode(base64.b64decode(line.split()[1])[:-1]).decode()


def _ed25519(tmp_path: Path) -> str:
    return keys.generate(tmp_path)[0]


@pytest.mark.parametrize(
    ("console", "reason"),
    [
        (lambda key: "login: \r\n", f"its console has no {BEGIN} line"),
        (lambda key: f"{key}\r\n{END}\r\n", "only its end is left: the start was rotated out"),
        (lambda key: f"{BEGIN}\r\n{key}\r\n", f"has no {END} line (cut short)"),
        (lambda key: f"{BEGIN}\r\n{END}\r\n", "last key block is empty"),
        (lambda key: f"{BEGIN}\n{key[:40]}!{key[41:]}\n{END}\n", "is not valid base64"),
        (lambda key: f"{BEGIN}\nssh-rsa {key.split()[1]}\n{END}\n", "not of its type ssh-rsa"),
        (
            lambda key: f"{BEGIN}\n{key}\nssh-dss AAAAB3NzaC1kc3M=\n{END}\n",
            "line 2 of its console's last key block has the key type 'ssh-dss'",
        ),
        (lambda key: f"{BEGIN}\n{key.split()[1]}\n{END}\n", "is not '<type> <base64> [comment]'"),
        (lambda key: f"{BEGIN}\nssh-ed25519 {_cut(key)}\n{END}\n", "truncated or malformed ssh-ed25519 key"),
    ],
    ids=[
        "no block",
        "start rotated out",
        "cut short",
        "empty",
        "bad base64",
        "wrong type",
        "dsa",
        "no type",
        "key cut by a byte",
    ],
)
def test_a_console_without_one_complete_well_formed_block_pins_nothing(
    tmp_path: Path, console: Any, reason: str
) -> None:
    with pytest.raises(NotPinned) as refused:
        parse_key_block(console(_ed25519(tmp_path)))
    assert reason in str(refused.value)


def test_the_nodes_user_data_never_silences_the_key_block() -> None:
    """cc_keys_to_console prints the keys unless the cloud-config says otherwise (SILENCING_KEYS)."""
    document = yaml.safe_load(
        user_data({"prometheus.yml": "{}\n"}, Peering("10.250.1.15", "10.250.1.16"), "ssh-ed25519 AAAA fake")
    )
    assert not set(SILENCING_KEYS) & set(document)


def test_the_real_openssh_client_reads_the_options_as_pinning_to_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the stand-in `ssh` below takes on trust, asked of OpenSSH's own client (``ssh -G``: the
    configuration it would connect with, nothing sent): the options are spelled as it reads them."""
    real = shutil.which("ssh")
    assert real
    (tmp_path / "ssh").write_text(
        f"#!{sys.executable}\nimport os, sys\nos.execv({real!r}, [{real!r}, '-G', *sys.argv[1:]])\n"
    )
    (tmp_path / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    known_hosts = tmp_path / "known_hosts"

    resolved = SshNode("10.250.1.15", known_hosts)._ssh("true").decode().splitlines()

    assert {
        "user webex-deploy",
        "hostname 10.250.1.15",
        "batchmode yes",
        "stricthostkeychecking true",
        f"userknownhostsfile {known_hosts}",
        "globalknownhostsfile /dev/null",
        "updatehostkeys false",
    } <= set(resolved)


def test_each_node_is_pinned_from_its_console_and_reached_held_to_that_key(
    stand: Stand, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = stand.reload(capsys)

    assert code == ExitCode.OK, said
    for address in NODES:
        assert f"pinned {address} ({keys.server_id(address)}): ssh-ed25519, from its console" in said
        assert f"verified webex-deploy@{address}: revision " in said
        assert stand.installed(address)
    # Read as the reader, through the one action that only reads, asking for the whole log.
    actions = [(path, body) for path, body in stand.cloud.posted if path.endswith("/action")]
    assert actions == [
        (keys.action_path(keys.server_id(a)), {"os-getConsoleOutput": {"length": None}}) for a in NODES
    ]
    # The stand-in ssh refuses any login not held to a known_hosts file (StrictHostKeyChecking=yes):
    # every login was; the file was private while it was read and is gone with the run.
    assert {call["known_hosts"] for call in stand.logins()} == {"0o600"}
    assert not list(tmp_path.glob("webex-known-hosts-*"))
    # The pair's secrets went first, through the same pinned login (tests/monitoring/test_secrets.py).
    first = next(call["command"] for call in stand.logins())
    assert first == "sudo -n /usr/local/sbin/webex-monitoring-secrets"
    for address in NODES:
        assert (stand.bin / "nodes" / address / "etc/prometheus/secrets/openstack.env").exists()


def test_a_node_whose_console_shows_no_key_block_stops_the_reload_before_any_node(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    stand.console(NODES[1], "[    0.000000] Linux version 6.1.0-28-cloud-amd64\r\n")

    code, said = stand.reload(capsys)

    assert code == ExitCode.BLOCKING
    assert (
        f"dc1: reload stopped, no node touched: monitoring node {NODES[1]}: its console has no {BEGIN}"
        in said
    )
    assert "openstack console log show" in said  # what to check, and how
    assert stand.logins() == [] and not any(stand.installed(a) for a in NODES)


def test_a_node_presenting_another_key_than_its_console_shows_is_refused(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first node's sshd now holds a key its console never printed (another machine on its
    address, or a node re-keyed by hand): nothing is sent to it, and the second node is not touched."""
    presented = keys.generate(stand.keys / NODES[0] / "other")
    (stand.keys / NODES[0] / "presented").write_text("\n".join(presented) + "\n")

    code, said = stand.reload(capsys)

    assert code == ExitCode.BLOCKING
    assert (
        f"dc1: reload stopped: webex-deploy@{NODES[0]}: refused: the host key it presents is not one its "
        "console shows, so nothing was sent to it" in said
    )
    assert "Host key verification failed" in said
    assert stand.logins() == [] and not any(stand.installed(a) for a in NODES)


def test_a_malformed_key_block_is_refused_naming_the_node_and_the_line(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    presented = (stand.keys / NODES[0] / "presented").read_text()
    stand.console(NODES[0], f"{BEGIN}\r\nssh-ed25519 {_cut(presented)}\r\n{END}\r\n")

    code, said = stand.reload(capsys)

    assert code == ExitCode.BLOCKING
    assert (
        f"monitoring node {NODES[0]}: line 1 of its console's last key block holds a truncated or "
        "malformed ssh-ed25519 key" in said
    )
    assert stand.logins() == []


def test_a_console_the_policy_refuses_the_reader_says_which_rule_to_grant(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    forbidden = {
        "forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-console-output"}
    }
    stand.console(NODES[0], "")
    stand.cloud.answers[keys.action_path(keys.server_id(NODES[0]))] = (403, forbidden)

    code, said = stand.reload(capsys)

    assert code == ExitCode.INPUT
    assert f"monitoring node {NODES[0]}: its console could not be read" in said
    assert '"os_compute_api:os-console-output": "rule:project_member_or_admin or role:webex-observer"' in said
    assert stand.logins() == []
