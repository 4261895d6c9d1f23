"""Compute hosts as Nova sees them now, and N+1 re-checked on what is left of the inventory.

The check is the loader's own (webex_cloud/config/capacity.py ``spare_capacity_problems``, the one N+1
rule of this project), run on the plan's datacenter without the hosts Nova reports disabled or down,
with the pod and replica counts the plan deployed. Only what the unavailable hosts *newly* break is
drift: a stack that opted out (``placement.n_plus_one: false``) or was already short is not re-reported,
and an opted-out stack's loss only warns. A host disabled with a reason starting
``webex-maintenance:`` is recorded maintenance (a drain): reported as such, not as drift, but it still
counts as unavailable for N+1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from webex_cloud.cloud.views import ComputeService
from webex_cloud.config.capacity import spare_capacity_problems
from webex_cloud.config.errors import Problem
from webex_cloud.config.models import Datacenter, Service
from webex_cloud.drift.classes import MAINTENANCE_PREFIX, Risk
from webex_cloud.drift.findings import Drift, make
from webex_cloud.plan.format import Plan


def host_drift(services: Iterable[ComputeService], hosts: Sequence[str]) -> list[Drift]:
    """A disabled or down nova-compute of one of the stack's ``hosts``."""
    found = []
    for service in sorted(services, key=lambda s: s.host):
        if service.host not in hosts:
            continue
        state = {"enabled": service.enabled, "up": service.up, "disabled_reason": service.disabled_reason}
        if not service.enabled:
            maintenance = service.disabled_reason.startswith(MAINTENANCE_PREFIX)
            kind = "maintenance" if maintenance else "host-disabled"
            reason = f" ({service.disabled_reason})" if service.disabled_reason else ""
            found.append(
                make(
                    kind,
                    f"host/{service.host}",
                    service.host,
                    service.id,
                    "status",
                    None,
                    state,
                    f"compute host {service.host} is disabled{reason}"
                    + ("; recorded maintenance" if maintenance else ""),
                )
            )
        if not service.up:
            found.append(
                make(
                    "host-down",
                    f"host/{service.host}",
                    service.host,
                    service.id,
                    "state",
                    None,
                    state,
                    f"compute host {service.host} is down (nova-compute does not report)",
                )
            )
    return found


def _maintenance(service: ComputeService) -> bool:
    return not service.enabled and service.disabled_reason.startswith(MAINTENANCE_PREFIX)


def unavailable(services: Iterable[ComputeService], hosts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The stack's hosts Nova will not schedule to now: (out of band: disabled or down; in recorded
    maintenance, up and disabled by a drain)."""
    out = [s for s in services if s.host in hosts and not (s.enabled and s.up)]
    drained = sorted({s.host for s in out if _maintenance(s) and s.up})
    return sorted({s.host for s in out} - set(drained)), drained


def _deployed(plan: Plan, catalog: Iterable[tuple[str, Service]]) -> list[tuple[str, Service]]:
    """The catalog's services that the plan deploys, with the plan's pod and replica counts."""
    services = []
    for label, service in catalog:
        spec = plan.services.get(service.name)
        if spec is None:
            continue
        replicas = {g.name: len(g.replicas) for g in spec.volume_groups}
        groups = [
            g.model_copy(update={"replicas": replicas.get(g.name, g.replicas)}) for g in service.volume_groups
        ]
        pods = service.pods.model_copy(update={"count": len(spec.pods) or service.pods.count})
        services.append((label, service.model_copy(update={"pods": pods, "volume_groups": groups})))
    return services


def _problems(services: list[tuple[str, Service]], dc: Datacenter) -> list[Problem]:
    return list(spare_capacity_problems(services, dc, f"stack {dc.name}", "hosts"))


def _key(problem: Problem) -> tuple[str, str, str]:
    """Which rule a problem breaks, whatever the counts in its message: a rule already broken with the
    whole inventory is not drift."""
    return problem.file, problem.field, problem.zone


def broken_zone(drift: Drift) -> str:
    """The availability zone whose capacity rule an ``n-plus-one`` drift breaks ("": a service's own
    rule)."""
    observed = drift.observed if isinstance(drift.observed, dict) else {}
    return str(observed.get("zone", ""))


def _broken(
    plan: Plan, dc: Datacenter, services: list[tuple[str, Service]], down: Sequence[str], before: set[Any]
) -> list[Problem]:
    left = [h for h in dc.hosts if h.name not in down]
    if not left:
        return [Problem(f"stack {plan.stack}", "hosts", f"every compute host of {plan.stack} is unavailable")]
    return [p for p in _problems(services, dc.model_copy(update={"hosts": left})) if _key(p) not in before]


def n_plus_one(
    plan: Plan, catalog: Iterable[tuple[str, Service]], down: Sequence[str], drained: Sequence[str] = ()
) -> list[Drift]:
    """What N+1 no longer absorbs once the ``down`` hosts are out of the plan's inventory (blocking when
    the stack requires N+1), and what it no longer absorbs during the recorded maintenance of the
    ``drained`` hosts on top (reported as maintenance, not drift)."""
    if not down and not drained:
        return []
    dc = Datacenter.model_validate(plan.datacenter.model_dump(mode="json", by_alias=True))
    services = _deployed(plan, catalog)
    before = {_key(p) for p in _problems(services, dc)}
    found = []
    risk = Risk.BLOCK if dc.placement.n_plus_one else Risk.WARN
    if down:
        for p in _broken(plan, dc, services, down, before):
            found.append(_drift(plan, p, f"without {', '.join(down)}: ", down, risk))
            before.add(_key(p))
    if drained:
        hosts = [*down, *drained]
        for p in _broken(plan, dc, services, hosts, before):
            prefix = f"during the recorded maintenance of {', '.join(drained)}: "
            found.append(_drift(plan, p, prefix, hosts, Risk.INFO))
    return found


def _drift(plan: Plan, problem: Problem, prefix: str, hosts: Sequence[str], risk: Risk) -> Drift:
    return make(
        "n-plus-one",
        f"n-plus-one/{problem.file}",
        problem.file,
        "",
        problem.field,
        None,
        {"unavailable_hosts": list(hosts), **({"zone": problem.zone} if problem.zone else {})},
        prefix + problem.message,
        risk=risk,
    )
