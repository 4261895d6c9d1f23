"""Which servers a drain moves, and when it refuses to start."""

from __future__ import annotations

from tests.audit.fakes import FakeCloud, deployed
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import views
from webex_cloud.maintenance.moves import plan_drain

BUDGET: dict[str, int] = {}


def servers(cloud: FakeCloud) -> tuple[views.Server, ...]:
    return cloud.observation().servers


def test_every_pod_on_the_host_moves_whole_anchor_first(expected: Expected) -> None:
    host = expected.hosts[0]
    cloud = deployed(expected)
    plan = plan_drain(expected, servers(cloud), [host], BUDGET)
    assert not plan.refusals and not plan.in_flight
    there = {s["name"] for s in cloud.servers if s[views.HOST_FIELD] == host}
    on_host = {p.name: p for p in expected.pods if set(p.instances) & there}
    assert {pod[0].pod for pod in plan.pods} == set(on_host) and len(on_host) > 2
    assert {m.name for m in plan.moves} == there
    for pod in plan.pods:
        names = [m.name for m in pod]
        assert names == list(on_host[pod[0].pod].instances)
        assert [m.anchor for m in pod] == [True] + [False] * (len(pod) - 1)
        assert {m.from_host for m in pod} == {host}


def test_a_rerun_after_the_anchor_moved_moves_only_the_members(expected: Expected) -> None:
    cloud = deployed(expected)
    host, elsewhere = expected.hosts[0], expected.hosts[-1]
    pod = next(p for p in expected.pods if p.name.endswith("pod-0") and len(p.instances) > 1)
    anchor = next(s for s in cloud.servers if s["name"] == pod.instances[0])
    anchor[views.HOST_FIELD] = elsewhere
    plan = plan_drain(expected, servers(cloud), [host], BUDGET)
    assert not plan.refusals
    again = next(moves for moves in plan.pods if moves[0].pod == pod.name)
    assert [m.name for m in again] == list(pod.instances[1:]) and not any(m.anchor for m in again)


def test_a_pod_already_split_elsewhere_is_refused(expected: Expected) -> None:
    cloud = deployed(expected)
    pod = next(p for p in expected.pods if p.name.endswith("pod-0") and len(p.instances) > 2)
    for index, name in enumerate(pod.instances[1:], start=1):
        record = next(s for s in cloud.servers if s["name"] == name)
        record[views.HOST_FIELD] = expected.hosts[-index]
    plan = plan_drain(expected, servers(cloud), [expected.hosts[0]], BUDGET)
    assert any(f"pod {pod.name}" in r and "split" in r for r in plan.refusals)


def test_a_server_the_plan_does_not_know_is_refused(expected: Expected) -> None:
    cloud = deployed(expected)
    cloud.server("someones-test-vm", expected.hosts[0])
    plan = plan_drain(expected, servers(cloud), [expected.hosts[0]], BUDGET)
    assert any("someones-test-vm" in r and "not an instance" in r for r in plan.refusals)


def test_a_service_already_at_its_budget_is_refused(expected: Expected) -> None:
    cloud = deployed(expected)
    service = "messaging"
    broken = next(p for p in expected.pods if p.service == service and p.name.endswith("pod-1"))
    record = next(s for s in cloud.servers if s["name"] == broken.instances[-1])
    record.update({"status": "ERROR", views.HOST_FIELD: None})
    plan = plan_drain(expected, servers(cloud), [expected.hosts[0]], {service: 1})
    assert any(r.startswith(f"service {service}: 1 pod(s) not serving") for r in plan.refusals)
    assert not plan_drain(expected, servers(cloud), [expected.hosts[0]], {service: 2}).refusals


def test_a_server_nova_is_migrating_is_waited_for_not_moved_again(expected: Expected) -> None:
    cloud = deployed(expected)
    pod = next(p for p in expected.pods if p.name.endswith("pod-0") and len(p.instances) > 1)
    record = next(s for s in cloud.servers if s["name"] == pod.instances[0])
    record["status"] = "MIGRATING"
    plan = plan_drain(expected, servers(cloud), [expected.hosts[0]], BUDGET)
    assert not plan.refusals
    assert [s.name for s in plan.in_flight] == [pod.instances[0]]
    assert pod.instances[0] not in {m.name for m in plan.moves}
