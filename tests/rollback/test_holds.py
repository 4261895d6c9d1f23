"""A held service: `plan` plans its last good release in place of the refused one, and refuses any
other change to it until the hold is removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ProjectCopy
from webex_cloud.commands.plan import main as plan
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.holds import HOLDS_FILE, Hold, digest, read_holds, write_hold
from webex_cloud.config.loader import load_catalog
from webex_cloud.exit_codes import ExitCode

FILE = "catalog/meetings-media.yaml"


def _hold(project: ProjectCopy, bad: str) -> str:
    good = (project.root / FILE).read_text()
    hold = Hold(
        held=digest(good),
        refused=digest(bad),
        catalog=good,
        stack="dc1",
        commit="b" * 40,
        last_good_commit="a" * 40,
        since="2026-12-06T23:00:00Z",
        reason="[gate] dc1/meetings-media wave 1/4 FAILED after 600.0s",
    )
    write_hold(project.root, "meetings-media", hold)
    return good


def _image(text: str, image: str) -> str:
    return text.replace("webex-media-2026.11", image)


def _plan(project: ProjectCopy, out: Path) -> dict[str, object]:
    code = plan(["--stack", "dc1", "--project", str(project.root), "--out", str(out), "--no-policy"])
    assert code == ExitCode.OK
    document: dict[str, object] = json.loads((out / "dc1.json").read_text())
    return document


def test_plan_plans_the_held_release_in_place_of_the_refused_one(
    project: ProjectCopy, tmp_path: Path
) -> None:
    before = _plan(project, tmp_path / "before")
    bad = _image((project.root / FILE).read_text(), "webex-media-2026.12")
    _hold(project, bad)
    project.write(FILE, bad)  # the catalog still names the release that was rolled back
    assert _plan(project, tmp_path / "held")["resources"] == before["resources"]


def test_any_other_change_to_a_held_service_is_refused_with_the_way_out(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _hold(project, _image((project.root / FILE).read_text(), "webex-media-2026.12"))
    project.write(FILE, good.replace("count: 4", "count: 5"))
    code = plan(
        ["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path / "p"), "--no-policy"]
    )
    assert code == ExitCode.INPUT
    err = capsys.readouterr().err
    assert (
        f"{FILE}: service 'meetings-media' is held at its last good release since the rollback of dc1" in err
    )
    assert f"remove holds.meetings-media from {HOLDS_FILE} in the same pull request" in err
    assert not (tmp_path / "p" / "dc1.json").exists()


def test_the_good_text_itself_is_accepted_and_a_removed_hold_frees_the_service(project: ProjectCopy) -> None:
    good = _hold(project, "anything else\n")
    names = [service.name for _, service in load_catalog(project.root)]
    assert "meetings-media" in names
    (project.root / HOLDS_FILE).unlink()
    project.write(FILE, good.replace("count: 4", "count: 5"))
    assert read_holds(project.root).by_service == {}
    assert any(s.pods.count == 5 for _, s in load_catalog(project.root) if s.name == "meetings-media")


def test_a_broken_holds_file_names_the_field(project: ProjectCopy) -> None:
    (project.root / HOLDS_FILE).parent.mkdir()
    (project.root / HOLDS_FILE).write_text("holds:\n  meetings-media: {held: nope}\n")
    with pytest.raises(CatalogError) as raised:
        load_catalog(project.root)
    assert f"{HOLDS_FILE}: holds.meetings-media.held" in str(raised.value)
