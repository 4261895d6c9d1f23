"""The reload sequence proven against two real Prometheus processes on 127.0.0.1 (Debian's 2.42.0):
a rule change is checked, then applied one node at a time without a restart; a change the tools refuse
touches no node; a node that refuses its reload gets its files back and the next node is left alone.

The nodes load the generated rules with a prometheus.yml of their own that scrapes nothing: the generated
one would scrape the management network, and these tests talk to 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import subprocess
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
from webex_cloud.monitoring_ops.reload import Node, ReloadFailed, reload_pair

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
            self.nodes.append(Node(url=f"http://127.0.0.1:{port}", config_dir=folder))
        deadline = time.monotonic() + 60
        for node in self.nodes:
            while True:
                try:
                    with urllib.request.urlopen(f"{node.url}/-/ready", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"{node.url} did not become ready"
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
    require("prometheus", "promtool", "amtool")
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
    done = reload_pair(pair.nodes, local_files(project.root))
    assert done[-2:] == [f"reloaded {pair.nodes[0].url}", f"reloaded {pair.nodes[1].url}"]
    for node, process in zip(pair.nodes, pair.processes, strict=True):
        assert process.poll() is None  # the same process: reloaded, not restarted
        queries = [q for name, q in rules_of(node.url) if floor in name]
        assert any('service="messaging"' in q and q.endswith("< 1") for q in queries), queries


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
    with pytest.raises(ReloadFailed, match=f"{first.url} refused the new configuration"):
        reload_pair(pair.nodes, files, check=lambda folder: [])
    assert (first.config_dir / "rules" / "pods.rules.yml").read_text() == kept
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
