"""`python -m webex_cloud images` against the loopback's real Glance: images imported by Glance itself
(web-download) from a server on 127.0.0.1, then verified by Glance's own digest of the bytes it stored.

A file server on 127.0.0.1 port 80 (Glance's web-download accepts ports 80 and 443 by default,
``[import_filtering_opts] allowed_ports``, glance/async_/flows/_internal_plugins/__init__.py, Zed; a
loopback address only when it is in ``allowed_hosts``, which the loopback's glance-api.conf sets, Debian's
glance 2:25.1.0-2+deb12u5 glance/common/utils.py ``resolve_pinned_address``) serves three placeholder
disks. The image catalog of a copy of the project pins:

- ``i28-good``: the bytes served; it must become active with ``os_hash_value`` = sha512 of those bytes and
  verify (exit 0, its Glance id recorded);
- ``i28-wrong``: the catalog's digests are those of other bytes than the server sends (a mistyped
  checksum, or a file replaced on the artifact host): Glance imports it anyway (its import takes no
  expected hash), and the check refuses it (exit 1) naming the image and the fix;
- ``i28-pending``: created but never imported (an upload still under way): not active, so the pods that
  boot it wait (exit 1).

Everything is created in a project of its own (prefix ``i28-``), deleted at the end.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, ProjectCopy
from tests.integration.conftest import CLOUD, CLOUDS_YAML, Cleanup, scoped_project, wait_for
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.exit_codes import ExitCode

PREFIX = "i28-"
STACK = "dc1"
SERVED = {
    name: f"{name}: a placeholder disk, {size} bytes\n".encode() * size
    for name, size in (("i28-good", 4096), ("i28-wrong", 2048), ("i28-pending", 1024))
}
#: What the catalog pins for i28-wrong: not what the server sends.
PINNED_WRONG = b"the bytes that were tested\n" * 2048
IMPORT_TIMEOUT = 180
CHECK_TIMEOUT = 300


def pinned(name: str) -> bytes:
    return PINNED_WRONG if name == "i28-wrong" else SERVED[name]


def catalog_entry(name: str, data: bytes | None = None) -> dict[str, Any]:
    """The catalog line of ``name`` served from 127.0.0.1, pinning ``data`` (default: what this
    module's catalog pins)."""
    data = pinned(name) if data is None else data
    return {
        "name": name,
        "source": f"http://127.0.0.1/{name}.raw",
        "sha256": hashlib.sha256(data).hexdigest(),
        "digests": {"sha512": hashlib.sha512(data).hexdigest()},
        "disk_format": "raw",
        "container_format": "bare",
        "min_disk_gb": 0,
        "min_ram_mb": 0,
    }


@dataclass
class Site:
    project: ProjectCopy
    clouds_yaml: Path
    admin: Any
    """Admin connection scoped to the test's project."""
    ids: dict[str, str]

    def use(self, app: str, store: str) -> None:
        """Messaging's pods boot ``app`` and ``store``; the controller proxies boot i28-good."""

        def messaging(doc: dict[str, Any]) -> None:
            for member in doc["pods"]["members"]:
                member["image"] = app if member["role"] == "app" else store

        self.project.edit("catalog/messaging.yaml", messaging)

    def check(self, record_dir: Path) -> tuple[int, dict[str, Any], str]:
        argv = [
            sys.executable,
            "-m",
            "webex_cloud",
            "images",
            "--stack",
            STACK,
            "--project",
            str(self.project.root),
        ]
        argv += ["--clouds-yaml", str(self.clouds_yaml), "--cloud", f"{PREFIX}reader", "--timeout", "60"]
        argv += ["--record-dir", str(record_dir), "--json"]
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=CHECK_TIMEOUT)
        assert done.returncode in (ExitCode.OK, ExitCode.BLOCKING), done.stderr
        return done.returncode, json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def artifact_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("artifacts")
    for name, data in SERVED.items():
        (folder / f"{name}.raw").write_bytes(data)
    with serving(folder):
        yield folder


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[None]:
    """``folder``'s files at http://127.0.0.1/<name> (what Glance's web-download fetches), while open."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 80), handler)
    except OSError as error:
        pytest.fail(
            f"cannot serve the images on 127.0.0.1:80 ({error}): Glance's web-download fetches from ports "
            "80 and 443 only; run the integration tier as root (scripts/test.sh does) with port 80 free",
            pytrace=False,
        )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def project_copy(folder: Path) -> ProjectCopy:
    copy = ProjectCopy(folder / "project")
    for path in (copy.root / "catalog").glob("*.yaml"):
        if path.stem != "messaging":
            path.unlink()
    copy.write(
        IMAGE_CATALOG,
        yaml.safe_dump(
            {"artifact_hosts": ["127.0.0.1"], "images": [catalog_entry(n) for n in SERVED]}, sort_keys=False
        ),
    )

    def datacenter(dc: dict[str, Any]) -> None:
        dc["images"] = sorted(SERVED)
        dc["controllers"]["proxies"]["image"] = "i28-good"
        dc["monitoring"]["instances"]["image"] = "i28-good"

    copy.edit_datacenter(STACK, datacenter)
    return copy


def clouds_file(path: Path, project: Any, reader: tuple[str, str]) -> Path:
    return clouds_entries(path, {f"{PREFIX}reader": (project, reader)})


def clouds_entries(path: Path, entries: dict[str, tuple[Any, tuple[str, str]]]) -> Path:
    """A clouds.yaml of the loopback's with one entry per name: (project, (user, password))."""
    admin = yaml.safe_load(CLOUDS_YAML.read_text())["clouds"][CLOUD]
    clouds = {}
    for name, (project, (user, password)) in entries.items():
        auth = {**admin["auth"], "project_name": project.name, "username": user, "password": password}
        clouds[name] = {**admin, "auth": auth}
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    path.chmod(0o600)
    return path


def created(conn: Any, images: Cleanup, name: str) -> Any:
    """A queued image of this name, deleted at the end whatever happens next. Duplicates are allowed: the
    admin sees other projects' images, and a killed run's may still be there."""
    return images.image(
        conn.image.create_image(name=name, disk_format="raw", container_format="bare", allow_duplicates=True)
    )


def imported(conn: Any, images: Cleanup, name: str) -> Any:
    """Create the image and have Glance import its catalog source (web-download); wait until active."""
    return active(conn, importing(conn, images, name))


def importing(conn: Any, images: Cleanup, name: str) -> Any:
    """Create the image and have Glance start importing its catalog source (web-download)."""
    image = created(conn, images, name)
    # Sent by hand: openstacksdk's import_image drops Glance's answer, so a refused import (400, "does not
    # pass filtering") would only show as an image that never becomes active.
    method = {"name": "web-download", "uri": f"http://127.0.0.1/{name}.raw"}
    response = conn.image.post(f"/images/{image.id}/import", json={"method": method})
    assert response.status_code == 202, f"{name}: Glance refused the import: {response.text}"
    return image


def active(conn: Any, image: Any) -> Any:
    """``image`` once Glance's import of it finished (it fails the test if the import failed)."""

    def probe() -> Any:
        current = conn.image.get_image(image)
        failed = (current.properties or {}).get("os_glance_failed_import")
        assert current.status != "killed" and not failed, (
            f"{image.name}: the import failed ({current.status}, {failed})"
        )
        return current if current.status == "active" else None

    return wait_for(f"{image.name} to be imported by Glance", probe, timeout=IMPORT_TIMEOUT)


@pytest.fixture(scope="module")
def site(
    openstack_conn: Any, artifact_host: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    admin = openstack_conn
    folder = tmp_path_factory.mktemp("live-images")
    undo = Cleanup(admin)
    try:
        scoped = scoped_project(admin, undo, f"{PREFIX}images", {"reader": ["reader"]})
        project, conn = scoped.project, scoped.conn
        images = Cleanup(conn)
        undo.actions.append(images.run)
        ids = {name: imported(conn, images, name).id for name in ("i28-good", "i28-wrong")}
        ids["i28-pending"] = created(conn, images, "i28-pending").id
        yield Site(
            project_copy(folder),
            clouds_file(folder / "clouds.yaml", project, scoped.users["reader"]),
            conn,
            ids,
        )
    finally:
        undo.run()


def test_1_an_image_glance_imported_from_127_0_0_1_is_active_with_its_digest_and_verifies(
    site: Site, tmp_path: Path
) -> None:
    image = site.admin.image.get_image(site.ids["i28-good"])
    assert (image.status, image.hash_algo) == ("active", "sha512")
    assert image.hash_value == hashlib.sha512(SERVED["i28-good"]).hexdigest()
    site.use("i28-good", "i28-good")
    code, report, stderr = site.check(tmp_path)
    assert code == ExitCode.OK, (report, stderr)
    [stack] = report["stacks"]
    assert [(i["name"], i["id"], i["verified"]) for i in stack["images"]] == [
        ("i28-good", site.ids["i28-good"], True)
    ]
    assert json.loads((tmp_path / f"{STACK}.json").read_text())["images"][0]["id"] == site.ids["i28-good"]


def test_2_a_wrong_checksum_and_an_image_not_yet_imported_block_the_pods_that_boot_them(
    site: Site, tmp_path: Path
) -> None:
    wrong = site.admin.image.get_image(site.ids["i28-wrong"])
    assert wrong.status == "active"  # Glance's import took the bytes: it is given no expected hash
    site.use("i28-wrong", "i28-pending")
    code, report, _ = site.check(tmp_path)
    assert code == ExitCode.BLOCKING
    verdicts = {i["name"]: i for i in report["stacks"][0]["images"]}
    assert verdicts["i28-good"]["verified"] is True  # the proxies' image
    assert verdicts["i28-wrong"]["id"] is None and verdicts["i28-wrong"]["users"] == ["messaging"]
    assert "its bytes are not the catalog's" in verdicts["i28-wrong"]["findings"][0]
    assert site.ids["i28-wrong"] in verdicts["i28-wrong"]["findings"][0]
    assert "queued, not active" in verdicts["i28-pending"]["findings"][0]
    assert report["stacks"][0]["verified"] is False
