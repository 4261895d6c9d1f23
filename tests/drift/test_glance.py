"""Glance inside drift's report (webex_cloud/drift/glance.py through `drift`): the image each managed
server runs, read once per image from Glance, deleted, deactivated or replaced under its name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.drift.fakes import IMAGE_ID, Site, glance_image, site
from tests.drift.test_cli import argv, run_cli, served
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import INSTANCE, Plan

OTHER = "0b8c1f7e-7e0c-4c53-9d1f-6f1b1b1b0999"


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


def _glance(monkeypatch: pytest.MonkeyPatch, listed: list[GlanceImage], by_id: dict[str, Any]) -> list[str]:
    """Glance as the command reads it: ``listed`` for the listing; ``by_id`` an image, None (404) or a
    CloudError for each GET by id, which are recorded."""
    asked: list[str] = []

    def read_image(session: object, image_id: str) -> GlanceImage | None:
        asked.append(image_id)
        found = by_id[image_id]
        if isinstance(found, CloudError):
            raise found
        return found  # type: ignore[no-any-return]

    monkeypatch.setattr("webex_cloud.commands.drift.read_images", lambda session: tuple(listed))
    monkeypatch.setattr("webex_cloud.commands.drift.read_image", read_image)
    return asked


def _names(dc1: Site) -> set[str]:
    return {r["outputs"]["imageName"] for r in dc1.resources if r["type"] == INSTANCE}


def _report(
    dc1: Site, plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, Any]:
    code, out, _ = run_cli(argv(plan_file, tmp_path, dc1, "--json", "--glance"), capsys)
    return code, json.loads(out)


def test_images_as_glance_holds_them_are_no_drift_and_each_is_read_once(
    dc1: Site, plan_file: Path, served: list[Inventory], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    served.append(dc1.inventory())
    listed = [glance_image(IMAGE_ID, name) for name in _names(dc1)]  # each name the servers booted
    asked = _glance(monkeypatch, listed, {IMAGE_ID: glance_image(IMAGE_ID)})
    code, report = _report(dc1, plan_file, tmp_path, capsys)
    assert code == ExitCode.OK and report["drift"] == [] and report["could_not_check"] == []
    assert asked == [IMAGE_ID]  # one GET for the image every server runs, not one per server
    run_cli(argv(plan_file, tmp_path, dc1, "--json"), capsys)  # without --glance, Glance is not read
    assert asked == [IMAGE_ID]


@pytest.mark.parametrize(
    ("listed", "found", "kind", "field"),
    [
        ([], None, "image-deleted", "image"),
        ([], "deactivated", "image-deactivated", "image.status"),
        ([OTHER], "active", "image-replaced", "imageName"),
    ],
)
def test_an_image_deleted_deactivated_or_replaced_under_its_name_is_reported_on_every_server_running_it(
    dc1: Site, plan_file: Path, served: list[Inventory], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, listed: list[str], found: str | None, kind: str, field: str,
) -> None:  # fmt: skip
    served.append(dc1.inventory())
    names = _names(dc1)
    image = None if found is None else glance_image(IMAGE_ID, status=found)
    _glance(monkeypatch, [glance_image(i, n) for i in listed for n in names], {IMAGE_ID: image})
    code, report = _report(dc1, plan_file, tmp_path, capsys)
    assert code == ExitCode.OK  # a warning: the deploy's own image check blocks what it boots
    servers = {r["id"] for r in dc1.resources if r["type"] == INSTANCE}
    assert {d["id"] for d in report["drift"]} == servers
    assert {(d["kind"], d["field"], d["risk"], d["up"]) for d in report["drift"]} == {
        (kind, field, "warn", "nothing")
    }
    if kind == "image-replaced":
        assert {d["observed"] for d in report["drift"]} == {OTHER}
        assert all(any(f"{n!r}" in d["message"] for n in names) for d in report["drift"])


def test_an_image_that_cannot_be_read_is_not_judged_and_says_why(
    dc1: Site, plan_file: Path, served: list[Inventory], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    served.append(dc1.inventory())
    _glance(monkeypatch, [], {IMAGE_ID: CloudError("cloud 'x': Glance: GET failed: 503", 503)})
    code, report = _report(dc1, plan_file, tmp_path, capsys)
    assert code == ExitCode.OK and report["drift"] == []
    (unread,) = report["could_not_check"]
    assert unread.startswith(f"image {IMAGE_ID} of ") and "503" in unread

    def refused(session: object) -> tuple[GlanceImage, ...]:
        raise CloudError("cloud 'x': Glance: GET /images failed: 403", 403)

    monkeypatch.setattr("webex_cloud.commands.drift.read_images", refused)
    code, report = _report(dc1, plan_file, tmp_path, capsys)
    assert code == ExitCode.OK
    assert report["could_not_check"] == [
        "the servers' images in Glance: the images cannot be listed "
        "(cloud 'x': Glance: GET /images failed: 403)"
    ]


__all__ = ["served"]
