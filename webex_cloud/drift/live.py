"""Live vs state: what ``pulumi refresh --preview-only`` would show, from the checkpoint and one inventory.

Pure functions over the checkpoint's resources (their ``outputs``, pulumi/pulumi
``sdk/go/common/apitype/core.go`` ``ResourceV3``) and the APIs' own JSON (webex_cloud/cloud/inventory.py).
The outputs are the bridged provider's attributes in camelCase (terraform-provider-openstack v3.4.0
``openstack/``: ``resource_openstack_compute_instance_v2.go`` image_id, flavor_id, flavor_name, name,
metadata, security_groups, power_state; ``resource_openstack_blockstorage_volume_v3.go`` name, size,
volume_type, metadata; ``resource_openstack_networking_port_v2.go`` all_fixed_ips,
all_security_group_ids; ``resource_openstack_networking_secgroup_rule_v2.go``;
``resource_openstack_compute_servergroup_v2.go`` name, policies;
``resource_openstack_compute_volume_attach_v2.go`` instance_id, volume_id).
What `up` does to each changed field comes from the same provider's table
(webex_cloud/facts/provider.py): a ForceNew field is a replacement, which blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from webex_cloud.cloud.inventory import Inventory, Record
from webex_cloud.drift.classes import REPLACE_RISK, Risk, Up
from webex_cloud.drift.findings import Drift, make
from webex_cloud.facts.provider import forces_replacement, is_size_decrease
from webex_cloud.plan.format import (
    INSTANCE,
    NETWORK,
    PORT,
    SEC_GROUP,
    SEC_GROUP_RULE,
    SERVER_GROUP,
    VOLUME,
    VOLUME_ATTACH,
)

SHUT: Final = {"SHUTOFF": "stopped", "STOPPED": "stopped", "PAUSED": "stopped", "SUSPENDED": "stopped"}
SHELVED: Final = {"SHELVED", "SHELVED_OFFLOADED"}
SERVICE_KEYS: Final = frozenset({"readonly", "attached_mode"})
"""Keys Cinder itself records when a volume is attached (its admin metadata, cinder/volume/api.py
``attach``), which a listing may show among the volume's metadata: never the program's, never drift."""


@dataclass(frozen=True)
class Managed:
    """One custom resource of the checkpoint: its URN, type, cloud ID and last outputs."""

    urn: str
    type: str
    id: str
    outputs: Mapping[str, Any]
    replace_on_changes: frozenset[str] = frozenset()
    """The program's ``replaceOnChanges`` (from the plan: the checkpoint does not record it)."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def _by_id(records: Iterable[Record]) -> dict[str, Record]:
    return {str(r.get("id")): r for r in records if r.get("id")}


def _ref(value: Any) -> str:
    """Nova's ``image``/``flavor``: ``{"id": ...}`` (``""`` for a volume-backed server's image)."""
    return str(value.get("id") or "") if isinstance(value, Mapping) else str(value or "")


def _update(m: Managed, path: str) -> tuple[Up, Risk | None]:
    if forces_replacement(m.type, path, m.replace_on_changes):
        return Up.REPLACE, REPLACE_RISK
    return Up.REVERT, None


def _field(kind: str, m: Managed, path: str, recorded: Any, observed: Any, what: str) -> Drift:
    up, risk = _update(m, path)
    message = f"{what} of {m.name} ({m.id}) is {observed!r}, the checkpoint has {recorded!r}"
    if up is Up.REPLACE:
        message += f"; `up` replaces it ({path} is ForceNew or replaceOnChanges)"
    return make(kind, m.urn, m.name, m.id, path, recorded, observed, message, up=up, risk=risk)


def _metadata(m: Managed, live: Mapping[str, Any]) -> Iterator[Drift]:
    recorded = m.outputs.get("metadata") or {}
    observed = live.get("metadata") or {}
    if not isinstance(recorded, Mapping) or not isinstance(observed, Mapping):
        return
    for key in sorted(set(recorded) | (set(observed) - SERVICE_KEYS)):
        old, new = recorded.get(key), observed.get(key)
        if old is not None and str(old) != str(new if new is not None else ""):
            yield _field("metadata", m, f"metadata.{key}", old, new, f"metadata key {key}")
        elif old is None:
            yield make(
                "metadata",
                m.urn,
                m.name,
                m.id,
                f"metadata.{key}",
                None,
                new,
                f"metadata key {key}={new!r} of {m.name} ({m.id}) was added out of band; `up` keeps a key "
                "the program does not set",
                up=Up.NOTHING,
            )


def _name(m: Managed, live: Mapping[str, Any]) -> Iterator[Drift]:
    recorded, observed = m.outputs.get("name"), live.get("name")
    if recorded is not None and str(recorded) != str(observed or ""):
        yield _field("renamed", m, "name", recorded, observed, "the name")


def _instance(m: Managed, live: Record) -> Iterator[Drift]:
    status = str(live.get("status") or "").upper()
    if status in SHUT or status in SHELVED:
        kind = "shelved" if status in SHELVED else "stopped"
        yield make(
            kind,
            m.urn,
            m.name,
            m.id,
            "powerState",
            m.outputs.get("powerState", "active"),
            status,
            f"server {m.name} ({m.id}) is {status}; `up` sets power_state back to active",
        )
    elif status == "ERROR":
        fault = live.get("fault")
        detail = f": {fault.get('message')}" if isinstance(fault, Mapping) and fault.get("message") else ""
        yield make(
            "error",
            m.urn,
            m.name,
            m.id,
            "status",
            "ACTIVE",
            status,
            f"server {m.name} ({m.id}) is in ERROR{detail}",
        )
    image, recorded_image = _ref(live.get("image")), str(m.outputs.get("imageId") or "")
    if recorded_image and image and image != recorded_image:
        yield _field("rebuilt", m, "imageId", recorded_image, image, "the image")
    flavor = live.get("flavor")
    if isinstance(flavor, Mapping) and "original_name" in flavor:  # microversion 2.47+
        recorded_flavor, observed_flavor, path = (
            m.outputs.get("flavorName"),
            flavor["original_name"],
            "flavorName",
        )
    else:
        recorded_flavor, observed_flavor, path = m.outputs.get("flavorId"), _ref(flavor), "flavorId"
    if recorded_flavor and observed_flavor and str(observed_flavor) != str(recorded_flavor):
        yield _field("resized", m, path, recorded_flavor, observed_flavor, "the flavor")
    recorded_groups = m.outputs.get("securityGroups")
    if isinstance(recorded_groups, list) and isinstance(live.get("security_groups"), list):
        observed_groups = sorted(
            {str(g.get("name")) for g in live["security_groups"] if isinstance(g, Mapping)}
        )
        if observed_groups != sorted(map(str, recorded_groups)):
            yield _field(
                "port-changed",
                m,
                "securityGroups",
                sorted(map(str, recorded_groups)),
                observed_groups,
                "the security groups",
            )
    yield from _name(m, live)
    yield from _metadata(m, live)


def _volume(m: Managed, live: Record) -> Iterator[Drift]:
    if str(live.get("status") or "").lower().startswith("error"):
        yield make(
            "error",
            m.urn,
            m.name,
            m.id,
            "status",
            "available",
            live.get("status"),
            f"volume {m.name} ({m.id}) is {live.get('status')}",
        )
    recorded_type, observed_type = m.outputs.get("volumeType"), live.get("volume_type")
    if recorded_type and observed_type and observed_type != recorded_type:
        yield _field("retyped", m, "volumeType", recorded_type, observed_type, "the volume type")
    recorded_size, observed_size = m.outputs.get("size"), live.get("size")
    if recorded_size is not None and observed_size is not None and observed_size != recorded_size:
        refused = is_size_decrease(m.type, "size", observed_size, recorded_size)
        yield make(
            "changed",
            m.urn,
            m.name,
            m.id,
            "size",
            recorded_size,
            observed_size,
            f"volume {m.name} ({m.id}) is {observed_size} GiB, the checkpoint has {recorded_size} GiB"
            + ("; `up` would shrink it, which Cinder refuses: the update fails" if refused else ""),
            risk=Risk.BLOCK if refused else None,
        )
    yield from _name(m, live)
    yield from _metadata(m, live)


def _policies(value: Any) -> list[str] | None:
    """Server group policies as a sorted list: Nova < 2.64 lists ``policies``, 2.64+ has one ``policy``;
    the provider records ``policies`` as one string or a list."""
    if isinstance(value, str):
        return [value]
    return sorted(map(str, value)) if isinstance(value, list) else None


def _server_group(m: Managed, live: Record) -> Iterator[Drift]:
    recorded = _policies(m.outputs.get("policies"))
    observed = _policies(live.get("policies") or live.get("policy"))
    if recorded is not None and observed is not None and observed != recorded:
        yield _field("changed", m, "policies", recorded, observed, "the policies")
    yield from _name(m, live)


def _port(m: Managed, live: Record) -> Iterator[Drift]:
    recorded_ips = m.outputs.get("allFixedIps")
    observed_ips = sorted(
        str(ip.get("ip_address")) for ip in live.get("fixed_ips") or [] if isinstance(ip, Mapping)
    )
    if isinstance(recorded_ips, list) and sorted(map(str, recorded_ips)) != observed_ips:
        yield _field(
            "port-changed", m, "fixedIps", sorted(map(str, recorded_ips)), observed_ips, "the fixed IPs"
        )
    recorded_groups = m.outputs.get("allSecurityGroupIds")
    observed_groups = sorted(map(str, live.get("security_groups") or []))
    if isinstance(recorded_groups, list) and sorted(map(str, recorded_groups)) != observed_groups:
        yield _field(
            "port-changed",
            m,
            "securityGroupIds",
            sorted(map(str, recorded_groups)),
            observed_groups,
            "the security groups",
        )
    yield from _name(m, live)


def _named_only(m: Managed, live: Record) -> Iterator[Drift]:
    yield from _name(m, live)


def _nothing(m: Managed, live: Record) -> Iterator[Drift]:
    return iter(())


COMPARED: Final[Mapping[str, tuple[str, Callable[[Managed, Record], Iterator[Drift]]]]] = {
    INSTANCE: ("servers", _instance),
    VOLUME: ("volumes", _volume),
    SERVER_GROUP: ("server_groups", _server_group),
    PORT: ("ports", _port),
    NETWORK: ("networks", _named_only),
    SEC_GROUP: ("security_groups", _named_only),
    SEC_GROUP_RULE: ("security_group_rules", _nothing),
}
"""Type -> the inventory's list and the comparison of one resource found there."""


def _attachments(state: list[Managed], inventory: Inventory) -> Iterator[Drift]:
    volumes = _by_id(inventory.volumes)
    for m in (r for r in state if r.type == VOLUME_ATTACH):
        instance, volume = str(m.outputs.get("instanceId") or ""), str(m.outputs.get("volumeId") or "")
        live = volumes.get(volume)
        attached = {
            str(a.get("server_id")) for a in (live or {}).get("attachments") or [] if isinstance(a, Mapping)
        }
        if live is not None and instance not in attached:
            now = sorted(attached) or None
            yield make(
                "detached",
                m.urn,
                m.name,
                m.id,
                "instanceId",
                instance,
                now,
                f"volume {volume} is no longer attached to server {instance} (attachment {m.id})"
                + (f" (attached to {', '.join(now)})" if now else "")
                + "; `up` attaches it again",
            )


def _default_egress(rule: Record) -> bool:
    """The two egress rules Neutron adds to every new group (neutron db/securitygroups_db.py
    ``create_security_group``; the program does not set ``delete_default_rules``)."""
    return rule.get("direction") == "egress" and not any(
        rule.get(k)
        for k in ("protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id")
    )


def _rule_text(rule: Record) -> str:
    ports = (
        f" {rule.get('port_range_min')}-{rule.get('port_range_max')}"
        if rule.get("port_range_min") is not None
        else ""
    )
    remote = rule.get("remote_ip_prefix") or (
        f"group {rule['remote_group_id']}" if rule.get("remote_group_id") else "any"
    )
    protocol = rule.get("protocol") or "any"
    return f"{rule.get('direction')} {rule.get('ethertype')} {protocol}{ports} from {remote}"


def _unmanaged(state: list[Managed], inventory: Inventory) -> Iterator[Drift]:
    ids = {m.id for m in state}
    groups = {m.id: m for m in state if m.type == SEC_GROUP}
    for rule in inventory.security_group_rules:
        owner_group = groups.get(str(rule.get("security_group_id")))
        if owner_group is None or str(rule.get("id")) in ids or _default_egress(rule):
            continue
        shape = {
            k: rule.get(k)
            for k in (
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
            )
        }
        yield make(
            "rule-added",
            f"security-group-rule/{rule.get('id')}",
            owner_group.name,
            str(rule.get("id")),
            "rules",
            None,
            shape,
            f"rule {rule.get('id')} ({_rule_text(rule)}) in managed security group {owner_group.name} "
            f"({owner_group.id}) was added out of band; `up` keeps it (the program manages rules one by one)",
        )
    networks = {m.id: m for m in state if m.type == NETWORK}
    for port in inventory.ports:
        network = networks.get(str(port.get("network_id")))
        owner = str(port.get("device_owner") or "")
        if (
            network is None
            or str(port.get("id")) in ids
            or owner.startswith("network:")
            or str(port.get("device_id") or "") in ids
        ):
            continue
        yield make(
            "unmanaged",
            f"port/{port.get('id')}",
            str(port.get("name") or port.get("id")),
            str(port.get("id")),
            "",
            None,
            {"device_id": port.get("device_id"), "device_owner": owner, "network_id": network.id},
            f"port {port.get('id')} (device {port.get('device_id') or 'none'}) in managed network "
            f"{network.name} ({network.id}) is not the program's",
        )
    server_groups = {m.id: m for m in state if m.type == SERVER_GROUP}
    for record in inventory.server_groups:
        managed = server_groups.get(str(record.get("id")))
        if managed is None:
            continue
        for member in sorted(str(s) for s in record.get("members") or []):
            if member not in ids:
                yield make(
                    "unmanaged",
                    f"server/{member}",
                    member,
                    member,
                    "members",
                    None,
                    member,
                    f"server {member} in managed server group {managed.name} ({managed.id}) is not the "
                    "program's: it counts in the group's (anti-)affinity",
                )


def compare(state: list[Managed], inventory: Inventory) -> list[Drift]:
    """Every out-of-band difference between the checkpoint's resources and one inventory."""
    found: list[Drift] = []
    lists = {key: _by_id(getattr(inventory, key)) for key, _ in COMPARED.values()}
    for m in state:
        if m.type not in COMPARED or not m.id:
            continue
        key, check = COMPARED[m.type]
        live = lists[key].get(m.id)
        if live is None:
            kind = "rule-removed" if m.type == SEC_GROUP_RULE else "deleted"
            found.append(
                make(
                    kind,
                    m.urn,
                    m.name,
                    m.id,
                    "",
                    m.id,
                    None,
                    f"{m.type.rsplit(':', 1)[-1]} {m.name} ({m.id}) is gone from the cloud; "
                    "`up` creates it again",
                )
            )
            continue
        found.extend(check(m, live))
    found.extend(_attachments(state, inventory))
    found.extend(_unmanaged(state, inventory))
    return found
