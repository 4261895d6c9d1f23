"""A generated project (catalog + one datacenter) of a requested size, for benchmarks.

Shared by every benchmark that needs a large plan, so they measure the same thing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
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
        "sources": {"any": ["0.0.0.0/0", "::/0"], "ops": ["192.168.0.0/24"]},
        "images": ["base"],
        "flavors": {"m1.small": {"vcpus": 2, "ram_mb": 4096}},
        "volume_types": ["ssd"],
        "failure_domains": {f"fd-{i}": [f"cinder-{i}@ssd"] for i in range(3)},
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
    shutil.copy(REPO / "__main__.py", root / "__main__.py")
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
