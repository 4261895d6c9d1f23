"""A forced move that breaks a pod is found by the audit and traced to the move, with the fix (issue 31).

Instance actions are shaped as nova 34 lists them (``GET /servers/{id}/os-instance-actions``,
``nova/api/openstack/compute/instance_actions.py`` ``ACTION_KEYS``; action names from
``nova/compute/instance_actions.py``); which moves skip the scheduler is read from nova 34
``nova/compute/api.py`` (``live_migrate``, ``evacuate``), as webex_cloud/audit/moves.py cites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tests.audit.fakes import deployed, first_pods
from webex_cloud.audit import compare
from webex_cloud.audit.expected import Expected
from webex_cloud.audit.moves import explain_moves
from webex_cloud.cloud import views as observed
from webex_cloud.cloud.errors import CloudError
from webex_cloud.facts import invariants as rules


def action(kind: str, at: str, request: str = "req-1", user: str = "ops-user") -> observed.InstanceAction:
    return observed.InstanceAction(kind, request, user, at, "")


def test_a_member_forced_onto_a_sibling_pods_host_is_traced_to_its_live_migration(expected: Expected) -> None:
    cloud = deployed(expected)
    pod0, pod1 = first_pods(expected, "messaging")[:2]
    member = pod1.instances[-1]
    cloud.servers = [s for s in cloud.servers if s["name"] != member]
    moved = cloud.server(member, expected.hosts[0])  # messaging pod 0's host
    history = {
        moved: [
            action("live-migration", "2026-12-06T10:00:00Z", "req-forced"),
            action("create", "2026-11-01"),
        ],
    }
    observation = cloud.observation()
    report = compare.audit(expected, observation)
    explain_moves(
        report, expected, observation, lambda uuid: history.get(uuid, [action("create", "2026-11")])
    )
    forced = [f for f in report.findings if f.kind == rules.FORCED_MOVE]
    # The split and the shared host are one move: it is blamed once.
    assert len(forced) == 1 and forced[0].uuids == (moved,) and forced[0].items == (pod1.name,)
    message = forced[0].message
    assert f"{member} ({moved}), a member of pod {pod1.name}, was last moved by live-migration" in message
    assert "request req-forced, user ops-user" in message
    assert f"Fix: `openstack server migrate --live-migration {moved}` with no --host" in message
    assert {rules.POD_SPLIT, rules.PODS_SHARE_HOST} <= {f.kind for f in report.findings}
    assert pod0.name not in forced[0].items


def test_the_latest_move_is_blamed_not_an_older_one(expected: Expected) -> None:
    """The anchor was drained (moved by the scheduler) a month ago; the member was forced last night."""
    cloud = deployed(expected)
    pod = first_pods(expected, "meetings-media")[0]
    anchor, member = pod.instances[0], pod.instances[-1]
    cloud.servers = [s for s in cloud.servers if s["name"] != member]
    moved = cloud.server(member, expected.hosts[-1])
    anchor_id = cloud.ids(anchor)[0]
    history: dict[str, Sequence[observed.InstanceAction]] = {
        anchor_id: [action("live-migration", "2026-11-06T10:00:00Z", "req-drain", "maintain")],
        moved: [action("evacuate", "2026-12-06T02:00:00Z", "req-evacuate")],
    }
    observation = cloud.observation()
    report = compare.audit(expected, observation)
    explain_moves(report, expected, observation, lambda uuid: history.get(uuid, []))
    forced = [f for f in report.findings if f.kind == rules.FORCED_MOVE]
    assert [f.uuids for f in forced] == [(moved,)] and "by evacuate" in forced[0].message


def test_a_pod_broken_without_any_move_is_reported_but_blames_no_move(expected: Expected) -> None:
    cloud = deployed(expected)
    pod = first_pods(expected, "messaging")[1]
    cloud.servers = [s for s in cloud.servers if s["name"] != pod.instances[-1]]
    cloud.server(pod.instances[-1], expected.hosts[-1])  # booted there, never moved
    observation = cloud.observation()
    report = compare.audit(expected, observation)
    explain_moves(report, expected, observation, lambda uuid: [action("create", "2026-11-01")])
    kinds = {f.kind for f in report.findings}
    assert rules.POD_SPLIT in kinds and rules.FORCED_MOVE not in kinds


def test_a_role_that_may_not_read_actions_is_told_what_it_could_not_check(expected: Expected) -> None:
    cloud = deployed(expected)
    pod = first_pods(expected, "messaging")[1]
    cloud.servers = [s for s in cloud.servers if s["name"] != pod.instances[-1]]
    cloud.server(pod.instances[-1], expected.hosts[-1])
    observation = cloud.observation()
    report = compare.audit(expected, observation)
    before = list(report.findings)

    def refused(uuid: str) -> list[observed.InstanceAction]:
        raise CloudError(f"GET /servers/{uuid}/os-instance-actions: 403")

    explain_moves(report, expected, observation, refused)
    assert report.findings == before
    assert [limit.rule for limit in report.limitations] == [observed.ACTIONS_RULE]


def test_a_clean_cloud_reads_no_actions(expected: Expected) -> None:
    observation = deployed(expected).observation()
    report = compare.audit(expected, observation)
    asked: list[str] = []

    def read(uuid: str) -> list[observed.InstanceAction]:
        asked.append(uuid)
        return []

    explain_moves(report, expected, observation, read)
    assert asked == [] and report.findings == []


class _Session:
    cloud = "fake"

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.paths: list[str] = []

    def get(
        self, service: str, path: str, params: Any = None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        self.paths.append(f"{service} {path} {dict(headers or {})}")
        return self.body


def test_instance_actions_are_read_newest_first_from_novas_listing() -> None:
    session = _Session(
        {
            "instanceActions": [
                {
                    "action": "create",
                    "instance_uuid": "u",
                    "request_id": "req-a",
                    "user_id": "a",
                    "project_id": "p",
                    "start_time": "2026-11-01T00:00:00.000000",
                    "message": None,
                },
                {
                    "action": "live-migration",
                    "instance_uuid": "u",
                    "request_id": "req-b",
                    "user_id": "b",
                    "project_id": "p",
                    "start_time": "2026-12-01T00:00:00.000000",
                    "message": None,
                },
            ]
        }
    )
    actions = observed.read_instance_actions(session, "u")  # type: ignore[arg-type]
    assert [a.action for a in actions] == ["live-migration", "create"]
    # At the project's microversion: the whole list in one answer (pages only from 2.58).
    assert session.paths == [
        "compute /servers/u/os-instance-actions {'OpenStack-API-Version': 'compute 2.53'}"
    ]


def test_the_actions_rule_named_is_the_installed_novas_default() -> None:
    """A project reader may list instance actions: the audit's reader identity needs no new grant."""
    policies = pytest.importorskip("nova.policies.instance_actions")
    nova_base = pytest.importorskip("nova.policies.base")
    (rule,) = [r for r in policies.list_rules() if r.name == observed.ACTIONS_RULE]
    assert rule.check_str == nova_base.PROJECT_READER_OR_ADMIN == "rule:project_reader_or_admin"
    assert observed.ACTIONS_RULE_DEFAULT.startswith(nova_base.PROJECT_READER_OR_ADMIN)


def test_members_stranded_by_a_parallel_evacuation_are_told_apart_from_forced_moves(
    expected: Expected,
) -> None:
    """Host 0 died and was evacuated all at once: messaging pod 0's anchor reached a spare host; its
    members, scheduled while the anchor's evacuation ran, found no host and stayed in ERROR on host 0."""
    cloud = deployed(expected)
    pod = first_pods(expected, "messaging")[0]
    anchor, members = pod.instances[0], pod.instances[1:]
    cloud.servers = [s for s in cloud.servers if s["name"] != anchor]
    anchor_id = cloud.server(anchor, expected.hosts[-1])
    history: dict[str, Sequence[observed.InstanceAction]] = {
        anchor_id: [action("evacuate", "2026-12-06T03:00:00Z", "req-anchor", "masakari")]
    }
    stranded = []
    for name in members:
        record = next(s for s in cloud.servers if s["name"] == name)
        record["status"] = "ERROR"
        stranded.append(record["id"])
        history[record["id"]] = [action("evacuate", "2026-12-06T03:00:01Z", f"req-{name}", "masakari")]
    observation = cloud.observation()
    report = compare.audit(expected, observation)
    explain_moves(report, expected, observation, lambda uuid: history.get(uuid, []))
    kinds = [f.kind for f in report.findings]
    assert rules.POD_SPLIT in kinds and rules.FORCED_MOVE not in kinds
    failed = [f for f in report.findings if f.kind == rules.FAILED_EVACUATION]
    assert sorted(u for f in failed for u in f.uuids) == sorted(stranded)
    for finding in failed:
        (uuid,) = finding.uuids
        assert (
            f"`nova reset-state --active {uuid}`, then `nova evacuate {uuid}` with no host" in finding.message
        )
        assert finding.items == (pod.name,)
