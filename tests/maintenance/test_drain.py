"""The drain's steps, each alone, and the command end to end against a fake Nova behind a Session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from tests.audit.fakes import deployed
from tests.maintenance.fake_nova import FakeNova
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import views
from webex_cloud.cloud.session import Session
from webex_cloud.commands import maintain as cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain
from webex_cloud.maintenance.moves import Move


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
def operator(monkeypatch: pytest.MonkeyPatch, expected: Expected) -> FakeNova:
    """The command with its session replaced by the fake Nova (the operator identity is assumed)."""
    fake = nova(expected, lambda record: expected.hosts[-1])
    # One whole pod on a host the example can spare (the proof allows draining it).
    pod = next(p for p in expected.pods if p.service == "messaging" and len(p.instances) > 1)
    for record in fake.cloud.servers:
        if record["name"] in pod.instances:
            record[views.HOST_FIELD] = expected.hosts[-2]

    class Connected:
        def __enter__(self) -> FakeNova:
            return fake

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr(cli, "connect", lambda *args: Connected())
    monkeypatch.setattr(drain, "POLL", 0.0)
    return fake


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_dry_run_prints_the_moves_and_changes_nothing(
    operator: FakeNova, plan_file: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    host = expected.hosts[-2]
    code, out, _ = run(
        ["drain", "--stack", "dc1", "--plan", str(plan_file), "--host", host, "--dry-run"], capsys
    )
    assert code == ExitCode.OK and "would move pod messaging-pod-" in out and "dry run" in out
    assert operator.sent == []


def test_a_drain_that_would_break_n_plus_one_is_refused_before_any_change(
    operator: FakeNova, plan_file: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["drain", "--stack", "dc1", "--plan", str(plan_file), "--json"]
    for host in expected.hosts[:-2]:
        argv += ["--host", host]
    code, out, err = run(argv, capsys)
    assert code == ExitCode.BLOCKING and "refused:" in err
    assert json.loads(out)["refused"] and operator.sent == []


def test_a_drain_empties_the_host_and_keeps_it_disabled(
    operator: FakeNova, plan_file: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    host = expected.hosts[-2]
    on_host = {s["name"] for s in operator.cloud.servers if s[views.HOST_FIELD] == host}
    code, out, err = run(
        ["drain", "--stack", "dc1", "--plan", str(plan_file), "--host", host, "--json"], capsys
    )
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert on_host and {m["server"] for m in report["moved"]} == on_host and report["left_on_hosts"] == []
    assert not [s for s in operator.cloud.servers if s[views.HOST_FIELD] == host]
    assert operator.disabled[host].startswith(drain.MARK)
    code, _, _ = run(["undrain", "--stack", "dc1", "--host", host], capsys)
    assert code == ExitCode.OK and host not in operator.disabled


def test_a_drain_nova_refuses_stops_with_the_host_disabled_and_says_how_to_go_on(
    operator: FakeNova,
    plan_file: Path,
    expected: Expected,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = expected.hosts[-2]
    operator.choose = lambda record: host  # Nova rolls every live migration back: nothing leaves
    monkeypatch.setattr(drain, "START_GRACE", 0.0)
    code, _, err = run(["drain", "--stack", "dc1", "--plan", str(plan_file), "--host", host], capsys)
    assert code == ExitCode.INPUT and "Nova did not move" in err and "Traceback" not in err
    assert f"{host} stay(s) disabled" in err and f"`maintain undrain --host {host}`" in err
    assert operator.disabled[host].startswith(drain.MARK)


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
    assert code == ExitCode.INPUT and "needs --host" in err
