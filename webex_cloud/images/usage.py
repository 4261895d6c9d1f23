"""Which catalog images a stack boots, with what boots each: read from the one owner of that list
(webex_cloud/config/image_ids.py ``booted_by``), which the image resources a stack registers read too.
That each is an entry of the image catalog is the loader's check (config/loader.py
``_check_image_catalog``): a stack that offers an image the catalog does not pin does not load."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from webex_cloud.config.image_ids import booted_by
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.resolved import Deployment


@dataclass(frozen=True)
class StackImages:
    stack: str
    used: dict[str, tuple[str, ...]]
    """Image -> the services (or ``controllers``, ``monitoring``) whose instances boot it, here."""
    management: ipaddress.IPv4Network
    offered: tuple[str, ...] = ()
    """The stack file's ``images:``, in its order (a finding names its index)."""


def stack_images(deployment: Deployment) -> StackImages:
    return StackImages(
        stack=deployment.stack,
        used=booted_by(deployment),
        management=deployment.datacenter.controllers.management.cidr,
        offered=tuple(deployment.datacenter.images),
    )


def load_stack_images(project_dir: Path, stack: str) -> StackImages:
    """Raises CatalogError (the loader's problems: file, field, fix)."""
    return stack_images(load_deployment(project_dir, stack))
