"""A datacenter stack: its OpenStack provider, the shared router, and every service that runs there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from webex_cloud.components.controller import ControllerPair, ControllerPairArgs
from webex_cloud.components.images import register_images
from webex_cloud.components.monitoring import MonitoringPair, MonitoringPairArgs
from webex_cloud.components.service import Service, ServiceArgs
from webex_cloud.config.capacity import anchor_room
from webex_cloud.config.image_ids import RegisteredImage
from webex_cloud.config.resolved import Deployment
from webex_cloud.controller.filter_release import FilterRelease
from webex_cloud.facts.rollout import DEPLOY_RUNNER_SOURCE
from webex_cloud.monitoring.logs import instance_user_data
from webex_cloud.plan import format as tokens
from webex_cloud.release import rollout


@dataclass(frozen=True)
class DatacenterArgs:
    deployment: Deployment
    """The validated catalog resolved for this datacenter."""
    cloud: str | None
    """clouds.yaml entry holding the credentials (``openstack:cloud``); None uses OS_* variables."""
    release: FilterRelease
    """The filter release the controllers get, built by the program before any resource is registered
    (a build failure must stop the program with nothing registered, not half-way through)."""
    image_ids: Mapping[str, str]
    """Image name -> the verified Glance id instances boot (webex_cloud/config/image_ids.py)."""
    images: tuple[RegisteredImage, ...] = ()
    """The Glance images the stack registers (webex_cloud/components/images.py)."""
    monitoring_user_data: tuple[str, ...] = ()
    """Each monitoring node's user data when the stack deploys its monitoring pair
    (``monitoring.instances``; webex_cloud/monitoring/node.py), rendered by the program before any
    resource is registered; (): the stack deploys no monitoring pair."""


class Datacenter(pulumi.ComponentResource):
    """Provider, router with external gateway, and the services of one datacenter."""

    router_id: pulumi.Output[str]
    images: dict[str, openstack.images.Image]
    services: dict[str, Service]
    controllers: ControllerPair
    monitoring: MonitoringPair | None

    def __init__(self, name: str, args: DatacenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.DATACENTER, name, None, opts)
        dc = args.deployment.datacenter
        provider = openstack.Provider(
            f"{name}-openstack", cloud=args.cloud, region=dc.region, opts=pulumi.ResourceOptions(parent=self)
        )
        on_cloud = pulumi.ResourceOptions(parent=self, provider=provider)
        # Children of the datacenter itself: the deploy applies them first, alone (deploy-stack.yml).
        self.images = register_images(name, args.images, on_cloud)
        external = openstack.networking.get_network_output(
            name=dc.external_network,
            external=True,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider),
        )
        router = openstack.networking.Router(
            f"{name}-router",
            name=f"{dc.name}-services",
            admin_state_up=True,
            external_network_id=external.id,
            tags=[f"datacenter={dc.name}"],
            opts=on_cloud,
        )
        self.controllers = ControllerPair(
            f"{name}-controllers",
            ControllerPairArgs(
                datacenter=dc.name,
                plane=dc.controllers,
                sources={key: [str(p) for p in prefixes] for key, prefixes in dc.sources.items()},
                availability_zones=tuple(dc.availability_zones),
                release=args.release,
                image_ids=args.image_ids,
                logs=dc.monitoring.logs if dc.monitoring else None,
            ),
            pulumi.ResourceOptions(parent=self, providers=[provider]),
        )
        self.monitoring = None
        if dc.monitoring is not None and args.monitoring_user_data:
            self.monitoring = MonitoringPair(
                f"{name}-monitoring",
                MonitoringPairArgs(
                    datacenter=dc.name,
                    monitoring=dc.monitoring,
                    plane=dc.controllers,
                    availability_zones=tuple(dc.availability_zones),
                    image_ids=args.image_ids,
                    user_data=args.monitoring_user_data,
                    runner_prefixes=tuple(str(p) for p in dc.sources.get(DEPLOY_RUNNER_SOURCE, [])),
                ),
                pulumi.ResourceOptions(parent=self, providers=[provider]),
            )
        pod_user_data = instance_user_data(dc.name, dc.monitoring.logs if dc.monitoring else None)
        self.services = {
            item.service.name: Service(
                item.service.name,
                ServiceArgs(
                    deployment=item,
                    datacenter=dc.name,
                    availability_zones=tuple(dc.availability_zones),
                    router_id=router.id,
                    runner_prefixes=tuple(str(p) for p in dc.sources.get(DEPLOY_RUNNER_SOURCE, [])),
                    filters_ready=tuple(self.controllers.rollouts),
                    anchor_room=anchor_room(item.service, dc),
                    image_ids=args.image_ids,
                    prometheus=rollout.prometheus_urls(dc),
                    user_data=pod_user_data,
                ),
                pulumi.ResourceOptions(parent=self, providers=[provider]),
            )
            for item in args.deployment.services
        }
        self.router_id = router.id
        self.register_outputs(
            {
                "router_id": router.id,
                "services": sorted(self.services),
                "controller_vip": self.controllers.vip_address,
            }
        )
