"""Image cleanup (`images --cleanup-after DAYS [--delete]`) and promotion (`images --state`) on the
loopback's real Glance and Nova, with images Glance imported itself (web-download) from 127.0.0.1, as in
test_live_images.py (whose file server, import and clouds.yaml helpers this reuses; tiny placeholder bytes).

Cleanup, in a project of its own, on six images: one a real server boots, one only dc1's last good deploy
names, one the image catalog names, one old and unreferenced, one unreferenced but younger than the age
given, and one the catalog names at first and drops later. The report deletes nothing and lists only the
old unreferenced one; a server booted from the dropped one while `--delete` runs (between its listing and
its re-check) keeps it, read live from Nova; Glance refusing a DELETE (someone protected the image in the
last moment: Glance's 403) stops the run with a clear message and no claim of success; run again, the
deletion removes exactly the old unreferenced image.

Promotion, with the loopback's Glance standing for the canary datacenter (dc1, wave 1) and, in another
project, for a datacenter of the fleet (dc2, wave 2): "ran" is the canary's last good deploy
(deployments/dc1/last-good.json, written after its `up` and bake; webex_cloud/images/promotion.py), whose
deploy verified its image against the canary's Glance (``os_hash_value``) first. The fleet's check before
its import passes while the fleet's catalog pins the bytes the canary's Glance holds, and blocks once the
name is pinned to other bytes (rebuilt on the artifact host), even when the fleet's Glance holds exactly
those other bytes and verifies them.

Glance's API does not let a client set ``created_at``: the test ages its own images in Glance's database
(the loopback's MariaDB on 127.0.0.1, tools/openstack-loopback/etc/glance-api.conf ``[database]``).
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from openstack import exceptions

from tests.conftest import REPO, ProjectCopy
from tests.integration.conftest import Cleanup, boot_server, ensure_flavor, scoped_project
from tests.integration.test_live_images import active, catalog_entry, clouds_entries, importing, serving
from webex_cloud.commands import images as cli
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.exit_codes import ExitCode
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import build

PREFIX = "i28c-"
AGE_DAYS = 30
GLANCE_CONF = REPO / "tools" / "openstack-loopback" / "etc" / "glance-api.conf"
BOOTED, LAST_GOOD, CATALOGUED, OLD, YOUNG, LATE = (
    f"{PREFIX}{n}" for n in ("booted", "last-good", "catalog", "old", "young", "late")
)
#: The promotion's image: what the canary ran, and the rebuild later pinned under the same name.
STORE = f"{PREFIX}store"
RAN = b"i28c-store: the bytes the canary ran\n" * 512
REBUILT = b"i28c-store: rebuilt, other bytes\n" * 512


def served(name: str) -> bytes:
    """Each image's own bytes: no two share a digest (a digest the catalog pins keeps an image)."""
    return f"{name}: a placeholder disk\n".encode() * 256


def project_copy(root: Path, catalog: list[dict[str, Any]], image: str) -> ProjectCopy:
    """The example project with only messaging, an image catalog of ``catalog``, and every instance of
    dc1 and dc2 (pods, controller proxies, monitoring) booting ``image``."""
    copy = ProjectCopy(root)
    for path in (copy.root / "catalog").glob("*.yaml"):
        if path.stem != "messaging":
            path.unlink()
    write_catalog(copy, catalog)
    copy.edit("catalog/messaging.yaml", lambda doc: [m.update(image=image) for m in doc["pods"]["members"]])

    def datacenter(dc: dict[str, Any]) -> None:
        dc["images"] = [image]
        dc["controllers"]["proxies"]["image"] = image
        dc["monitoring"]["instances"]["image"] = image

    for stack in ("dc1", "dc2"):
        copy.edit_datacenter(stack, datacenter)
    return copy


def write_catalog(copy: ProjectCopy, entries: list[dict[str, Any]]) -> None:
    copy.write(
        IMAGE_CATALOG, yaml.safe_dump({"artifact_hosts": ["127.0.0.1"], "images": entries}, sort_keys=False)
    )


def age(image_ids: list[str], days: int) -> None:
    """Backdate ``created_at`` of these images (ours only) in Glance's database."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(GLANCE_CONF)
    url = urlsplit(config["database"]["connection"])
    assert url.hostname == "127.0.0.1", url  # loopback only
    listed = ", ".join(f"'{i}'" for i in image_ids)
    sql = f"UPDATE images SET created_at = UTC_TIMESTAMP() - INTERVAL {days} DAY WHERE id IN ({listed})"
    subprocess.run(
        ["mysql", "-h", url.hostname, "-u", str(url.username), f"-p{url.password}", url.path.strip("/")],
        input=sql,
        text=True,
        check=True,
        timeout=30,
    )


@dataclass
class Site:
    folder: Path
    """What the file server on 127.0.0.1 serves."""
    clouds_yaml: Path
    undo: Cleanup


@pytest.fixture(scope="module")
def site(openstack_conn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("image-cleanup")
    artifacts = folder / "artifacts"
    artifacts.mkdir()
    undo = Cleanup(openstack_conn)
    try:
        with serving(artifacts):
            yield Site(artifacts, folder / "clouds.yaml", undo)
    finally:
        undo.run()


def own_project(admin: Any, site: Site, name: str, users: dict[str, list[str]]) -> tuple[Any, Any, Cleanup]:
    """A project of the test's (deleted at the end with what is in it): the project, the admin's
    connection scoped to it and that connection's Cleanup."""
    scoped = scoped_project(admin, site.undo, f"{PREFIX}{name}", users)
    inside = Cleanup(scoped.conn)
    site.undo.actions.append(inside.run)
    return scoped.project, scoped, inside


def import_all(conn: Any, undo: Cleanup, site: Site, images: dict[str, bytes]) -> dict[str, Any]:
    for name, data in images.items():
        (site.folder / f"{name}.raw").write_bytes(data)
    started = [importing(conn, undo, name) for name in images]  # Glance imports them side by side
    found = {image.name: active(conn, image) for image in started}
    # A protected image cannot be deleted: whatever a test left protected is unprotected first.
    for image in found.values():
        undo.actions.append(functools.partial(unprotect, conn, image.id))
    return found


def unprotect(conn: Any, image_id: str) -> None:
    with contextlib.suppress(exceptions.NotFoundException):  # deleted (by the cleanup under test)
        conn.image.update_image(image_id, is_protected=False)


def images_cli(
    project: ProjectCopy, site: Site, cloud: str, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """The command in this process (the cleanup's hooks below need that), as an operator runs it."""
    argv = ["--project", str(project.root), "--clouds-yaml", str(site.clouds_yaml), "--cloud", cloud]
    code = cli.main([*argv, "--timeout", "60", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_cleanup_removes_only_the_old_unreferenced_image_checking_servers_live(
    openstack_conn: Any,
    site: Site,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = openstack_conn
    project, scoped, undo = own_project(admin, site, "cleanup", {"reader": ["reader"], "operator": ["admin"]})
    conn = scoped.conn
    names = (BOOTED, LAST_GOOD, CATALOGUED, OLD, YOUNG, LATE)
    images = import_all(conn, undo, site, {name: served(name) for name in names})
    ids = {name: image.id for name, image in images.items()}
    age([ids[n] for n in names if n not in (YOUNG, LATE)], AGE_DAYS + 10)
    age([ids[LATE]], AGE_DAYS + 20)  # the oldest: the first candidate of --delete, before OLD
    flavor = ensure_flavor(admin)
    server = undo.server(boot_server(conn, f"{PREFIX}pod-0", flavor=flavor, image=images[BOOTED]))
    clouds_entries(
        site.clouds_yaml,
        {
            f"{PREFIX}reader": (project, scoped.users["reader"]),
            f"{PREFIX}operator": (project, scoped.users["operator"]),
        },
    )
    entries = {n: catalog_entry(n, served(n)) for n in names}
    copy = project_copy(tmp_path / "project", [entries[CATALOGUED], entries[LAST_GOOD]], CATALOGUED)
    state = f"file://{tmp_path / 'state'}"
    store.put(state, build(copy.root, "dc1", "c" * 40))  # dc1 deployed while the catalog named LAST_GOOD
    write_catalog(copy, [entries[CATALOGUED], entries[LATE]])
    records = tmp_path / "records"
    cleanup = [
        "--stack",
        "dc1",
        "--cleanup-after",
        str(AGE_DAYS),
        "--state",
        state,
        "--record-dir",
        str(records),
    ]

    # The report, as the reader: only the old unreferenced image, nothing deleted.
    code, out, err = images_cli(copy, site, f"{PREFIX}reader", *cleanup, "--json", capsys=capsys)
    assert code == ExitCode.OK, err
    assert [c["id"] for c in json.loads(out)["cleanup"]["dc1"]] == [ids[OLD]]
    assert all(admin.image.get_image(i).status == "active" for i in ids.values())

    # The catalog stops naming LATE. While --delete runs, a server boots it after the listing (just
    # before its re-check), and someone protects OLD between its re-check and its DELETE.
    write_catalog(copy, [entries[CATALOGUED]])
    raced: list[Any] = []
    booting: Callable[[Any, str], list[str]] = cli.GlanceAndNova.booting
    delete: Callable[[Any, str], bool] = cli.GlanceAndNova.delete

    def boots_first(self: Any, image_id: str) -> list[str]:
        if image_id == ids[LATE] and not raced:
            raced.append(
                undo.server(boot_server(conn, f"{PREFIX}late-pod", flavor=flavor, image=images[LATE]))
            )
        return booting(self, image_id)

    def protected_first(self: Any, image_id: str) -> bool:
        admin.image.update_image(image_id, is_protected=True)
        return delete(self, image_id)

    monkeypatch.setattr(cli.GlanceAndNova, "booting", boots_first)
    monkeypatch.setattr(cli.GlanceAndNova, "delete", protected_first)
    code, out, err = images_cli(copy, site, f"{PREFIX}operator", *cleanup, "--delete", capsys=capsys)
    assert code == ExitCode.INPUT, (out, err)
    assert out.startswith(f"dc1: cleanup STOPPED, not finished: deleting {ids[OLD]} {OLD} failed"), out
    assert f"error: dc1: the cleanup stopped at a failure, it did not finish: deleting {ids[OLD]}" in err
    assert "deleted       " not in out and "Traceback" not in err
    late_pod = raced[0]
    raced_line = f"kept          {ids[LATE]} {LATE}: booted by server {PREFIX}late-pod ({late_pod.id})"
    assert f"{raced_line} (since the listing)" in out
    assert f"failed        {ids[OLD]} {OLD}: cloud '{PREFIX}operator': Glance: DELETE" in out
    assert all(admin.image.get_image(i).status == "active" for i in ids.values())

    # The operator unprotects it and runs the deletion again: exactly the old unreferenced image goes.
    monkeypatch.undo()
    admin.image.update_image(ids[OLD], is_protected=False)
    code, out, err = images_cli(
        copy, site, f"{PREFIX}operator", *cleanup, "--delete", "--json", capsys=capsys
    )
    assert code == ExitCode.OK, (out, err)
    deletions = json.loads(out)["deletions"]["dc1"]
    assert deletions["finished"] is True
    assert [(c["id"], c["result"]) for c in deletions["candidates"]] == [(ids[OLD], "deleted")]
    kept = {k["id"]: k["reason"] for k in deletions["kept"]}
    assert kept[ids[BOOTED]] == f"booted by server {PREFIX}pod-0 ({server.id})"
    assert kept[ids[LATE]] == f"booted by server {PREFIX}late-pod ({late_pod.id})"
    assert kept[ids[LAST_GOOD]] == f"named by dc1's last good deploy (commit {'c' * 12})"
    assert kept[ids[CATALOGUED]] == f"named by {IMAGE_CATALOG}"
    assert kept[ids[YOUNG]] == f"0 days old, not older than {AGE_DAYS} days"
    assert admin.image.find_image(ids[OLD]) is None
    left = {n for n in names if admin.image.find_image(ids[n]) is not None}
    assert left == set(names) - {OLD}


def test_the_fleet_imports_only_the_bytes_the_canarys_glance_ran(
    openstack_conn: Any, site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = openstack_conn
    canary, canary_scoped, canary_undo = own_project(admin, site, "canary", {"reader": ["reader"]})
    fleet, fleet_scoped, fleet_undo = own_project(admin, site, "fleet", {"reader": ["reader"]})
    clouds_entries(
        site.clouds_yaml,
        {
            "dc1-reader": (canary, canary_scoped.users["reader"]),
            "dc2-reader": (fleet, fleet_scoped.users["reader"]),
        },
    )
    ran = import_all(canary_scoped.conn, canary_undo, site, {STORE: RAN})[STORE]
    assert (ran.hash_algo, ran.hash_value) == ("sha512", hashlib.sha512(RAN).hexdigest())
    copy = project_copy(tmp_path / "project", [catalog_entry(STORE, RAN)], STORE)
    records = ["--record-dir", str(tmp_path / "records")]

    # The canary's deploy: its image verified against its Glance, then (after its up and bake) its record.
    code, out, err = images_cli(copy, site, "dc1-reader", "--stack", "dc1", *records, capsys=capsys)
    assert code == ExitCode.OK and f"ok       {STORE} = {ran.id}" in out, (out, err)
    state = f"file://{tmp_path / 'state'}"
    store.put(state, build(copy.root, "dc1", "a" * 40))

    fleet_check = ["--stack", "dc2", "--before-import", "--state", state, *records]
    code, out, err = images_cli(copy, site, "dc2-reader", *fleet_check, capsys=capsys)
    assert code == ExitCode.OK, (out, err)
    assert (
        f"import   {STORE}" in out and "dc2: promotion: every image ran in the canary with these bytes" in out
    )

    # The artifact host now serves a rebuild under the same name, and the fleet's catalog pins it.
    write_catalog(copy, [catalog_entry(STORE, REBUILT)])
    code, out, err = images_cli(copy, site, "dc2-reader", *fleet_check, capsys=capsys)
    assert code == ExitCode.BLOCKING, (out, err)
    blocked = f"dc1's last good deploy (commit aaaaaaaaaaaa) booted {STORE} with other bytes"
    assert "dc2: promotion: BLOCKING" in out and blocked in out
    # Even with exactly those bytes in the fleet's Glance (verified there), they are not what the canary ran.
    rebuilt = import_all(fleet_scoped.conn, fleet_undo, site, {STORE: REBUILT})[STORE]
    assert (
        rebuilt.hash_value == hashlib.sha512(REBUILT).hexdigest() != admin.image.get_image(ran.id).hash_value
    )
    code, out, err = images_cli(copy, site, "dc2-reader", *fleet_check, capsys=capsys)
    assert code == ExitCode.BLOCKING, (out, err)
    assert f"ok       {STORE} = {rebuilt.id}" in out and blocked in out
