"""Offline plan render of a 10,000-resource stack vs the bare SDK registering as many plain resources.

"Plain" means the same kinds of provider resources with literal inputs, registered flat: no
catalog, no validation, no components, no outputs wired between resources. Both run in this
process under the same recording mock engine, so the ratio is what the catalog, validation and
components cost on top of the SDK itself. Target (issue 29): ratio <= 1.10.

Each side is timed by the CPU time of this process (every thread: the mock engine answers in the SDK's
executor threads), best of ``--repeat``: on a shared machine the wall time measures the other
processes as much as this one; both are printed.

    .venv/bin/python -m benchmarks.bench_render [--resources 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pulumi
import pulumi_openstack as openstack

from benchmarks.commands import load_average
from benchmarks.generated_project import generate_project
from webex_cloud.plan.capture import run_under_mocks
from webex_cloud.plan.document import render_plan


def _flat_service(index: int) -> list[Callable[[], object]]:
    """The provider resources of one generated service, built flat: literal IDs, no components."""
    n = f"s{index}"
    net, compute, storage = openstack.networking, openstack.compute, openstack.blockstorage
    make: list[Callable[[], object]] = [
        partial(net.Network, f"{n}-net", name=n, tags=["service=x"]),
        partial(net.Subnet, f"{n}-subnet", network_id="net", cidr="10.0.0.0/26", ip_version=4),
        partial(net.RouterInterface, f"{n}-ri", router_id="router", subnet_id="subnet"),
        partial(net.SecGroup, f"{n}-sg", name=n),
    ]
    make += [
        partial(
            net.SecGroupRule,
            f"{n}-rule-{rule}",
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=443,
            port_range_max=443,
            remote_ip_prefix="0.0.0.0/0",
            security_group_id="sg",
        )
        for rule in range(3)
    ]
    for pod in range(3):
        make.append(partial(compute.ServerGroup, f"{n}-{pod}-group", policies="affinity"))
        for vm in range(3):
            make.append(
                partial(
                    net.Port,
                    f"{n}-{pod}-{vm}-port",
                    network_id="net",
                    security_group_ids=["sg"],
                    fixed_ips=[net.PortFixedIpArgs(subnet_id="subnet", ip_address="10.0.0.10")],
                )
            )
            make.append(
                partial(
                    compute.Instance,
                    f"{n}-{pod}-{vm}",
                    flavor_name="m1.small",
                    image_name="base",
                    availability_zone="az1",
                    networks=[compute.InstanceNetworkArgs(port="port")],
                    metadata={"service": n, "owner": "team", "datacenter": "dc1"},
                    scheduler_hints=[
                        compute.InstanceSchedulerHintArgs(
                            group="group",
                            additional_properties={"webex_pod": "p", "webex_sibling_pod_groups": "a,b"},
                        )
                    ],
                )
            )
    for replica in range(3):
        make.append(
            partial(
                storage.Volume,
                f"{n}-vol-{replica}",
                size=10,
                volume_type="ssd",
                metadata={"webex_volume_group": n},
                scheduler_hints=[
                    storage.VolumeSchedulerHintArgs(additional_properties={"webex_volume_group": n})
                ],
            )
        )
        make.append(partial(compute.VolumeAttach, f"{n}-att-{replica}", instance_id="vm", volume_id="vol"))
    return make


class Group(pulumi.ComponentResource):
    """An empty component: what the SDK costs for each of the plan's component resources."""

    def __init__(self, name: str) -> None:
        super().__init__("bench:index:Group", name)
        self.register_outputs({})


def bare_sdk(custom: int, components: int) -> Callable[[], None]:
    """As many provider resources and components as the plan, registered straight through the SDK."""

    def program() -> None:
        registered, index = 0, 0
        while registered < custom:
            for make in _flat_service(index)[: custom - registered]:
                make()
                registered += 1
            index += 1
        for index in range(components):
            Group(f"group-{index}")

    return program


TARGET = 1.10
"""Issue 29: the render within 1.10 x the bare SDK."""


@dataclass(frozen=True)
class Timed:
    cpu: float
    """CPU seconds of this process, best of the repeats."""
    wall: float
    """Wall seconds, best of the repeats."""
    count: int


def best_of(repeat: int, run: Callable[[], int]) -> Timed:
    cpu, wall, count = [], [], 0
    for _ in range(repeat):
        started, start = time.process_time(), time.perf_counter()
        count = run()
        cpu.append(time.process_time() - started)
        wall.append(time.perf_counter() - start)
    return Timed(min(cpu), min(wall), count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = generate_project(Path(folder), args.resources)
        plan = render_plan("dc1", project_dir=project)
        custom = sum(1 for r in plan["resources"] if r["custom"])
        components = len(plan["resources"]) - custom
        render = best_of(args.repeat, lambda: len(render_plan("dc1", project_dir=project)["resources"]))
        bare = best_of(args.repeat, lambda: len(run_under_mocks(bare_sdk(custom, components), "dc1", {}, [])))
    for name, side in (("offline plan render", render), ("bare SDK, flat     ", bare)):
        print(
            f"{name} : {side.count:>6} resources in {side.cpu:7.2f} s of CPU "
            f"({side.cpu / side.count * 1e6:6.0f} us/resource; wall {side.wall:.2f} s)"
        )
    print(f"  ({custom} provider resources and {components} components on both sides)")
    print(f"  {load_average()}")
    ratio = render.cpu / bare.cpu
    print(
        f"ratio render / bare : {ratio:.2f} of CPU "
        f"(wall {render.wall / bare.wall:.2f}; target <= {TARGET:.2f})"
    )


if __name__ == "__main__":
    main()
