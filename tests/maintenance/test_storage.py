"""Draining Cinder backends: the command end to end against the fake Nova's Cinder side (cinder 21.1.0's
``os-migrate_volume``, its refusals and its ``migration_status``), behind the session."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.maintenance.fake_nova import FakeNova
from tests.maintenance.http_stand_in import served
from tests.maintenance.test_drain import backend, connect_to, lock_files, nova, run
from webex_cloud.audit.expected import Expected, ExpectedGroup, expected_from_plan
from webex_cloud.cloud import operations, views
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain
from webex_cloud.maintenance.storage import plan_storage_drain
from webex_cloud.plan import format as tokens
from webex_cloud.plan.format import read_plan

__all__ = ["backend"]
SPARE_DOMAIN = {"rack-e": ["cinder-dc1-e@ssd", "cinder-dc1-e@capacity"]}
DRAINED = "cinder-dc1-a@ssd"


@pytest.fixture
def five_domains(plan_file: Path, tmp_path: Path) -> Path:
    """dc1 with a fifth storage rack: a backend of each type can go and every group stays N+1."""
    document = json.loads(plan_file.read_text())
    document["datacenter"]["failure_domains"] |= SPARE_DOMAIN
    path = tmp_path / "dc1-five-domains.json"
    path.write_text(json.dumps(document))
    return path


def cinder(expected: Expected, plan_path: Path) -> FakeNova:
    """The example deployed (replica N in domain N), each volume with its plan's volume type."""
    fake = nova(expected)
    fake.backends = [b for members in expected.failure_domains.values() for b in members]
    types = {
        r.inputs["name"]: r.inputs["volumeType"]
        for r in read_plan(plan_path).resources
        if r.type == tokens.VOLUME
    }
    for record in fake.cloud.volumes:
        record["volume_type"] = types[record["name"]]
    return fake


@pytest.fixture
def storage(five_domains: Path, monkeypatch: pytest.MonkeyPatch, backend: Path) -> tuple[FakeNova, Expected]:
    expected = expected_from_plan(read_plan(five_domains), str(five_domains))
    fake = cinder(expected, five_domains)
    connect_to(fake, monkeypatch)
    monkeypatch.setattr("webex_cloud.maintenance.storage.POLL", 0.0)
    return fake, expected


def on(fake: FakeNova, backend_name: str) -> list[dict[str, Any]]:
    return [v for v in fake.cloud.volumes if str(v[views.BACKEND_FIELD]).partition("#")[0] == backend_name]


def spread(fake: FakeNova, expected: Expected) -> dict[str, list[str | None]]:
    """Each group's replicas' failure domains, as the live volumes are placed."""
    where = {v["name"]: expected.domain_of(str(v[views.BACKEND_FIELD])) for v in fake.cloud.volumes}
    return {g.key: [where[name] for name in g.replicas] for g in expected.groups}


def test_a_backend_drain_that_would_break_n_plus_one_is_refused_before_any_change(
    plan_file: Path,
    expected: Expected,
    monkeypatch: pytest.MonkeyPatch,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = cinder(expected, plan_file)
    connect_to(fake, monkeypatch)
    argv = ["drain", "--stack", "dc1", "--plan", str(plan_file), "--backend", DRAINED, "--json"]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.BLOCKING and "Traceback" not in err
    assert any("no valid backend" in reason for reason in json.loads(out)["refused"])
    assert fake.sent == [] and lock_files(backend) == []


@pytest.mark.parametrize("target", [["--backend", DRAINED], ["--failure-domain", "rack-a"]])
def test_a_drain_migrates_each_replica_one_at_a_time_into_a_domain_its_siblings_leave_free(
    storage: tuple[FakeNova, Expected],
    five_domains: Path,
    backend: Path,
    target: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, expected = storage
    drained = [DRAINED] if target[0] == "--backend" else list(expected.failure_domains["rack-a"])
    leaving = {v["name"] for b in drained for v in on(fake, b)}
    # One replica is attached to a running server: Nova's swap volume moves it under the server.
    attached = next(v for v in fake.cloud.volumes if v["name"] in leaving)
    server = fake.cloud.servers[0]
    attached.update({"status": "in-use", "attachments": [{"server_id": server["id"]}]})
    in_flight: list[int] = []
    send = fake.send

    def one_at_a_time(service: str, method: str, url: str, body: Any = None, headers: Any = None) -> None:
        if body and "os-migrate_volume" in body:
            in_flight.append(len(fake.volume_moves))
            assert lock_files(backend), "a migration outside the deploy lock"
        send(service, method, url, body, headers)

    fake.send = one_at_a_time  # type: ignore[method-assign]
    argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), *target, "--json"]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert {m["volume"] for m in report["moved"]} == leaving and in_flight == [0] * len(leaving)
    assert next(m for m in report["moved"] if m["volume"] == attached["name"])["attached"] is True
    assert all(on(fake, b) == [] for b in drained) and report["left_on_backends"] == []
    for key, domains in spread(fake, expected).items():
        assert len(set(domains)) == len(domains), f"{key}: two replicas in one failure domain"
    types = {v["name"]: v["volume_type"] for v in fake.cloud.volumes}
    assert all(m["to"].partition("@")[2] == types[m["volume"]] for m in report["moved"])
    assert all(fake.backends_disabled[b].startswith(drain.MARK) for b in drained)
    assert lock_files(backend) == [] and not [v for v in fake.cloud.volumes if v["id"].endswith("-target")]
    code, _, err = run(["undrain", "--stack", "dc1", "--plan", str(five_domains), *target], capsys)
    assert code == ExitCode.OK, err
    assert fake.backends_disabled == {}


def test_a_dry_run_prints_the_migrations_and_changes_nothing(
    storage: tuple[FakeNova, Expected], five_domains: Path, backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _ = storage
    leaving = sorted(v["name"] for v in on(fake, DRAINED))
    argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED, "--dry-run"]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert sorted(re.findall(r"^would migrate (\S+) ", out, re.MULTILINE)) == leaving
    assert f"dry run: would take the deploy lock, disable {DRAINED}" in out
    assert fake.sent == [] and fake.backends_disabled == {} and lock_files(backend) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"multiattach": True, "servers": 2}, "attached to 2 servers (multiattach)"),
        ({"encrypted": True, "servers": 1}, "does not swap encrypted volumes"),
        ({"server_status": "SHELVED_OFFLOADED", "servers": 1}, "is SHELVED_OFFLOADED"),
        ({"snapshot": True, "servers": 0}, "has snapshots"),
    ],
)
def test_a_replica_cinder_or_nova_would_not_move_is_refused_before_any_change(
    storage: tuple[FakeNova, Expected],
    five_domains: Path,
    backend: Path,
    change: dict[str, Any],
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, _ = storage
    replica = on(fake, DRAINED)[-1]
    servers = fake.cloud.servers[: change["servers"]]
    if servers:
        replica.update({"status": "in-use", "attachments": [{"server_id": s["id"]} for s in servers]})
    replica["multiattach"] = change.get("multiattach", False)
    replica["encrypted"] = change.get("encrypted", False)
    if "server_status" in change:
        servers[0]["status"] = change["server_status"]
    if change.get("snapshot"):
        fake.snapshots.append({"id": "snap-1", "volume_id": replica["id"]})
    argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED, "--json"]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.BLOCKING and "Traceback" not in err
    (refused,) = json.loads(out)["refused"]
    assert refused.startswith(f"replica {replica['name']} of ") and reason in refused
    assert fake.sent == [] and fake.backends_disabled == {} and lock_files(backend) == []


def test_a_migration_cinder_refused_stops_the_drain_whole_and_the_rerun_goes_on(
    storage: tuple[FakeNova, Expected], five_domains: Path, backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, expected = storage
    before = {v["name"] for v in on(fake, DRAINED)}
    fake.refuse_backends = set(fake.backends)  # the scheduler refuses every destination
    argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED, "--json"]
    code, out, err = run(argv, capsys)
    report = json.loads(out)
    assert code == ExitCode.INPUT and "ended error" in err and "stay(s) disabled" in err, err
    assert report["moved"] == [] and {v["name"] for v in on(fake, DRAINED)} == before
    assert fake.backends_disabled[DRAINED].startswith(drain.MARK) and lock_files(backend) == []
    fake.refuse_backends = set()
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert {m["volume"] for m in json.loads(out)["moved"]} == before and on(fake, DRAINED) == []
    assert all(len(set(d)) == len(d) for d in spread(fake, expected).values())


def test_a_migration_a_killed_drain_left_is_waited_for_before_anything_is_planned(
    storage: tuple[FakeNova, Expected], five_domains: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, expected = storage
    left = on(fake, DRAINED)[0]
    operations.migrate_volume(fake, left["id"], "cinder-dc1-e@ssd")  # type: ignore[arg-type]
    fake.get("block_storage", f"/volumes/{left['id']}")  # migrating: its copy is in the listing
    assert [v["name"] for v in fake.cloud.volumes].count(left["name"]) == 2
    argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert f"waiting for {left['name']}, which Cinder is migrating (migrating)" in out
    assert on(fake, DRAINED) == [] and all(len(set(d)) == len(d) for d in spread(fake, expected).values())


def test_undrain_enables_only_a_backend_a_drain_disabled(
    storage: tuple[FakeNova, Expected], five_domains: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _ = storage
    fake.backends_disabled[DRAINED] = "array firmware, ticket 4711"
    argv = ["undrain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED]
    code, _, err = run(argv, capsys)
    assert code == ExitCode.INPUT and "disabled by someone else" in err
    code, _, err = run([*argv, "--force"], capsys)
    assert code == ExitCode.OK and fake.backends_disabled == {}


def test_a_drain_of_hosts_and_backends_at_once_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["drain", "--stack", "dc1", "--host", "h", "--backend", DRAINED], capsys)
    assert code == ExitCode.INPUT and "not both in one run" in err
    code, _, err = run(["evacuate", "--stack", "dc1", "--backend", DRAINED], capsys)
    assert code == ExitCode.INPUT and "evacuate needs --host" in err


def test_a_backend_drain_through_openstacksdk_against_a_stand_in_on_127_0_0_1(
    five_domains: Path,
    backend: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same drain with the command's own session: every request over HTTP, as Cinder would get it."""
    expected = expected_from_plan(read_plan(five_domains), str(five_domains))
    fake = cinder(expected, five_domains)
    monkeypatch.setattr("webex_cloud.maintenance.storage.POLL", 0.0)
    leaving = {v["name"] for v in on(fake, DRAINED)}
    with served(fake, ["admin"]) as cloud:
        yaml = cloud.clouds_yaml(tmp_path, "ops")
        argv = ["drain", "--stack", "dc1", "--plan", str(five_domains), "--backend", DRAINED]
        code, out, err = run([*argv, "--cloud", "ops", "--clouds-yaml", str(yaml), "--json"], capsys)
    assert code == ExitCode.OK, err
    assert {m["volume"] for m in json.loads(out)["moved"]} == leaving and on(fake, DRAINED) == []
    writes = [(method, path.split("/v3/p1", 1)[-1]) for method, path in cloud.requests if method != "GET"]
    migrations = [path for method, path in writes if path.endswith("/action")]
    assert writes[1:] == [("PUT", "/os-services/disable-log-reason")] + [("POST", p) for p in migrations]
    assert len(migrations) == len(leaving) and fake.backends_disabled[DRAINED].startswith(drain.MARK)
    assert all(len(set(d)) == len(d) for d in spread(fake, expected).values())


def test_a_replica_stays_in_its_own_domain_when_it_can_and_never_joins_a_sibling() -> None:
    domains = {"r1": ("s1@ssd", "s1b@ssd"), "r2": ("s2@ssd",), "r3": ("s3@ssd",)}
    group = ExpectedGroup("svc", "data", "dc/svc/data", ("data-0", "data-1"))
    expected = Expected("dc", (), domains, (), (group,))
    volumes = [
        views.Volume("v0", "data-0", "in-use", {}, "s1@ssd", volume_type="ssd", attached_to=("srv",)),
        views.Volume("v1", "data-1", "available", {}, "s2@ssd", volume_type="ssd"),
    ]
    running = [views.Server("srv", "pod-0", "ACTIVE", {}, "h", "host-1")]
    # Its own domain keeps the group's spread as it was, even beside an emptier domain.
    (move,) = plan_storage_drain(expected, volumes, running, ["s1@ssd"]).moves
    assert (move.to_backend, move.attached) == ("s1b@ssd", True)
    # With its whole domain drained: the free domain, never its sibling's.
    (move,) = plan_storage_drain(expected, volumes, running, ["s1@ssd", "s1b@ssd"]).moves
    assert move.to_backend == "s3@ssd"
    # With no free domain left: refused, the sibling's domain named.
    refused = plan_storage_drain(expected, volumes, running, ["s1@ssd", "s1b@ssd", "s3@ssd"])
    assert refused.moves == () and "siblings do not use (r2)" in refused.refusals[0]
