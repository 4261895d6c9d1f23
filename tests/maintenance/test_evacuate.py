"""`maintain evacuate`: a dead host's pods rebuilt elsewhere, whole, anchors first, against a fake Nova
behind a Session (the real Nova's side of it, PodFilter following an evacuation, is proven by the Nova
functional test in scheduler-filters/tests/nova_functional)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.maintenance.fake_nova import FakeNova
from tests.maintenance.test_drain import (
    backend,
    connect_to,
    gated_plan,
    lock_files,
    nova,
    responder,
    run,
    session,
)
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import views
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance import drain, evacuation

__all__ = ["backend", "gated_plan", "responder"]


def anchors_of(expected: Expected) -> dict[str, str]:
    """Instance name -> its pod's anchor's name."""
    return {name: pod.instances[0] for pod in expected.pods for name in pod.instances}


@pytest.fixture
def dead(monkeypatch: pytest.MonkeyPatch, expected: Expected, backend: Path) -> FakeNova:
    """dc1 as deployed, its first host down; a scheduler that puts each anchor on the last host and
    each member with its anchor (what the filters do)."""
    anchor = anchors_of(expected)
    fake = nova(expected)

    def choose(record: dict[str, Any]) -> str:
        if anchor[record["name"]] == record["name"]:
            return expected.hosts[-1]
        home = next(s for s in fake.cloud.servers if s["name"] == anchor[record["name"]])
        return str(home[views.HOST_FIELD])

    fake.choose = choose
    fake.down.add(expected.hosts[0])

    connect_to(fake, monkeypatch)
    return fake


def on(fake: FakeNova, host: str) -> set[str]:
    return {s["name"] for s in fake.cloud.servers if s[views.HOST_FIELD] == host}


def evacuations(fake: FakeNova) -> list[str]:
    """The names of the servers Nova was asked to evacuate, in the order asked."""
    names = {s["id"]: s["name"] for s in fake.cloud.servers}
    return [names[url.split("/")[2]] for _, url, body in fake.sent if body and "evacuate" in body]


def test_a_dead_host_is_evacuated_anchors_first_and_every_pod_ends_whole(
    dead: FakeNova, gated_plan: Path, expected: Expected, backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = expected.hosts[0]
    held: list[int] = []
    choose = dead.choose

    def watching(record: dict[str, Any]) -> str:
        held.append(len(lock_files(backend)))
        return choose(record)

    dead.choose = watching
    was_there = on(dead, host)
    code, out, err = run(
        ["evacuate", "--stack", "dc1", "--plan", str(gated_plan), "--host", host, "--json"], capsys
    )
    assert code == ExitCode.OK, err
    report = json.loads(out)
    anchor = anchors_of(expected)
    asked = evacuations(dead)
    assert set(asked) == was_there and on(dead, host) == set()
    anchors = [n for n in asked if anchor[n] == n]
    assert asked[: len(anchors)] == anchors and anchors  # every anchor asked before any member
    for name in was_there:
        home = next(s for s in dead.cloud.servers if s["name"] == anchor[name])
        mine = next(s for s in dead.cloud.servers if s["name"] == name)
        assert mine[views.HOST_FIELD] == home[views.HOST_FIELD] and mine["status"] == "ACTIVE"
    assert report["failed"] == [] and report["split"] == []
    results = {g["pod"]: g["result"] for g in report["gates"]}
    assert results["messaging-pod-0"] == "passed" and set(results.values()) <= {"passed", "none"}
    assert dead.disabled[host].startswith(drain.MARK) and "evacuation of stack dc1" in dead.disabled[host]
    assert held and set(held) == {1} and lock_files(backend) == []


def test_a_host_whose_compute_service_is_up_is_refused_and_nothing_is_sent(
    dead: FakeNova, gated_plan: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["evacuate", "--stack", "dc1", "--plan", str(gated_plan), "--host", expected.hosts[1]], capsys
    )
    assert code == ExitCode.BLOCKING and "compute service is up" in err and "maintain drain" in err
    assert dead.sent == []


def test_a_dry_run_names_the_anchors_then_the_members_and_changes_nothing(
    dead: FakeNova, gated_plan: Path, expected: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evacuate", "--stack", "dc1", "--plan", str(gated_plan), "--host", expected.hosts[0]]
    code, out, _ = run([*argv, "--dry-run"], capsys)
    assert code == ExitCode.OK and dead.sent == []
    lines = out.splitlines()
    assert lines[0].startswith("would evacuate anchors: ") and "pod-0-mixer-0" in lines[0]
    assert lines[1].startswith("would evacuate then members: ") and "pod-0-mixer-1" in lines[1]


def test_members_of_an_anchor_nova_could_not_rebuild_are_left_and_a_rerun_goes_on(
    dead: FakeNova, gated_plan: Path, expected: Expected, backend: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = expected.hosts[0]
    stuck = "dc1-messaging-pod-0-app-0"
    choose = dead.choose
    dead.choose = lambda record: "" if record["name"] == stuck else choose(record)
    argv = ["evacuate", "--stack", "dc1", "--plan", str(gated_plan), "--host", host]
    code, _, err = run(argv, capsys)
    assert code == ExitCode.INPUT and "Traceback" not in err
    assert f"server {stuck}" in err and "went to ERROR" in err
    assert "member dc1-messaging-pod-0-app-1 of pod messaging-pod-0 is left" in err
    assert on(dead, host) == {stuck, "dc1-messaging-pod-0-app-1", "dc1-messaging-pod-0-store-0"}
    assert "rerun the evacuation" in err and lock_files(backend) == []
    # The operator repairs the anchor (here: Nova rebuilt it on the spare host), then reruns.
    record = next(s for s in dead.cloud.servers if s["name"] == stuck)
    record.update({"status": "ACTIVE", views.HOST_FIELD: expected.hosts[-1]})
    dead.choose = choose
    dead.sent.clear()
    code, _, err = run(argv, capsys)
    assert code == ExitCode.OK, err
    assert sorted(evacuations(dead)) == ["dc1-messaging-pod-0-app-1", "dc1-messaging-pod-0-store-0"]
    assert on(dead, host) == set()


def test_an_evacuation_a_killed_run_left_is_waited_for_not_asked_again(
    dead: FakeNova, expected: Expected
) -> None:
    host = expected.hosts[0]
    record = next(s for s in dead.cloud.servers if s["name"] == "dc1-messaging-pod-0-app-0")
    dead.evacuating.add(record["id"])
    dead.migrating[record["id"]] = expected.hosts[-1]
    record.update({"status": "REBUILD", "OS-EXT-STS:task_state": "rebuilding"})
    plan = evacuation.plan_evacuation(expected, views.read_project(dead).servers, [host])  # type: ignore[arg-type]
    assert [s.name for s in plan.in_flight] == ["dc1-messaging-pod-0-app-0"]
    assert "dc1-messaging-pod-0-app-0" not in {m.name for m in plan.moves}
    assert plan.anchor_of["messaging-pod-0"] == record["id"]
    done = evacuation.evacuate(session(dead), plan, 60, lambda _: None, sleep=lambda _: None)
    assert done.whole and "dc1-messaging-pod-0-app-0" not in evacuations(dead)
    assert on(dead, host) == set()


def test_a_server_the_plan_does_not_know_is_named_and_left(dead: FakeNova, expected: Expected) -> None:
    host = expected.hosts[0]
    dead.cloud.server("someones-debug-vm", host, {})
    plan = evacuation.plan_evacuation(expected, views.read_project(dead).servers, [host])  # type: ignore[arg-type]
    assert len(plan.strangers) == 1 and plan.strangers[0].startswith("someones-debug-vm (")
    assert "someones-debug-vm" not in {m.name for m in plan.moves}
