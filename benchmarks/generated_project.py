"""A generated project (catalog + one datacenter) of a requested size, for benchmarks.

Shared by every benchmark that needs a large plan, so they measure the same thing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from webex_cloud.paths import PROJECT_DIR

RESOURCES_PER_SERVICE = 40
"""What one generated service registers (checked by the render benchmark)."""


def _service(index: int) -> dict[str, Any]:
    return {
        "name": f"svc-{index:04d}",
        "owner": f"team-{index % 17}",
        "network": {
            "prefix_length": 25,
            "ingress": [
                {"protocol": "tcp", "ports": 443, "source": "any"},
                {"protocol": "tcp", "ports": 22, "source": "ops"},
            ],
        },
        "pods": {
            "count": 3,
            "members": [
                {"role": "app", "flavor": "m1.small", "image": "base", "count": 2},
                {"role": "db", "flavor": "m1.small", "image": "base", "count": 1},
            ],
        },
        "volume_groups": [{"name": "data", "size_gb": 10, "type": "ssd", "replicas": 3, "attach_to": "db"}],
    }


def _datacenter(hosts: int) -> dict[str, Any]:
    return {
        "name": "dc1",
        "availability_zones": ["az1", "az2"],
        "external_network": "public",
        "cidr_pool": "10.0.0.0/8",
        "sources": {
            "any": ["0.0.0.0/0", "::/0"],
            "ops": ["192.168.0.0/24"],
            "deploy-runner": ["192.168.0.20/32"],
        },
        "images": ["base"],
        "flavors": {"m1.small": {"vcpus": 2, "ram_mb": 4096}},
        "volume_types": ["ssd"],
        # Four domains for three replicas: a spare one for N+1.
        "failure_domains": {f"fd-{i}": [f"cinder-{i}@ssd"] for i in range(4)},
        "hosts": [
            {"name": f"cmp-{i:05d}", "vcpus": 64, "ram_mb": 262144, "availability_zone": f"az{1 + i % 2}"}
            for i in range(hosts)
        ],
        "controllers": {
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
            "api_sources": ["ops"],
            "proxies": {"flavor": "m1.small", "image": "base", "addresses": ["192.168.1.13", "192.168.1.14"]},
        },
    }


def generate_project(root: Path, resources: int, hosts: int | None = None) -> Path:
    """Write a project under ``root`` whose dc1 stack registers about ``resources`` resources, with
    ``hosts`` compute hosts (default: three per service)."""
    services = max(1, resources // RESOURCES_PER_SERVICE)
    (root / "catalog").mkdir(parents=True)
    (root / "stacks").mkdir()
    shutil.copy(PROJECT_DIR / "__main__.py", root / "__main__.py")
    for index in range(services):
        service = _service(index)
        (root / "catalog" / f"{service['name']}.yaml").write_text(yaml.safe_dump(service))
    stack = {
        "config": {
            "openstack:cloud": "bench",
            "webex-cloud:datacenter": _datacenter(hosts=hosts or services * 3),
        }
    }
    (root / "stacks" / "Pulumi.dc1.yaml").write_text(yaml.safe_dump(stack))
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
