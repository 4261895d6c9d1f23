"""The placement proof's picture: where the plan's pods and replicas would land (webex_cloud/picture.py)."""

from __future__ import annotations

from webex_cloud.facts.invariants import Finding, pod_rules, replica_rules
from webex_cloud.naming import cloud_name
from webex_cloud.picture import Mark, Picture, columns
from webex_cloud.placement.engine import ServiceResult
from webex_cloud.placement.plan import PlacementPlan


def placement_picture(plan: PlacementPlan, results: list[ServiceResult]) -> Picture:
    hosts: dict[str, list[Mark]] = {}
    domains: dict[str, list[Mark]] = {}
    notes: list[tuple[str, bool]] = []
    groups = {(s.name, g.name): g for s in plan.services for g in s.volume_groups}
    for result in results:
        findings: list[Finding] = pod_rules(
            result.name, {p: dict.fromkeys(h, ()) for p, h in result.pod_hosts.items()}
        )
        for pod, pod_hosts in result.pod_hosts.items():
            for host in pod_hosts:
                bad = [f.message for f in findings if pod in f.items and host in f.where]
                hosts.setdefault(host, []).append(
                    Mark(pod, result.name, "pod", bool(bad), "\n".join([f"{pod} on {host}", *bad]))
                )
        for group_name, placed in result.group_domains.items():
            group = groups.get((result.name, group_name))
            # The engine lists the domains of the placed replicas in order; with one unplaced the
            # positions no longer name the replica, so they are numbered instead.
            names = (
                [cloud_name(plan.stack, r.name) for r in group.replicas]
                if group is not None and len(group.replicas) == len(placed)
                else [f"{group_name} #{i}" for i in range(len(placed))]
            )
            spread = replica_rules(
                result.name,
                group.key if group else group_name,
                zip(names, [""] * len(names), placed, strict=True),
            )
            for name, domain in zip(names, placed, strict=True):
                bad = [f.message for f in spread if name in f.items]
                domains.setdefault(domain, []).append(
                    Mark(name, result.name, "replica", bool(bad), "\n".join([f"{name} in {domain}", *bad]))
                )
        notes += [(f"{result.name}: {problem}", True) for problem in result.problems]
    failed = sum(1 for r in results if r.problems)
    verdict = "fault tolerant" if not failed else f"{failed} services not fault tolerant"
    return Picture(
        f"stack {plan.stack}: where things would be (placement proof: {verdict})",
        columns([h.name for h in plan.hosts], hosts),
        columns(plan.failure_domains, domains),
        tuple(notes),
    )
