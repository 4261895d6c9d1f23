"""The plan document (docs/plan-format.md) and its short human summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from webex_cloud import naming
from webex_cloud.config.image_ids import ENVIRONMENT as IMAGE_IDS
from webex_cloud.config.image_ids import load_image_ids, plan_setting
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.models import Service
from webex_cloud.config.resolved import Deployment
from webex_cloud.paths import PROJECT
from webex_cloud.plan import format as plan_format
from webex_cloud.plan.capture import Registration, run_program
from webex_cloud.plan.format import (
    Plan,
    PlanDatacenter,
    PlanPod,
    PlanResource,
    PlanService,
    PlanVolumeGroup,
)


def _pod(urn: dict[tuple[str, str], str], service: Service, index: int) -> PlanPod:
    name = naming.pod(service.name, index)
    return PlanPod(
        name=name,
        # The service's anchor group, which the pod's first instance joins.
        server_group=urn[(plan_format.SERVER_GROUP, naming.server_group(service.name))],
        instances=[
            urn[(plan_format.INSTANCE, naming.instance(name, member.role, ordinal))]
            for member in service.pods.members
            for ordinal in range(member.count)
        ],
    )


def _services(deployment: Deployment, registrations: list[Registration]) -> dict[str, PlanService]:
    """Per service, the URNs of its pods and replicas in creation order (pod N, member order)."""
    urn = {(reg.type, reg.name): reg.urn for reg in registrations}
    services: dict[str, PlanService] = {}
    for item in deployment.services:
        service = item.service
        groups = []
        for group in service.volume_groups:
            name = naming.volume_group(service.name, group.name)
            groups.append(
                PlanVolumeGroup(
                    name=name,
                    key=f"{deployment.stack}/{service.name}/{group.name}",
                    replicas=[
                        urn[(plan_format.VOLUME, naming.replica(name, r))] for r in range(group.replicas)
                    ],
                )
            )
        services[service.name] = PlanService(
            subnet=str(item.subnet),
            owner=service.owner,
            datacenters=None if service.datacenters is None else list(service.datacenters),
            pods=[_pod(urn, service, index) for index in range(service.pods.count)],
            volume_groups=groups,
            max_unavailable=service.rollout.max_unavailable,
        )
    return services


def build_plan(stack: str, *, project_dir: Path) -> Plan:
    """The plan of ``stack``: validated input, then the real program under mocks.

    Raises CatalogError (before anything runs) when the catalog or stack config is invalid.
    """
    deployment = load_deployment(project_dir, stack)
    registrations = sorted(run_program(project_dir, stack), key=lambda r: r.urn)
    image_ids = load_image_ids(project_dir, deployment, {IMAGE_IDS: plan_setting(stack)})
    return Plan(
        format=plan_format.FORMAT,
        project=PROJECT,
        stack=stack,
        datacenter=PlanDatacenter.model_validate(deployment.datacenter.model_dump(mode="json")),
        services=_services(deployment, registrations),
        image_ids=image_ids,
        resources=[PlanResource.model_validate(reg.to_json()) for reg in registrations],
    )


def render_plan(stack: str, *, project_dir: Path) -> dict[str, Any]:
    """The plan document of ``stack`` as JSON data (what ``python -m webex_cloud plan`` writes)."""
    return build_plan(stack, project_dir=project_dir).to_json()


def summary(plan: Mapping[str, Any]) -> str:
    """A few lines a reviewer reads before opening the JSON."""
    resources = plan["resources"]
    services = plan["services"]
    by_type = Counter(r["type"] for r in resources if r["custom"])
    lines = [
        f"stack {plan['stack']}: {len(resources)} resources "
        f"({sum(by_type.values())} cloud resources, {len(services)} services)",
        "",
        f"  {'service':<22} {'subnet':<16} {'pods':>4} {'instances':>9} {'volumes':>7}  volume groups",
    ]
    for name, service in sorted(services.items()):
        instances = sum(len(p["instances"]) for p in service["pods"])
        volumes = sum(len(g["replicas"]) for g in service["volume_groups"])
        groups = (
            ", ".join(
                f"{g['name'].removeprefix(name + '-')} x{len(g['replicas'])}"
                for g in service["volume_groups"]
            )
            or "-"
        )
        lines.append(
            f"  {name:<22} {service['subnet']:<16} {len(service['pods']):>4} {instances:>9} "
            f"{volumes:>7}  {groups}"
        )
    lines += ["", "  by type:"]
    lines += [f"    {count:>5}  {kind}" for kind, count in sorted(by_type.items())]
    return "\n".join(lines)
