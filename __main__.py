"""The Pulumi program of one datacenter stack: reads config, hands it to the components. Nothing else."""

from pathlib import Path

import pulumi

from components.datacenter import Datacenter, DatacenterArgs
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment

PROJECT_DIR = Path(__file__).resolve().parent

try:
    deployment = load_deployment(PROJECT_DIR, pulumi.get_stack(), pulumi.Config().get_object("datacenter"))
except CatalogError as error:
    # RunError ends the program with the message alone: the problems, not a traceback.
    raise pulumi.RunError(str(error)) from None

datacenter = Datacenter(
    deployment.stack,
    DatacenterArgs(
        deployment=deployment,
        cloud=pulumi.Config("openstack").get("cloud"),
        # `pulumi config set --secret controllerSshKey < key`; unset, the deploy uses the ssh-agent.
        controller_ssh_key=pulumi.Config().get_secret("controllerSshKey"),
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
