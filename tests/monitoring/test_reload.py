"""The reload sequence proven against two real nodes on 127.0.0.1, each a Prometheus (Debian's 2.42.0)
and an Alertmanager (0.25.0) reading one folder: a rule change is checked, then applied one node at a
time without a restart and read back from each node (its revision digest, rule groups and scrape jobs,
its Alertmanager's config hash); a rerun changes nothing; a change the tools refuse touches no node; a
node that refuses its reload gets its files back and the next node is left alone; a node that reloads
from another folder than the one written is caught by the read-back.

The nodes load the generated rules with a prometheus.yml of their own that scrapes nothing: the generated
one would scrape the management network, and these tests talk to 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.monitoring.tools import require
from webex_cloud.cli_common import CommandError
from webex_cloud.commands.monitoring import generate, main
from webex_cloud.monitoring_ops import check
from webex_cloud.monitoring_ops.reload import (
    REVISION_FILE,
    REVISION_RECORD,
    Node,
    ReloadFailed,
    SshNode,
    alertmanager_hash,
    reload_pair,
    with_revision,
)

LOCAL_CONFIG = "global: {evaluation_interval: 15s}\nrule_files: [rules/*.rules.yml]\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rules_of(url: str) -> list[tuple[str, str]]:
    """(alert name, expression) of every alerting rule the running node evaluates."""
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as answer:
        data = json.load(answer)
    return [
        (rule["name"], rule["query"])
        for group in data["data"]["groups"]
        for rule in group["rules"]
        if rule["type"] == "alerting"
    ]


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    return next(float(line.split(" ")[1]) for line in lines if line.startswith(f"{name} "))


def revision_of(url: str) -> str:
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as answer:
        groups = json.load(answer)["data"]["groups"]
    digest: str = next(
        rule["labels"]["digest"]
        for group in groups
        for rule in group["rules"]
        if rule["name"] == REVISION_RECORD
    )
    return digest


def local_files(project_dir: Path) -> dict[str, str]:
    files = {name: text for name, text in generate(project_dir, "dc1").items() if name != "prometheus.yml"}
    return {**files, "prometheus.yml": LOCAL_CONFIG}


class Pair:
    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.nodes: list[Node] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        for index in range(2):
            folder = root / f"node-{index}"
            for relative, text in files.items():
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                (folder / relative).write_text(text)
            port = free_port()
            self.processes.append(
                subprocess.Popen(
                    [
                        "prometheus",
                        f"--config.file={folder / 'prometheus.yml'}",
                        f"--storage.tsdb.path={root / f'data-{index}'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--web.enable-lifecycle",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(root / f"node-{index}.log").open("wb"),
                )
            )
            manager = free_port()
            # No cluster (--cluster.listen-address empty): the tests' Alertmanagers gossip with nobody.
            self.processes.append(
                subprocess.Popen(
                    [
                        "prometheus-alertmanager",
                        f"--config.file={folder / 'alertmanager.yml'}",
                        f"--storage.path={root / f'am-{index}'}",
                        f"--web.listen-address=127.0.0.1:{manager}",
                        "--cluster.listen-address=",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(root / f"am-{index}.log").open("wb"),
                )
            )
            self.nodes.append(Node(f"http://127.0.0.1:{port}", folder, f"http://127.0.0.1:{manager}"))
        deadline = time.monotonic() + 60
        for url in [u for node in self.nodes for u in (node.url, node.alertmanager_url) if u]:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not become ready"
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    require("prometheus", "promtool", "amtool", "prometheus-alertmanager")
    started = Pair(tmp_path / "pair", local_files(REPO))
    try:
        yield started
    finally:
        started.stop()


def test_a_rule_change_reaches_both_nodes_without_a_restart(pair: Pair, project: ProjectCopy) -> None:
    floor = "BelowReleaseFloor"
    before = {node.url: rules_of(node.url) for node in pair.nodes}
    assert all(any(name == "ServiceBelowReleaseFloor" for name, _ in rules) for rules in before.values())
    project.edit("catalog/messaging.yaml", lambda doc: doc.__setitem__("rollout", {"max_unavailable": 2}))
    files = local_files(project.root)
    files["alertmanager.yml"] += "# changed: its hash too\n"
    done = reload_pair(pair.nodes, files)
    _, digest = with_revision({name: text.encode() for name, text in files.items()})
    reloaded = [line for line in done if not line.startswith("ok: ")]
    assert [line.split(": ")[0] for line in reloaded] == [
        f"reloaded {pair.nodes[0].url}",
        f"verified {pair.nodes[0].url}",
        f"verified {pair.nodes[0].url} Alertmanager",
        f"reloaded {pair.nodes[1].url}",
        f"verified {pair.nodes[1].url}",
        f"verified {pair.nodes[1].url} Alertmanager",
    ], done
    for node in pair.nodes:
        queries = [q for name, q in rules_of(node.url) if floor in name]
        assert any('service="messaging"' in q and q.endswith("< 1") for q in queries), queries
        assert revision_of(node.url) == digest  # what the node serves is what was installed
        assert node.alertmanager_url is not None
        served = metric(node.alertmanager_url, "alertmanager_config_hash")
        assert served == alertmanager_hash(files["alertmanager.yml"].encode())
    assert all(process.poll() is None for process in pair.processes)  # reloaded, never restarted

    # Idempotent: the same files again reload to the same revision, and verify the same.
    last = "prometheus_config_last_reload_success_timestamp_seconds"
    reloaded_at = [metric(node.url, last) for node in pair.nodes]
    again = reload_pair(pair.nodes, files)
    assert [line for line in again if not line.startswith("ok: ")] == reloaded
    assert [revision_of(node.url) for node in pair.nodes] == [digest, digest]
    assert all(metric(node.url, last) > at for node, at in zip(pair.nodes, reloaded_at, strict=True))


def test_a_node_reading_another_folder_is_caught_by_the_read_back(pair: Pair, tmp_path: Path) -> None:
    """The node reloads fine, from its own folder: not the one written. Success by status alone would
    report the change applied while the node runs its old rules; the revision it serves says otherwise."""
    first, second = pair.nodes
    elsewhere = Node(first.url, tmp_path / "not-its-folder", first.alertmanager_url)
    (elsewhere.config_dir / "rules").mkdir(parents=True)
    files = local_files(REPO)
    with pytest.raises(ReloadFailed, match=f"{first.url} reloaded but does not serve the generated files"):
        reload_pair([elsewhere, second], files)
    assert (elsewhere.config_dir / REVISION_FILE).exists()
    assert not (second.config_dir / REVISION_FILE).exists()  # the sequence stopped before the second


def test_a_change_the_tools_refuse_touches_no_node(pair: Pair) -> None:
    files = local_files(REPO)
    snapshot = [(node.config_dir / "rules" / "pods.rules.yml").read_text() for node in pair.nodes]
    files["rules/pods.rules.yml"] = files["rules/pods.rules.yml"].replace("== 0", "== = 0")
    with pytest.raises(check.CheckFailed, match="promtool check"):
        reload_pair(pair.nodes, files)
    assert [(node.config_dir / "rules" / "pods.rules.yml").read_text() for node in pair.nodes] == snapshot


def test_a_node_refusing_its_reload_keeps_its_files_and_stops_the_sequence(pair: Pair) -> None:
    files = local_files(REPO)
    files["rules/pods.rules.yml"] = files["rules/pods.rules.yml"].replace("== 0", "== = 0")
    first, second = pair.nodes
    kept = (first.config_dir / "rules" / "pods.rules.yml").read_text()
    second_before = (second.config_dir / "rules" / "pods.rules.yml").stat().st_mtime_ns
    # A check that let the broken rule through: the node itself refuses it.
    with pytest.raises(ReloadFailed, match=f"{first.url}: Prometheus refused the new configuration"):
        reload_pair(pair.nodes, files, check=lambda folder: [])
    assert (first.config_dir / "rules" / "pods.rules.yml").read_text() == kept
    assert not (first.config_dir / REVISION_FILE).exists()  # exactly its previous files, none added
    assert (second.config_dir / "rules" / "pods.rules.yml").stat().st_mtime_ns == second_before
    assert ("PodNotServing", "webex:pod_serving:min == 0") in rules_of(first.url)  # its previous rules


def test_the_commands_reload_option_names_nodes_of_one_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command applies the generated prometheus.yml, which scrapes the management network: it is not
    run against the local pair here (127.0.0.1 only); its nodes are checked before anything is written."""
    with pytest.raises(SystemExit) as done:
        main(["--stack", "dc1", "--out", str(tmp_path), "--reload", "ftp://x=/y"])
    assert done.value.code == 2 and "give URL=DIR" in capsys.readouterr().err
    with pytest.raises(CommandError, match="--reload names one stack's file: give exactly one --stack"):
        main(["--out", str(tmp_path), "--reload", f"http://127.0.0.1:1={tmp_path}"])
    assert not list(tmp_path.iterdir())


def test_over_ssh_the_node_gets_exactly_the_files_and_is_read_back(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy's way in (`--reload-nodes`): every file and every API call through one SSH login. A
    stand-in `ssh` runs the remote command here, with the node's /etc/prometheus mapped to its folder,
    so the real `tar`, `mv` and `curl` run against the real Prometheus and Alertmanager."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    folders = {f"node-{index}": str(node.config_dir) for index, node in enumerate(pair.nodes)}
    (bin_dir / "ssh").write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        "args = sys.argv[1:]\n"
        "while args[0] in ('-o', '-p'):\n"
        "    args = args[2:]\n"
        f"folder = {folders!r}[args[0].split('@')[1]]\n"
        "command = args[-1].replace('/etc/prometheus', folder)\n"
        "sys.exit(subprocess.run(['bash', '-c', command]).returncode)\n"
    )
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    first = pair.nodes[0]
    (first.config_dir / "rules" / "gone.rules.yml").write_text("groups: []\n")  # generated once, no more
    (first.config_dir / "secrets").mkdir()
    (first.config_dir / "secrets" / "team.key").write_text("fake-key\n")  # the deploy's, never touched
    nodes = [
        SshNode(
            f"node-{index}",
            tmp_path / "known_hosts",  # the stand-in takes every host key: tests/monitoring/test_host_keys.py
            port=int(node.url.rsplit(":", 1)[1]),
            alertmanager_port=int(str(node.alertmanager_url).rsplit(":", 1)[1]),
        )
        for index, node in enumerate(pair.nodes)
    ]
    files = local_files(REPO)

    done = reload_pair(nodes, files)

    installed, digest = with_revision({name: text.encode() for name, text in files.items()})
    assert "verified webex-deploy@node-1 Alertmanager: config hash" in done[-1]
    for node in pair.nodes:
        on_disk = {
            p.relative_to(node.config_dir).as_posix(): p.read_bytes()
            for p in node.config_dir.glob("**/*.yml")
            if "secrets" not in p.parts
        }
        assert on_disk == installed
        assert revision_of(node.url) == digest
    assert (first.config_dir / "secrets" / "team.key").read_text() == "fake-key\n"
    assert not list(first.config_dir.glob(".incoming*"))  # the staging folder is gone


def test_an_alertmanager_refusing_its_reload_puts_the_whole_node_back(pair: Pair) -> None:
    """Prometheus took the files, its Alertmanager did not: the node's previous files go back and both are
    reloaded onto them, so the node never runs new rules with old routes; the next node is left alone."""
    files = local_files(REPO)
    files["alertmanager.yml"] = "route: {receiver: nobody}\n"  # no such receiver: Alertmanager refuses it
    first, second = pair.nodes
    kept = (first.config_dir / "alertmanager.yml").read_bytes()
    assert first.alertmanager_url is not None
    hash_before = metric(first.alertmanager_url, "alertmanager_config_hash")
    with pytest.raises(ReloadFailed, match=f"{first.url}: Alertmanager refused the new configuration"):
        reload_pair(pair.nodes, files, check=lambda folder: [])
    assert (first.config_dir / "alertmanager.yml").read_bytes() == kept
    assert not (first.config_dir / REVISION_FILE).exists()
    with urllib.request.urlopen(f"{first.url}/api/v1/rules", timeout=5) as answer:
        assert REVISION_RECORD not in answer.read().decode()  # its Prometheus is back on the previous files
    assert metric(first.alertmanager_url, "alertmanager_config_hash") == hash_before
    assert not (second.config_dir / REVISION_FILE).exists()


def test_reload_nodes_of_a_stack_without_monitoring_is_nothing_to_do(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    assert (
        main(
            [
                "--stack",
                "dc1",
                "--project",
                str(project.root),
                "--out",
                str(tmp_path / "out"),
                "--reload-nodes",
            ]
        )
        == 0
    )
    assert (
        "dc1: not monitored (no monitoring section in its stack file): nothing to reload"
        in capsys.readouterr().out
    )
    assert not (tmp_path / "out").exists()  # nothing written, nobody contacted
    with pytest.raises(SystemExit) as done:
        main(["--stack", "dc1", "--reload-nodes", "--reload", f"http://127.0.0.1:1={tmp_path}"])
    assert done.value.code == 2 and "not both" in capsys.readouterr().err
