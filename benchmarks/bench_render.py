"""Offline plan render of a 10,000-resource stack vs the bare SDK registering as many plain resources.

"Plain" means the same kinds of provider resources with literal inputs, registered flat: no
catalog, no validation, no components, no outputs wired between resources. Both run in this
process under the same recording mock engine, so the ratio is what the catalog, validation and
components cost on top of the SDK itself. Target: ratio <= 1.25.

    .venv/bin/python -m benchmarks.bench_render [--resources 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pulumi
import pulumi_openstack as openstack

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


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - start)
    return min(times), count


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
        render_s, rendered = best_of(
            args.repeat, lambda: len(render_plan("dc1", project_dir=project)["resources"])
        )
        bare_s, bare = best_of(
            args.repeat, lambda: len(run_under_mocks(bare_sdk(custom, components), "dc1", {}, []))
        )
    print(
        f"offline plan render : {rendered:>6} resources in {render_s:7.2f} s "
        f"({render_s / rendered * 1e6:6.0f} us/resource)"
    )
    print(
        f"bare SDK, flat      : {bare:>6} resources in {bare_s:7.2f} s "
        f"({bare_s / bare * 1e6:6.0f} us/resource)"
    )
    print(f"  ({custom} provider resources and {components} components on both sides)")
    print(f"ratio render / bare : {render_s / bare_s:.2f}  (target <= 1.25)")


if __name__ == "__main__":
    main()
