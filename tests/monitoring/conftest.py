"""dc1's monitoring pair behind stand-ins, for the reload tests that go through its SSH login."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloud.fake_cloud import FakeCloud, fake_cloud
from tests.conftest import REPO, ProjectCopy
from tests.monitoring import host_keys_stand_in as keys
from tests.stacks import monitoring_node
from webex_cloud.commands.monitoring import main

NODES = [
    str(a)
    for a in yaml.safe_load((REPO / "stacks/Pulumi.dc1.yaml").read_text())["config"][
        "webex-cloud:datacenter"
    ]["monitoring"]["nodes"]
]


@dataclass
class Stand:
    cloud: FakeCloud
    keys: Path
    bin: Path
    out: Path
    project: Path
    """dc1 with fake secrets for its pair (tests/stacks/monitoring_node.py: add_fake_secrets)."""

    def console(self, address: str, text: str) -> None:
        self.cloud.answers[keys.action_path(keys.server_id(address))] = keys.console_answer(text)

    def reload(self, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        code = main(
            ["--stack", "dc1", "--project", str(self.project), "--out", str(self.out), "--reload-nodes"]
        )
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    def logins(self) -> list[dict[str, Any]]:
        calls = self.bin / "ssh.jsonl"
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    def installed(self, address: str) -> bool:
        return (self.bin / "nodes" / address / "etc/prometheus/prometheus.yml").exists()


@pytest.fixture
def stand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    """dc1's two nodes, each with its console in a Nova on 127.0.0.1 and its sshd's key; the deploy's
    reader identity (identities.reader) logs in there."""
    bin_dir = tmp_path / "bin"
    monitoring_node.install(bin_dir, pulumi=True)
    monitoring_node.add_fake_secrets(ProjectCopy(tmp_path / "project").root / "stacks/Pulumi.dc1.yaml")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(keys.KEYS_ENV, str(tmp_path / "keys"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where this run's known_hosts lives, to see it go
    with fake_cloud(["reader"], keys.nova_answers(tmp_path / "keys", NODES)) as cloud:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml(tmp_path, "webex-dc1-reader")))
        yield Stand(cloud, tmp_path / "keys", bin_dir, tmp_path / "out", tmp_path / "project")
