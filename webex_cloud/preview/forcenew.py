"""Inputs whose change the OpenStack provider implements as delete-and-recreate ("ForceNew").

An offline diff cannot ask the provider, so it reads this table: a changed input listed here makes the
change a *replace expected*. The Pulumi OpenStack provider is bridged from terraform-provider-openstack,
whose schemas mark these fields ``ForceNew: true`` (Pulumi names are the camelCase of the Terraform ones).
Read for this table (terraform-provider-openstack/terraform-provider-openstack, ``openstack/``):

- ``resource_openstack_blockstorage_volume_v3.go`` @ 90f06820: region, availability_zone, snapshot_id,
  source_vol_id, image_id, volume_type, consistency_group_id, source_replica and every field of
  scheduler_hints are ForceNew. ``size`` is not: the provider *extends* the volume in place, and Cinder
  cannot shrink one, so a smaller size fails at apply time (see :func:`is_size_decrease`).
- ``resource_openstack_compute_instance_v2.go`` @ 620bcbf7: region, image_id, image_name, user_data,
  availability_zone(_hints), network_mode, network (and each of uuid/name/port/fixed_ip_*), config_drive,
  key_pair, personality, block_device fields and every field of scheduler_hints are ForceNew.
  ``flavor_name``/``flavor_id`` are not: a flavor change is a resize, done in place but with a reboot.
- ``resource_openstack_compute_servergroup_v2.go`` @ 0f112934: no Update function; name, policies,
  policy, rules and value_specs are all ForceNew.
- ``resource_openstack_networking_subnet_v2.go`` @ 0804976b: network_id, cidr, prefix_length, tenant_id,
  ip_version, ipv6_address_mode, ipv6_ra_mode, subnetpool_id, value_specs are ForceNew.
- ``resource_openstack_networking_secgroup_rule_v2.go`` @ 12670980: no Update function; every field
  (description, direction, ethertype, port_range_*, protocol, remote_*, security_group_id) is ForceNew.
- ``resource_openstack_compute_volume_attach_v2.go``: no Update function; instance_id, volume_id and
  multiattach are ForceNew.

Not re-read for this table, from the provider's documented behaviour: a port's ``network_id`` and every
input of a router interface (no Update function) force replacement too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SCHEDULER_HINTS = "schedulerHints"

FORCE_NEW: Mapping[str, frozenset[str]] = {
    "openstack:blockstorage/volume:Volume": frozenset(
        {
            "region",
            "availabilityZone",
            "snapshotId",
            "sourceVolId",
            "imageId",
            "volumeType",
            "consistencyGroupId",
            "sourceReplica",
            _SCHEDULER_HINTS,
        }
    ),
    "openstack:compute/instance:Instance": frozenset(
        {
            "region",
            "imageId",
            "imageName",
            "userData",
            "availabilityZone",
            "availabilityZoneHints",
            "networkMode",
            "networks",
            "configDrive",
            "keyPair",
            "personalities",
            "blockDevices",
            _SCHEDULER_HINTS,
        }
    ),
    "openstack:compute/serverGroup:ServerGroup": frozenset(
        {"region", "name", "policies", "policy", "rules", "valueSpecs"}
    ),
    "openstack:networking/subnet:Subnet": frozenset(
        {
            "region",
            "networkId",
            "cidr",
            "prefixLength",
            "tenantId",
            "ipVersion",
            "ipv6AddressMode",
            "ipv6RaMode",
            "subnetpoolId",
            "valueSpecs",
        }
    ),
    "openstack:networking/secGroupRule:SecGroupRule": frozenset(
        {
            "region",
            "description",
            "direction",
            "ethertype",
            "portRangeMin",
            "portRangeMax",
            "protocol",
            "remoteGroupId",
            "remoteIpPrefix",
            "securityGroupId",
            "tenantId",
        }
    ),
    "openstack:compute/volumeAttach:VolumeAttach": frozenset(
        {"region", "instanceId", "volumeId", "multiattach"}
    ),
    "openstack:networking/port:Port": frozenset({"region", "networkId"}),
    "openstack:networking/routerInterface:RouterInterface": frozenset(
        {"region", "routerId", "subnetId", "portId"}
    ),
}

#: Inputs changed in place, but by restarting the resource (an instance resize reboots the guest).
DISRUPTIVE_UPDATE: Mapping[str, frozenset[str]] = {
    "openstack:compute/instance:Instance": frozenset({"flavorName", "flavorId"}),
}


def forces_replacement(resource_type: str, top_level_key: str, replace_on_changes: frozenset[str]) -> bool:
    """True when changing ``top_level_key`` of a ``resource_type`` is expected to recreate the resource.

    ``replace_on_changes`` is the resource option of the same name, which forces it whatever the provider.
    """
    if top_level_key in replace_on_changes or "*" in replace_on_changes:
        return True
    return top_level_key in FORCE_NEW.get(resource_type, frozenset())


def is_size_decrease(resource_type: str, key: str, old: Any, new: Any) -> bool:
    """A smaller Cinder volume: not a replace, but an update Cinder will refuse (volumes only extend)."""
    return (
        resource_type == "openstack:blockstorage/volume:Volume"
        and key == "size"
        and isinstance(old, int | float)
        and isinstance(new, int | float)
        and new < old
    )
