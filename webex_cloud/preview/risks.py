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

from webex_cloud.change.model import (
    UNKNOWN_SENTINEL,
    Action,
    Certainty,
    Change,
    ChangeSet,
    urn_name,
    urn_type,
)
from webex_cloud.facts.provider import Disruption, by_replace_on_changes, is_size_decrease
from webex_cloud.plan.format import (
    COPY_TO_REMOTE,
    PORT,
    PROGRAM_TYPES,
    REMOTE_COMMAND,
    SEC_GROUP_RULE,
    STACK,
    SUBNET,
    VOLUME,
)
from webex_cloud.preview.markdown import code
from webex_cloud.release.disruption import describe, disrupts, gate_spec, released, releases

#: OpenStack types whose replace or delete destroys data (pulumi-openstack 5.5.3 type tokens; a test
#: checks each exists in the installed SDK and that docs/preview.md names exactly these). Any resource
#: with ``protect: true`` counts as well: protection is how a program says "this holds state".
STATEFUL_TYPES = frozenset(
    {
        VOLUME,
        "openstack:objectstorage/container:Container",
        "openstack:objectstorage/containerObject:ContainerObject",
        "openstack:sharedfilesystem/share:Share",
        "openstack:database/instance:Instance",
        "openstack:database/database:Database",
        "openstack:keymanager/secretV1:SecretV1",
        "openstack:keymanager/orderV1:OrderV1",
    }
)
#: Types whose replace or delete the rules here can judge: the stateful ones, every type the program
#: registers, providers, our components (their children are judged) and the stack itself. A delete
#: or replace of anything else (another provider's bucket, a database) cannot be judged and says so.
_JUDGED_PREFIXES = ("pulumi:providers:", "webex:")
JUDGED_TYPES = STATEFUL_TYPES | PROGRAM_TYPES | {STACK}
#: What Neutron compares to refuse a duplicate rule (neutron ``db/securitygroups_db.py``
#: ``_rule_to_key``: direction, ethertype, port range, protocol, remote group, remote prefix, group);
#: the description is not in it. Names are the provider's inputs.
NEUTRON_RULE_KEY = (
    "direction",
    "ethertype",
    "portRangeMin",
    "portRangeMax",
    "protocol",
    "remoteGroupId",
    "remoteIpPrefix",
    "securityGroupId",
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
)


class Level(IntEnum):
    WARNING = 1
    BLOCKING = 2


@dataclass(frozen=True)
class Risk:
    level: Level
    kind: str
    """``data-loss``, ``downtime``, ``subnet-move``, ``conflict``, ``ingress``, ``volume-shrink``,
    ``release-judgement`` or ``unknown-type`` or ``root``."""
    subject: str
    reason: str
    urns: tuple[str, ...]


def short_type(resource_type: str) -> str:
    """``openstack:blockstorage/volume:Volume`` -> ``Volume``."""
    return resource_type.rsplit(":", 1)[-1] or resource_type


def describe_replace(change: Change) -> str:
    """``replace expected: volumeType (ssd → capacity)`` or ``provider replaces it: algorithm``; a key
    the resource's ``replaceOnChanges`` option covers is the program's reason and is named as such."""
    reasons = change.replace_reasons or ("no reason given",)
    ours = [k for k in reasons if by_replace_on_changes(k.split(" ", 1)[0], change.replace_on_changes)]
    theirs = [k for k in reasons if k not in ours]
    head = "replace expected" if change.certainty is Certainty.EXPECTED else "provider replaces it"
    parts = [f"{head}: {', '.join(_shown_keys(change, theirs))}"] if theirs else []
    if ours:
        parts.append(f"the program's `replaceOnChanges` replaces it: {', '.join(_shown_keys(change, ours))}")
    return "; ".join(parts)


def _shown_keys(change: Change, keys: list[str]) -> list[str]:
    shown = []
    for key in keys:
        under = [
            p for p in change.properties if p.forces_replace and p.path.split(".")[0].split("[")[0] == key
        ]
        first = under[0] if under else None
        if first is None or (first.old is None and first.new is None):
            shown.append(key)
            continue
        more = f" (+{len(under) - 1} more)" if len(under) > 1 else ""
        shown.append(f"{first.path} ({_short(first.old)} → {_short(first.new)}){more}")
    return shown


def shown_value(value: Any) -> Any:
    """A value for people: the engine's unknown sentinel reads as what it means."""
    return "(known after the update)" if value == UNKNOWN_SENTINEL else value


def _short(value: Any, limit: int = 40) -> str:
    value = shown_value(value)
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
        if change.action is Action.DELETE and change.retain_on_delete:
            continue  # retainOnDelete: the engine only forgets it; the volume and its data stay
        what = "deleted" if change.action is Action.DELETE else describe_replace(change)
        protected = " (protected: the update will stop at it)" if change.protected else ""
        yield Risk(
            Level.BLOCKING,
            "data-loss",
            f"{short_type(change.type)} {code(change.name)}",
            f"{what}; its data is lost{protected}",
            (change.urn,),
        )


def _disrupts(change: Change) -> bool:
    """Does this change stop what runs on it? Recreate, delete, or an in-place rebuild/resize/retype."""
    return disrupts(change) is not None


def downtime(changes: ChangeSet) -> Iterator[Risk]:
    """More serving pods of a service disrupted at the same moment than its rollout allows, or every
    member of an anti-affinity group disrupted in one update.

    Pulumi runs steps with no dependency path between them in parallel; a release's waves are ordered
    by their health gates (:mod:`webex_cloud.release.disruption` computes the worst moment from the
    update's dependency graph). A pod (or member) whose resources are all being created is not serving
    yet and does not count.
    """
    for release in releases(changes, changes.graph):
        if not release.blocking:
            continue
        urns = tuple(
            sorted(
                c.urn
                for c in changes.changes
                if _disrupts(c)
                and changes.topology.service_of(c.urn) == release.service
                and (changes.topology.pod_of(c.urn) in release.disrupted or c.name in release.shared)
            )
        )
        pods = len(release.serving)
        if pods == 1:
            reason = (
                "its only serving pod is disrupted: a service with one pod cannot be released without "
                f"downtime; a zero-downtime release needs at least {release.max_unavailable + 1} pods "
                "(pods.count in its catalog file)"
            )
        elif release.at_once >= pods:
            reason = f"all {pods} serving pods disrupted in the same update"
        else:
            reason = (
                f"{release.at_once} of {pods} serving pods can be disrupted at the same time, more than "
                f"rollout.max_unavailable ({release.max_unavailable})"
            )
        yield Risk(
            Level.BLOCKING,
            "downtime",
            f"service {code(release.service)}",
            f"{reason} ({describe(release)})",
            urns,
        )
    by_urn = {c.urn: c for c in changes.changes}
    waits = _waits_for(changes)
    units = [
        (f"anti-affinity group {code(group)}", "member", {urn_name(u): {u} for u in members})
        for group, members in sorted(changes.topology.redundant_sets.items())
        # A service's pod anchors share one anti-affinity group: the release rule above counts them.
        if not all(changes.topology.pod_of(u) for u in members)
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
        if not all(hit.values()) or in_waves(hit, waits):
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


#: Resources that gate a rollout on health: a command that checks the wave before it and fails the
#: update otherwise (pulumi-command; the controller pair's ``<pair>-<host>-rollout`` is one).
HEALTH_GATE_TYPES = frozenset({REMOTE_COMMAND, "command:local:Command"})


def in_waves(hit: Mapping[str, list[Change]], waits: Mapping[str, set[str]]) -> bool:
    """Are the disrupted parts changed in health-gated waves, so that they are never all down at once?

    The hook for rollout waves: a part whose every disrupted resource waits for a health gate
    (:data:`HEALTH_GATE_TYPES`, changed in the same update) that itself waits for another part's
    disrupted resources starts only once that part is back and healthy. A bare ``dependsOn`` between
    instances is not enough: the engine counts an instance done when Nova says ACTIVE, not when the
    service on it answers. The engine replaces dependents only through property dependencies
    (pulumi/pulumi ``pkg/resource/deploy/step_generator.go``, ``calculateDependentReplacements``), so
    such an ordering edge stays an ordering edge.
    """
    urns = {part: {c.urn for c in found} for part, found in hit.items()}
    for part, found in hit.items():
        others: set[str] = set().union(*(u for name, u in urns.items() if name != part))
        if found and all(
            any(
                urn_type(g) in HEALTH_GATE_TYPES and waits.get(g, set()) & others
                for g in waits.get(c.urn, set())
            )
            for c in found
        ):
            return True
    return False


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
    detail = "; ".join(
        f"{code(name)}: {', '.join(code(c.name) for c in sorted(hits, key=lambda c: c.name))}"
        for name, hits in touched.items()
    )
    yield Risk(
        Level.BLOCKING,
        "downtime",
        "controller pair",
        f"both controllers are changed in the same update, not one after the other ({detail}); "
        "make the second wait for the first (dependsOn) or change one per release",
        tuple(sorted({c.urn for hits in touched.values() for c in hits})),
    )


def _ingress_entries(inputs: Mapping[str, Any] | None) -> set[str]:
    """The ingress rule a SecGroupRule's inputs admit (empty for egress or another type)."""
    if not inputs or str(inputs.get("direction", "")).lower() != "ingress":
        return set()
    return {json.dumps({k: inputs.get(k) for k in _RULE_KEYS if k in inputs}, sort_keys=True)}


def _anywhere(entries: Iterable[str]) -> bool:
    return any(prefix in entry for entry in entries for prefix in _ANYWHERE)


def _unknown_source(entries: Iterable[str]) -> bool:
    """A source known only after the update (a computed prefix or group): it may be anywhere."""
    return any(UNKNOWN_SENTINEL in entry for entry in entries)


def ingress(changes: ChangeSet) -> Iterator[Risk]:
    """A security group change that lets in traffic which was not let in before.

    Rules are compared per security group (the rules' component parent), over all its changed rules
    together: one rule recreated under another name opens nothing, so it must not warn.
    """
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    carriers: dict[str, list[Change]] = defaultdict(list)
    for change in changes.changes:
        if change.type != SEC_GROUP_RULE or change.action is Action.IMPORT:
            continue
        group = change.parent or change.urn
        old, new = _ingress_entries(change.old_inputs), _ingress_entries(change.new_inputs)
        before[group] |= old
        after[group] |= new
        if new - old:
            carriers[group].append(change)
    for group in sorted(carriers):
        opened = after[group] - before[group]
        if not opened:
            continue
        where = (
            " — from anywhere"
            if _anywhere(opened)
            else " — possibly from anywhere (a source known only after the update)"
            if _unknown_source(opened)
            else ""
        )
        rules = "; ".join(
            _describe_rule(json.loads(entry), changes.security_groups) for entry in sorted(opened)
        )
        shown = carriers[group][:3]
        more = len(carriers[group]) - len(shown)
        names = ", ".join(code(c.name) for c in shown) + (f" (+{more} more)" if more else "")
        yield Risk(
            Level.WARNING,
            "ingress",
            f"{short_type(carriers[group][0].type)} {names}",
            f"opens ingress: {rules}{where}",
            tuple(c.urn for c in carriers[group]),
        )


def _describe_rule(rule: Mapping[str, Any], security_groups: Mapping[str, str]) -> str:
    protocol = rule.get("protocol") or "any protocol"
    low, high = rule.get("portRangeMin"), rule.get("portRangeMax")
    ports = "" if low is None else f" {low}" if low == high else f" {low}-{high}"
    group = str(rule.get("remoteGroupId") or "")
    named = security_groups.get(group)
    sources = [
        shown_value(rule.get("remoteIpPrefix")),
        f"security group {code(named)}" if named else shown_value(group),
    ]
    source = ", ".join(str(s) for s in sources if s) or "any source"
    return f"{protocol}{ports} from {source}"


def volume_retype(changes: ChangeSet) -> Iterator[Risk]:
    """A volume type change is a Cinder retype in place; the provider's default policy never moves data."""
    for change in changes.changes:
        if change.action is Action.UPDATE and disrupts(change) is Disruption.RETYPE:
            old, new = change.old_inputs or {}, change.new_inputs or {}
            yield Risk(
                Level.WARNING,
                "volume-retype",
                f"{short_type(change.type)} `{change.name}`",
                f"volume type {old.get('volumeType')} → {new.get('volumeType')}: retyped in place with "
                "volume_retype_policy never (terraform-provider-openstack v3.4.0), so Cinder refuses it "
                "when the new type lives on another backend and the update fails at this volume",
                (change.urn,),
            )


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
                f"{short_type(change.type)} {code(change.name)}",
                f"size {old.get('size')} → {new.get('size')} GB: Cinder cannot shrink a volume, "
                "the update will fail at this resource",
                (change.urn,),
            )


def subnet_move(changes: ChangeSet) -> Iterator[Risk]:
    """A subnet replaced or deleted under ports that exist: every address on it is renumbered.

    Neutron refuses to delete a subnet that still has ports (409 SubnetInUse), and a subnet is named,
    so the engine deletes it before its replacement: the update stops half-way. A service whose ports
    are all being created is new, and moving its subnet is fine.
    """
    for change in changes.changes:
        if change.type != SUBNET or change.action not in (Action.REPLACE, Action.DELETE):
            continue
        live = sorted(
            c.name
            for c in changes.changes
            if c.type == PORT and c.action is not Action.CREATE and change.urn in c.dependencies
        )
        if not live:
            continue
        what = "deleted" if change.action is Action.DELETE else describe_replace(change)
        shown = ", ".join(code(n) for n in live[:3]) + (f" (+{len(live) - 3} more)" if len(live) > 3 else "")
        yield Risk(
            Level.BLOCKING,
            "subnet-move",
            f"{short_type(change.type)} {code(change.name)}",
            f"{what} under {len(live)} live port{'s' if len(live) != 1 else ''} ({shown}): Neutron "
            "refuses to delete a subnet in use, and every address would change; pin the deployed subnet "
            "in the stack file (`subnets:`)",
            (change.urn, *(c.urn for c in changes.changes if c.name in live)),
        )


def rule_conflict(changes: ChangeSet) -> Iterator[Risk]:
    """A security-group rule replaced create-before-delete while Neutron's key for it stays the same.

    The replacement is created while the old rule still exists, and Neutron refuses it as a duplicate
    (409 SecurityGroupRuleExists): a description-only change fails ``pulumi up``. A rule has no name,
    so the bridge does not force delete-before-replace; the option must (webex_cloud.components.network
    sets it).
    """
    for change in changes.changes:
        if (
            change.type != SEC_GROUP_RULE
            or change.action is not Action.REPLACE
            or change.delete_before_replace
        ):
            continue
        old, new = change.old_inputs or {}, change.new_inputs or {}
        if not old or not new or any(old.get(k) != new.get(k) for k in NEUTRON_RULE_KEY):
            continue
        yield Risk(
            Level.BLOCKING,
            "conflict",
            f"{short_type(change.type)} {code(change.name)}",
            "replaced create-before-delete with the same direction, protocol, ports and source: Neutron "
            "refuses the new rule as a duplicate (409) and the update fails; set deleteBeforeReplace",
            (change.urn,),
        )


def unjudged(changes: ChangeSet) -> Iterator[Risk]:
    """A delete or replace of a type the tables above do not know: the report cannot call it safe."""
    for change in changes.changes:
        if change.action not in (Action.REPLACE, Action.DELETE):
            continue
        if change.type in JUDGED_TYPES or change.type.startswith(_JUDGED_PREFIXES) or change.protected:
            continue  # a protected resource is data loss already
        if change.action is Action.DELETE and change.retain_on_delete:
            continue
        what = "deleted" if change.action is Action.DELETE else describe_replace(change)
        yield Risk(
            Level.WARNING,
            "unknown-type",
            f"{short_type(change.type)} {code(change.name)}",
            f"{what}; this report does not know the type {code(change.type)} and cannot judge whether "
            "data or service is lost: check it by hand (a stateful type belongs in STATEFUL_TYPES, "
            "webex_cloud/preview/risks.py)",
            (change.urn,),
        )


def root_commands(changes: ChangeSet) -> Iterator[Risk]:
    """What the deploy runs as root on the controllers changes: the release files, the deploy profile
    (scheduler units, actions and paths from the stack file) or the rollout command itself.

    The rollout (webex_cloud/components/controller_rollout.py) copies its files with ``CopyToRemote``
    and runs the deploy script through ``sudo``: any create, update or replace of either is code and
    configuration that runs as root on both controllers, which reviewers must see as such.
    """
    wanted = (Action.CREATE, Action.UPDATE, Action.REPLACE)
    touched = [
        c for c in changes.changes if c.type in (REMOTE_COMMAND, COPY_TO_REMOTE) and c.action in wanted
    ]
    if not touched:
        return
    profile = sorted(code(c.name) for c in touched if c.name.endswith("-profile"))
    more = f" (+{len(touched) - 4} more)" if len(touched) > 4 else ""
    shown = ", ".join(code(c.name) for c in touched[:4]) + more
    detail = (
        f"; the deploy profile changes ({', '.join(profile)}): the scheduler units, actions and paths it "
        "names are run with sudo"
        if profile
        else ""
    )
    yield Risk(
        Level.WARNING,
        "root",
        "controllers",
        f"runs as root on the controllers: {shown}{detail}",
        tuple(c.urn for c in touched),
    )


def weakly_judged(changes: ChangeSet) -> Iterator[Risk]:
    """A release of serving pods whose waves nothing judges by what users feel: no Prometheus in the
    datacenter, or neither ``rollout.analysis`` metrics nor an HTTP health check (a TCP connect passes a
    service that fails its calls), so a bad release reaches every pod."""
    for release in released(changes):
        if release.unjudged:
            yield Risk(
                Level.WARNING,
                "release-judgement",
                f"service {code(release.service)}",
                release.unjudged,
                tuple(
                    sorted(
                        c.urn
                        for c in changes.changes
                        if (spec := gate_spec(c)) is not None and spec.service == release.service
                    )
                ),
            )


RULES = (
    unjudged,
    root_commands,
    data_loss,
    downtime,
    weakly_judged,
    controllers,
    subnet_move,
    rule_conflict,
    ingress,
    volume_retype,
    volume_shrink,
)


def rank(changes: ChangeSet, extra: Iterable[Risk] = ()) -> list[Risk]:
    """All risks (the rules', plus ``extra`` found elsewhere: policy verdicts, unpinned subnets),
    blocking first, then by kind and subject (a stable order for diffs of the report)."""
    found = [risk for rule in RULES for risk in rule(changes)] + list(extra)
    return sorted(found, key=lambda r: (-r.level, r.kind, r.subject))
