"""The cleanup report never names an image a pod, a rollback or the catalog still needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.images.helpers import records
from tests.images.test_images_cli import FakeSession, at, image_record, placeholder
from webex_cloud.cloud.images import parse_image
from webex_cloud.cloud.views import parse_server
from webex_cloud.commands import images as cli
from webex_cloud.config.image_catalog import IMAGE_CATALOG, load_catalog
from webex_cloud.exit_codes import ExitCode
from webex_cloud.images.cleanup import Keep, catalog_pins, judge

NOW = datetime(2027, 1, 15, tzinfo=UTC)
OWNER = records()[0]["owner"]
CATALOG_BASE = next(e for e in load_catalog(REPO).entries if e.name == "webex-base-2026.11")


def old(name: str, number: int, days: int, **extra: Any) -> dict[str, Any]:
    created = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return image_record(name, placeholder(name), number, **{"created_at": created, **extra})


def candidates(raw: list[dict[str, Any]], **kept: set[str]) -> list[str]:
    names, digests = catalog_pins(load_catalog(Path(__file__).resolve().parents[2]), "the catalog")
    ids = {i: "held" for i in kept.get("in_use", set()) | kept.get("recorded", set())}
    keep = Keep(OWNER, NOW, timedelta(days=30), names, digests, ids)
    found, _ = judge([parse_image(r) for r in raw], keep)
    return [c.name for c in found]


def test_only_an_old_unreferenced_image_of_the_project_is_a_candidate() -> None:
    raw = [
        old("webex-base-2026.09", 1, 90),  # no catalog entry, nobody boots it, old: the candidate
        old("webex-base-2026.10", 2, 60),  # a catalog entry (the rollback image of 2026.11)
        old("scratch-young", 3, 5),  # too young
        old("scratch-booted", 4, 90),  # an instance boots it
        old("scratch-recorded", 5, 90),  # the last verification record holds it
        old("scratch-protected", 6, 90, protected=True),
        old("someone-elses", 7, 90, owner="another-project"),
        old("no-date", 8, 90, created_at="yesterday"),
        old("a-server-snapshot", 9, 90, image_type="snapshot"),  # a shelved server's disk, maybe
        # The bytes of a catalog image under another name (a copy an operator renamed): kept.
        old("renamed-copy", 10, 90, os_hash_value=CATALOG_BASE.digests["sha512"]),
        old("being-deleted", 11, 90, status="pending_delete"),  # Glance's delayed delete has it
    ]
    in_use = {raw[3]["id"]}
    recorded = {raw[4]["id"]}
    assert candidates(raw, in_use=in_use, recorded=recorded) == ["webex-base-2026.09"]


def test_nova_names_the_image_a_server_boots_and_none_for_a_volume_boot() -> None:
    """servers/detail carries ``image: {id, links}``, or "" for a server booted from a volume."""
    booted = {"id": "s1", "name": "x", "image": {"id": "img-1", "links": []}}
    assert parse_server(booted).image_id == "img-1"
    assert parse_server({"id": "s2", "name": "y", "image": ""}).image_id == ""


class CleanupSession(FakeSession):
    def __init__(self, images: list[dict[str, Any]], servers: list[dict[str, Any]]) -> None:
        super().__init__(images)
        self.servers = servers
        self.project_id = OWNER

    def get(self, service: str, url: str, params: Any = None) -> Any:
        self.requests.append((service, url, dict(params or {})))
        return (
            {"images": self.images}
            if (params or {}).get("name") is None
            else super().get(service, url, params)
        )

    def listing(self, service: str, path: str, key: str) -> Any:
        self.requests.append((service, path, {}))
        return iter(self.servers)


def test_the_cleanup_report_reads_glance_and_nova_and_deletes_nothing(
    project: ProjectCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "datetime", type("Now", (), {"now": staticmethod(lambda tz: NOW)}))
    images = [old("webex-base-2026.09", 1, 90), old("scratch", 2, 90), old("webex-base-2026.11", 3, 90)]
    session = CleanupSession(images, [{"id": "s", "name": "dc1-x", "image": {"id": images[1]["id"]}}])
    monkeypatch.setattr(cli, "connect", lambda *args: session)
    (tmp_path / "dc1.json").write_text(json.dumps({"images": [], "rollback": {}}))
    argv = ["--stack", "dc1", "--cleanup-after", "30", "--record-dir", str(tmp_path), *at(project)]
    assert cli.main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"cleanup candidate {images[0]['id']} webex-base-2026.09 (90 days" in out
    assert "scratch" not in out and "nothing was deleted: the operator deletes them with --delete" in out
    assert "the last good deploys were not read: give --state" in out
    assert all(service in ("image", "compute") for service, _, _ in session.requests)
    assert (project.root / IMAGE_CATALOG).is_file()


def test_a_broken_record_is_refused_naming_it(
    project: ProjectCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "connect", lambda *args: CleanupSession([], []))
    (tmp_path / "dc1.json").write_text("{not json")
    argv = ["--stack", "dc1", "--cleanup-after", "30", "--record-dir", str(tmp_path), *at(project)]
    assert cli.main(argv) == ExitCode.INPUT
    assert f"{tmp_path / 'dc1.json'}: not a verification record" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--cleanup-after", "0"])
    capsys.readouterr()
    assert cli.main(["--cleanup-after", "30", "--offline"]) == ExitCode.INPUT
    assert "cannot be --offline" in capsys.readouterr().err
