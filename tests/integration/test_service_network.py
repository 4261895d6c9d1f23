"""Issue 5, integration test 4: one service's network, as the components produce it, on real Neutron.

dc1's offline plan is rendered in-process (webex_cloud.plan.document.render_plan, the program under the
Pulumi SDK's mock engine). The networks, subnets, router, router interfaces, security groups, rules and
ports of one service are created through openstacksdk with exactly the plan's inputs (references to
other planned resources resolved to the real IDs, the external network looked up by name as the
program's ``get_network`` does), then read back and compared input by input. An input this test does
not know how to send fails it: the components cannot add an input that is never tried on real Neutron.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import ensure_external_network
from webex_cloud.plan.document import render_plan

STACK = "dc1"
SERVICE = "messaging"
NET = "openstack:networking/"
# Creation order: a resource only refers to resources of the types before it.
ORDER = ("router:Router", "network:Network", "subnet:Subnet", "routerInterface:RouterInterface",
         "secGroup:SecGroup", "secGroupRule:SecGroupRule", "port:Port")  # fmt: skip
# Plan input (the provider's camelCase name) -> openstacksdk attribute, per resource type. Tags are set
# after creation (Zed's Neutron has no tags on create; the provider does the same).
ATTRIBUTES: dict[str, dict[str, str]] = {
    "router:Router": {"name": "name", "adminStateUp": "is_admin_state_up", "tags": "tags",
                      "externalNetworkId": "external_gateway_info"},
    "network:Network": {"name": "name", "adminStateUp": "is_admin_state_up",
                        "portSecurityEnabled": "is_port_security_enabled", "tags": "tags"},
    "subnet:Subnet": {"name": "name", "networkId": "network_id", "cidr": "cidr", "ipVersion": "ip_version",
                      "gatewayIp": "gateway_ip", "enableDhcp": "is_dhcp_enabled", "tags": "tags",
                      "allocationPools": "allocation_pools"},
    "routerInterface:RouterInterface": {"routerId": "router_id", "subnetId": "subnet_id"},
    "secGroup:SecGroup": {"name": "name", "description": "description", "tags": "tags"},
    "secGroupRule:SecGroupRule": {"securityGroupId": "security_group_id", "direction": "direction",
                                  "ethertype": "ether_type", "protocol": "protocol",
                                  "portRangeMin": "port_range_min", "portRangeMax": "port_range_max",
                                  "remoteIpPrefix": "remote_ip_prefix", "remoteGroupId": "remote_group_id",
                                  "description": "description"},
    "port:Port": {"name": "name", "networkId": "network_id", "fixedIps": "fixed_ips",
                  "securityGroupIds": "security_group_ids", "adminStateUp": "is_admin_state_up"},
}  # fmt: skip
# Nested keys of list inputs (fixedIps).
NESTED = {"ipAddress": "ip_address", "subnetId": "subnet_id"}


@dataclass
class Created:
    """The real resources, keyed by the plan's (mock) IDs, and how to delete them, newest last."""

    ids: dict[str, str] = field(default_factory=dict)
    undo: list[Callable[[], object]] = field(default_factory=list)


def service_resources(plan: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """The service's networking resources (its component subtree) and the router they attach to."""
    by_urn = {r["urn"]: r for r in plan["resources"]}
    roots = {
        r["urn"] for r in plan["resources"] if r["type"] == "webex:service:Service" and r["name"] == service
    }
    assert len(roots) == 1, f"no single Service component {service!r} in the plan"

    def in_service(resource: dict[str, Any]) -> bool:
        parent = resource["parent"]
        while parent:
            if parent in roots:
                return True
            parent = by_urn[parent]["parent"] if parent in by_urn else ""
        return False

    chosen = [r for r in plan["resources"] if r["type"].startswith(NET) and in_service(r)]
    router_ids = {r["inputs"]["routerId"] for r in chosen if r["type"].endswith("RouterInterface")}
    chosen += [r for r in plan["resources"] if r["type"] == f"{NET}router:Router" and r["id"] in router_ids]
    return sorted(chosen, key=lambda r: (ORDER.index(r["type"].removeprefix(NET)), r["urn"]))


def to_sdk(kind: str, inputs: dict[str, Any], resolve: Callable[[str, str], str]) -> dict[str, Any]:
    """The plan's inputs as openstacksdk attributes, references resolved to real IDs."""
    table = ATTRIBUTES[kind]
    unknown = sorted(set(inputs) - set(table))
    assert not unknown, f"{kind}: inputs {unknown} have no mapping in this test; add them to ATTRIBUTES"
    attrs: dict[str, Any] = {}
    for key, value in inputs.items():
        attr = table[key]
        if key == "externalNetworkId":
            attrs[attr] = {"network_id": resolve(key, value)}
        elif key == "fixedIps":
            attrs[attr] = [
                {NESTED[k]: resolve(k, v) if k == "subnetId" else v for k, v in item.items()}
                for item in value
            ]
        elif key.endswith("Id"):
            attrs[attr] = resolve(key, value)
        elif key.endswith("Ids"):
            attrs[attr] = [resolve(key, v) for v in value]
        else:
            attrs[attr] = value
    return attrs


def create(conn: Any, kind: str, attrs: dict[str, Any], created: Created) -> str:
    net = conn.network
    fields = {k: v for k, v in attrs.items() if k != "tags"}
    if kind == "routerInterface:RouterInterface":
        router = net.get_router(fields["router_id"])
        net.add_interface_to_router(router, subnet_id=fields["subnet_id"])
        created.undo.append(lambda: net.remove_interface_from_router(router, subnet_id=fields["subnet_id"]))
        return str(fields["router_id"])
    creator, deleter = {
        "router:Router": (net.create_router, net.delete_router),
        "network:Network": (net.create_network, net.delete_network),
        "subnet:Subnet": (net.create_subnet, net.delete_subnet),
        "secGroup:SecGroup": (net.create_security_group, net.delete_security_group),
        "secGroupRule:SecGroupRule": (net.create_security_group_rule, net.delete_security_group_rule),
        "port:Port": (net.create_port, net.delete_port),
    }[kind]
    resource = creator(**fields)
    created.undo.append(lambda: deleter(resource, ignore_missing=True))
    if "tags" in attrs:
        net.set_tags(resource, list(attrs["tags"]))
    return str(resource.id)


def read_back(conn: Any, kind: str, real_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The same attributes as Neutron now reports them, in the shape ``to_sdk`` produced."""
    net = conn.network
    if kind == "routerInterface:RouterInterface":
        ports = net.ports(device_id=real_id, device_owner="network:router_interface")
        subnets = {ip["subnet_id"] for port in ports for ip in port.fixed_ips}
        return {
            "router_id": real_id,
            "subnet_id": attrs["subnet_id"] if attrs["subnet_id"] in subnets else None,
        }
    getter = {
        "router:Router": net.get_router,
        "network:Network": net.get_network,
        "subnet:Subnet": net.get_subnet,
        "secGroup:SecGroup": net.get_security_group,
        "secGroupRule:SecGroupRule": net.get_security_group_rule,
        "port:Port": net.get_port,
    }[kind]
    resource = getter(real_id)
    seen = {attr: getattr(resource, attr) for attr in attrs}
    if "external_gateway_info" in seen:
        seen["external_gateway_info"] = {
            "network_id": (seen["external_gateway_info"] or {}).get("network_id")
        }
    return seen


def normal(attr: str, value: Any) -> Any:
    """Order-free attributes compared as sorted lists; fixed IPs only by the keys the plan gave."""
    if attr in {"tags", "security_group_ids"}:
        return sorted(value)
    if attr == "fixed_ips":
        return sorted((ip.get("subnet_id"), ip.get("ip_address")) for ip in value)
    return value


def remove_leftovers(conn: Any, resources: list[dict[str, Any]]) -> None:
    """Delete what an interrupted earlier run of this test left under the same names."""
    net = conn.network
    names = {r["inputs"].get("name") for r in resources} - {None}
    for router in [r for r in net.routers() if r.name in names]:
        for port in net.ports(device_id=router.id, device_owner="network:router_interface"):
            net.remove_interface_from_router(router, port_id=port.id)
        net.delete_router(router)
    for network in [n for n in net.networks() if n.name in names]:
        for port in net.ports(network_id=network.id):
            net.delete_port(port)
        net.delete_network(network)
    for group in [g for g in net.security_groups() if g.name in names]:
        net.delete_security_group(group)


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    rendered: dict[str, Any] = render_plan(STACK, project_dir=REPO)
    assert SERVICE in rendered["services"], f"{SERVICE!r} is not deployed in {STACK}"
    return rendered


@pytest.fixture(scope="module")
def planned(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return service_resources(plan, SERVICE)


@pytest.fixture
def created(openstack_conn: Any) -> Iterator[Created]:
    done = Created()
    yield done
    for action in reversed(done.undo):
        action()


def test_the_plan_holds_every_kind_of_network_resource(planned: list[dict[str, Any]]) -> None:
    kinds = {r["type"].removeprefix(NET) for r in planned}
    assert kinds == set(ORDER)


def test_one_services_network_is_created_on_neutron_with_exactly_the_planned_inputs(
    openstack_conn: Any, plan: dict[str, Any], planned: list[dict[str, Any]], created: Created
) -> None:
    conn = openstack_conn
    remove_leftovers(conn, planned)
    # The datacenter's external network exists before any stack (the program looks it up by name).
    external = ensure_external_network(conn, plan["datacenter"]["external_network"])

    def resolve(key: str, planned_id: str) -> str:
        if planned_id in created.ids:
            return created.ids[planned_id]
        # The one ID the program gets from a lookup instead of a resource: the external network.
        assert key == "externalNetworkId", f"{key}={planned_id} refers to no resource created before it"
        return str(external.id)

    mismatches = []
    for resource in planned:
        kind = resource["type"].removeprefix(NET)
        attrs = to_sdk(kind, resource["inputs"], resolve)
        real_id = create(conn, kind, attrs, created)
        created.ids.setdefault(resource["id"], real_id)
        seen = read_back(conn, kind, real_id, attrs)
        mismatches += [
            f"{resource['name']}.{a}: planned {attrs[a]!r}, Neutron has {seen[a]!r}"
            for a in attrs
            if normal(a, seen[a]) != normal(a, attrs[a])
        ]
    assert not mismatches, "\n".join(mismatches)
