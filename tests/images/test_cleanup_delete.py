"""`images --cleanup-after DAYS --delete` against a Keystone, Glance and Nova on 127.0.0.1 (openstacksdk
and keystoneauth unchanged): it deletes only what nothing keeps, re-reads each candidate immediately
before deleting it, keeps one that a server started to boot (or someone protected) since the listing,
and deletes nothing when an input is unusable or the identity is not the operator's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.fake_cloud import FakeCloud, fake_cloud
from tests.conftest import ProjectCopy
from tests.images.helpers import entry
from tests.images.test_images_cli import at, image_record, placeholder
from webex_cloud.commands import images as cli
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.exit_codes import ExitCode
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import build, record_key

PROJECT_ID = "p1"
"""The project of the stand-in's token (tests/cloud/fake_cloud.py)."""
GLANCE = "/image/v2/images"
SERVERS = "/compute/v2.1/servers/detail"


def aged(name: str, number: int, days: int, **extra: Any) -> dict[str, Any]:
    created = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return image_record(
        name, placeholder(name), number, **{"owner": PROJECT_ID, "created_at": created, **extra}
    )


@pytest.fixture
def state(project: ProjectCopy, tmp_path: Path) -> str:
    """dc1's last good deploy, made while the catalog still had webex-base-2026.08 (its rollback image
    then); the checkout's catalog has dropped it since."""
    url = f"file://{tmp_path / 'state'}"
    old = entry("webex-base-2026.08", sha256="8" * 64, digests={"sha512": "8" * 128})
    project.edit(IMAGE_CATALOG, lambda doc: doc["images"].append(old))
    store.put(url, build(project.root, "dc1", "a" * 40))
    project.edit(IMAGE_CATALOG, lambda doc: doc["images"].pop())
    return url


IMAGES = {
    "deleted": aged("webex-base-2026.07", 1, 120),
    "raced": aged("scratch-raced", 2, 110),
    "protected-since": aged("scratch-protected-since", 3, 100),
    "last-good": aged("webex-base-2026.08", 4, 90),
    "catalog": aged("webex-base-2026.11", 5, 60),
    "young": aged("scratch-young", 6, 5),
    "protected": aged("scratch-protected", 7, 90, protected=True),
    "snapshot": aged("nightly-backup", 8, 90, image_type="backup"),
    "booted": aged("scratch-booted", 9, 90),
    "foreign": aged("someone-elses", 10, 90, owner="another-project"),
    "gone": aged("scratch-deleted-meanwhile", 11, 105),
}
BOOTED = {"id": "s-1", "name": "dc1-messaging-pod-0", "image": {"id": IMAGES["booted"]["id"]}}
RACER = {"id": "s-2", "name": "dc1-scratch", "image": {"id": IMAGES["raced"]["id"]}}


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloud]:
    answers: dict[str, tuple[int, Any]] = {
        GLANCE: (200, {"images": list(IMAGES.values()), "first": "/v2/images"}),
        SERVERS: (200, {"servers": []}),
        **{f"{GLANCE}/{image['id']}": (200, image) for image in IMAGES.values()},
    }
    with fake_cloud(["admin"], answers) as stand_in:
        # The listing sees one server; by the re-check of the second-oldest candidate another boots it.
        stand_in.script[SERVERS] = [
            (200, {"servers": [BOOTED]}),
            (200, {"servers": []}),
            (200, {"servers": [RACER]}),
        ]
        protected_now = {**IMAGES["protected-since"], "protected": True}
        stand_in.script[f"{GLANCE}/{protected_now['id']}"] = [(200, protected_now)]
        # Someone deleted this one after the listing: Glance's 404 on the re-read.
        stand_in.script[f"{GLANCE}/{IMAGES['gone']['id']}"] = [(404, {"message": "not found"})]
        clouds = stand_in.clouds_yaml(tmp_path, "webex-dc1-operator", "webex-dc1-reader")
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
        yield stand_in


def deletes(stand_in: FakeCloud) -> list[str]:
    return [path.rsplit("/", 1)[-1] for method, path in stand_in.requests if method == "DELETE"]


def argv(project: ProjectCopy, state: str, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--stack", "dc1", "--cleanup-after", "30", "--delete", "--state", state,
        "--record-dir", str(tmp_path / "records"), *at(project), *extra,
    ]  # fmt: skip


def test_only_what_nothing_keeps_is_deleted_each_re_checked_first(
    project: ProjectCopy, state: str, cloud: FakeCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv(project, state, tmp_path, "--json")) == ExitCode.OK
    assert deletes(cloud) == [IMAGES["deleted"]["id"]]
    document = json.loads(capsys.readouterr().out)
    assert document["deletions"]["dc1"]["finished"] is True
    outcomes = {o["name"]: o for o in document["deletions"]["dc1"]["candidates"]}
    assert outcomes["webex-base-2026.07"]["result"] == "deleted"
    raced = outcomes["scratch-raced"]
    assert (
        raced["result"] == "kept"
        and "booted by server dc1-scratch (s-2) (since the listing)" in raced["reason"]
    )
    protected = outcomes["scratch-protected-since"]
    assert protected["result"] == "kept" and protected["reason"].startswith("protected (re-checked")
    assert outcomes["scratch-deleted-meanwhile"]["result"] == "gone"
    kept = {k["name"]: k["reason"] for k in document["deletions"]["dc1"]["kept"]}
    assert kept["webex-base-2026.08"] == f"named by dc1's last good deploy (commit {'a' * 12})"
    assert kept["webex-base-2026.11"] == f"named by {IMAGE_CATALOG}"
    assert kept["scratch-booted"] == "booted by server dc1-messaging-pod-0 (s-1)"
    assert kept["scratch-young"].startswith("5 days old")
    assert kept["scratch-protected"] == "protected" and kept["nightly-backup"].startswith("a server backup")
    assert kept["someone-elses"].startswith("owned by project another-project")
    # Each candidate was read again (Glance, then Nova with every project's servers) before its DELETE.
    raced_id = IMAGES["raced"]["id"]
    assert ("GET", f"{GLANCE}/{raced_id}") in cloud.requests
    rechecks = [p for m, p in cloud.requests if m == "GET" and p.startswith(SERVERS) and "image=" in p]
    assert any(f"image={raced_id}" in p and "all_tenants=1" in p for p in rechecks)
    deleted = IMAGES["deleted"]["id"]
    reread = cloud.requests.index(("GET", f"{GLANCE}/{deleted}"))
    servers = next(i for i, (_, p) in enumerate(cloud.requests) if f"image={deleted}" in p)
    assert reread < servers < cloud.requests.index(("DELETE", f"{GLANCE}/{deleted}"))


def test_the_text_report_says_what_was_deleted_and_why_the_rest_was_kept(
    project: ProjectCopy, state: str, cloud: FakeCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv(project, state, tmp_path)) == ExitCode.OK
    out = capsys.readouterr().out
    assert "dc1: deleted 1 of 4 cleanup candidates; 7 other images kept" in out
    assert (
        f"deleted       {IMAGES['deleted']['id']} webex-base-2026.07: 120 days old, nothing keeps it" in out
    )


def test_a_reader_identity_is_refused_and_nothing_is_deleted(
    project: ProjectCopy,
    state: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_cloud(["reader"], {GLANCE: (200, {"images": list(IMAGES.values())})}) as reader:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(reader.clouds_yaml(tmp_path, "webex-dc1-operator")))
        assert cli.main(argv(project, state, tmp_path)) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "needs the operator identity (role 'admin')" in err and "Traceback" not in err
    assert not deletes(reader) and not any(p.startswith(GLANCE) for _, p in reader.requests)


@pytest.mark.parametrize("broken", ["last-good", "record"])
def test_an_unusable_input_deletes_nothing_and_reads_no_cloud(
    broken: str,
    project: ProjectCopy,
    state: str,
    cloud: FakeCloud,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if broken == "last-good":
        path = Path(state.removeprefix("file://")) / record_key("dc1")
    else:
        path = tmp_path / "records" / "dc1.json"
        path.parent.mkdir()
    path.write_text('{"cut in the middle')
    assert cli.main(argv(project, state, tmp_path)) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    assert cloud.requests == []


def test_delete_needs_the_last_good_deploys_and_one_stack(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--cleanup-after", "30", "--delete", "--stack", "dc1", *at(project)]) == ExitCode.INPUT
    assert "give --cleanup-after DAYS and --state URL" in capsys.readouterr().err
    assert (
        cli.main(["--cleanup-after", "30", "--delete", "--state", "file:///x", *at(project)])
        == ExitCode.INPUT
    )
    assert "--delete names one stack's file: give exactly one --stack" in capsys.readouterr().err


def test_a_failed_deletion_stops_the_run_and_reports_what_was_done(
    project: ProjectCopy, state: str, cloud: FakeCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = IMAGES["deleted"]["id"]
    cloud.script[f"DELETE {GLANCE}/{first}"] = [(500, {"message": "internal error"})]
    assert cli.main(argv(project, state, tmp_path)) == ExitCode.INPUT
    out, err = capsys.readouterr()
    assert f"failed        {first} webex-base-2026.07: cloud 'webex-dc1-operator': Glance: DELETE" in out
    assert "not attempted" in out and deletes(cloud) == [first]  # never retried, nothing after it tried
    # The first line says the run did not finish, never "deleted 0 of 4" as if it had; so does stderr.
    assert out.startswith(
        f"dc1: cleanup STOPPED, not finished: deleting {first} webex-base-2026.07 failed; 0 of 4 cleanup "
        "candidates deleted before it, 3 not attempted"
    )
    assert err.startswith(
        f"error: dc1: the cleanup stopped at a failure, it did not finish: deleting {first}"
    )
    cloud.script[f"DELETE {GLANCE}/{first}"] = [(500, {"message": "internal error"})]
    assert cli.main([*argv(project, state, tmp_path), "--json"]) == ExitCode.INPUT
    assert json.loads(capsys.readouterr().out)["deletions"]["dc1"]["finished"] is False
