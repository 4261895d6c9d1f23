"""Rank a change set: what loses data or takes a service down (blocking), what opens the network (warning).

Every rule is one plain function over the change set, returning the risks it finds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from webex_cloud.preview.forcenew import DISRUPTIVE_UPDATE, is_size_decrease
from webex_cloud.preview.model import Action, Certainty, Change, ChangeSet

#: Types whose replace or delete destroys data. Any resource with ``protect: true`` counts as well:
#: protection is how a program says "this holds state", and the engine refuses to delete it anyway.
STATEFUL_TYPES = frozenset({
    "openstack:blockstorage/volume:Volume",
    "openstack:blockstorage/volumeV2:VolumeV2",
    "openstack:blockstorage/volumeV1:VolumeV1",
    "openstack:objectstorage/container:Container",
    "openstack:sharedfilesystem/share:Share",
    "openstack:database/instance:Instance",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:dynamodb/table:Table",
    "aws:ebs/volume:Volume",
    "aws:efs/fileSystem:FileSystem",
    "gcp:storage/bucket:Bucket",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:compute/disk:Disk",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume",
})
_ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
# Rule fields that say *who* may reach *what*; a description change opens nothing.
_RULE_KEYS = ("direction", "ethertype", "protocol", "portRangeMin", "portRangeMax", "remoteIpPrefix",
              "remoteGroupId", "fromPort", "toPort", "cidrBlocks", "ipv6CidrBlocks", "cidrIpv4", "cidrIpv6",
              "securityGroups", "sourceSecurityGroupId", "self", "type")


class Level(IntEnum):
    WARNING = 1
    BLOCKING = 2


@dataclass(frozen=True)
class Risk:
    level: Level
    kind: str
    """``data-loss``, ``downtime``, ``ingress`` or ``volume-shrink``."""
    subject: str
    reason: str
    urns: tuple[str, ...]


def short_type(resource_type: str) -> str:
    """``openstack:blockstorage/volume:Volume`` -> ``Volume``."""
    return resource_type.rsplit(":", 1)[-1] or resource_type


def describe_replace(change: Change) -> str:
    """``replace expected: volumeType (ssd → capacity)`` or ``replaced by the provider: algorithm``."""
    why = ", ".join(change.replace_reasons) or "no reason given"
    values = {p.path: p for p in change.properties if p.forces_replace and p.old is not None and p.new is not None}
    shown = [f"{key} ({_short(values[key].old)} → {_short(values[key].new)})" if key in values else key
             for key in change.replace_reasons]
    if shown:
        why = ", ".join(shown)
    head = "replace expected" if change.certainty is Certainty.EXPECTED else "provider replaces it"
    return f"{head}: {why}"


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def data_loss(changes: ChangeSet) -> Iterator[Risk]:
    """Replacing or deleting a volume (or any stateful or protected resource) loses what it holds."""
    for change in changes.changes:
        if change.action not in (Action.REPLACE, Action.DELETE):
            continue
        if change.type not in STATEFUL_TYPES and not change.protected:
            continue
        what = "deleted" if change.action is Action.DELETE else describe_replace(change)
        protected = " (protected: the update will stop at it)" if change.protected else ""
        yield Risk(Level.BLOCKING, "data-loss", f"{short_type(change.type)} `{change.name}`",
                   f"{what}; its data is lost{protected}", (change.urn,))


def _disrupts(change: Change) -> bool:
    """Does this change stop what runs on it? Recreate, delete, or an in-place update that restarts."""
    if change.action in (Action.REPLACE, Action.DELETE):
        return True
    restarting = DISRUPTIVE_UPDATE.get(change.type, frozenset())
    return change.action is Action.UPDATE and any(p.path.split(".")[0] in restarting for p in change.properties)


def downtime(changes: ChangeSet) -> Iterator[Risk]:
    """Every serving pod of a service disrupted in the same update means the service stops.

    Pulumi applies independent changes in parallel, so "in one update" is "at the same time". A pod
    whose resources are all being created is not serving yet and does not count.
    """
    by_urn = {c.urn: c for c in changes.changes}
    for service, pods in sorted(changes.topology.pods.items()):
        serving = {pod: urns for pod, urns in pods.items()
                   if not urns or any(by_urn.get(u) is None or by_urn[u].action is not Action.CREATE for u in urns)}
        if not serving:
            continue
        hit = {pod: sorted(by_urn[u].name for u in urns if u in by_urn and _disrupts(by_urn[u]))
               for pod, urns in serving.items()}
        if all(hit.values()):
            detail = "; ".join(f"{pod}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}"
                               for pod, names in sorted(hit.items()))
            urns = tuple(sorted(u for urns in serving.values() for u in urns if u in by_urn))
            count = len(serving)
            yield Risk(Level.BLOCKING, "downtime", f"service `{service}`",
                       f"all {count} serving pod{'s' if count != 1 else ''} disrupted in the same update "
                       f"({detail})", urns)


def _mentions(value: Any, needles: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in needles
    if isinstance(value, Mapping):
        return any(_mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, needles) for v in value)
    return False


def controllers(changes: ChangeSet) -> Iterator[Risk]:
    """Both controllers of the HA pair touched in one update leaves the control plane without a survivor.

    A resource targets a controller when its inputs name the controller's host name or address (remote
    commands, instance metadata, ports with its fixed IP).
    """
    pair = changes.topology.controllers
    if len(pair) < 2:
        return
    touched: dict[str, list[Change]] = {}
    for controller in pair:
        needles = frozenset({controller.name, controller.address})
        touched[controller.name] = [c for c in changes.changes if c.action is not Action.CREATE
                                    and (_mentions(c.new_inputs, needles) or _mentions(c.old_inputs, needles))]
    if all(touched.values()):
        detail = "; ".join(f"{name}: {', '.join(sorted(c.name for c in hits))}" for name, hits in touched.items())
        yield Risk(Level.BLOCKING, "downtime", "controller pair",
                   f"both controllers are changed in the same update ({detail}); change one per release",
                   tuple(sorted({c.urn for hits in touched.values() for c in hits})))


def _rule(inputs: Mapping[str, Any] | None) -> str | None:
    if not inputs:
        return None
    return json.dumps({k: inputs.get(k) for k in _RULE_KEYS if k in inputs}, sort_keys=True)


def _ingress_entries(inputs: Mapping[str, Any] | None) -> set[str]:
    """Ingress rules of a resource: a whole security group's ``ingress`` list, or a single rule."""
    if not inputs:
        return set()
    if isinstance(inputs.get("ingress"), list):
        return {json.dumps({k: v for k, v in entry.items() if k in _RULE_KEYS}, sort_keys=True)
                for entry in inputs["ingress"] if isinstance(entry, Mapping)}
    if str(inputs.get("direction", inputs.get("type", ""))).lower() == "ingress":
        rule = _rule(inputs)
        return {rule} if rule else set()
    return set()


def _anywhere(entries: Iterable[str]) -> bool:
    return any(prefix in entry for entry in entries for prefix in _ANYWHERE)


def ingress(changes: ChangeSet) -> Iterator[Risk]:
    """A security group change that lets in traffic which was not let in before."""
    for change in changes.changes:
        if change.action in (Action.DELETE, Action.IMPORT):
            continue
        opened = _ingress_entries(change.new_inputs) - _ingress_entries(change.old_inputs)
        if not opened:
            continue
        where = " — from anywhere" if _anywhere(opened) else ""
        rules = "; ".join(_describe_rule(json.loads(entry)) for entry in sorted(opened))
        yield Risk(Level.WARNING, "ingress", f"{short_type(change.type)} `{change.name}`",
                   f"opens ingress: {rules}{where}", (change.urn,))


def _describe_rule(rule: Mapping[str, Any]) -> str:
    protocol = rule.get("protocol") or "any protocol"
    low = rule.get("portRangeMin", rule.get("fromPort"))
    high = rule.get("portRangeMax", rule.get("toPort"))
    ports = "" if low is None else f" {low}" if low == high else f" {low}-{high}"
    sources = [rule.get("remoteIpPrefix"), rule.get("remoteGroupId"), rule.get("cidrIpv4"), rule.get("cidrIpv6"),
               *(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
    source = ", ".join(str(s) for s in sources if s) or "any source"
    return f"{protocol}{ports} from {source}"


def volume_shrink(changes: ChangeSet) -> Iterator[Risk]:
    """Cinder only extends volumes: a smaller size makes the update fail half-way."""
    for change in changes.changes:
        old, new = change.old_inputs or {}, change.new_inputs or {}
        if change.action is Action.UPDATE and is_size_decrease(change.type, "size", old.get("size"), new.get("size")):
            yield Risk(Level.WARNING, "volume-shrink", f"{short_type(change.type)} `{change.name}`",
                       f"size {old.get('size')} → {new.get('size')} GB: Cinder cannot shrink a volume, "
                       "the update will fail at this resource", (change.urn,))


RULES = (data_loss, downtime, controllers, ingress, volume_shrink)


def rank(changes: ChangeSet) -> list[Risk]:
    """All risks, blocking first, then by kind and subject (a stable order for diffs of the report)."""
    found = [risk for rule in RULES for risk in rule(changes)]
    return sorted(found, key=lambda r: (-r.level, r.kind, r.subject))
