"""What a changed input does to a running OpenStack resource, true to the provider version this project pins.

An offline diff cannot ask the provider, so it reads this table: per resource type, each input whose
change does more than edit the object in place, and what it does instead (:class:`Disruption`). A
*replace* input makes the change a *replace expected*; the others are updates that still stop what runs
on the resource (an image change rebuilds the server, a flavor change resizes it), which the downtime
rule and the release waves count as disruption. A real ``pulumi preview --json`` reports them as plain
``update`` steps, so the same table classifies the updates of a real preview too.

The Pulumi OpenStack provider is bridged from terraform-provider-openstack, without overrides of these
fields (``provider/resources.go`` of pulumi/pulumi-openstack maps the resources by token only); Pulumi
names are the camelCase of the Terraform ones, list blocks pluralised (``network`` -> ``networks``).
Read for this table: terraform-provider-openstack/terraform-provider-openstack at tag **v3.4.0**, the
version ``provider/go.mod`` of pulumi/pulumi-openstack pins at every tag from v5.4.0 to v5.5.1 and at
``be2f8802`` (2026-07-24, after v5.5.1; the 5.5.2 and 5.5.3 tags are not in the stored snapshot, and the
installed 5.5.3 SDK matches that commit's schema). ``openstack/``:

- ``resource_openstack_compute_instance_v2.go``: ForceNew (replace): region (:51), user_data (:85),
  availability_zone_hints (:109), availability_zone (:115), network_mode (:123), network and each of its
  fields (:133), hypervisor_hostname (:182), config_drive (:194), key_pair (:213), every field of
  block_device (:218) and of scheduler_hints (:283). ``image_id``/``image_name`` (:63-72) are *not*
  ForceNew: the Update function calls ``servers.Rebuild`` (:1094-1140) on the same server and port, which
  wipes the root disk and reboots; ``personality`` (:336) changes rebuild too. ``flavor_id``/
  ``flavor_name`` (:73-84) resize through ``servers.Resize`` then ``ConfirmResize`` (:1001-1092): Nova
  cold-migrates the server to another host unless ``allow_resize_to_same_host`` is set (off by default),
  and the CustomizeDiff (:420-425) turns it into a replacement only when the old flavor is gone.
  ``power_state`` (:368) stops, shelves or pauses the server in place (:804-900).
- ``resource_openstack_blockstorage_volume_v3.go``: ForceNew: region (:35), availability_zone (:64),
  snapshot_id (:78), source_vol_id (:85), image_id (:92), backup_id (:99), consistency_group_id (:121),
  source_replica (:127) and every field of scheduler_hints (:155-190). ``volume_type`` (:106) is retyped
  in place by ``volumes.ChangeType`` (:363-390) with ``volume_retype_policy`` (:112, default ``never``:
  Cinder refuses a retype that needs the data moved to another backend). ``size`` extends in place
  (:320-360); Cinder cannot shrink a volume (see :func:`is_size_decrease`).
- ``resource_openstack_compute_servergroup_v2.go``: no Update function; region, name, policies, rules,
  value_specs are ForceNew (:24-75).
- ``resource_openstack_networking_subnet_v2.go``: region, network_id, cidr, prefix_length, tenant_id,
  ip_version, ipv6_address_mode, ipv6_ra_mode, subnetpool_id, value_specs (:34-177).
- ``resource_openstack_networking_secgroup_rule_v2.go``: no Update function; every field (:30-113).
- ``resource_openstack_networking_secgroup_v2.go``: region, tenant_id, delete_default_rules (:31-56).
- ``resource_openstack_networking_network_v2.go``: region, tenant_id, value_specs,
  availability_zone_hints, transparent_vlan (:40-136).
- ``resource_openstack_networking_port_v2.go``: region, network_id, mac_address, tenant_id,
  device_owner, device_id, value_specs (:39-180).
- ``resource_openstack_networking_router_interface_v2.go``: its Update is a no-op (:156); region,
  router_id, subnet_id, port_id are ForceNew (:33-58).
- ``resource_openstack_compute_volume_attach_v2.go``: no Update function; region, instance_id,
  volume_id, multiattach, tag, vendor_options (:32-69).
- ``resource_openstack_images_image_v2.go`` (a Glance image, :data:`IMAGE`): ForceNew: region (:40),
  container_format (:46), disk_format (:55), image_id (:70), image_source_url (:83), local_file_path
  (:103), decompress (:180). ``name``, ``min_disk_gb``, ``min_ram_mb``, ``protected``, ``hidden``,
  ``visibility``, ``tags`` and ``properties`` are patched in place (Update, :405-540). ``web_download``
  (:170) conflicts with ``verify_checksum`` and ``decompress``: with it the Create makes the image
  (``images.Create``, :268) and asks Glance to import ``image_source_url`` itself (gophercloud v2.8.0
  ``openstack/image/v2/imageimport/requests.go``: ``POST /v2/images/{id}/import`` with ``{"method":
  {"name": "web-download", "uri": ...}}``, 202, no expected hash), then waits while the status is
  queued, saving or importing, until active (:329-341; the Create timeout, 30 min by default, :31-33)
  and checks no checksum (:348: only without web_download). The Read (:359-403) records the image's
  own fields and its string properties (``os_hash_algo``, ``os_hash_value``, ...) but **not**
  ``image_source_url``, ``web_download``, ``image_cache_path``, ``verify_checksum``, ``decompress`` or
  ``local_file_path`` (:data:`IMAGE_UNREAD`; the provider's own import test ignores them:
  ``import_openstack_images_image_v2_test.go`` :28-35), so an image adopted by ``import`` holds none of
  them, and one of them set by the program is a difference at once, ``image_source_url`` a replace.

How an instance names its image (:data:`IMAGE_REFERENCE`): ``image_id`` and ``image_name`` (:63-72) are
both Optional and Computed. The Read records both from the server (``setImageInformation``,
:1560-1600: ``image_id`` is the server's image id, ``image_name`` that image's Glance name, "Image not
found" once it is gone), and the Update rebuilds only on ``d.HasChange("image_id") ||
d.HasChange("image_name")`` (:1094). An Optional+Computed input the program stops setting keeps its
state value: the SDK plans no change (pulumi/pulumi-terraform-bridge#2152, open: "the plugin SDK always
keeps the state value for a Computed + Optional property which was removed"). So a program that goes
from ``imageName`` to ``imageId`` with the id the state holds plans no update at all, and no rebuild.

Not a provider of this bridge, but a resource of the program: pulumi-command's ``local.Command`` (a
release's health gate) declares ``triggers`` ``replaceOnChanges`` (pulumi/pulumi-command v1.2.1
``provider/pkg/provider/common/inputs.go``), which the engine reads from the provider's schema, not from
the program's options, so the plan does not record it.

``replaceOnChanges`` paths may be nested (``metadata.webex_pod_generation``): the engine turns a detailed
diff entry into a replacement when the option's path contains the entry's path
(pulumi/pulumi ``pkg/resource/deploy/step_generator.go`` ``applyReplaceOnChanges``), and the bridge
reports map changes per key (pulumi-terraform-bridge v3.135.0 ``pkg/tfbridge/detailed_diff.go``
``makeMapDiff``), so a single metadata key can force a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Disruption(StrEnum):
    """What a changed input does to the running resource."""

    REPLACE = "replace"
    """Deleted and created again (ForceNew, or ``replaceOnChanges``): a new ID."""
    REBUILD = "rebuild"
    """``servers.Rebuild``: same server, port and ID; the root disk is wiped and the guest reboots."""
    RESIZE = "resize"
    """``servers.Resize``: a cold migration to another host (unless Nova allows the same host), reboot."""
    RETYPE = "retype"
    """``volumes.ChangeType``: in place, or refused when the data would have to move (policy ``never``)."""
    POWER = "power"
    """``power_state``: the server is stopped, shelved or paused in place."""


#: What each disruption is called in a report (one short phrase).
DESCRIBED: Mapping[Disruption, str] = {
    Disruption.REPLACE: "replace",
    Disruption.REBUILD: "rebuild (root disk wiped)",
    Disruption.RESIZE: "resize (cold migration, reboot)",
    Disruption.RETYPE: "retype (volume_retype_policy never: refused if the data must move)",
    Disruption.POWER: "power state change",
}


@dataclass(frozen=True)
class ProviderPin:
    """The provider version the table was read at, and the Pulumi packages that bridge exactly it."""

    package: str
    """The Python package of requirements.txt whose pin selects the provider."""
    read_for: frozenset[str]
    """Versions of ``package`` known to bridge ``upstream``."""
    upstream: str
    """terraform-provider-openstack version the table was read at."""


PROVIDER = ProviderPin(
    package="pulumi-openstack",
    read_for=frozenset({"5.4.0", "5.4.1", "5.4.2", "5.5.0", "5.5.1", "5.5.3"}),
    upstream="v3.4.0",
)

_INSTANCE = "openstack:compute/instance:Instance"
IMAGE = "openstack:images/image:Image"
"""A Glance image (terraform-provider-openstack ``openstack_images_image_v2``)."""
_VOLUME = "openstack:blockstorage/volume:Volume"
_SCHEDULER_HINTS = "schedulerHints"


def _replace(*keys: str) -> dict[str, Disruption]:
    return dict.fromkeys(keys, Disruption.REPLACE)


TABLE: Mapping[str, Mapping[str, Disruption]] = {
    _INSTANCE: {
        **_replace(
            "region",
            "userData",
            "availabilityZoneHints",
            "availabilityZone",
            "networkMode",
            "networks",
            "hypervisorHostname",
            "configDrive",
            "keyPair",
            "blockDevices",
            _SCHEDULER_HINTS,
        ),
        "imageId": Disruption.REBUILD,
        "imageName": Disruption.REBUILD,
        "personalities": Disruption.REBUILD,
        "flavorId": Disruption.RESIZE,
        "flavorName": Disruption.RESIZE,
        "powerState": Disruption.POWER,
    },
    _VOLUME: {
        **_replace(
            "region",
            "availabilityZone",
            "snapshotId",
            "sourceVolId",
            "imageId",
            "backupId",
            "consistencyGroupId",
            "sourceReplica",
            _SCHEDULER_HINTS,
        ),
        "volumeType": Disruption.RETYPE,
    },
    "openstack:compute/serverGroup:ServerGroup": _replace(
        "region", "name", "policies", "rules", "valueSpecs"
    ),
    "openstack:networking/subnet:Subnet": _replace(
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
    ),
    "openstack:networking/secGroupRule:SecGroupRule": _replace(
        "region",
        "description",
        "direction",
        "ethertype",
        "portRangeMin",
        "portRangeMax",
        "protocol",
        "remoteGroupId",
        "remoteIpPrefix",
        "remoteAddressGroupId",
        "securityGroupId",
        "tenantId",
    ),
    "openstack:networking/secGroup:SecGroup": _replace("region", "tenantId", "deleteDefaultRules"),
    "openstack:networking/network:Network": _replace(
        "region", "tenantId", "valueSpecs", "availabilityZoneHints", "transparentVlan"
    ),
    "openstack:networking/port:Port": _replace(
        "region", "networkId", "macAddress", "tenantId", "deviceOwner", "deviceId", "valueSpecs"
    ),
    "openstack:networking/routerInterface:RouterInterface": _replace(
        "region", "routerId", "subnetId", "portId"
    ),
    "openstack:compute/volumeAttach:VolumeAttach": _replace(
        "region", "instanceId", "volumeId", "multiattach", "tag", "vendorOptions"
    ),
    IMAGE: _replace(
        "region",
        "containerFormat",
        "diskFormat",
        "imageId",
        "imageSourceUrl",
        "localFilePath",
        "decompress",
    ),
    "command:local:Command": _replace("triggers"),
    "command:remote:Command": _replace("triggers"),
}

IMAGE_REFERENCE: Mapping[str, tuple[str, str]] = {_INSTANCE: ("imageId", "imageName")}
"""Resource type -> its (id, name) inputs naming one image, both Optional and Computed (see above)."""

IMAGE_UNREAD: tuple[str, ...] = (
    "imageSourceUrl",
    "webDownload",
    "imageCachePath",
    "verifyChecksum",
    "decompress",
    "localFilePath",
)
"""Inputs of :data:`IMAGE` its Read never records (see above): only the Create uses them."""


FORCE_NEW: Mapping[str, frozenset[str]] = {
    kind: frozenset(k for k, d in fields.items() if d is Disruption.REPLACE) for kind, fields in TABLE.items()
}
"""Inputs whose change recreates the resource."""
DISRUPTIVE_UPDATE: Mapping[str, frozenset[str]] = {
    kind: frozenset(k for k, d in fields.items() if d is not Disruption.REPLACE)
    for kind, fields in TABLE.items()
    if any(d is not Disruption.REPLACE for d in fields.values())
}
"""Inputs changed in place, but by stopping what runs on the resource (rebuild, resize, retype, power)."""


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _contains(option: str, path: str) -> bool:
    """The engine's ``PropertyPath.Contains``: ``option`` is ``path`` or one of its ancestors."""
    return path == option or path.startswith((f"{option}.", f"{option}["))


def by_replace_on_changes(path: str, replace_on_changes: frozenset[str]) -> bool:
    """True when the resource option ``replaceOnChanges`` alone makes a change at ``path`` a replace:
    the engine, not the provider, turns it into one (pulumi/pulumi ``applyReplaceOnChanges`` in
    ``pkg/resource/deploy/step_generator.go``, read at the stored snapshot whose CHANGELOG tops at
    3.259.0; the SDK pins 3.272.0): an entry that is the path or one of its ancestors, or ``*``."""
    return "*" in replace_on_changes or any(_contains(option, path) for option in replace_on_changes)


def forces_replacement(resource_type: str, path: str, replace_on_changes: frozenset[str]) -> bool:
    """True when changing the input at ``path`` (top-level key or leaf path) recreates the resource:
    the provider's ForceNew, or the resource's ``replaceOnChanges`` option (by_replace_on_changes)."""
    if by_replace_on_changes(path, replace_on_changes):
        return True
    return _top(path) in FORCE_NEW.get(resource_type, frozenset())


def disruption(resource_type: str, path: str) -> Disruption | None:
    """What an in-place update of the input at ``path`` does; None when it leaves the resource running."""
    found = TABLE.get(resource_type, {}).get(_top(path))
    return found if found is not None and found is not Disruption.REPLACE else None


def is_size_decrease(resource_type: str, key: str, old: Any, new: Any) -> bool:
    """A smaller Cinder volume: not a replace, but an update Cinder will refuse (volumes only extend)."""
    return (
        resource_type == _VOLUME
        and key == "size"
        and isinstance(old, int | float)
        and isinstance(new, int | float)
        and new < old
    )
