"""`python -m webex_cloud images` as a user meets it: offline catalog checks, the live verification of
each stack's Glance (through a fake session serving recorded Glance records), exit codes, the record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, ProjectCopy
from tests.images.helpers import ENDPOINT, catalog_document, entry, records
from webex_cloud.cloud.access import Access
from webex_cloud.cloud.errors import CloudError
from webex_cloud.commands import images as cli
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.config.image_ids import load_registered_images
from webex_cloud.config.loader import load_deployment
from webex_cloud.exit_codes import ExitCode

USED = ("webex-base-2026.11", "webex-media-2026.11", "webex-store-2026.11")


def placeholder(name: str) -> bytes:
    return f"{name} placeholder bytes\n".encode()


def image_record(name: str, data: bytes, number: int, **extra: Any) -> dict[str, Any]:
    ident = f"7b2e0000-0000-4000-8000-{number:012d}"
    return {
        **records()[0],
        "id": ident,
        "name": name,
        "self": f"/v2/images/{ident}",
        "file": f"/v2/images/{ident}/file",
        "size": len(data),
        "checksum": hashlib.md5(data).hexdigest(),
        "os_hash_value": hashlib.sha512(data).hexdigest(),
        **extra,
    }


def at(project: ProjectCopy) -> list[str]:
    return ["--project", str(project.root)]


class FakeSession:
    """Glance as the session sees it: ``GET /images?name=`` answered from ``images``, one page."""

    def __init__(self, images: list[dict[str, Any]]) -> None:
        self.images = images
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def endpoint(self, service: str) -> str:
        return ENDPOINT

    def get(self, service: str, url: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        self.requests.append((service, url, dict(params or {})))
        name = (params or {}).get("name")
        return {"images": [i for i in self.images if i["name"] == name], "first": "/v2/images"}

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *args: object) -> None:
        return None


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ProjectCopy]:
    copy = ProjectCopy(tmp_path / "project")
    # No previous images: a first deployment.
    entries = [
        entry(
            name,
            sha256=hashlib.sha256(placeholder(name)).hexdigest(),
            digests={"sha512": hashlib.sha512(placeholder(name)).hexdigest()},
        )
        for name in USED
    ]
    copy.write(IMAGE_CATALOG, yaml.safe_dump(catalog_document(*entries), sort_keys=False))
    yield copy


@pytest.fixture
def glance(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    session = FakeSession([image_record(n, placeholder(n), i) for i, n in enumerate(USED, 1)])
    opened: list[tuple[str, Access]] = []

    def connect(cloud: str, access: Access, clouds_yaml: Path | None, timeout: float) -> FakeSession:
        opened.append((cloud, access))
        assert access is Access.READ
        return session

    monkeypatch.setattr(cli, "connect", connect)
    session.opened = opened  # type: ignore[attr-defined]
    return session


def test_the_checkout_passes_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--offline"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "every image of dc1, dc2 pinned" in out and "webex-base-2026.11" in out


def test_an_offered_image_missing_from_the_catalog_exits_2_naming_file_field_and_fix(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["images"].append("webex-base-2026.12"))
    assert cli.main(["--offline", "--stack", "dc1", *at(project)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert (
        "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.images[3]: image 'webex-base-2026.12' "
        "is not in catalog/images/images.yaml; add an entry for it there" in err
    ) and "Traceback" not in err


def test_a_malformed_checksum_exits_2_naming_the_catalog_field(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(IMAGE_CATALOG, lambda doc: doc["images"][1].update(sha256="not-a-digest"))
    assert cli.main(["--offline", *at(project)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert (
        "catalog/images/images.yaml: images[1].sha256: not a sha256 digest" in err and "Traceback" not in err
    )


def test_a_name_kept_for_other_bytes_than_the_base_catalog_blocks(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base-images.yaml"
    base.write_text((project.root / IMAGE_CATALOG).read_text())
    project.edit(IMAGE_CATALOG, lambda doc: doc["images"][0].update(sha256="2" * 64))
    assert cli.main(["--offline", "--base", str(base), *at(project)]) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert "BLOCKING webex-base-2026.11: the name is kept for other bytes" in out
    assert "dc1: controllers, meetings-signalling, messaging, monitoring, recording-storage; dc2: " in out
    assert cli.main(["--offline", "--base", str(tmp_path / "none.yaml"), *at(project)]) == ExitCode.INPUT


def test_every_image_verified_exits_0_and_records_the_ids(
    project: ProjectCopy, glance: FakeSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "records"
    assert cli.main(["--stack", "dc1", "--record-dir", str(out_dir), *at(project)]) == ExitCode.OK
    assert "dc1: every image verified" in capsys.readouterr().out
    record = json.loads((out_dir / "dc1.json").read_text())
    assert record["verified"] is True and record["source"]["cloud"] == "webex-dc1-reader"
    assert {i["name"]: i["id"] for i in record["images"]} == {i["name"]: i["id"] for i in glance.images}
    assert glance.opened == [("webex-dc1-reader", Access.READ)]  # type: ignore[attr-defined]
    assert {(s, u) for s, u, _ in glance.requests} == {("image", "/images")}


def test_other_bytes_in_one_datacenter_exit_1_and_name_the_pods_that_may_not_change(
    project: ProjectCopy, glance: FakeSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    glance.images[1] = image_record("webex-media-2026.11", b"a half-uploaded disk\n", 9)
    assert (
        cli.main(["--stack", "dc1", "--record-dir", str(tmp_path), "--json", *at(project)])
        == ExitCode.BLOCKING
    )
    document = json.loads(capsys.readouterr().out)
    [stack] = document["stacks"]
    media = next(i for i in stack["images"] if i["name"] == "webex-media-2026.11")
    assert stack["verified"] is False and media["id"] is None
    assert "meetings-media" in media["users"] and "its bytes are not the catalog's" in media["findings"][0]
    assert json.loads((tmp_path / "dc1.json").read_text())["verified"] is False


MONITOR = "webex-monitor-2026.11"


def test_every_image_the_stack_registers_is_verified_the_monitoring_nodes_included(
    project: ProjectCopy, glance: FakeSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The monitoring pair boots an image nothing else boots: the stack registers it as a resource
    (Glance imports it), so the deploy's verification must judge it before the pair may change."""
    data = placeholder(MONITOR)
    digests = {"sha512": hashlib.sha512(data).hexdigest()}
    project.edit(
        IMAGE_CATALOG,
        lambda doc: doc["images"].append(
            entry(MONITOR, sha256=hashlib.sha256(data).hexdigest(), digests=digests)
        ),
    )

    def boot_it(dc: dict[str, Any]) -> None:
        dc["images"].append(MONITOR)
        dc["monitoring"]["instances"]["image"] = MONITOR

    project.edit_datacenter("dc1", boot_it)
    argv = ["--stack", "dc1", "--record-dir", str(tmp_path), "--json", *at(project)]
    assert cli.main(argv) == ExitCode.BLOCKING
    [stack] = json.loads(capsys.readouterr().out)["stacks"]
    monitor = next(i for i in stack["images"] if i["name"] == MONITOR)
    assert monitor["users"] == ["monitoring"] and monitor["findings"][0].startswith("not in Glance of dc1")
    # What the program registers is what was judged: one list (config/image_ids.py booted_by).
    deployment = load_deployment(project.root, "dc1")
    registered = {i.entry.name for i in load_registered_images(project.root, deployment, {})}
    judged = {i["name"] for section in ("rollback", "retiring") for i in stack[section].values()}
    assert registered == judged | {i["name"] for i in stack["images"]}
    glance.images.append(image_record(MONITOR, data, 77))
    assert cli.main(argv) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["stacks"][0]["verified"] is True


def test_before_the_import_only_an_image_not_there_yet_passes(
    project: ProjectCopy, glance: FakeSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--before-import` (the deploy's step before its targeted import): absent is what the import
    creates; other bytes under the name an import would not cure (it would add a second image)."""
    argv = ["--stack", "dc1", "--record-dir", str(tmp_path), "--before-import", *at(project)]
    media = glance.images.pop(1)
    assert cli.main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    assert "dc1: 1 to import, every other image verified" in out
    assert "  import   webex-media-2026.11 (used by meetings-media, telepresence-gateway): not in this" in out
    assert cli.main(argv[:-3] + at(project)) == ExitCode.BLOCKING  # without it: not verified
    capsys.readouterr()
    glance.images.append(image_record(media["name"], b"a half-uploaded disk\n", 9))
    assert cli.main(argv) == ExitCode.BLOCKING
    assert "BLOCKING webex-media-2026.11" in capsys.readouterr().out
    assert cli.main(["--offline", "--before-import", *at(project)]) == ExitCode.INPUT
    assert "--before-import judges what this datacenter's Glance holds" in capsys.readouterr().err


def test_an_unusable_cloud_exits_2_without_a_traceback(
    project: ProjectCopy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object) -> None:
        raise CloudError("cloud 'webex-dc1-reader': the token carries the role member")

    monkeypatch.setattr(cli, "connect", refuse)
    assert cli.main(["--stack", "dc1", *at(project)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "the token carries the role member" in err and "Traceback" not in err


def test_cloud_names_one_datacenter(project: ProjectCopy, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--cloud", "x", *at(project)]) == ExitCode.INPUT
    assert "--cloud names one stack's file: give exactly one --stack" in capsys.readouterr().err


def test_the_deploy_checks_the_images_before_it_previews_or_changes_anything() -> None:
    """The deploy job of a stack fails at the image check (exit 1 or 2 fails a `run` step), so the
    preview and `pulumi up` after it never run: no pod changes onto an image not verified there."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy-stack.yml").read_text())
    steps = workflow["jobs"]["up"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    check = next(i for i, run in enumerate(runs) if "--record-dir out/images " in f"{' '.join(run.split())} ")
    # The only pulumi run before it applies the image resources alone (test_deploy_image_steps.py).
    first_pulumi = next(
        i for i, run in enumerate(runs) if "pulumi preview" in run or "--continue-on-error" in run
    )
    assert check < first_pulumi
    assert all("--target" in run for run in runs[:check] if "pulumi up" in run)
    assert "continue-on-error" not in steps[check] and "if" not in steps[check]
    assert "|| true" not in runs[check] and "set +e" not in runs[check]


# A datacenter that takes signed images only (``signed_images: true`` in its stack file): an offered
# image whose catalog entry has no signature is refused offline, and one whose Glance image lacks the
# catalog's signature properties is not verified there. Other datacenters are not held to it.
SIGNATURE = {
    "img_signature": "c2lnbmF0dXJl",
    "img_signature_hash_method": "SHA-256",
    "img_signature_key_type": "RSA-PSS",
    "img_signature_certificate_uuid": "0b5f6a3e-3c1a-4d7e-9f7a-2d1c0e5b4a39",
}


def sign(doc: dict[str, Any]) -> None:
    for image in doc["images"]:
        image["signature"] = dict(SIGNATURE)


def test_an_unsigned_image_is_refused_where_the_stack_takes_signed_images_only(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc2", lambda dc: dc.update(signed_images=True))
    assert cli.main(["--offline", "--stack", "dc1", *at(project)]) == ExitCode.OK  # dc1 does not ask
    capsys.readouterr()
    assert cli.main(["--offline", "--stack", "dc2", *at(project)]) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert (
        f"stacks/Pulumi.dc2.yaml: config.webex-cloud:datacenter.images[0]: image '{USED[0]}' has no "
        f"signature in {IMAGE_CATALOG}, and this datacenter takes signed images only (signed_images: true)"
    ) in err
    assert err.count("has no signature") == len(USED) and "Traceback" not in err
    project.edit(IMAGE_CATALOG, sign)
    assert cli.main(["--offline", "--stack", "dc2", *at(project)]) == ExitCode.OK


def test_a_glance_image_without_the_signature_is_not_verified(
    project: ProjectCopy, glance: FakeSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.update(signed_images=True))
    project.edit(IMAGE_CATALOG, sign)
    argv = ["--stack", "dc1", "--record-dir", str(tmp_path), *at(project)]
    assert cli.main(argv) == ExitCode.BLOCKING
    assert "signature property img_signature is None, not the catalog's" in capsys.readouterr().out
    for image in glance.images:
        image.update(SIGNATURE)
    assert cli.main(argv) == ExitCode.OK
