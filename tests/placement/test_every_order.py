"""The N+1 proof covers every order: checked against a brute force over all permutations.

The oracle places the services in every permutation, and after every single host loss
re-places the lost pods in every permutation, one placement at a time (a pod that cannot be
placed is recorded and the order goes on without it, as the proof's walk does). The proof must
reach the same verdict, the same distinct placements and the same (host, pod) failures, while
following far fewer states than the permutations when orders agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webex_scheduler_filters import hints

from webex_cloud.placement.engine import (
    Cloud,
    RulesPipelines,
    Scheduler,
    ServiceResult,
    Unplaced,
    invariant_violations,
    place,
    place_service,
    service_orders,
)
from webex_cloud.placement.plan import Host, InstanceRequest, PlacementPlan, PodRequest, ServiceRequest
from webex_cloud.placement.proof import lost_pods, prove, state_key


def pod(service: str, index: int, sizes: list[int], room: bool) -> PodRequest:
    """A pod as the components ask Nova for it: anchor in the service's group, members following."""
    key = hints.pod_key("dc1", service, f"{service}-pod-{index}")
    instances = []
    for i, vcpus in enumerate(sizes):
        anchor = i == 0
        metadata = {
            hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key("dc1", service),
            hints.INSTANCE_POD_METADATA_KEY: key,
            hints.INSTANCE_POD_ROLE_METADATA_KEY: hints.ANCHOR_ROLE if anchor else hints.MEMBER_ROLE,
        }
        if anchor and room:
            metadata[hints.INSTANCE_POD_ROOM_METADATA_KEY] = hints.room_value(sum(sizes[1:]), 0, 0)
        instances.append(
            InstanceRequest(
                name=f"{service}-pod-{index}-app-{i}",
                uuid=f"{service}-{index}-{i}",
                vcpus=vcpus,
                ram_mb=1,
                availability_zone=None,
                group=f"{service}-group" if anchor else None,
                group_policy="anti-affinity" if anchor else None,
                hints={hints.NOVA_POD_HINT: key},
                metadata=metadata,
            )
        )
    return PodRequest(f"{service}-pod-{index}", instances)


@st.composite
def small_plans(draw: st.DrawFn) -> PlacementPlan:
    hosts = [
        Host(f"h{i}", draw(st.sampled_from([6, 8, 10, 12])), 1 << 20, "az1")
        for i in range(draw(st.integers(2, 4)))
    ]
    room = draw(st.booleans())
    services = []
    for s in range(draw(st.integers(1, 3))):
        name = f"s{s}"
        pods = [
            pod(name, p, draw(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=3)), room)
            for p in range(draw(st.integers(1, 3)))
        ]
        services.append(ServiceRequest(name, pods))
    return PlacementPlan("dc1", None, hosts, {}, services)  # type: ignore[arg-type]


def what(problem: str) -> str:
    """A problem without its explanation, which names the path's state (the anchor's host...)."""
    return problem.partition(" (")[0]


def oracle(plan: PlacementPlan) -> tuple[set[Hashable], set[tuple[str, str]], set[tuple[str, str]]]:
    """Every permutation, literally: placements, placement problems, (host, pod) N+1 failures."""
    scheduler = Scheduler(plan, RulesPipelines({}), "spread")
    by_name = {s.name: s for s in plan.services}
    placements: set[Hashable] = set()
    problems: set[tuple[str, str]] = set()
    failures: set[tuple[str, str]] = set()
    for order in itertools.permutations(by_name):
        cloud = Cloud.empty(plan.hosts)
        results = {}
        for name in order:
            results[name] = ServiceResult(name)
            place_service(scheduler, by_name[name], cloud, results[name])
        placements.add(state_key(cloud))
        for result in results.values():
            for problem in result.unplaced + invariant_violations(result, by_name[result.name]):
                problems.add((result.name, what(problem)))
        if any(r.unplaced for r in results.values()):
            continue
        for host in sorted(cloud.hosts):
            lost = lost_pods(plan, cloud, [host])
            for evacuation in itertools.permutations(lost):
                after = cloud.copy()
                for _service, lost_pod in lost:
                    for request in lost_pod.instances:
                        after.remove(request.uuid)
                for _service, lost_pod in evacuation:
                    attempt = after.copy()
                    try:
                        scheduler.place_pod(lost_pod, attempt, frozenset({host}))
                    except Unplaced:
                        failures.add((host, lost_pod.name))
                        continue
                    after = attempt
    return placements, problems, failures


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_plans())
def test_the_proof_agrees_with_every_permutation(plan: PlacementPlan) -> None:
    placements, problems, failures = oracle(plan)
    proof = prove(plan, RulesPipelines({}))

    assert proof.placements == len(placements)
    assert {(f.service, what(f.problem)) for f in proof.findings if f.kind == "placement"} == problems
    if not problems:
        assert {(f.lost, f.unplaced) for f in proof.findings if f.kind == "host"} == failures
    assert proof.passed == (not problems and not failures)
    assert proof.complete


def rare_order_plan() -> PlacementPlan:
    """Found by searching small_plans (anchors carry their room): every sampled run passes."""
    hosts = [
        Host("h0", 6, 1 << 20, "az1"),
        Host("h1", 6, 1 << 20, "az1"),
        Host("h2", 8, 1 << 20, "az1"),
        Host("h3", 12, 1 << 20, "az1"),
    ]
    services = [
        ServiceRequest("s0", [pod("s0", 0, [2], True), pod("s0", 1, [2], True)]),
        ServiceRequest("s1", [pod("s1", 0, [4], True)]),
        ServiceRequest("s2", [pod("s2", 0, [1, 4], True)]),
    ]
    return PlacementPlan("dc1", None, hosts, {}, services)  # type: ignore[arg-type]


def test_a_stack_that_fails_only_in_rare_orders_fails_and_names_the_order() -> None:
    plan = rare_order_plan()
    engine = RulesPipelines({})
    # What `place` used to do: four service orders, the lost pods evacuated in catalog order. All pass.
    for order in service_orders(plan, shuffles=2):
        assert not place(plan, engine, "spread", order).blocking()

    proof = prove(plan, engine)

    assert not proof.passed
    (finding,) = proof.findings
    assert finding.kind == "host" and finding.lost == "h3" and finding.unplaced == "s2-pod-0"
    assert finding.order == ("s2", "s1", "s0")
    assert finding.evacuation == ("s0-pod-0", "s2-pod-0")
    assert "after losing host h3, pod s2-pod-0 cannot be placed again" in finding.problem
    assert "evacuated in the order s0-pod-0, s2-pod-0" in finding.problem
    assert oracle(plan)[2] == {("h3", "s2-pod-0")}
