"""Rank a change set: what loses data or takes a service down (blocking), what opens the network (warning).

Every rule is one plain function over the change set, returning the risks it finds.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from webex_cloud.plan.format import VOLUME
from webex_cloud.preview.forcenew import DISRUPTIVE_UPDATE, is_size_decrease
from webex_cloud.preview.model import Action, Certainty, Change, ChangeSet, urn_name

#: Types whose replace or delete destroys data. Any resource with ``protect: true`` counts as well:
#: protection is how a program says "this holds state", and the engine refuses to delete it anyway.
STATEFUL_TYPES = frozenset(
    {
        VOLUME,
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
    }
)
_ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
# Rule fields that say *who* may reach *what*; a description change opens nothing.
_RULE_KEYS = (
    "direction",
    "ethertype",
    "protocol",
    "portRangeMin",
    "portRangeMax",
    "remoteIpPrefix",
    "remoteGroupId",
    "fromPort",
    "toPort",
    "cidrBlocks",
    "ipv6CidrBlocks",
    "cidrIpv4",
    "cidrIpv6",
    "securityGroups",
    "sourceSecurityGroupId",
    "self",
    "type",
)


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
    """``replace expected: volumeType (ssd → capacity)`` or ``provider replaces it: algorithm``."""
    shown = []
    for key in change.replace_reasons or ("no reason given",):
        under = [
            p for p in change.properties if p.forces_replace and p.path.split(".")[0].split("[")[0] == key
        ]
        first = under[0] if under else None
        if first is None or (first.old is None and first.new is None):
            shown.append(key)
            continue
        more = f" (+{len(under) - 1} more)" if len(under) > 1 else ""
        shown.append(f"{first.path} ({_short(first.old)} → {_short(first.new)}){more}")
    head = "replace expected" if change.certainty is Certainty.EXPECTED else "provider replaces it"
    return f"{head}: {', '.join(shown)}"


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, str) and "," in value:
        return f"{len(value.split(','))} entries"  # a list hint (e.g. sibling server groups): the count tells
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
        yield Risk(
            Level.BLOCKING,
            "data-loss",
            f"{short_type(change.type)} `{change.name}`",
            f"{what}; its data is lost{protected}",
            (change.urn,),
        )


def _disrupts(change: Change) -> bool:
    """Does this change stop what runs on it? Recreate, delete, or an in-place update that restarts."""
    if change.action in (Action.REPLACE, Action.DELETE):
        return True
    restarting = DISRUPTIVE_UPDATE.get(change.type, frozenset())
    return change.action is Action.UPDATE and any(
        p.path.split(".")[0] in restarting for p in change.properties
    )


def downtime(changes: ChangeSet) -> Iterator[Risk]:
    """Every serving pod of a service, or every member of an anti-affinity group, disrupted in one update.

    Pulumi applies independent changes in parallel, so "in one update" is "at the same time". A pod (or
    member) whose resources are all being created is not serving yet and does not count.
    """
    by_urn = {c.urn: c for c in changes.changes}
    units = [
        (f"service `{service}`", "serving pod", pods)
        for service, pods in sorted(changes.topology.pods.items())
    ]
    units += [
        (f"anti-affinity group `{group}`", "member", {urn_name(u): {u} for u in members})
        for group, members in sorted(changes.topology.redundant_sets.items())
    ]
    for subject, noun, parts in units:
        serving = {
            part: urns
            for part, urns in parts.items()
            if not urns or any(by_urn.get(u) is None or by_urn[u].action is not Action.CREATE for u in urns)
        }
        if not serving:
            continue
        hit = {
            part: [by_urn[u] for u in urns if u in by_urn and _disrupts(by_urn[u])]
            for part, urns in serving.items()
        }
        if not all(hit.values()):
            continue
        detail = "; ".join(f"{part}: {_tally(found)}" for part, found in sorted(hit.items()))
        count = len(serving)
        yield Risk(
            Level.BLOCKING,
            "downtime",
            subject,
            f"all {count} {noun}{'s' if count != 1 else ''} disrupted in the same update ({detail})",
            tuple(sorted(c.urn for found in hit.values() for c in found)),
        )


def _tally(found: list[Change]) -> str:
    """``2 Instance replaced, 1 Port deleted``: what happens to one pod, in a few words."""
    counts = Counter(
        (short_type(c.type), "restarted" if c.action is Action.UPDATE else f"{c.action.value}d")
        for c in found
    )
    return ", ".join(f"{n} {kind} {verb}" for (kind, verb), n in sorted(counts.items()))


def _mentions(value: Any, needles: frozenset[str]) -> bool:
    if isinstance(value, str):
        return value in needles
    if isinstance(value, Mapping):
        return any(_mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, needles) for v in value)
    return False


def _waits_for(changes: ChangeSet) -> dict[str, set[str]]:
    """URN -> every changed URN it transitively waits for, within this update."""
    direct = {c.urn: set(c.dependencies) for c in changes.changes}
    closure: dict[str, set[str]] = {}

    def visit(urn: str, trail: frozenset[str]) -> set[str]:
        if urn in closure:
            return closure[urn]
        found: set[str] = set()
        for dep in direct.get(urn, ()):
            if dep not in trail:
                found |= {dep} | visit(dep, trail | {dep})
        closure[urn] = found
        return found

    for urn in direct:
        visit(urn, frozenset({urn}))
    return closure


def controllers(changes: ChangeSet) -> Iterator[Risk]:
    """Both controllers of the HA pair changed in one update *at the same time* leaves no survivor.

    A resource targets a controller when its name carries the controller's host name (the rollout's
    ``<pair>-<host>-rollout``: its connection is a secret), or its inputs hold the host name or address.
    Changes to the second controller that wait for the first one's (``dependsOn``, as the health-gated
    rollout does) are sequential and fine.
    """
    pair = changes.topology.controllers
    if len(pair) < 2:
        return
    touched: dict[str, list[Change]] = {}
    for controller in pair:
        needles = frozenset({controller.name, controller.address})
        named = re.compile(rf"(^|[-_.]){re.escape(controller.name)}($|[-_.])")
        touched[controller.name] = [
            c
            for c in changes.changes
            if c.action is not Action.CREATE
            and (named.search(c.name) or _mentions(c.new_inputs, needles) or _mentions(c.old_inputs, needles))
        ]
    if not all(touched.values()):
        return
    waits = _waits_for(changes)
    first, second = (touched[c.name] for c in pair[:2])
    first_urns, second_urns = {c.urn for c in first}, {c.urn for c in second}
    if all(waits.get(c.urn, set()) & first_urns for c in second) or all(
        waits.get(c.urn, set()) & second_urns for c in first
    ):
        return
    detail = "; ".join(f"{name}: {', '.join(sorted(c.name for c in hits))}" for name, hits in touched.items())
    yield Risk(
        Level.BLOCKING,
        "downtime",
        "controller pair",
        f"both controllers are changed in the same update, not one after the other ({detail}); "
        "make the second wait for the first (dependsOn) or change one per release",
        tuple(sorted({c.urn for hits in touched.values() for c in hits})),
    )


def _rule(inputs: Mapping[str, Any] | None) -> str | None:
    if not inputs:
        return None
    return json.dumps({k: inputs.get(k) for k in _RULE_KEYS if k in inputs}, sort_keys=True)


def _ingress_entries(inputs: Mapping[str, Any] | None) -> set[str]:
    """Ingress rules of a resource: a whole security group's ``ingress`` list, or a single rule."""
    if not inputs:
        return set()
    if isinstance(inputs.get("ingress"), list):
        return {
            json.dumps({k: v for k, v in entry.items() if k in _RULE_KEYS}, sort_keys=True)
            for entry in inputs["ingress"]
            if isinstance(entry, Mapping)
        }
    if str(inputs.get("direction", inputs.get("type", ""))).lower() == "ingress":
        rule = _rule(inputs)
        return {rule} if rule else set()
    return set()


def _anywhere(entries: Iterable[str]) -> bool:
    return any(prefix in entry for entry in entries for prefix in _ANYWHERE)


def ingress(changes: ChangeSet) -> Iterator[Risk]:
    """A security group change that lets in traffic which was not let in before.

    Rules are compared per security group, over all its changed rules together: one rule resource
    recreated under another name (the rules are numbered) opens nothing, so it must not warn.
    """
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    carriers: dict[str, list[Change]] = defaultdict(list)
    for change in changes.changes:
        if change.action is Action.IMPORT:
            continue
        inputs = change.new_inputs or change.old_inputs or {}
        # A whole group (ingress list) is its own scope; single rules share their component parent.
        group = change.urn if isinstance(inputs.get("ingress"), list) else change.parent or change.urn
        old, new = _ingress_entries(change.old_inputs), _ingress_entries(change.new_inputs)
        before[group] |= old
        after[group] |= new
        if new - old:
            carriers[group].append(change)
    for group in sorted(carriers):
        opened = after[group] - before[group]
        if not opened:
            continue
        where = " — from anywhere" if _anywhere(opened) else ""
        rules = "; ".join(_describe_rule(json.loads(entry)) for entry in sorted(opened))
        shown = carriers[group][:3]
        more = len(carriers[group]) - len(shown)
        names = ", ".join(f"`{c.name}`" for c in shown) + (f" (+{more} more)" if more else "")
        yield Risk(
            Level.WARNING,
            "ingress",
            f"{short_type(carriers[group][0].type)} {names}",
            f"opens ingress: {rules}{where}",
            tuple(c.urn for c in carriers[group]),
        )


def _describe_rule(rule: Mapping[str, Any]) -> str:
    protocol = rule.get("protocol") or "any protocol"
    low = rule.get("portRangeMin", rule.get("fromPort"))
    high = rule.get("portRangeMax", rule.get("toPort"))
    ports = "" if low is None else f" {low}" if low == high else f" {low}-{high}"
    sources = [
        rule.get("remoteIpPrefix"),
        rule.get("remoteGroupId"),
        rule.get("cidrIpv4"),
        rule.get("cidrIpv6"),
        *(rule.get("cidrBlocks") or []),
        *(rule.get("ipv6CidrBlocks") or []),
    ]
    source = ", ".join(str(s) for s in sources if s) or "any source"
    return f"{protocol}{ports} from {source}"


def volume_shrink(changes: ChangeSet) -> Iterator[Risk]:
    """Cinder only extends volumes: a smaller size makes the update fail half-way."""
    for change in changes.changes:
        old, new = change.old_inputs or {}, change.new_inputs or {}
        if change.action is Action.UPDATE and is_size_decrease(
            change.type, "size", old.get("size"), new.get("size")
        ):
            yield Risk(
                Level.WARNING,
                "volume-shrink",
                f"{short_type(change.type)} `{change.name}`",
                f"size {old.get('size')} → {new.get('size')} GB: Cinder cannot shrink a volume, "
                "the update will fail at this resource",
                (change.urn,),
            )


RULES = (data_loss, downtime, controllers, ingress, volume_shrink)


def rank(changes: ChangeSet) -> list[Risk]:
    """All risks, blocking first, then by kind and subject (a stable order for diffs of the report)."""
    found = [risk for rule in RULES for risk in rule(changes)]
    return sorted(found, key=lambda r: (-r.level, r.kind, r.subject))
