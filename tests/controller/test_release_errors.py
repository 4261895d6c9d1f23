"""An unbuildable filter release stops the program before anything is registered, with a clean message."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from webex_cloud.commands import filter_release as filter_release_command
from webex_cloud.commands import plan as plan_cli
from webex_cloud.config.errors import CatalogError
from webex_cloud.controller import filter_release as release
from webex_cloud.controller.wheel import WheelBuildError
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan import capture


@pytest.fixture
def broken_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real scheduler-filters source copied and given an invalid pyproject.toml."""
    source = tmp_path / "scheduler-filters"
    shutil.copytree(
        release.FILTERS_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    (source / "pyproject.toml").write_text("[project\nname = 'broken'\n", encoding="utf-8")
    monkeypatch.setattr(release, "FILTERS_SOURCE", source)
    monkeypatch.setattr(release, "WHEEL_DIR", tmp_path / "wheels")
    return source


@pytest.fixture
def monitors(monkeypatch: pytest.MonkeyPatch) -> list[capture.RecordingMonitor]:
    """Every recording monitor the plan creates, to look at its registrations after a failure."""
    created: list[capture.RecordingMonitor] = []

    class Keeping(capture.RecordingMonitor):
        def __init__(self, mock: Any) -> None:
            super().__init__(mock)
            created.append(self)

    monkeypatch.setattr(capture, "RecordingMonitor", Keeping)
    return created


def test_a_broken_filter_source_registers_nothing_and_reads_cleanly(
    broken_filters: Path, monitors: list[capture.RecordingMonitor]
) -> None:
    with pytest.raises(CatalogError) as caught:
        capture.run_program(REPO, "dc1")
    message = str(caught.value)
    assert "the scheduler-filter release could not be built, nothing was registered or changed: " in message
    assert f"{broken_filters / 'pyproject.toml'}: not valid TOML" in message
    assert "Traceback" not in message
    (monitor,) = monitors
    assert monitor.registrations == []  # not the provider, not the router, not a service


def test_an_unwritable_wheel_folder_is_reported_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, monitors: list[capture.RecordingMonitor]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setattr(release, "WHEEL_DIR", blocker / "wheels")
    with pytest.raises(CatalogError) as caught:
        capture.run_program(REPO, "dc1")
    assert "the scheduler-filter release could not be built" in str(caught.value)
    assert "cannot build the wheel" in str(caught.value)
    assert monitors[0].registrations == []


def test_the_offline_plan_prints_the_message_without_a_traceback(
    broken_filters: Path, project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = project.root / "build" / "plan"
    code = plan_cli.main(["--stack", "dc1", "--project", str(project.root), "--out", str(out_dir)])
    captured = capsys.readouterr()
    assert code == ExitCode.INPUT
    assert "the scheduler-filter release could not be built" in captured.err
    assert "not valid TOML" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out_dir.exists()


def test_the_release_module_cli_exits_with_the_message(
    broken_filters: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert filter_release_command.main([]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "not valid TOML" in err and "Traceback" not in err


def test_a_wheel_build_error_anywhere_in_the_build_is_mapped(
    monkeypatch: pytest.MonkeyPatch, monitors: list[capture.RecordingMonitor]
) -> None:
    def fail(source: Path, out_dir: Path) -> Any:
        raise WheelBuildError(f"{source / 'pyproject.toml'}: project.version is required (a string)")

    monkeypatch.setattr(release, "build_wheel", fail)
    with pytest.raises(CatalogError) as caught:
        capture.run_program(REPO, "dc2")
    assert "project.version is required" in str(caught.value)
    assert monitors[0].registrations == []
