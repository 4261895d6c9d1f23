"""How long a service's release may take, and how long a stack's deploy job must be allowed to run.

The bound is what the engine and the provider will wait for before they give up on their own
(webex_cloud/facts/rollout.py cites each number), so a deploy job given this timeout is never killed in
the middle of a release that would still have finished, or failed, by itself: a killed job leaves pending
operations in the checkpoint (docs/releasing.md, section 7).

Services release side by side: their gates and instances do not depend on each other, and the engine runs
independent steps at once up to ``--parallel`` (``PULUMI_PARALLEL``; default four per CPU, pulumi/pulumi
``pkg/cmd/pulumi/operations/up.go`` ``defaultParallel``, read at 3.260.0-dev, the CLI is pinned 3.272.0).
The stack's bound is its slowest service's only when every step of the widest moment gets a slot at once,
so the deploy sets ``PULUMI_PARALLEL`` to :func:`widest_moment`.
"""

from __future__ import annotations

from collections.abc import Sequence

from webex_cloud.config.errors import Problem
from webex_cloud.config.models import Service
from webex_cloud.facts.rollout import (
    DEPLOY_JOB_LIMIT_MINUTES,
    DEPLOY_STEPS_BEFORE_UP_S,
    release_bound_s,
)


def service_release_s(service: Service) -> int:
    """The service's release bound in seconds (facts/rollout.py ``release_bound_s``)."""
    attached = any(group.attach_to for group in service.volume_groups)
    return release_bound_s(
        service.pods.count, service.rollout.max_unavailable, service.rollout.deadline_s, attached
    )


def job_minutes(services: Sequence[Service], bake_s: int = 0) -> int:
    """The deploy job's timeout for a stack running ``services``: the steps before ``up``, its
    slowest service's release, its bake after ``up`` (``deploy.bake_s``) and the rollback that may
    follow a failed release or bake in the same job (another release, back: docs/releasing.md
    section 6), in whole minutes (rounded up)."""
    slowest = max((service_release_s(s) for s in services), default=0)
    return -(-(DEPLOY_STEPS_BEFORE_UP_S + 2 * slowest + bake_s) // 60)


def widest_moment(services: Sequence[Service]) -> int:
    """The most resource steps that wait at once: every service's widest wave, its instances and the
    attachments of its pods, all in flight together."""
    total = 0
    for service in services:
        per_pod = sum(member.count for member in service.pods.members)
        attachments = sum(1 for group in service.volume_groups if group.attach_to)
        wave_pods = min(service.rollout.max_unavailable, service.pods.count)
        total += wave_pods * (per_pod + attachments)
    return max(total, 1)


def too_long(label: str, service: Service) -> Problem | None:
    """A service whose release alone cannot finish within the deploy job's limit."""
    minutes = job_minutes([service])
    if minutes <= DEPLOY_JOB_LIMIT_MINUTES:
        return None
    rollout = service.rollout
    return Problem(
        label,
        "rollout",
        f"a release of {service.pods.count} pods, {rollout.max_unavailable} at a time, each wave up to "
        f"{rollout.deadline_s} s of gate after its instances' replacement (the provider allows 30 min per "
        f"create and per delete), needs a deploy job of {minutes} min, more than the limit of "
        f"{DEPLOY_JOB_LIMIT_MINUTES} min; raise rollout.max_unavailable or lower rollout.deadline_s",
    )
