"""A deployed dc1 for the drift tests: its checkpoint in Pulumi's format and the APIs' own listings.

The checkpoint is written as pulumi/pulumi writes a DIY backend's ``<stack>.json``
(``sdk/go/common/apitype/core.go``: ``VersionedCheckpoint{version: 3, checkpoint: CheckpointV3{stack,
latest: DeploymentV3{manifest, resources: []ResourceV3{urn, custom, id, type, inputs, outputs, parent,
dependencies, propertyDependencies}}}}``), with the cloud's IDs in place of the plan's mock ones, and the
outputs the bridged provider records (terraform-provider-openstack v3.4.0 attribute names, camelCase).
Where the plan holds a stand-in (webex_cloud/facts/stand_ins.py), the checkpoint holds what the engine
resolved at deploy time: each lookup's answer (the management and external networks, the subnet, which
Neutron lists under the names the lookups ask for) and the verified image id.
The listings are what Nova, Cinder and Neutron return for the same resources (``GET /servers/detail``,
``/volumes/detail``, ``/os-server-groups``, ``/ports``, ``/networks``, ``/security-groups``,
``/security-group-rules``, ``/os-services``), placement as tests/audit/fakes.py chooses it. Each server's
instance actions are what ``GET /servers/{id}/os-instance-actions`` answers at the project's microversion
(2.53, webex_cloud/cloud/views.py): the whole list, each entry with nova 34's ``ACTION_KEYS``
(``nova/api/openstack/compute/instance_actions.py``), newest first, starting with its ``create``; they are
read through the project's own reader, ``read_instance_actions``, from :class:`FakeNova`.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.audit.fakes import PROJECT, STACK, deployed
from webex_cloud.audit.expected import Expected
from webex_cloud.change.model import ChangeSet
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage, parse_image
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.cloud.views import (
    COMPUTE_MICROVERSION,
    InstanceAction,
    parse_compute_service,
    read_instance_actions,
)
from webex_cloud.facts.stand_ins import image_name, lookup_of, stand_ins_in, substitute
from webex_cloud.plan.format import (
    INSTANCE,
    NETWORK,
    PORT,
    SEC_GROUP,
    SEC_GROUP_RULE,
    SERVER_GROUP,
    VOLUME,
    VOLUME_ATTACH,
    Plan,
)
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.state import decode_checkpoint

IMAGE_ID = "0b8c1f7e-7e0c-4c53-9d1f-6f1b1b1b0001"
FLAVOR_ID = "0b8c1f7e-7e0c-4c53-9d1f-6f1b1b1b0002"
PULUMI_VERSION = "v3.272.0"
DEPLOYED_AT = "2026-12-01T10:00:00.000000"
ACTION_KEYS = ("action", "instance_uuid", "request_id", "user_id", "project_id", "start_time", "message")
"""An instance action's keys below microversion 2.58 (nova 34 ``instance_actions.py`` ``ACTION_KEYS``)."""


def glance_image(image_id: str, name: str = "webex-base-2026.11", status: str = "active") -> GlanceImage:
    """An image as Glance's ``GET /v2/images/{id}`` describes it (webex_cloud/cloud/images.py)."""
    return parse_image({"id": image_id, "name": name, "status": status, "visibility": "shared"})


def glance_holds_every_image(monkeypatch: Any) -> None:
    """The drift command's Glance reads answered: no listing, and every image a server runs active
    (tests/drift/test_glance.py changes that)."""
    monkeypatch.setattr("webex_cloud.commands.drift.read_images", lambda session: ())
    monkeypatch.setattr(
        "webex_cloud.commands.drift.read_image", lambda session, image_id: glance_image(image_id)
    )


def _swap(value: Any, ids: Mapping[str, str]) -> Any:
    """``value`` with every mock ID of the plan replaced by the cloud's."""
    text = json.dumps(value)
    for mock, real in ids.items():
        text = text.replace(mock, real)
    return json.loads(text)


@dataclass
class Site:
    """dc1 deployed: the checkpoint's resources and the cloud's listings, both editable by a test."""

    plan: Plan
    resources: list[dict[str, Any]]
    servers: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    server_groups: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)
    security_groups: list[dict[str, Any]] = field(default_factory=list)
    security_group_rules: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] | None = None
    subnets: list[dict[str, Any]] = field(default_factory=list)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Server ID -> its instance actions as Nova lists them."""
    actions_refused: str = ""
    """When set, Nova answers every instance-actions GET with this failure (as the Session raises it)."""

    def act(
        self, server: str, action: str, at: str, request_id: str, user_id: str | None = "ops-admin"
    ) -> None:
        """Record an action on a server, as Nova does when the API accepts it (newest first)."""
        entry = {
            "action": action,
            "instance_uuid": server,
            "request_id": request_id,
            "user_id": user_id,
            "project_id": PROJECT,
            "start_time": at,
            "message": None,
        }
        self.actions.setdefault(server, []).insert(0, entry)

    def read_actions(self, server: str) -> tuple[InstanceAction, ...]:
        """The server's actions, read by the project's reader from the fake Nova."""
        return read_instance_actions(FakeNova(self), server)  # type: ignore[arg-type]

    def checkpoint(self) -> dict[str, Any]:
        return {
            "version": 3,
            "checkpoint": {
                "stack": f"organization/webex-cloud/{STACK}",
                "latest": {
                    "manifest": {"time": "2026-12-01T10:00:00Z", "magic": "", "version": PULUMI_VERSION},
                    "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:fake"}},
                    "resources": self.resources,
                },
            },
        }

    def inventory(self) -> Inventory:
        return Inventory(
            project=PROJECT,
            servers=copy.deepcopy(self.servers),
            volumes=copy.deepcopy(self.volumes),
            server_groups=copy.deepcopy(self.server_groups),
            networks=copy.deepcopy(self.networks),
            ports=copy.deepcopy(self.ports),
            security_groups=copy.deepcopy(self.security_groups),
            security_group_rules=copy.deepcopy(self.security_group_rules),
            compute_services=None
            if self.services is None
            else tuple(parse_compute_service(s) for s in self.services),
            compute_services_error="" if self.services is not None else "403 Forbidden",
            subnets=copy.deepcopy(self.subnets),
        )

    def resource(self, kind: str, name: str = "") -> dict[str, Any]:
        """The first checkpoint resource of ``kind`` (whose URN ends in ``name``)."""
        return next(r for r in self.resources if r["type"] == kind and r["urn"].endswith(name))

    def live(self, listing: str, ident: str) -> dict[str, Any]:
        found: dict[str, Any] = next(r for r in getattr(self, listing) if r["id"] == ident)
        return found


class FakeNova:
    """The Session's read surface for ``GET /servers/{id}/os-instance-actions``; it records what it was
    asked, and refuses another microversion than the project's (the answer's shape depends on it)."""

    cloud = "fake"
    project_id = PROJECT

    def __init__(self, site: Site) -> None:
        self.site = site
        self.asked: list[str] = []

    def __enter__(self) -> FakeNova:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def get(
        self,
        service: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Mapping[str, Any]:
        assert service == "compute" and dict(headers or {}) == COMPUTE_MICROVERSION, (url, headers)
        server = url.removeprefix("/servers/").removesuffix("/os-instance-actions")
        assert url == f"/servers/{server}/os-instance-actions", url
        self.asked.append(server)
        if self.site.actions_refused:
            raise CloudError(f"cloud 'fake': Nova: GET {url} failed: {self.site.actions_refused}")
        if not any(s["id"] == server for s in self.site.servers):
            raise CloudError(f"cloud 'fake': Nova: GET {url} failed: 404 Not Found")
        return {"instanceActions": copy.deepcopy(self.site.actions.get(server, []))}


def _outputs(kind: str, planned: dict[str, Any], inputs: dict[str, Any], ident: str) -> dict[str, Any]:
    outputs = {**inputs, "id": ident}
    if kind == INSTANCE:
        outputs |= {"imageId": IMAGE_ID, "flavorId": FLAVOR_ID, "powerState": "active"}
        if (name := image_name(planned.get("imageId"))) is not None:
            outputs["imageName"] = name  # the provider's Read records the image's Glance name
    elif kind == PORT:
        outputs["allFixedIps"] = [ip["ipAddress"] for ip in inputs.get("fixedIps", []) if "ipAddress" in ip]
        outputs["allSecurityGroupIds"] = list(inputs.get("securityGroupIds", []))
    return outputs


def _engine_answers(plan: Plan) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """What the engine resolves each stand-in of the plan to on this cloud, and the networks and subnets
    Neutron lists for the lookups (shared ones, of the cloud's admin project)."""
    answers: dict[str, str] = {}
    networks: list[dict[str, Any]] = []
    subnets: list[dict[str, Any]] = []
    for value in stand_ins_in([r.inputs for r in plan.resources]):
        lookup = lookup_of(value)
        if lookup is None:
            answers[value] = IMAGE_ID
            continue
        answers[value] = ident = str(uuid.uuid5(uuid.NAMESPACE_URL, value))
        args = substitute(dict(lookup.args), answers)
        if lookup.token.endswith("getNetwork"):
            external = bool(args.get("external"))
            networks.append({"id": ident, "name": args["name"], "router:external": external})
        else:
            subnets.append({"id": ident, "name": args["name"], "network_id": args["networkId"]})
    for record in [*networks, *subnets]:
        record["project_id"] = "admin"
    return answers, networks, subnets


def site(plan: Plan, expected: Expected, hosts_up: bool = True) -> Site:
    """The plan deployed as it should be, its checkpoint and the APIs' listings agreeing."""
    placed = deployed(expected)
    cloud_id = {r["name"]: r["id"] for r in [*placed.servers, *placed.volumes]}
    ids: dict[str, str] = {}
    for item in plan.resources:
        if item.custom and item.id:
            name = item.inputs.get("name") if item.type in (INSTANCE, VOLUME) else None
            ids[item.id] = cloud_id.get(str(name)) or str(uuid.uuid5(uuid.NAMESPACE_URL, item.urn))
    answers, networks, subnets = _engine_answers(plan)
    resources = []
    for item in plan.resources:
        ident = ids.get(item.id, "") if item.custom else ""
        inputs = substitute(_swap(item.inputs, ids), answers)
        resources.append(
            {
                "urn": item.urn,
                "custom": item.custom,
                "id": ident,
                "type": item.type,
                "inputs": inputs,
                "outputs": _outputs(item.type, item.inputs, inputs, ident) if item.custom else {},
                "parent": item.parent,
                "dependencies": list(item.dependencies),
                "propertyDependencies": dict(item.property_dependencies),
                "created": "2026-12-01T10:00:00Z",
            }
        )
    cloud = Site(plan, resources, placed.servers, placed.volumes, subnets=subnets)
    for server in cloud.servers:
        cloud.act(server["id"], "create", DEPLOYED_AT, f"req-{uuid.uuid5(uuid.NAMESPACE_URL, server['id'])}")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["type"], []).append(r)
    attached: dict[str, list[str]] = {}
    for r in by_type.get(VOLUME_ATTACH, []):
        attached.setdefault(r["outputs"]["volumeId"], []).append(r["outputs"]["instanceId"])
    port_device: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for r in by_type.get(INSTANCE, []):
        server = cloud.live("servers", r["id"])
        server |= {"metadata": dict(r["inputs"].get("metadata", {})), "image": {"id": IMAGE_ID}}
        server["flavor"] = {"id": FLAVOR_ID, "links": []}
        for network in r["inputs"].get("networks", []):
            port_device[network.get("port", "")] = r["id"]
        for hint in r["inputs"].get("schedulerHints", []):
            if hint.get("group"):
                members.setdefault(hint["group"], []).append(r["id"])
    for r in by_type.get(VOLUME, []):
        volume = cloud.live("volumes", r["id"])
        volume |= {
            "metadata": dict(r["inputs"].get("metadata", {})),
            "size": r["inputs"]["size"],
            "volume_type": r["inputs"]["volumeType"],
            "attachments": [
                {"server_id": s, "attachment_id": str(uuid.uuid4()), "volume_id": r["id"]}
                for s in attached.get(r["id"], [])
            ],
            "status": "in-use" if attached.get(r["id"]) else "available",
        }
    for r in by_type.get(SERVER_GROUP, []):
        policies = r["inputs"]["policies"]
        cloud.server_groups.append(
            {
                "id": r["id"],
                "name": r["inputs"]["name"],
                "policies": policies if isinstance(policies, list) else [policies],
                "members": members.get(r["id"], []),
                "project_id": PROJECT,
            }
        )
    for r in by_type.get(NETWORK, []):
        cloud.networks.append({"id": r["id"], "name": r["inputs"]["name"], "project_id": PROJECT})
    cloud.networks += networks
    for r in by_type.get(PORT, []):
        cloud.ports.append(
            {
                "id": r["id"],
                "name": r["inputs"].get("name", ""),
                "network_id": r["inputs"]["networkId"],
                "fixed_ips": [
                    {"subnet_id": ip.get("subnetId"), "ip_address": ip["ipAddress"]}
                    for ip in r["inputs"].get("fixedIps", [])
                ],
                "security_groups": list(r["inputs"].get("securityGroupIds", [])),
                "device_id": port_device.get(r["id"], ""),
                "device_owner": "compute:dc1-az1" if r["id"] in port_device else "",
                "project_id": PROJECT,
            }
        )
    for r in by_type.get(SEC_GROUP, []):
        cloud.security_groups.append({"id": r["id"], "name": r["inputs"]["name"], "project_id": PROJECT})
        for ethertype in ("IPv4", "IPv6"):  # what Neutron adds to every new group
            cloud.security_group_rules.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r['id']}/egress/{ethertype}")),
                    "security_group_id": r["id"],
                    "direction": "egress",
                    "ethertype": ethertype,
                    "protocol": None,
                    "port_range_min": None,
                    "port_range_max": None,
                    "remote_ip_prefix": None,
                    "remote_group_id": None,
                    "project_id": PROJECT,
                }
            )
    for r in by_type.get(SEC_GROUP_RULE, []):
        i = r["inputs"]
        cloud.security_group_rules.append(
            {
                "id": r["id"],
                "security_group_id": i["securityGroupId"],
                "direction": i["direction"],
                "ethertype": i["ethertype"],
                "protocol": i.get("protocol"),
                "port_range_min": i.get("portRangeMin"),
                "port_range_max": i.get("portRangeMax"),
                "remote_ip_prefix": i.get("remoteIpPrefix"),
                "remote_group_id": i.get("remoteGroupId"),
                "project_id": PROJECT,
            }
        )
    if hosts_up:
        cloud.services = [
            {
                "id": str(n),
                "binary": "nova-compute",
                "host": host,
                "zone": h.availability_zone,
                "status": "enabled",
                "state": "up",
                "disabled_reason": None,
            }
            for n, (host, h) in enumerate(((h.name, h) for h in plan.datacenter.hosts), start=1)
        ]
    return cloud


def diff_deployed(checkpoint: bytes, plan: Mapping[str, Any]) -> ChangeSet:
    """What the plan changes on the stack whose checkpoint (a ``file://`` state's ``dc1.json``) is given:
    the offline diff a pull request's preview shows, ignoreChanges and ForceNew as the engine applies them."""
    deployed_stack = decode_checkpoint("webex-cloud", STACK, f"{STACK}.json", checkpoint)
    return diff_snapshots(
        deployed_stack.snapshot(), snapshot_from_plan(dict(plan), source="plan"), old_only_keys_count=False
    )
