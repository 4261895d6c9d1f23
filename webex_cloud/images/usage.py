"""Which catalog images a stack boots: every pod member's and the controller proxies', with the services
that boot each. That each is an entry of the image catalog is the loader's check (config/loader.py
``_check_image_catalog``): a stack that offers an image the catalog does not pin does not load."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from webex_cloud.config.loader import load_deployment
from webex_cloud.config.resolved import Deployment


@dataclass(frozen=True)
class StackImages:
    stack: str
    used: dict[str, tuple[str, ...]]
    """Image -> the services (or ``controllers``) whose instances boot from it, in this datacenter."""
    management: ipaddress.IPv4Network
    offered: tuple[str, ...] = ()
    """The stack file's ``images:``, in its order (a finding names its index)."""


def stack_images(deployment: Deployment) -> StackImages:
    used: dict[str, set[str]] = {}
    for service in deployment.services:
        for member in service.service.pods.members:
            used.setdefault(member.image, set()).add(service.service.name)
    controllers = deployment.datacenter.controllers
    if controllers.proxies is not None:
        used.setdefault(controllers.proxies.image, set()).add("controllers")
    return StackImages(
        stack=deployment.stack,
        used={name: tuple(sorted(users)) for name, users in sorted(used.items())},
        management=controllers.management.cidr,
        offered=tuple(deployment.datacenter.images),
    )


def load_stack_images(project_dir: Path, stack: str) -> StackImages:
    """Raises CatalogError (the loader's problems: file, field, fix)."""
    return stack_images(load_deployment(project_dir, stack))
