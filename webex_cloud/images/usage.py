"""Which catalog images a stack needs: every pod member's, the controller proxies', and the images its
stack file offers. Each must be an entry of the image catalog (file, field and fix otherwise)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.loader import DATACENTER_KEY, load_deployment
from webex_cloud.config.resolved import Deployment
from webex_cloud.images.catalog import IMAGE_CATALOG, ImageCatalog
from webex_cloud.paths import stack_file


@dataclass(frozen=True)
class StackImages:
    stack: str
    used: dict[str, tuple[str, ...]]
    """Image -> the services (or ``controllers``) whose instances boot from it, in this datacenter."""
    offered: tuple[str, ...]
    """The stack file's ``images`` list."""
    management: ipaddress.IPv4Network
    wave: int


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
        offered=tuple(deployment.datacenter.images),
        management=controllers.management.cidr,
        wave=deployment.datacenter.deploy.wave,
    )


def load_stack_images(project_dir: Path, stack: str) -> StackImages:
    """Raises CatalogError (the loader's problems: file, field, fix)."""
    return stack_images(load_deployment(project_dir, stack))


def missing_from_catalog(catalog: ImageCatalog, stacks: list[StackImages]) -> list[Problem]:
    """Every image a stack offers or boots that the image catalog does not pin."""
    known = set(catalog.names)
    problems: list[Problem] = []
    for images in stacks:
        label = stack_file(images.stack)
        for i, name in enumerate(images.offered):
            if name not in known:
                problems.append(
                    Problem(
                        label,
                        f"config.{DATACENTER_KEY}.images[{i}]",
                        f"image {name!r} is not in {IMAGE_CATALOG}; add an entry for it there (name, "
                        "source, sha256, formats, minimums: docs/images.md) or remove it here",
                    )
                )
        for name, users in images.used.items():
            if name not in known and name not in images.offered:
                problems.append(
                    Problem(
                        label,
                        f"config.{DATACENTER_KEY}.images",
                        f"image {name!r} (used by {', '.join(users)}) is not in {IMAGE_CATALOG}; add an "
                        "entry for it there (docs/images.md)",
                    )
                )
    return problems


def check_against(catalog: ImageCatalog, stacks: list[StackImages]) -> None:
    problems = missing_from_catalog(catalog, stacks)
    if problems:
        raise CatalogError(problems)
