"""The drain's steps, each alone, and the command end to end against a fake Nova behind a Session."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from tests.audit.fakes import deployed
from tests.maintenance.fake_nova import FakeNova
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import operations, views
from webex_cloud.cloud.session import Session
from webex_cloud.commands import maintain as cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain, lock
from webex_cloud.maintenance.gate import pod_gates
from webex_cloud.maintenance.moves import Move
from webex_cloud.plan import format as tokens
from webex_cloud.plan.format import read_plan
from webex_cloud.release.probe import Check, GateSpec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def nova(expected: Expected, choose: Any = None) -> FakeNova:
    spare = expected.hosts[-1]
    return FakeNova(deployed(expected), list(expected.hosts), choose or (lambda record: spare))


def session(fake: FakeNova) -> Session:
    return cast(Session, fake)


def test_cordon_is_done_once_and_undrain_enables_only_what_a_drain_disabled(expected: Expected) -> None:
    fake = nova(expected)
    host = expected.hosts[0]
    (service,) = drain.compute_services(session(fake), [host]).values()
    assert drain.cordon(session(fake), service, drain.reason("dc1", "ops"))
    assert fake.disabled[host].startswith(drain.MARK)
    (service,) = drain.compute_services(session(fake), [host]).values()
    assert not drain.cordon(session(fake), service, "again")
    assert drain.uncordon(session(fake), service) and host not in fake.disabled
    fake.disabled[host] = "RMA ticket 4711"
    (service,) = drain.compute_services(session(fake), [host]).values()
    with pytest.raises(drain.DrainError, match="someone else"):
        drain.uncordon(session(fake), service)
    assert drain.uncordon(session(fake), service, force=True)


def test_a_host_nova_does_not_know_is_an_error(expected: Expected) -> None:
    with pytest.raises(drain.DrainError, match="no nova-compute service on nope"):
        drain.compute_services(session(nova(expected)), ["nope"])


def test_wait_moved_follows_the_migration_to_its_new_host(expected: Expected) -> None:
    fake = nova(expected)
    record = fake.cloud.servers[0]
    fake.migrating[record["id"]] = "elsewhere"
    clock = Clock()
    server = drain.wait_moved(session(fake), record["id"], record[views.HOST_FIELD], 60, clock, clock.sleep)
    assert server.host == "elsewhere" and server.status == "ACTIVE"


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ({"status": "ERROR"}, "went to ERROR"),
        ({"status": "MIGRATING", "OS-EXT-STS:task_state": "migrating"}, "still migrating after 60 s"),
    ],
)
def test_wait_moved_fails_on_error_and_on_time(
    expected: Expected, after: dict[str, Any], message: str
) -> None:
    fake = nova(expected)
    record = fake.cloud.servers[0]
    record.update(after)
    clock = Clock()
    with pytest.raises(drain.DrainError, match=message):
        drain.wait_moved(session(fake), record["id"], record[views.HOST_FIELD], 60, clock, clock.sleep)


def test_a_migration_nova_rolled_back_is_reported_not_waited_for_forever(expected: Expected) -> None:
    fake = nova(expected)
    record = fake.cloud.servers[0]  # never migrating: Nova answered 202 and did nothing
    clock = Clock()
    with pytest.raises(drain.DrainError, match="Nova did not move"):
        drain.wait_moved(session(fake), record["id"], record[views.HOST_FIELD], 600, clock, clock.sleep)
    assert clock.now <= drain.START_GRACE + drain.POLL


def test_a_member_that_lands_away_from_its_anchor_stops_the_drain(expected: Expected) -> None:
    hosts = iter(["h-a", "h-b"])
    fake = nova(expected, lambda record: next(hosts))
    pod = next(p for p in expected.pods if len(p.instances) > 1)
    ids = {s["name"]: s["id"] for s in fake.cloud.servers}
    moves = tuple(
        Move(pod.service, pod.name, name, ids[name], "from", anchor=(i == 0))
        for i, name in enumerate(pod.instances[:2])
    )
    for name in pod.instances[:2]:
        next(s for s in fake.cloud.servers if s["name"] == name)[views.HOST_FIELD] = "from"
    with pytest.raises(drain.DrainError, match="is split"):
        drain.move_pod(session(fake), moves, 60, lambda _: None)


@pytest.fixture
def responder() -> Iterator[int]:
    """A TCP service on 127.0.0.1 that accepts every connection: the moved pods, serving."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def gated_plan(plan_file: Path, responder: int, tmp_path: Path) -> Path:
    """dc1's plan with every health gate probing 127.0.0.1:<responder> (as tests/release/test_bake.py
    maps the gates: never dc1's own addresses), quickly, with a 1 s deadline."""
    document = json.loads(plan_file.read_text())
    for resource in document["resources"]:
        if resource["type"] != tokens.LOCAL_COMMAND:
            continue
        spec = GateSpec.from_json(resource["inputs"]["create"])
        check = Check(protocol="tcp", port=responder, timeout_s=0.2, interval_s=0.05, successes=2)
        targets = tuple(dataclasses.replace(t, address="127.0.0.1", check=check) for t in spec.targets)
        resource["inputs"]["create"] = dataclasses.replace(spec, targets=targets, deadline_s=1).to_json()
    path = tmp_path / "dc1.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file:// state backend in the project layout (meta.yaml version 1), named by PULUMI_BACKEND_URL."""
    root = tmp_path / "state"
    (root / ".pulumi").mkdir(parents=True)
    (root / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{root}")
    return root


def lock_files(backend: Path) -> list[Path]:
    folder = backend / ".pulumi/locks/organization/webex-cloud/dc1"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def pulumi_reads(lock: dict[str, Any]) -> bool:
    """Whether the engine's ``checkForLock`` can read the file: ``json.Unmarshal`` into ``lockContent``
    (pulumi/pulumi pkg/backend/diy/lock.go at 3.260.0-dev, 1b59498): an int pid, two strings, and an
    RFC 3339 timestamp (Go's ``time.Time`` JSON form)."""
    return (
        isinstance(lock["pid"], int)
        and isinstance(lock["username"], str)
        and isinstance(lock["hostname"], str)
        and datetime.fromisoformat(lock["timestamp"]).tzinfo is not None
    )


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, expected: Expected, backend: Path) -> FakeNova:
    """The command with its session replaced by the fake Nova (the operator identity is assumed)."""
    fake = nova(expected, lambda record: expected.hosts[-1])
    # One whole pod on a host the example can spare (the proof allows draining it).
    pod = next(p for p in expected.pods if p.service == "messaging" and len(p.instances) > 1)
    for record in fake.cloud.servers:
        if record["name"] in pod.instances:
            record[views.HOST_FIELD] = expected.hosts[-2]

    connect_to(fake, monkeypatch)
    return fake


def connect_to(fake: FakeNova, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's session replaced by ``fake`` (the operator identity is assumed), without waits."""

    class Connected:
        def __enter__(self) -> FakeNova:
            return fake

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr(cli, "connect", lambda *args: Connected())
    monkeypatch.setattr(drain, "POLL", 0.0)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_dry_run_prints_the_moves_and_changes_nothing(
    operator: FakeNova, gated_plan: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    host = expected.hosts[-2]
    code, out, _ = run(
        ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, "--dry-run"], capsys
    )
    assert code == ExitCode.OK and "would move pod messaging-pod-" in out and "dry run" in out
    assert operator.sent == []


def test_a_drain_that_would_break_n_plus_one_is_refused_before_any_change(
    operator: FakeNova, gated_plan: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--json"]
    for host in expected.hosts[:-2]:
        argv += ["--host", host]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.BLOCKING and "refused:" in err
    assert json.loads(out)["refused"] and operator.sent == []


def test_a_drain_empties_the_host_and_keeps_it_disabled(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]
    held: list[dict[str, Any]] = []
    choose = operator.choose

    def watching(record: dict[str, Any]) -> str:
        # What a `pulumi up` would find beside each move: the lock file, in the engine's format.
        held.extend(json.loads(p.read_text()) for p in lock_files(backend))
        return choose(record)

    operator.choose = watching
    on_host = {s["name"] for s in operator.cloud.servers if s[views.HOST_FIELD] == host}
    code, out, err = run(
        ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, "--json"], capsys
    )
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert on_host and {m["server"] for m in report["moved"]} == on_host and report["left_on_hosts"] == []
    assert not [s for s in operator.cloud.servers if s[views.HOST_FIELD] == host]
    assert operator.disabled[host].startswith(drain.MARK)
    assert [g["result"] for g in report["gates"]] == ["passed"] and lock_files(backend) == []
    assert len(held) == len(on_host) and all(pulumi_reads(lock) for lock in held)
    code, _, _ = run(["undrain", "--stack", "dc1", "--host", host], capsys)
    assert code == ExitCode.OK and host not in operator.disabled


def test_a_drain_nova_refuses_stops_with_the_host_disabled_and_says_how_to_go_on(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = expected.hosts[-2]
    operator.choose = lambda record: host  # Nova rolls every live migration back: nothing leaves
    monkeypatch.setattr(drain, "START_GRACE", 0.0)
    code, out, err = run(["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host], capsys)
    assert code == ExitCode.INPUT and "Nova did not move" in err and "Traceback" not in err
    assert f"{host} stay(s) disabled" in err and f"`maintain undrain --host {host}`" in err
    assert operator.disabled[host].startswith(drain.MARK)
    assert lock_files(backend) == [] and "lock: released" in out


def test_an_unknown_host_is_unusable_input(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["drain", "--stack", "dc1", "--plan", str(plan_file), "--host", "nope"], capsys)
    assert code == ExitCode.INPUT and "'nope'" in err and "Traceback" not in err


def test_ok_to_stop_lists_every_host_and_domain_without_a_cloud(
    plan_file: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["ok-to-stop", "--stack", "dc1", "--plan", str(plan_file), "--json"], capsys)
    assert code == ExitCode.OK
    verdicts = json.loads(out)["verdicts"]
    assert {h for v in verdicts for h in v["hosts"]} == set(expected.hosts)
    assert all(v["ok"] == (not v["reasons"]) for v in verdicts)


def test_an_option_of_another_action_is_refused(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ok-to-stop", "--stack", "dc1", "--host", "x"], capsys)
    assert code == ExitCode.INPUT and "does not take --host" in err
    code, _, err = run(["drain", "--stack", "dc1"], capsys)
    assert code == ExitCode.INPUT and "needs --host HOST, --zone ZONE, --backend" in err


def test_a_drain_is_refused_while_someone_else_holds_the_stacks_lock(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A `pulumi up` in progress: the file lock.go's Lock writes (newLockContent, json.Marshal).
    theirs = backend / ".pulumi/locks/organization/webex-cloud/dc1/6f1c1a7e-0000-4000-8000-000000000001.json"
    theirs.parent.mkdir(parents=True)
    up = {"pid": 4242, "username": "deployer", "hostname": "ci-runner-7", "timestamp": "2026-12-07T10:00:00Z"}
    theirs.write_text(json.dumps(up))
    host = expected.hosts[-2]
    for extra in ([], ["--dry-run"]):
        code, _, err = run(
            ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, *extra], capsys
        )
        assert code == ExitCode.BLOCKING and "deploy lock is held by 1 lock(s)" in err
        assert "deployer@ci-runner-7 (pid 4242)" in err and "Traceback" not in err
        assert operator.sent == [] and lock_files(backend) == [theirs]


def test_a_lock_a_killed_run_of_the_same_drain_left_is_taken_over(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host]
    purpose = {"action": "drain", "stack": "dc1", "hosts": [host], "by": "someone"}
    left = backend / ".pulumi/locks/organization/webex-cloud/dc1/left.json"
    left.parent.mkdir(parents=True)
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()

    def leave(beat_age: float | None = 0.0, fields: dict[str, object] | None = None) -> None:
        beat = datetime.now(UTC) - timedelta(seconds=beat_age or 0)
        written = json.loads(lock.content(purpose, beat)) | (fields or {})
        if beat_age is None:  # as a drain from before the heartbeat wrote it
            del written[lock.FIELD][lock.HEARTBEAT]
        left.write_text(json.dumps(written))

    def back_on_host() -> None:
        for record in operator.cloud.servers:
            if record["name"].startswith("dc1-messaging-pod-0-"):
                record[views.HOST_FIELD] = host

    elsewhere: dict[str, object] = {"hostname": "ops-laptop-2", "pid": killed.pid}
    # The same drain, still running here (this process), or alive on another machine (its heartbeat is
    # fresh, whatever --take-over says): refused, untouched.
    for fields, extra in (({}, []), (elsewhere, []), (elsewhere, ["--take-over"])):
        leave(0.0, fields)
        code, _, err = run([*argv, *extra], capsys)
        assert code == ExitCode.BLOCKING and "--take-over" in err and operator.sent == []
        assert lock_files(backend) == [left]
    assert "alive: heartbeat" in err
    # From another machine without a heartbeat (an older drain's), on the operator's word: taken over.
    leave(None, elsewhere)
    code, out, err = run([*argv, "--take-over"], capsys)
    assert code == ExitCode.OK, err
    assert "taken over from an interrupted run" in out and lock_files(backend) == []
    # From another machine, its heartbeat stale: taken over without a word.
    back_on_host()
    leave(lock.STALE_AFTER_S + 1, elsewhere)
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert "taken over from an interrupted run" in out and lock_files(backend) == []
    # Killed on this machine (its pid runs no more): taken over without a word.
    back_on_host()
    leave(0.0, {"pid": killed.pid})
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert "taken over from an interrupted run" in out and lock_files(backend) == []


def test_a_drain_whose_lock_pulumi_cancel_removed_stops_before_the_next_pod(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = expected.hosts[-2]
    second = next(p for p in expected.pods if p.service == "recording-storage")
    for record in operator.cloud.servers:
        if record["name"] in second.instances:
            record[views.HOST_FIELD] = host
    choose = operator.choose
    beats: list[dict[str, Any]] = []

    def cancelled(record: dict[str, Any]) -> str:
        # The first move: the lock carries a heartbeat; then `pulumi cancel` deletes every lock file.
        if not beats:
            beats.extend(json.loads(p.read_text()) for p in lock_files(backend))
            for path in lock_files(backend):
                path.unlink()
            time.sleep(0.2)  # the heartbeat's next beats find the file gone
        return choose(record)

    operator.choose = cancelled
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, "--json"]
    code, out, err = run([*argv, "--heartbeat", "0.01"], capsys)
    report = json.loads(out)
    assert code == ExitCode.INPUT and "was removed while the drain held it" in err, err
    assert len({m["pod"] for m in report["moved"]}) == 1 and lock_files(backend) == []
    assert beats and lock.HEARTBEAT in beats[0][lock.FIELD] and pulumi_reads(beats[0])
    assert beats[0][lock.FIELD][lock.INTERVAL] == 0.01  # what another run judges its staleness by
    assert operator.disabled[host].startswith(drain.MARK)


def test_a_failed_gate_stops_the_drain_with_its_progress_and_a_rerun_goes_on(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]
    second = next(p for p in expected.pods if p.service == "recording-storage")
    for record in operator.cloud.servers:
        if record["name"] in second.instances:
            record[views.HOST_FIELD] = host
    on_host = {s["name"] for s in operator.cloud.servers if s[views.HOST_FIELD] == host}
    # Nothing listens on 127.0.0.2 at the responder's port: every moved instance there does not serve.
    silent = tmp_path / "silent.json"
    gates = pod_gates(read_plan(gated_plan), str(gated_plan))
    silent.write_text(json.dumps({t.instance: "127.0.0.2" for g in gates.values() for t in g.targets}))
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, "--json"]
    code, out, err = run([*argv, "--address-map", str(silent)], capsys)
    report = json.loads(out)
    assert code == ExitCode.INPUT and "health gate failed" in err and "Traceback" not in err
    (gate,) = report["gates"]
    assert gate["result"] == "failed" and gate["not_serving"]
    first = {m["server"] for m in report["moved"]}
    assert first and {m["pod"] for m in report["moved"]} == {gate["pod"]}
    assert {s["name"] for s in operator.cloud.servers if s[views.HOST_FIELD] == host} == on_host - first
    cordoned = operator.disabled[host]
    assert cordoned.startswith(drain.MARK) and lock_files(backend) == []
    assert cordoned.endswith(f"{drain.GATE_FAILED}{gate['pod']}")

    # Rerun while the pod still does not serve: it is gated again first, and nothing more moves.
    code, out, err = run([*argv, "--address-map", str(silent)], capsys)
    report = json.loads(out)
    assert code == ExitCode.INPUT and "still does not serve" in err and report["moved"] == []
    assert [(g["pod"], g["result"]) for g in report["gates"]] == [(gate["pod"], "failed")]
    assert operator.disabled[host] == cordoned and lock_files(backend) == []

    code, out, err = run(argv, capsys)
    report = json.loads(out)
    assert code == ExitCode.OK, err
    assert {m["server"] for m in report["moved"]} == on_host - first
    assert [g["result"] for g in report["gates"]] == ["passed", "passed"] and report["left_on_hosts"] == []
    assert report["gates"][0]["pod"] == gate["pod"]
    assert operator.disabled[host] == cordoned.partition(drain.GATE_FAILED)[0]


def test_a_refused_live_migration_falls_back_to_a_cold_one_anchor_first(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]
    pod = [s for s in operator.cloud.servers if s[views.HOST_FIELD] == host]
    operator.refuse_live = {s["name"] for s in pod}
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK and "by COLD migration" in out, err
    for record in pod:  # the same drain again, for its report
        record[views.HOST_FIELD] = host
    operator.sent.clear()
    code, out, err = run([*argv, "--json"], capsys)
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert {m["migration"] for m in report["moved"]} == {"cold"}
    names = {s["id"]: s["name"] for s in pod}
    actions = [
        (names[url.split("/")[2]], next(iter(body)))
        for method, url, body in operator.sent
        if url.endswith("/action")
    ]
    # Each server: the refused live migration, the cold one, its confirmation — before the next server.
    order = [m["server"] for m in report["moved"]]
    assert actions == [
        (name, action) for name in order for action in ("os-migrateLive", "migrate", "confirmResize")
    ]
    anchor = next(p for p in expected.pods if order[0] in p.instances).instances[0]
    assert order[0] == anchor
    assert all(s[views.HOST_FIELD] == expected.hosts[-1] and s["status"] == "ACTIVE" for s in pod)


def test_a_drain_stopped_by_sigterm_releases_the_lock_and_keeps_the_host_disabled(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    backend: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]

    def terminated(record: dict[str, Any]) -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # as systemd or a CI runner stops it, mid-move
        return expected.hosts[-1]

    operator.choose = terminated
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = run(["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host], capsys)
    assert code == ExitCode.INPUT and "stopped by signal" in err and "Traceback" not in err
    assert lock_files(backend) == [] and operator.disabled[host].startswith(drain.MARK)
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("polls", [1, 2], ids=["killed while RESIZE", "killed in VERIFY_RESIZE"])
def test_a_cold_migration_a_killed_drain_left_is_finished_by_the_rerun(
    operator: FakeNova,
    gated_plan: Path,
    expected: Expected,
    polls: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = expected.hosts[-2]
    pod = [s for s in operator.cloud.servers if s[views.HOST_FIELD] == host]
    operator.refuse_live = {s["name"] for s in pod}
    anchors = {p.instances[0] for p in expected.pods}
    (anchor,) = [s for s in pod if s["name"] in anchors]
    operations.cold_migrate(session(operator), anchor["id"])
    for _ in range(polls):
        operator.get("compute", f"/servers/{anchor['id']}")
    assert anchor["status"] == ("RESIZE", "VERIFY_RESIZE")[polls - 1]
    code, out, err = run(["drain", "--stack", "dc1", "--plan", str(gated_plan), "--host", host], capsys)
    assert code == ExitCode.OK, err
    assert f"finishing the cold migration of {anchor['name']} off {host}" in out
    assert all(s[views.HOST_FIELD] == expected.hosts[-1] and s["status"] == "ACTIVE" for s in pod)


def test_a_zone_whose_pods_are_pinned_to_it_is_refused_before_any_change(
    operator: FakeNova, gated_plan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["drain", "--stack", "dc1", "--plan", str(gated_plan), "--zone", "dc1-az1", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == ExitCode.BLOCKING and operator.sent == [] and operator.disabled == {}
    refused = json.loads(out)["refused"]
    assert any("pod messaging-pod-0 is pinned to zone dc1-az1" in reason for reason in refused)
    assert any("no valid host" in reason for reason in refused)


SPARE_ZONE = ("dc1-az3", ("dc1-compute-11", "dc1-compute-12"))


@pytest.fixture
def three_zones(gated_plan: Path, tmp_path: Path) -> Path:
    """dc1 with a third zone of two hosts and pods pinned to no zone: a zone the stack can lose."""
    document = json.loads(gated_plan.read_text())
    zone, names = SPARE_ZONE
    first = document["datacenter"]["hosts"][0]
    document["datacenter"]["hosts"] += [first | {"name": name, "availability_zone": zone} for name in names]
    document["datacenter"]["availability_zones"].append(zone)
    for resource in document["resources"]:
        if resource["type"] == tokens.INSTANCE:
            resource["inputs"].pop("availabilityZone", None)
    path = tmp_path / "dc1-three-zones.json"
    path.write_text(json.dumps(document))
    return path


def test_a_zone_is_cordoned_whole_then_emptied_host_by_host_and_undrained(
    three_zones: Path,
    expected: Expected,
    backend: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    zone, hosts = SPARE_ZONE
    fake = nova(expected, lambda record: expected.hosts[-1])
    fake.hosts += list(hosts)
    for host, service in zip(hosts, ("messaging", "recording-storage"), strict=True):
        pod = next(p for p in expected.pods if p.service == service and len(p.instances) > 1)
        for record in fake.cloud.servers:
            if record["name"] in pod.instances:
                record[views.HOST_FIELD] = host
    cordoned_at_first_move: list[set[str]] = []

    def scheduler(record: dict[str, Any]) -> str:
        cordoned_at_first_move.append(set(fake.disabled))
        return expected.hosts[-1]

    fake.choose = scheduler
    connect_to(fake, monkeypatch)
    argv = ["drain", "--stack", "dc1", "--plan", str(three_zones), "--zone", zone]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    # The fake Nova puts every host in zone "nova": the drain goes by the inventory and says so.
    assert f"warning: Nova puts {hosts[0]} in zone nova, not in {zone}" in err
    assert out.index(f"host {hosts[0]}: moving its pods") < out.index(f"host {hosts[1]}: moving its pods")
    # The whole zone is cordoned before anything moves: no pod lands on a host of the zone it leaves.
    assert cordoned_at_first_move[0] == set(hosts)
    assert not [s for s in fake.cloud.servers if s[views.HOST_FIELD] in hosts]
    assert all(fake.disabled[h].startswith(drain.MARK) for h in hosts) and lock_files(backend) == []
    moved_from = re.findall(r"^moved .* (\S+) -> \S+ in ", out, re.MULTILINE)
    assert len(moved_from) > 2 and moved_from == sorted(moved_from, key=hosts.index)
    code, out, err = run(["undrain", "--stack", "dc1", "--plan", str(three_zones), "--zone", zone], capsys)
    assert code == ExitCode.OK, err
    assert fake.disabled == {}
