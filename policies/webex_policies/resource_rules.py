"""Resource rules: one plain function per rule, judging one resource, returning violation messages.

Every function takes a :class:`~webex_policies.model.Resource` (thawed inputs) and its typed
parameters, and returns the messages to report; an empty list means compliant. A function is only
called for the type tokens its policy filters on (see :mod:`webex_policies.pack`); it still checks
the type itself so that calling it on anything else is harmless. Unknown values never produce a
message: a rule reports only what is certain whatever the unknown turns out to be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from webex_scheduler_filters import hints

from webex_policies.model import INSTANCE, SERVER_GROUP, VOLUME, Resource
from webex_policies.params import (
    AllowListParams,
    InstanceMembershipParams,
    RequiredMetadataParams,
    SecretsParams,
    ServerGroupParams,
)
from webex_policies.values import UNKNOWN, get_path, known


def _hint_entries(resource: Resource) -> list[Any]:
    """The ``schedulerHints`` list (the provider takes a list with one entry), or [UNKNOWN]."""
    value = resource.props.get("schedulerHints")
    if value is UNKNOWN:
        return [UNKNOWN]
    return value if isinstance(value, list) else []


def _has_text(value: Any) -> bool:
    """A present, non-blank string; an unknown counts as present (it will be filled in)."""
    return value is UNKNOWN or (isinstance(value, str) and value.strip() != "")


def volume_protected(resource: Resource) -> list[str]:
    """Volumes hold the only copies of service data: deleting one must take an explicit unprotect."""
    if resource.type != VOLUME or resource.protect:
        return []
    return [f"volume {resource.label()} is not protected; register it with protect=True"]


def volume_diversity_hints(resource: Resource) -> list[str]:
    """A replica without the volume-group hint is placed blind: two replicas may share a failure domain."""
    if resource.type != VOLUME:
        return []
    group = get_path(resource.props, "metadata", hints.VOLUME_GROUP_METADATA_KEY)
    if not known(group):
        return []
    if not _has_text(group):
        return [
            f"volume {resource.label()} has no metadata {hints.VOLUME_GROUP_METADATA_KEY!r}; every volume "
            "belongs to a volume group so the Cinder filter can find its sibling replicas"
        ]
    entries = _hint_entries(resource)
    if UNKNOWN in entries:
        return []
    for entry in entries:
        extra = get_path(entry, "additionalProperties")
        if not known(extra):
            return []
        hinted = get_path(extra, hints.CINDER_VOLUME_GROUP_HINT)
        if not known(hinted) or hinted == group:
            return []
    return [
        f"volume {resource.label()} (group {group!r}) lacks the scheduler hint "
        f"{hints.CINDER_VOLUME_GROUP_HINT}={group!r}; without it the Cinder filter cannot keep its "
        "replicas in distinct failure domains"
    ]


def single_valued_hints(resource: Resource) -> list[str]:
    """A hint map with two distinct values makes the provider's set hash, and the diff, random.

    terraform-provider-openstack v3.4.0 hashes each ``scheduler_hints`` element by ranging over its
    ``additional_properties`` Go map (``resourceComputeSchedulerHintsHash``,
    ``blockStorageVolumeV3SchedulerHintsHash``), so an unrelated in-place change can then preview as a
    replacement (docs/scheduler-filters.md, "Design").
    """
    if resource.type not in (INSTANCE, VOLUME):
        return []
    problems = []
    for index, entry in enumerate(_hint_entries(resource)):
        extra = get_path(entry, "additionalProperties")
        if isinstance(extra, dict) and hints.distinct_values(extra.values()) > 1:
            problems.append(
                f"{resource.label()}: schedulerHints[{index}].additionalProperties holds "
                f"{hints.distinct_values(extra.values())} distinct values ({', '.join(sorted(extra))}); the "
                "provider hashes this map in random order, so keep one value (move the rest to metadata)"
            )
    return problems


def instance_membership(resource: Resource, params: InstanceMembershipParams) -> list[str]:
    """An instance outside a pod or the controller pair escapes every placement guarantee we make."""
    if resource.type != INSTANCE:
        return []
    metadata = resource.props.get("metadata")
    if not known(metadata):
        return []
    role = get_path(metadata, "role")
    pod = get_path(metadata, "pod")
    if not (known(role) and known(pod)):
        return []
    entries = _hint_entries(resource)
    if UNKNOWN in entries:
        return []
    groups = [get_path(entry, "group") for entry in entries]
    has_group = any(_has_text(g) for g in groups)
    if isinstance(role, str) and role in params.controller_roles:
        if has_group:
            return []
        return [
            f"controller instance {resource.label()} has no server group hint; the controller pair must "
            "be in its anti-affinity server group"
        ]
    if isinstance(role, str) and role in params.pair_roles:
        if has_group:
            return []
        return [
            f"{role} instance {resource.label()} has no server group hint; its pair must be in its "
            "anti-affinity server group"
        ]
    if not _has_text(pod):
        return [
            f"instance {resource.label()} is neither in a pod (metadata 'pod') nor a controller "
            f"(metadata role in {sorted(params.controller_roles)}); every instance must be placed by one"
        ]
    problems = []
    pod_key = get_path(metadata, hints.INSTANCE_POD_METADATA_KEY)
    pod_role = get_path(metadata, hints.INSTANCE_POD_ROLE_METADATA_KEY)
    if not (known(pod_key) and known(pod_role)):
        return []
    if not _has_text(pod_key) or pod_role not in (hints.ANCHOR_ROLE, hints.MEMBER_ROLE):
        return [
            f"pod instance {resource.label()} (pod {pod!r}) lacks the metadata "
            f"{hints.INSTANCE_SERVICE_METADATA_KEY}, {hints.INSTANCE_POD_METADATA_KEY} and "
            f"{hints.INSTANCE_POD_ROLE_METADATA_KEY}={hints.ANCHOR_ROLE}|{hints.MEMBER_ROLE}; the Nova "
            "filter "
            "finds the service's pods through them"
        ]
    if pod_role == hints.ANCHOR_ROLE and not has_group:
        problems.append(
            f"pod anchor {resource.label()} has no server group hint (schedulerHints[].group); anchors join "
            "their service's anti-affinity group"
        )
    if pod_role == hints.MEMBER_ROLE and has_group:
        problems.append(
            f"pod member {resource.label()} has a server group hint; only the anchor is in the service's "
            "group, members follow their anchor"
        )
    for entry in entries:
        extra = get_path(entry, "additionalProperties")
        if not known(extra):
            return problems
        hinted_pod = get_path(extra, hints.NOVA_POD_HINT)
        if not known(hinted_pod) or hinted_pod == pod_key:
            return problems
    problems.append(
        f"pod instance {resource.label()} lacks the scheduler hint {hints.NOVA_POD_HINT}={pod_key!r}; "
        "the Nova filter cannot keep it with its anchor and off the service's other pods without it"
    )
    return problems


def server_group_policy(resource: Resource, params: ServerGroupParams) -> list[str]:
    """Nova rejects or silently ignores a misspelled policy: a pod would then not stay together."""
    if resource.type != SERVER_GROUP:
        return []
    value = resource.props.get("policies")
    if not known(value):
        return []
    # Older provider versions took a one-element list; both spellings reach Nova as one policy.
    names = value if isinstance(value, list) else [value]
    if any(not known(name) for name in names):
        return []
    if len(names) == 1 and names[0] in params.allowed:
        return []
    return [
        f"server group {resource.label()} has policies {value!r}; it must be exactly one of "
        f"{', '.join(sorted(params.allowed))}"
    ]


_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every known string inside ``value`` with its property path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def plaintext_secrets(resource: Resource, params: SecretsParams) -> list[str]:
    """Metadata and user data are readable by anyone on the instance and by Nova API users: no secrets."""
    if resource.type != INSTANCE:
        return []
    problems = []
    metadata = resource.props.get("metadata")
    if isinstance(metadata, dict):
        for key, value in sorted(metadata.items()):
            if key in params.allowed_keys or not _has_text(value):
                continue
            if params.key_pattern.search(key):
                problems.append(
                    f"instance {resource.label()} carries secret-looking metadata key {key!r}; deliver "
                    "secrets through a secret store, never in Nova metadata"
                )
    sources = [
        ("metadata", metadata),
        ("userData", resource.props.get("userData")),
        ("personalities", resource.props.get("personalities")),
    ]
    for name, value in sources:
        for path, text in _strings(value, name):
            if _PEM_PRIVATE_KEY.search(text):
                problems.append(f"instance {resource.label()} has a private key in {path}")
            elif name != "metadata":
                match = params.assignment_pattern.search(text)
                if match and match.group("key") not in params.allowed_keys:
                    problems.append(
                        f"instance {resource.label()} sets {match.group('key')!r} in plain text in {path}; "
                        "fetch it at boot from a secret store instead"
                    )
    return problems


def allow_lists(resource: Resource, params: AllowListParams) -> list[str]:
    """Only images and flavors the datacenter publishes are patched, licensed and sized for its hosts."""
    problems = []
    if resource.type == INSTANCE:
        image, flavor = resource.props.get("imageName"), resource.props.get("flavorName")
        image_id, flavor_id = resource.props.get("imageId"), resource.props.get("flavorId")
        if known(image) and known(image_id):
            if image_id not in (None, ""):
                # By id only: Glance names are not unique, the verified id is one image's bytes.
                names = sorted(name for name, verified in params.image_ids.items() if verified == image_id)
                if not names:
                    problems.append(
                        f"instance {resource.label()} boots image id {image_id!r}, which is not the verified "
                        f"id of any image in {params.datacenter_label}; boot a catalog image through its "
                        "verification record (docs/images.md)"
                    )
                elif names[0] not in params.images:
                    problems.append(
                        f"instance {resource.label()} uses image {names[0]!r}, not in "
                        f"{params.datacenter_label}'s allow-list: {', '.join(params.images)}"
                    )
            elif image not in (None, ""):
                problems.append(
                    f"instance {resource.label()} boots image {image!r} by name; Glance names are not "
                    "unique: boot its verified id (imageId, docs/images.md)"
                )
        if known(flavor) and known(flavor_id):
            if flavor in (None, ""):
                if flavor_id not in (None, ""):
                    problems.append(
                        f"instance {resource.label()} names its flavor by id; use flavorName from the "
                        f"allow-list ({', '.join(params.flavors)})"
                    )
            elif flavor not in params.flavors:
                problems.append(
                    f"instance {resource.label()} uses flavor {flavor!r}, not in {params.datacenter_label}'s "
                    f"allow-list: {', '.join(params.flavors)}"
                )
    elif resource.type == VOLUME and params.volume_types:
        volume_type = resource.props.get("volumeType")
        if known(volume_type) and volume_type not in (None, "") and volume_type not in params.volume_types:
            problems.append(
                f"volume {resource.label()} uses volume type {volume_type!r}, not in "
                f"{params.datacenter_label}'s allow-list: {', '.join(params.volume_types)}"
            )
    return problems


def required_metadata(resource: Resource, params: RequiredMetadataParams) -> list[str]:
    """Without service, owner and datacenter an operator cannot tell whom to call about a resource."""
    if resource.type not in params.resource_types:
        return []
    metadata = resource.props.get("metadata")
    if not known(metadata):
        return []
    metadata = metadata if isinstance(metadata, dict) else {}
    missing = [key for key in params.keys if not _has_text(metadata.get(key))]
    problems = []
    if missing:
        problems.append(f"{resource.label()} lacks required metadata: {', '.join(missing)}")
    datacenter = metadata.get("datacenter")
    if params.datacenter and isinstance(datacenter, str) and datacenter and datacenter != params.datacenter:
        problems.append(
            f"{resource.label()} says datacenter {datacenter!r} but is deployed by stack "
            f"{params.datacenter!r}"
        )
    return problems
