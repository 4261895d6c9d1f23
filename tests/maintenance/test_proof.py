"""The drain's first check: the placement proof on the inventory left without the hosts."""

from __future__ import annotations

from webex_cloud.maintenance.proof import can_lose, ok_to_stop, unknown, without
from webex_cloud.placement.engine import RulesPipelines
from webex_cloud.placement.plan import PlacementPlan


def test_the_proof_runs_on_the_inventory_without_the_hosts(plan: PlacementPlan) -> None:
    left = without(plan, [plan.hosts[0].name], [next(iter(plan.failure_domains))])
    assert [h.name for h in left.hosts] == [h.name for h in plan.hosts[1:]]
    assert len(left.failure_domains) == len(plan.failure_domains) - 1


def test_losing_most_hosts_is_refused_with_the_reason(plan: PlacementPlan) -> None:
    engine = RulesPipelines(plan.failure_domains)
    verdict = can_lose(plan, engine, [h.name for h in plan.hosts[:-2]])
    assert not verdict.ok
    assert any("no valid host" in r or "cannot be placed" in r for r in verdict.reasons), verdict.reasons


def test_ok_to_stop_judges_every_host_and_domain_like_can_lose(plan: PlacementPlan) -> None:
    engine = RulesPipelines(plan.failure_domains)
    verdicts = ok_to_stop(plan, engine)
    assert [v.hosts for v in verdicts if v.hosts and not v.zones] == [(h.name,) for h in plan.hosts]
    assert [v.domains for v in verdicts if v.domains] == [(d,) for d in sorted(plan.failure_domains)]
    backends = sorted(b for members in plan.failure_domains.values() for b in members)
    assert [v.backends for v in verdicts if v.backends] == [(b,) for b in backends]
    zones = {v.zones: v for v in verdicts if v.zones}
    assert set(zones) == {(h.availability_zone,) for h in plan.hosts}
    for (zone,), verdict in zones.items():
        assert verdict.hosts == tuple(h.name for h in plan.hosts if h.availability_zone == zone)
    for verdict in verdicts:
        again = can_lose(plan, engine, verdict.hosts, verdict.domains, backends=verdict.backends)
        assert again.ok == verdict.ok
    # The example dc1 keeps a spare host per zone: at least one host can be stopped; its pods are pinned
    # to their zones and its groups need every storage rack but the spare, so no zone and no backend.
    assert any(v.ok for v in verdicts if v.hosts)
    assert not any(v.ok for v in verdicts if v.zones or v.backends)


def test_a_host_already_down_counts_against_the_next(plan: PlacementPlan) -> None:
    engine = RulesPipelines(plan.failure_domains)
    free = [v.hosts[0] for v in ok_to_stop(plan, engine) if v.hosts and v.ok]
    down = ok_to_stop(plan, engine, down=free[:1])
    assert all(free[0] in v.hosts for v in down if v.hosts)
    assert sum(v.ok for v in down if v.hosts) <= len(free) - 1


def test_names_outside_the_inventory_are_reported(plan: PlacementPlan) -> None:
    assert unknown(plan, ["nope", plan.hosts[0].name], ["rack-zz"]) == [
        "host 'nope'",
        "failure domain 'rack-zz'",
    ]


def test_a_problem_the_whole_inventory_has_too_is_reported_not_blamed_on_the_loss(
    plan: PlacementPlan,
) -> None:
    """A stack already short of storage domains still lets a spare compute host go: the drain does not
    make the storage worse, and says what was already wrong."""
    short = without(plan, domains=sorted(plan.failure_domains)[2:])
    engine = RulesPipelines(short.failure_domains)
    spare = next(
        v.hosts[0] for v in ok_to_stop(plan, RulesPipelines(plan.failure_domains)) if v.hosts and v.ok
    )
    verdict = can_lose(short, engine, [spare])
    assert verdict.ok and verdict.already
    assert all("failure domain" in p or "volume group" in p for p in verdict.already)


def test_a_stack_already_failing_one_service_still_refuses_a_loss_that_breaks_n_plus_one_for_the_others(
    plan: PlacementPlan,
) -> None:
    """Before, N+1 was checked only when every service placed: on a stack whose replicas had no backend,
    a drain that left the pods no host to fall back on after one more loss was let through."""
    broken = without(plan, domains=sorted(plan.failure_domains))  # no replica has a backend
    two = [h.name for h in plan.hosts if h.availability_zone == "dc1-az1"][:2]
    healthy = can_lose(plan, RulesPipelines(plan.failure_domains), two)
    assert not healthy.ok and all("after losing host" in r for r in healthy.reasons)

    verdict = can_lose(broken, RulesPipelines(broken.failure_domains), two)
    assert not verdict.ok, "the loss breaks N+1 for the services that have no volumes"
    assert all("after losing host" in r for r in verdict.reasons), verdict.reasons
    assert verdict.already and all("volume group" in p for p in verdict.already)
