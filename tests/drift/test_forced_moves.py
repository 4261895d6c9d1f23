"""A placement broken out of band by a forced move is drift, with its cause and its fix (issues 26, 31).

An operator's live migration or evacuation to a named host (``force``, or an old microversion) skips the
scheduler, and the next ``up`` does not repair what it broke: no input of the program changed. Drift
reports each broken pod rule (webex_cloud/facts/invariants.py, through the audit's check) with the move
that caused it, traced from the servers' instance actions by the audit's owner of that question
(webex_cloud/audit/moves.py), and the scheduler-routed repair. The actions are read through the
project's reader from a fake Nova answering as nova 34 does at the project's microversion
(tests/drift/fakes.py); an unreadable list leaves the break reported, with "cause unknown".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit.fakes import STACK, host_id
from tests.drift.fakes import ACTION_KEYS, FakeNova, Site, glance_holds_every_image, site
from tests.drift.test_cli import argv, run_cli
from webex_cloud.audit.expected import Expected, ExpectedPod
from webex_cloud.audit.moves import UNKNOWN_FIX
from webex_cloud.cloud import views as observed
from webex_cloud.commands import comment
from webex_cloud.commands.pr_check import Options, keep_drift
from webex_cloud.config.models import Service
from webex_cloud.drift.acks import Acks
from webex_cloud.drift.classes import Side, Up
from webex_cloud.drift.findings import Drift
from webex_cloud.drift.report import DriftReport, three_way, to_json, to_text
from webex_cloud.exit_codes import ExitCode
from webex_cloud.facts import invariants as rules
from webex_cloud.plan.format import Plan
from webex_cloud.preview.state import decode_checkpoint

TODAY = dt.date(2026, 12, 7)
FORCED_AT = "2026-12-06T23:41:07.000000"


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


def pod(expected: Expected, name: str) -> ExpectedPod:
    return next(p for p in expected.pods if p.name == name)


def server(cloud: Site, name: str) -> dict[str, Any]:
    return next(s for s in cloud.servers if s["name"] == name)


def moved_to(cloud: Site, name: str, host: str, action: str, request: str, user: str | None) -> str:
    """What Nova leaves after a move: the server on ``host``, and the move in its instance actions."""
    record = server(cloud, name)
    record |= {observed.HOST_FIELD: host, "hostId": host_id(host)}
    cloud.act(record["id"], action, FORCED_AT, request, user)
    return str(record["id"])


def drift(cloud: Site, plan: Plan, catalog: list[tuple[str, Service]], asked: list[str]) -> DriftReport:
    raw = json.dumps(cloud.checkpoint()).encode()
    deployed = decode_checkpoint("webex-cloud", STACK, "dc1.json", raw)

    def read(uuid: str) -> tuple[observed.InstanceAction, ...]:
        asked.append(uuid)
        return cloud.read_actions(uuid)

    return three_way(plan, "dc1.json", deployed, cloud.inventory(), catalog, Acks("a", ()), TODAY, read)


def placement(report: DriftReport) -> list[Drift]:
    return [d for d in report.drift if d.kind == "placement"]


def test_a_pod_split_by_a_forced_live_migration_names_the_move_and_the_fix(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    messaging = pod(expected, "messaging-pod-1")
    member = messaging.instances[-1]
    home = server(dc1, messaging.instances[0])[observed.HOST_FIELD]
    spare = expected.hosts[-1]  # no messaging pod there: the pod is split, no sibling is joined
    moved = moved_to(dc1, member, spare, "live-migration", "req-5e0c2d3a", "ops-admin")
    asked: list[str] = []
    report = drift(dc1, plan, catalog, asked)

    (found,) = report.drift
    assert (found.kind, found.field, found.side, found.up) == (
        "placement",
        rules.POD_SPLIT,
        Side.RULES,
        Up.NOTHING,
    )
    assert found.blocking and found.name == messaging.name
    # What is broken: the pod, and the hosts it is split over.
    assert found.observed["where"] == sorted([home, spare])
    assert f"pod {messaging.name} is split over 2 hosts" in found.message
    # The move that caused it.
    assert found.cause is not None and found.cause["known"]
    (move,) = found.cause["moves"]
    assert move == {
        "verdict": rules.FORCED_MOVE,
        "server": moved,
        "name": member,
        "pod": messaging.name,
        "action": "live-migration",
        "time": FORCED_AT,
        "request_id": "req-5e0c2d3a",
        "user_id": "ops-admin",
    }
    assert (
        f"{member} ({moved}), a member of pod {messaging.name}, was last moved by live-migration"
        in (found.cause["says"])
    )
    # The fix goes through the scheduler, never to a named host.
    assert found.fix.startswith(f"`openstack server migrate --live-migration {moved}` with no --host")
    # Only the servers of the broken pod were asked for their actions.
    assert sorted(asked) == sorted(s["id"] for s in dc1.servers if s["name"] in messaging.instances)

    text = to_text(report, "acks.yaml")
    assert f"cause: {found.cause['says']}" in text and f"fix: {found.fix}" in text
    entry = json.loads(to_json(report))["drift"][0]
    assert entry["cause"] == found.cause and entry["fix"] == found.fix


def test_two_pods_on_one_host_after_a_forced_evacuation_blame_it_even_without_a_user(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """A one-instance pod evacuated by hand onto its sibling's host: no split, a shared host. The
    evacuation was recorded without a user (an action no user asked for): the report says so."""
    one, other = pod(expected, "telepresence-gateway-pod-0"), pod(expected, "telepresence-gateway-pod-1")
    host = server(dc1, one.instances[0])[observed.HOST_FIELD]
    moved = moved_to(dc1, other.instances[0], host, "evacuate", "req-9b7e", None)
    report = drift(dc1, plan, catalog, [])

    (found,) = placement(report)
    assert (found.field, found.name, found.observed["where"]) == (
        rules.PODS_SHARE_HOST,
        f"{one.name}, {other.name}",
        [host],
    )
    assert found.cause is not None and found.cause["known"]
    (move,) = found.cause["moves"]
    assert (move["server"], move["action"], move["request_id"], move["user_id"]) == (
        moved,
        "evacuate",
        "req-9b7e",
        None,
    )
    assert "the anchor of pod telepresence-gateway-pod-1" in found.cause["says"]
    assert "request req-9b7e, user not recorded" in found.cause["says"]
    assert f"`openstack server migrate --live-migration {moved}` with no --host" in found.fix


def test_members_stranded_by_a_parallel_evacuation_get_the_evacuations_repair(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """Host 0 died and was evacuated all at once: the anchor reached a spare host, its members found no
    host and stay in ERROR on host 0. Not a forced move: the repair is a reset and a second evacuation."""
    messaging = pod(expected, "messaging-pod-0")
    anchor, *members = messaging.instances
    moved_to(dc1, anchor, expected.hosts[-1], "evacuate", "req-anchor", "masakari")
    stranded = []
    for name in members:
        record = server(dc1, name)
        record["status"] = "ERROR"
        dc1.act(record["id"], "evacuate", FORCED_AT, f"req-{name}", "masakari")
        stranded.append(record["id"])
    report = drift(dc1, plan, catalog, [])

    (found,) = placement(report)
    assert found.field == rules.POD_SPLIT and found.cause is not None and found.cause["known"]
    assert {m["verdict"] for m in found.cause["moves"]} == {rules.FAILED_EVACUATION}
    assert sorted(m["server"] for m in found.cause["moves"]) == sorted(stranded)
    for uuid in stranded:
        assert f"`nova reset-state --active {uuid}`, then `nova evacuate {uuid}` with no host" in found.fix
    assert "forced" not in found.cause["says"]


def test_a_healthy_deployment_reports_no_placement_and_reads_no_actions(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """A pod moved whole by the scheduler (a drain, anchor first) keeps the rules: nothing to report,
    and no instance actions read."""
    for name in pod(expected, "messaging-pod-2").instances:
        moved_to(dc1, name, expected.hosts[-1], "live-migration", f"req-drain-{name}", "maintain")
    asked: list[str] = []
    for _ in range(2):
        report = drift(dc1, plan, catalog, asked)
        assert report.drift == [] and report.could_not_check == []
    assert asked == []


def test_unreadable_actions_leave_the_break_reported_with_cause_unknown(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    messaging = pod(expected, "messaging-pod-1")
    moved_to(dc1, messaging.instances[-1], expected.hosts[-1], "live-migration", "req-1", "ops-admin")
    dc1.actions_refused = (
        "403 Forbidden: Policy doesn't allow os_compute_api:os-instance-actions:list to be performed."
    )
    report = drift(dc1, plan, catalog, [])

    (found,) = report.drift
    assert (found.field, found.blocking) == (rules.POD_SPLIT, True)  # never hidden
    assert found.cause is not None and not found.cause["known"] and found.cause["moves"] == []
    assert found.cause["says"].startswith("cause unknown: its servers' instance actions could not be read")
    assert "403 Forbidden" in found.cause["says"]
    assert found.fix == UNKNOWN_FIX and "with no --host" in found.fix
    assert any(observed.ACTIONS_RULE in c for c in report.could_not_check)
    assert f"\n      {found.cause['says']}\n      fix: {UNKNOWN_FIX}" in to_text(report, "acks.yaml")


def test_a_pod_broken_without_any_move_says_the_cause_is_unknown_and_why(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """Its servers' actions hold only their create: it was booted there, not moved."""
    member = server(dc1, pod(expected, "messaging-pod-1").instances[-1])
    member |= {observed.HOST_FIELD: expected.hosts[-1], "hostId": host_id(expected.hosts[-1])}
    (found,) = drift(dc1, plan, catalog, []).drift
    assert found.cause is not None and not found.cause["known"]
    assert found.cause["says"].startswith("cause unknown: no move in its servers' instance actions")
    assert found.fix == UNKNOWN_FIX


def test_the_fake_nova_answers_as_nova_34_at_the_projects_microversion(dc1: Site) -> None:
    """The keys the fake lists are the installed Nova's below 2.58, and it is read at 2.53."""
    api = pytest.importorskip("nova.api.openstack.compute.instance_actions")
    assert tuple(api.ACTION_KEYS) == ACTION_KEYS
    nova = FakeNova(dc1)
    first = dc1.servers[0]["id"]
    (created,) = observed.read_instance_actions(nova, first)  # type: ignore[arg-type]
    assert created.action == "create" and nova.asked == [first]
    assert all(tuple(a) == ACTION_KEYS for a in dc1.actions[first])
    assert observed.COMPUTE_MICROVERSION == {"OpenStack-API-Version": "compute 2.53"}


@pytest.fixture
def served_by(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Site]]:
    """The command with its cloud replaced by a site: the inventory it lists and a Nova answering its
    instance-actions GETs through the project's reader."""
    sites: list[Site] = []
    monkeypatch.setattr(
        "webex_cloud.commands.drift.connect", lambda cloud, access, path, timeout: FakeNova(sites[0])
    )
    monkeypatch.setattr("webex_cloud.commands.drift.read_inventory", lambda session: sites[0].inventory())
    glance_holds_every_image(monkeypatch)
    yield sites


def test_the_command_exits_blocking_and_the_pr_comment_shows_cause_and_fix(
    dc1: Site,
    expected: Expected,
    plan_file: Path,
    served_by: list[Site],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    messaging = pod(expected, "messaging-pod-1")
    moved = moved_to(dc1, messaging.instances[-1], expected.hosts[-1], "live-migration", "req-77", "jdoe")
    served_by.append(dc1)
    reports = tmp_path / "drift"
    code, out, _ = run_cli(argv(plan_file, tmp_path, dc1, "--json-out", str(reports / "dc1.json")), capsys)
    assert code == ExitCode.BLOCKING
    assert "[BLOCK] placement: messaging-pod-1 pod-split -> up: nothing" in out
    assert "was last moved by live-migration at 2026-12-06T23:41:07.000000 (request req-77, user jdoe)" in out
    assert f"fix: `openstack server migrate --live-migration {moved}` with no --host" in out
    (entry,) = json.loads((reports / "dc1.json").read_text())["drift"]
    assert entry["cause"]["moves"][0]["request_id"] == "req-77" and entry["fix"].startswith("`openstack")

    out_dir = tmp_path / "out"
    (out_dir / STACK).mkdir(parents=True)
    options = Options(
        pr_dir=tmp_path,
        base_dir=tmp_path,
        out=out_dir,
        stacks=(STACK,),
        state=None,
        pulumi=False,
        commit="0123456789abcdef",
        drift=reports,
    )
    step = keep_drift(options, STACK)
    assert step is not None and step.code == ExitCode.OK
    section = comment.build(out_dir, options.commit).split("this merge would also revert", 1)[1]
    assert "Nothing: no out-of-band change that `up` would undo." in section
    assert "Broken out of band, and left so by `up`" in section
    (row,) = [line for line in section.splitlines() if line.startswith("| `messaging-pod-1`")]
    assert "`pod-split`" in row and "req-77" in row and f"migrate --live-migration {moved}" in row
    assert row.endswith("| no |")
