"""`python -m webex_cloud rollback`: what it refuses as input, and when it pages instead of acting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ProjectCopy
from webex_cloud.commands.rollback import main as rollback
from webex_cloud.exit_codes import ExitCode

URN = (
    "urn:pulumi:dc1::webex-cloud::webex:release:Service$openstack:compute/instance:Instance::m-pod-0-mixer-0"
)
IMAGE = {
    "steps": [
        {
            "op": "update",
            "urn": URN,
            "oldState": {"type": "openstack:compute/instance:Instance"},
            "newState": {"type": "openstack:compute/instance:Instance"},
            "detailedDiff": {"imageName": {"kind": "update"}},
        }
    ]
}


def _argv(project: ProjectCopy, tmp_path: Path, preview: object) -> list[str]:
    (tmp_path / "preview.json").write_text(json.dumps(preview))
    return [
        "--project", str(project.root), "--stack", "dc1", "--state", f"file://{tmp_path / 'state'}",
        "--commit", "b" * 40, "--preview", str(tmp_path / "preview.json"), "--workdir", str(tmp_path / "w"),
        "--summary", str(tmp_path / "summary.md"),
    ]  # fmt: skip


def test_without_a_last_good_deploy_it_pages_and_changes_nothing(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollback(_argv(project, tmp_path, IMAGE)) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert "::error title=PAGE: rollback of dc1 needs a person::no usable last good deploy:" in out
    assert "no last good deploy recorded for dc1" in out
    assert "## PAGE: `dc1` needs a person" in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "w").exists()


def test_an_unreadable_preview_pages_rather_than_guessing(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollback(_argv(project, tmp_path, {"nothing": "here"})) == ExitCode.BLOCKING
    assert "unreadable preview" in capsys.readouterr().out


def test_a_used_workdir_is_refused_as_input(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "left-over").write_text("")
    assert rollback(_argv(project, tmp_path, IMAGE)) == ExitCode.INPUT
    assert "is not empty; name a new folder" in capsys.readouterr().err
