"""The Pulumi program of one datacenter stack: reads config, hands it to the components. Nothing else."""

import os
from pathlib import Path

import pulumi

from webex_cloud.components.datacenter import Datacenter, DatacenterArgs
from webex_cloud.config.engine import program_config
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_ids import load_image_ids, load_registered_images
from webex_cloud.config.loader import load_deployment
from webex_cloud.controller.filter_release import ReleaseBuildError, build_release
from webex_cloud.monitoring.node import UserDataTooLarge, pair_user_data
from webex_cloud.paths import stack_file

# The project this program belongs to is the folder it is in (the CLI runs it there; the offline plan
# runs copies of it in other project folders).
PROJECT_DIR = Path(__file__).resolve().parent

# Everything that can fail on input is done before the first resource is registered, so that a bad
# catalog or an unbuildable filter release stops `pulumi up` with nothing changed.
try:
    config = program_config()
    deployment = load_deployment(PROJECT_DIR, pulumi.get_stack(), config.datacenter)
    deploy = deployment.datacenter.controllers.deploy
    ids = load_image_ids(PROJECT_DIR, deployment, os.environ)
    images = load_registered_images(PROJECT_DIR, deployment, os.environ)
    release = build_release(
        nova_filters=deploy.nova_filters,
        cinder_filters=deploy.cinder_filters,
        failure_domains=deployment.datacenter.failure_domains,
    )
    monitoring_user_data = pair_user_data(deployment, stack_file(deployment.stack))
except (CatalogError, ReleaseBuildError, UserDataTooLarge) as error:
    # RunError ends the program with the message alone: the problems, not a traceback.
    raise pulumi.RunError(str(error)) from None

datacenter = Datacenter(
    deployment.stack,
    DatacenterArgs(
        deployment=deployment,
        cloud=config.cloud,
        release=release,
        monitoring_user_data=monitoring_user_data,
        image_ids=ids,
        images=images,
        # No SSH key here: the rollouts authenticate with the deploy job's ssh-agent (docs/state-backend.md).
    ),
)

pulumi.export("router_id", datacenter.router_id)
pulumi.export(
    "services",
    {
        name: {"subnet": str(item.subnet), "pods": item.service.pods.count}
        for name, item in ((s.service.name, s) for s in deployment.services)
    },
)
