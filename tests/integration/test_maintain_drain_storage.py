"""`maintain ok-to-stop` and `maintain drain --backend / --failure-domain` against the loopback's real Cinder
(its stock scheduler filters: that ours judge a migration's destination too is test_day2_placement's).

The stack is test_live_audit's cut-down dc1, its inventory the loopback's backends including the family named
after the volume type ``ssd`` (tests/integration/conftest.py ``SSD_BACKENDS``: ssd-a1@ssd and ssd-a2@ssd
in fd-a, ssd-b1@ssd in fd-b, in Cinder's zone ``az-ssd``). messaging's volume group has two replicas of
type ``ssd``, created in a project of the test's own with the plan's names, metadata and group hint, and put
on ssd-a1@ssd (fd-a) and ssd-b1@ssd (fd-b).

What the operator sees is what the drain then does: `ok-to-stop` calls ssd-a1@ssd and ssd-a2@ssd safe
to stop and ssd-b1@ssd, fd-a and fd-b not; each of the latter drains is refused before any change (no
backend of type ssd outside them in a failure domain the sibling replica leaves free), and the volumes,
services and their migration status are as before. Draining ssd-a1@ssd migrates its replica through
Cinder's ``os-migrate_volume`` (the scheduler's filters judge the named destination;
the loopback's driver moves it as a driver-assisted migration) to ssd-a2@ssd, the one backend of its type
in a domain its sibling does not use, as the dry run said; the backend ends disabled with the drain's reason
and the deploy lock released; undrain enables it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import (
    BACKENDS,
    SSD_BACKENDS,
    SSD_ZONE,
    Cleanup,
    create_volume,
    scoped_project,
)
from tests.integration.test_day2_placement import backend, migrate
from tests.integration.test_live_audit import PREFIX, STACK, clouds_file, loopback_plan, purge
from tests.integration.test_plan_placement import cinder_hints
from webex_cloud.cloud.views import MAINTENANCE_MARK
from webex_cloud.exit_codes import ExitCode

TYPE = "ssd"
"""The replicas' volume type, which selects the backends named after it (the plan's convention)."""
START = {"dc1-messaging-messages-0": "ssd-a1@ssd", "dc1-messaging-messages-1": "ssd-b1@ssd"}
TIMEOUT = 300


@dataclass
class Storage:
    plan_path: Path
    clouds_yaml: Path
    admin: Any
    """The loopback's admin, scoped to the test's project."""
    cloud_admin: Any
    """The loopback's admin (its own project): reads every cinder-volume service."""
    ids: dict[str, str]
    """Replica name -> volume UUID."""
    state: Path

    def maintain(self, *argv: str) -> tuple[int, dict[str, Any], str]:
        """The command as an operator runs it, in its own process, with --json."""
        command = [sys.executable, "-m", "webex_cloud", "maintain", *argv, "--stack", STACK]
        command += ["--plan", str(self.plan_path), "--json"]
        if argv[0] != "ok-to-stop":
            command += ["--clouds-yaml", str(self.clouds_yaml), "--cloud", f"{PREFIX}admin"]
            command += ["--timeout", "60"]
        if argv[0] == "drain":
            command += ["--state", f"file://{self.state}"]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout), done.stderr

    def where(self) -> dict[str, tuple[str, str | None, str]]:
        """Replica -> (backend, migration status, status), as Cinder shows them."""
        volumes = {name: self.admin.block_storage.get_volume(i) for name, i in self.ids.items()}
        return {n: (backend(v), v.migration_status, v.status) for n, v in volumes.items()}

    def services(self) -> dict[str, tuple[str, str]]:
        """Each ssd backend's cinder-volume -> (status, disabled reason)."""
        found = self.cloud_admin.block_storage.get("/os-services", params={"binary": "cinder-volume"})
        found.raise_for_status()
        return {
            s["host"]: (s["status"], s.get("disabled_reason") or "")
            for s in found.json()["services"]
            if s["host"] in SSD_BACKENDS
        }

    def give_back(self) -> None:
        """Enable every ssd backend a drain disabled (the test's own undrain may not have been reached)."""
        for host, (status, why) in self.services().items():
            if status == "disabled" and why.startswith(MAINTENANCE_MARK):
                body = {"host": host, "binary": "cinder-volume"}
                self.cloud_admin.block_storage.put("/os-services/enable", json=body).raise_for_status()

    def locks(self) -> list[Path]:
        return sorted((self.state / ".pulumi/locks").rglob("*.json"))


@pytest.fixture(scope="module")
def storage(openstack_conn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    admin = openstack_conn
    folder = tmp_path_factory.mktemp("drain-storage")
    plan_path = loopback_plan(folder, BACKENDS | SSD_BACKENDS)
    plan = json.loads(plan_path.read_text())
    state = folder / "state"
    (state / ".pulumi").mkdir(parents=True)
    (state / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    undo = Cleanup(admin)
    try:
        scoped = scoped_project(admin, undo, f"{PREFIX}storage", {})
        conn = scoped.conn
        if admin.block_storage.find_type(TYPE) is None:
            undo.volume_type(
                admin.block_storage.create_type(name=TYPE, extra_specs={"volume_backend_name": TYPE})
            )
        undo.actions.append(lambda: purge(conn))
        (group,) = plan["services"]["messaging"]["volume_groups"]
        ids = {}
        for urn in group["replicas"]:
            inputs = next(r["inputs"] for r in plan["resources"] if r["urn"] == urn)
            assert inputs["volumeType"] == TYPE, inputs
            volume = create_volume(
                conn,
                inputs["name"],
                volume_type=TYPE,
                metadata=inputs["metadata"],
                scheduler_hints=cinder_hints(inputs),
                availability_zone=SSD_ZONE,
            )
            ids[inputs["name"]] = str(volume.id)
            # Where the test wants it: moved there by Cinder itself when its scheduler chose otherwise.
            if backend(volume) != START[inputs["name"]]:
                migrate(conn, volume.id, START[inputs["name"]])
        clouds = clouds_file(folder / "clouds.yaml", scoped.project, {})
        live = Storage(plan_path, clouds, conn, admin, ids, state)
        assert {n: b for n, (b, _, _) in live.where().items()} == START
        undo.actions.append(live.give_back)
        yield live
    finally:
        undo.run()


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """ok-to-stop's verdict on each single ssd backend and each failure domain."""
    found = {}
    for verdict in report["verdicts"]:
        if verdict["backends"] and not verdict["domains"] and verdict["backends"][0] in SSD_BACKENDS:
            (name,) = verdict["backends"]
            found[name] = verdict["ok"]
        elif verdict["domains"]:
            (name,) = verdict["domains"]
            found[name] = verdict["ok"]
    return found


def test_backend_drains_do_what_ok_to_stop_says(storage: Storage) -> None:
    code, report, stderr = storage.maintain("ok-to-stop")
    assert code == ExitCode.OK, stderr
    said = verdicts(report)
    assert said == {
        "ssd-a1@ssd": True,
        "ssd-a2@ssd": True,
        "ssd-b1@ssd": False,
        "fd-a": False,
        "fd-b": False,
    }, report["verdicts"]

    before, services = storage.where(), storage.services()
    assert all(status == "enabled" for status, _ in services.values()), services
    # Each one ok-to-stop calls unsafe is refused before any change.
    for target, safe in said.items():
        if safe:
            continue
        option = "--backend" if "@" in target else "--failure-domain"
        code, report, stderr = storage.maintain("drain", option, target)
        assert code == ExitCode.BLOCKING, (target, stderr)
        assert report["refused"] and "moved" not in report, report
        assert storage.where() == before and storage.services() == services and storage.locks() == []

    # ssd-a1@ssd is safe to stop: its replica goes where its sibling (fd-b) leaves room, fd-a's other
    # ssd backend, as the dry run says.
    code, dry, stderr = storage.maintain("drain", "--backend", "ssd-a1@ssd", "--dry-run")
    assert code == ExitCode.OK, stderr
    planned = [(m["volume"], m["from"], m["to"]) for m in dry["moves"]]
    assert planned == [("dc1-messaging-messages-0", "ssd-a1@ssd", "ssd-a2@ssd")], dry
    assert storage.where() == before and storage.services() == services and storage.locks() == []

    code, done, stderr = storage.maintain("drain", "--backend", "ssd-a1@ssd")
    assert code == ExitCode.OK, stderr
    assert [(m["volume"], m["from"], m["to"]) for m in done["moved"]] == planned, done
    assert done["left_on_backends"] == [] and storage.locks() == []
    after = storage.where()
    assert after == {
        "dc1-messaging-messages-0": ("ssd-a2@ssd", "success", "available"),
        "dc1-messaging-messages-1": before["dc1-messaging-messages-1"],
    }
    assert len({SSD_BACKENDS[b] for b, _, _ in after.values()}) == 2, after
    status, why = storage.services()["ssd-a1@ssd"]
    assert status == "disabled" and why.startswith(MAINTENANCE_MARK), why
    assert {h: s for h, s in storage.services().items() if h != "ssd-a1@ssd"} == {
        h: s for h, s in services.items() if h != "ssd-a1@ssd"
    }

    code, _, stderr = storage.maintain("undrain", "--backend", "ssd-a1@ssd")
    assert code == ExitCode.OK, stderr
    # Cinder's enable keeps the last disabled_reason (cinder 21 api/contrib/services.py ``update``: only a
    # disable sets it); nothing of ours reads a reason without the service being disabled.
    enabled = {h: status for h, (status, _) in storage.services().items()}
    assert enabled == dict.fromkeys(SSD_BACKENDS, "enabled")
