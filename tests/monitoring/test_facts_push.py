"""The facts pushed to the pair: `monitoring --facts FILE --push-nodes` hands them to each node as the
facts login, held to the host keys its console shows, and the node's receiver (the forced command of that
login, monitoring/facts_login.py, run as generated) replaces node_exporter's file or refuses.

dc1's two nodes are tests/monitoring/conftest.py's, behind the stand-in `ssh` (host keys checked as
OpenSSH does) with their consoles in a Nova on 127.0.0.1; the facts' own API reads are served in place
(tests/drift/test_facts_agree.py proves what they hold)."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.audit.conftest import plan_file
from tests.monitoring import host_keys_stand_in as keys
from tests.monitoring.conftest import NODES, Stand
from webex_cloud.cloud.views import Observation
from webex_cloud.commands.monitoring import main
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring import facts_login
from webex_cloud.monitoring.node import user_data

__all__ = ["plan_file"]

FACTS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3gBmlaVO1M4mPnXvH2cQ9ksWlC6t8xLr0dZfUu1Rk3 webex-facts-dc1"


def _with_facts_key(stand: Stand) -> None:
    path = stand.project / "stacks/Pulumi.dc1.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["webex-cloud:datacenter"]["monitoring"]["instances"]["facts_key"] = FACTS_KEY
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _push(
    stand: Stand, plan: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, Path]:
    monkeypatch.setattr("webex_cloud.cloud.views.read_project", lambda _: Observation((), (), True, True))
    monkeypatch.setattr("webex_cloud.cloud.views.read_compute_services", lambda _: ())
    target = stand.out / "placement.prom"
    facts = ["--facts", str(target), "--plan", str(plan), "--push-nodes"]
    code = main(["--stack", "dc1", "--project", str(stand.project), *facts])
    captured = capsys.readouterr()
    return code, captured.out + captured.err, target


def _on(stand: Stand, address: str) -> Path:
    return stand.bin / "nodes" / address / facts_login.FACTS_FILE.lstrip("/")


def test_the_facts_reach_both_nodes_through_the_facts_login_held_to_their_console_keys(
    stand: Stand, plan_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_facts_key(stand)
    code, said, written = _push(stand, plan_file, capsys, monkeypatch)
    assert code == ExitCode.OK, said
    for address in NODES:
        assert _on(stand, address).read_text() == written.read_text()
        assert f"facts -> {address} (webex-facts, pinned host keys)" in said
    assert [(login["login"], login["known_hosts"]) for login in stand.logins()] == [
        (f"webex-facts@{address}", "0o600") for address in NODES
    ]
    assert f"{c.PLACEMENT_CHECKED_AT}{{" in written.read_text()


def test_a_node_presenting_another_key_gets_nothing_and_its_partner_still_gets_the_facts(
    stand: Stand, plan_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_facts_key(stand)
    presented = keys.generate(stand.keys / NODES[0] / "other")
    (stand.keys / NODES[0] / "presented").write_text("\n".join(presented) + "\n")
    code, said, written = _push(stand, plan_file, capsys, monkeypatch)
    assert code == ExitCode.BLOCKING
    assert f"{NODES[0]} (webex-facts): the host key it presents is not one its console shows" in said
    assert not _on(stand, NODES[0]).exists()
    assert _on(stand, NODES[1]).read_text() == written.read_text()


def test_a_pair_without_a_facts_login_is_refused_naming_the_field_and_no_node_is_reached(
    stand: Stand, plan_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said, written = _push(stand, plan_file, capsys, monkeypatch)
    assert code == ExitCode.INPUT
    assert "config.webex-cloud:datacenter.monitoring.instances.facts_key: not set" in said
    assert stand.logins() == [] and not written.exists()


def _receive(folder: Path, text: bytes) -> subprocess.CompletedProcess[bytes]:
    script = folder / "receiver"
    script.write_text(facts_login.receiver_script())
    return subprocess.run(
        [sys.executable, str(script), str(folder)], input=text, capture_output=True, timeout=60, check=False
    )


FACTS = (
    f"# HELP {c.PLACEMENT_CHECKED_AT} When.\n# TYPE {c.PLACEMENT_CHECKED_AT} gauge\n"
    f'{c.PLACEMENT_CHECKED_AT}{{datacenter="dc1"}} 1765000000.500\n'
    f'{c.SERVICE_N_PLUS_ONE}{{datacenter="dc1",service="messaging",owner="team-messaging"}} 0\n'
).encode()


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        (FACTS + b'node_textfile_scrape_error{x="y"} 0\n', "line 5 is not a webex_ fact"),
        (FACTS.replace(c.PLACEMENT_CHECKED_AT.encode() + b"{", b"webex_other{"), "no webex_placement_last"),
        (FACTS[:-1], "the last line has no line feed"),
        (FACTS + b"# EOF\n", "line 5 is not a webex_ fact"),
        (b"x" * (facts_login.LIMIT + 1), "more than"),
    ],
)
def test_the_receiver_takes_only_webex_facts_and_otherwise_changes_nothing(
    tmp_path: Path, sent: bytes, why: str
) -> None:
    assert _receive(tmp_path, FACTS).returncode == 0
    target = tmp_path / Path(facts_login.FACTS_FILE).name
    assert target.read_bytes() == FACTS and oct(target.stat().st_mode & 0o777) == "0o644"
    refused = _receive(tmp_path, sent)
    assert refused.returncode == 1 and why in refused.stderr.decode()
    assert target.read_bytes() == FACTS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["placement.prom", "receiver"]


def test_the_user_data_makes_the_facts_login_only_with_a_facts_key() -> None:
    def document(text: str) -> dict[str, object]:
        loaded: dict[str, object] = yaml.safe_load(text.removeprefix("#cloud-config\n"))
        return loaded

    files = {"prometheus.yml": "{}\n"}
    without = document(user_data(files, None, FACTS_KEY))
    assert [u["name"] for u in without["users"][1:]] == ["webex-deploy"]  # type: ignore[index]
    with_key = document(user_data(files, None, FACTS_KEY, FACTS_KEY))
    facts_user = with_key["users"][2]  # type: ignore[index]
    assert facts_user["ssh_authorized_keys"] == [
        f'restrict,command="{facts_login.RECEIVER} {facts_login.TEXTFILE_DIR}" {FACTS_KEY}'
    ]
    assert "sudo" not in facts_user
    receiver = next(f for f in with_key["write_files"] if f["path"] == facts_login.RECEIVER)  # type: ignore[attr-defined]
    assert gzip.decompress(base64.b64decode(receiver["content"])).decode() == facts_login.receiver_script()
    assert receiver["permissions"] == "0755"
    assert json.dumps(with_key["runcmd"]).count(facts_login.TEXTFILE_DIR) == 1
