"""A generated project (catalog + one datacenter) of a requested size, for benchmarks.

Shared by every benchmark that needs a large plan, so they measure the same thing.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from webex_cloud.paths import PROJECT_DIR

RESOURCES_PER_SERVICE = 40
"""What one generated service registers (checked by the render benchmark)."""


EXAMPLE_SERVICE = "messaging"
"""The example catalog service the generated services are made from (app pods and a replicated store)."""
EXAMPLE_CANARY = "dc1"
"""The example stack the generated single-datacenter project is made from."""


def _example(relative: str) -> dict[str, Any]:
    """An example file of the checkout as loaded data: every field the product requires is there, so a
    field made required later (as ``deploy:`` was) reaches the generated projects without an edit here."""
    data: dict[str, Any] = yaml.safe_load((PROJECT_DIR / relative).read_text())
    return data


def _service(example: dict[str, Any], index: int, flavor: str, image: str) -> dict[str, Any]:
    """The example service with its own name and a fixed shape: RESOURCES_PER_SERVICE resources."""
    service = copy.deepcopy(example)
    service.update(
        name=f"svc-{index:04d}",
        owner=f"team-{index % TEAMS}",
        pods={
            "count": 3,
            "members": [
                {"role": "app", "flavor": flavor, "image": image, "count": 2},
                {"role": "db", "flavor": flavor, "image": image, "count": 1},
            ],
        },
        volume_groups=[{"name": "data", "size_gb": 10, "type": "ssd", "replicas": 3, "attach_to": "db"}],
    )
    service["network"] = {
        **service["network"],
        "prefix_length": 25,
        # Single-datacenter project: no peer-dc source.
        "ingress": [
            {"protocol": "tcp", "ports": 443, "source": "any"},
            {"protocol": "tcp", "ports": 22, "source": "ops"},
        ],
    }
    return service


TEAMS = 17
"""The generated services' owners: ``team-0`` .. ``team-16``."""


def _datacenter(example: dict[str, Any], hosts: int) -> dict[str, Any]:
    """The example canary with room for many services: a /8 pool, ``hosts`` compute hosts, no pinned
    subnets (the example's services are not in the generated catalog) and its management networks
    moved out of the pool."""
    datacenter = copy.deepcopy(example)
    datacenter.pop("subnets", None)
    zones = datacenter["availability_zones"]
    datacenter.update(
        cidr_pool="10.0.0.0/8",
        sources={
            "any": ["0.0.0.0/0", "::/0"],
            "ops": ["192.168.0.0/24"],
            "deploy-runner": ["192.168.0.20/32"],
        },
        hosts=[
            {
                "name": f"cmp-{i:05d}",
                "vcpus": 64,
                "ram_mb": 262144,
                "availability_zone": zones[i % len(zones)],
            }
            for i in range(hosts)
        ],
    )
    datacenter["controllers"] = {
        **datacenter["controllers"],
        "hosts": [
            # Pinned host keys: the generated stack is meant to pass every policy.
            {
                "name": "ctl-1",
                "address": "192.168.1.11",
                "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench1",
            },
            {
                "name": "ctl-2",
                "address": "192.168.1.12",
                "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench2",
            },
        ],
        "vip": "192.168.1.10",
        "management": {"network": "mgmt", "subnet": "mgmt-v4", "cidr": "192.168.1.0/24"},
        "proxies": {
            **datacenter["controllers"]["proxies"],
            "addresses": ["192.168.1.13", "192.168.1.14"],
        },
    }
    monitoring = datacenter.get("monitoring")
    if monitoring is not None:
        # Watched like the example: its pair on the moved management network, a receiver per team.
        teams = {
            f"team-{i}": {"pagerduty": {"routing_key_file": f"/etc/prometheus/secrets/team-{i}.key"}}
            for i in range(TEAMS)
        }
        datacenter["monitoring"] = {
            **monitoring,
            "nodes": ["192.168.1.15", "192.168.1.16"],
            "receivers": {**monitoring["receivers"], **teams},
        }
    return datacenter


def generate_project(root: Path, resources: int, hosts: int | None = None) -> Path:
    """Write a project under ``root`` whose dc1 stack registers about ``resources`` resources, with
    ``hosts`` compute hosts (default: three per service)."""
    services = max(1, resources // RESOURCES_PER_SERVICE)
    (root / "catalog").mkdir(parents=True)
    (root / "stacks").mkdir()
    shutil.copy(PROJECT_DIR / "__main__.py", root / "__main__.py")
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    stack = _example(f"stacks/Pulumi.{EXAMPLE_CANARY}.yaml")
    example = stack["config"]["webex-cloud:datacenter"]
    flavor, image = "m1.small", example["images"][0]
    datacenter = _datacenter(example, hosts=hosts or services * 3)
    stack["config"]["webex-cloud:datacenter"] = datacenter
    service_example = _example(f"catalog/{EXAMPLE_SERVICE}.yaml")
    for index in range(services):
        service = _service(service_example, index, flavor, image)
        (root / "catalog" / f"{service['name']}.yaml").write_text(yaml.safe_dump(service))
    (root / "stacks" / f"Pulumi.{EXAMPLE_CANARY}.yaml").write_text(yaml.safe_dump(stack))
    return root


EXAMPLE_STACK = "dc2"
"""The example stack the generated datacenters are made from (the canary, dc1, stays the canary)."""
MAX_GENERATED = 24
"""Datacenter N gets the pool 10.<10 N>.0.0/16: beyond 24 it would reach the management ranges 10.250."""


def generated_wave(number: int) -> int:
    """Datacenters 3-8 deploy in wave 2 with the example dc2, 9-14 in wave 3, 15-20 in wave 4, ..."""
    return 2 + (number - 3) // 6


def datacenter_stack(number: int) -> str:
    """The text of ``stacks/Pulumi.dc<number>.yaml``, made from the example dc2 stack: its own pool,
    pinned subnets, zones, hosts, failure domains, controllers, management network and runner."""
    if not 3 <= number <= MAX_GENERATED:
        raise ValueError(f"datacenters 3..{MAX_GENERATED} can be generated, not {number}")
    text = (PROJECT_DIR / "stacks" / f"Pulumi.{EXAMPLE_STACK}.yaml").read_text()
    text = text.replace("10.20.", f"10.{10 * number}.").replace("10.250.2.", f"10.250.{number}.")
    text = re.sub(r"\bdc2\b", f"dc{number}", text)
    text = text.replace("# Datacenter 2.", f"# Datacenter {number} (generated from dc2).")
    return re.sub(r"wave: \d+", f"wave: {generated_wave(number)}", text)


def generate_datacenters(root: Path, count: int) -> list[str]:
    """Copy the example project (catalog, program, dc1 and dc2) to ``root`` and add stack files until
    it has ``count`` datacenters; returns the stack names. Only stack files are added: nothing else
    changes when a datacenter is added."""
    for name in ("catalog", "stacks"):
        shutil.copytree(PROJECT_DIR / name, root / name)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT_DIR / name, root / name)
    for number in range(3, count + 1):
        (root / "stacks" / f"Pulumi.dc{number}.yaml").write_text(datacenter_stack(number))
    return [f"dc{number}" for number in range(1, count + 1)]
