"""Diff two states of a stack (base plan or deployed checkpoint -> pull-request plan) into the change model.

Without the provider nobody can say for certain what will be replaced, so each changed input is looked
up in :mod:`webex_cloud.facts.provider` and a hit makes the change a *replace expected*. A replacement
gives the resource a new ID, so the resources that reference it through a ForceNew input are replaced
too; the plan's mock IDs are derived from URNs and never change, which is why that cascade is computed
from ``propertyDependencies`` rather than seen in the inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webex_cloud.change.model import UNKNOWN_SENTINEL, Action, Certainty, Change, ChangeSet, PropertyChange
from webex_cloud.facts.provider import IMAGE_REFERENCE, forces_replacement
from webex_cloud.facts.stand_ins import image_name, is_stand_in, lookup_of, stand_ins_in, substitute
from webex_cloud.plan.format import SEC_GROUP, SIG_KEY
from webex_cloud.preview.plans import Resource, Snapshot
from webex_cloud.preview.topology import merge, topology_from_snapshot

# Values the plan cannot know (outputs of other resources) or must not show: never a difference.
_OPAQUE = frozenset({"[unknown]", "[secret]", UNKNOWN_SENTINEL})
_MAX_DEPTH = 4
# Pulumi's asset and archive envelopes (sdk/go/common/resource/asset/asset.go, archive/archive.go: the
# special signature keys). The engine adds ``hash`` to every asset it registers (ComputeAssetHashes in
# pkg/resource/deploy/source_eval.go), the plan's mock never does: the hash says nothing the content
# (``text``/``path``/``uri``) does not, so it is dropped on both sides.
_ASSET_SIGS = frozenset({"c44067f5952c0a294b673a41bacd8c17", "0def7320c3a5731c473e5ecbe6d01bc7"})


def _normalise(value: Any, refs: Mapping[str, str]) -> Any:
    """Replace resource IDs by the URN they belong to, so a plan's mock IDs and a checkpoint's real IDs
    compare equal when they point at the same resource."""
    if isinstance(value, str):
        urn = refs.get(value)
        return f"<id of {urn}>" if urn else value
    if isinstance(value, Mapping):
        asset = value.get(SIG_KEY) in _ASSET_SIGS
        return {k: _normalise(v, refs) for k, v in value.items() if not (asset and k == "hash")}
    if isinstance(value, list):
        return [_normalise(v, refs) for v in value]
    return value


def _opaque(value: Any) -> bool:
    return isinstance(value, str) and value in _OPAQUE


def _unresolved(old: Any, new: Any) -> bool:
    """A stand-in nothing resolved, against a deployed value: not compared (webex_cloud/facts/stand_ins.py).
    Against another stand-in it is compared as it is (a changed query or pin), and where the old side has
    nothing it is an addition."""
    return old is not None and is_stand_in(new) and not is_stand_in(old)


def _leaves(
    path: str,
    old: Any,
    new: Any,
    depth: int,
    out: list[tuple[str, str, Any, Any]],
    old_only_keys_count: bool = True,
) -> None:
    """Collect (path, kind, old, new) for the smallest differing parts, a few levels deep.

    ``old_only_keys_count=False`` skips keys only the old side has, at every object level: a
    checkpoint holds the provider's defaults wherever the bridge's Check filled them in, nested
    objects included (pulumi-terraform-bridge v3.135.0 ``pkg/tfbridge/provider.go`` Check, "WITH the
    TF defaults", and ``schema.go`` MakeTerraformInputs at every level; e.g. an instance's
    ``networks[0].accessNetwork: false`` in pulumi/pulumi-openstack#891).
    """
    if old == new or _opaque(old) or _opaque(new) or _unresolved(old, new):
        return
    if depth < _MAX_DEPTH and isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = set(old) | set(new) if old_only_keys_count else set(new)
        for key in sorted(keys):
            _leaves(f"{path}.{key}", old.get(key), new.get(key), depth + 1, out, old_only_keys_count)
        return
    if depth < _MAX_DEPTH and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _leaves(f"{path}[{index}]", a, b, depth + 1, out, old_only_keys_count)
        return
    kind = "add" if old is None else "delete" if new is None else "update"
    out.append((path, kind, old, new))


def _same_image(
    resource_type: str, old: Mapping[str, Any], recorded: Mapping[str, Any], new: Mapping[str, Any]
) -> bool:
    """The new side names the image the old side boots (webex_cloud/facts/provider.py IMAGE_REFERENCE).

    By id: the id the old side set or the provider recorded. By name, or by a plan's stand-in id
    (webex_cloud/config/image_ids.py: the verified image of that name): the name the old side set or
    the provider recorded. Two stand-ins are the same only when they pin the same bytes.
    """
    pair = IMAGE_REFERENCE.get(resource_type)
    if pair is None:
        return False
    id_key, name_key = pair
    new_id, new_name = new.get(id_key), new.get(name_key)
    old_ids = {old.get(id_key), recorded.get(id_key)} - {None, ""}
    old_names = {old.get(name_key), recorded.get(name_key)} - {None, ""}
    if new_id is not None:
        stands_for = image_name(new_id)
        if new_id in old_ids or image_name(old.get(id_key)) is not None:
            return new_id in old_ids
        return stands_for is not None and stands_for in old_names
    return new_name is not None and new_name in old_names


def _property_changes(
    old: Resource,
    new: Resource,
    refs_old: Mapping[str, str],
    refs_new: Mapping[str, str],
    old_only_keys_count: bool,
    recorded: Mapping[str, Any],
    known: Mapping[str, Any],
) -> list[PropertyChange]:
    old_inputs = _normalise(old.inputs, refs_old)
    new_inputs = _normalise(substitute(new.inputs, known), refs_new)
    if _same_image(new.type, old_inputs, recorded, new_inputs):
        # Optional+Computed: whichever of the pair the program sets, the same image is no change.
        for key in IMAGE_REFERENCE[new.type]:
            old_inputs.pop(key, None)
            new_inputs.pop(key, None)
    keys = set(new_inputs) | (set(old_inputs) if old_only_keys_count else set())
    found: list[tuple[str, str, Any, Any]] = []
    for key in sorted(keys):
        _leaves(key, old_inputs.get(key), new_inputs.get(key), 0, found, old_only_keys_count)
    ignored = tuple(_ignore_pattern(path) for path in new.ignore_changes)
    found = [leaf for leaf in found if not any(pattern.match(leaf[0]) for pattern in ignored)]
    return [
        PropertyChange(
            path=path,
            kind=kind,
            old=a,
            new=b,
            forces_replace=forces_replacement(new.type, path, new.replace_on_changes),
        )
        for path, kind, a, b in found
    ]


def _ignore_pattern(path: str) -> re.Pattern[str]:
    """An ``ignoreChanges`` path as a prefix pattern over leaf paths; ``[*]`` matches any index."""
    body = re.escape(path).replace(r"\[\*\]", r"\[\d+\]")
    return re.compile(rf"{body}($|[.\[])")


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def diff_snapshots(
    old: Snapshot,
    new: Snapshot,
    *,
    old_only_keys_count: bool = True,
    resolved: Mapping[str, Any] | None = None,
) -> ChangeSet:
    """What applying ``new`` over ``old`` is expected to do.

    ``old_only_keys_count=False`` is for a checkpoint as the old side: the engine stores inputs after the
    provider filled in its defaults, which the program never sets, so inputs only the old side has are
    not reported as removed.

    The plan's stand-ins (webex_cloud/facts/stand_ins.py) are compared with what they stand for:
    ``resolved`` (a lookup the caller answered from the live cloud), else an image the old side's state
    records under that name; a stand-in neither gives is not compared with a deployed value.
    """
    known = {**_recorded_images(old, new), **(resolved or {})}
    refs_old = {r.id: r.urn for r in old.resources.values() if r.id}
    refs_new = {r.id: r.urn for r in new.resources.values() if r.id}
    # A resource the state holds under the id the program imports it by keeps that id, not the plan's
    # mock id: what names that id (an instance booting an adopted image) names the resource, on both
    # sides. (Not yet in the state, the id is compared as the plain value it is on both sides.)
    refs_new |= {
        r.import_id: r.urn
        for r in new.resources.values()
        if r.import_id and (held := old.resources.get(r.urn)) is not None and held.id == r.import_id
    }
    actions: dict[str, Action] = {}
    properties: dict[str, list[PropertyChange]] = {}
    reasons: dict[str, list[str]] = {}
    kept = 0
    for urn in sorted(set(old.resources) | set(new.resources)):
        before, after = old.resources.get(urn), new.resources.get(urn)
        if not any(r.custom for r in (before, after) if r is not None):
            continue  # components and the stack have no cloud counterpart
        if before is None:
            # The `import` option: the engine reads the object by that id instead of creating one.
            actions[urn] = Action.IMPORT if after is not None and after.import_id else Action.CREATE
        elif after is not None and after.import_id and before.id and after.import_id != before.id:
            # The engine imports when the goal's id is not the state's (pulumi/pulumi v3.259.0
            # pkg/resource/deploy/step_generator.go `isImport`): another object takes this one's place.
            actions[urn] = Action.REPLACE
            reasons[urn] = [f"importId (the state holds {before.id}, the program imports {after.import_id})"]
        elif after is None:
            actions[urn] = Action.DELETE
        else:
            changed = _property_changes(
                before, after, refs_old, refs_new, old_only_keys_count, old.outputs.get(urn, {}), known
            )
            if not changed:
                kept += 1
                continue
            properties[urn] = changed
            forcing = sorted({_top(p.path) for p in changed if p.forces_replace})
            actions[urn] = Action.REPLACE if forcing else Action.UPDATE
            reasons[urn] = forcing
    before_cascade = len(actions)
    _cascade(old, new, actions, reasons, properties)
    unchanged = kept - (len(actions) - before_cascade)
    changes = tuple(
        _change(urn, actions[urn], old, new, properties.get(urn, []), reasons.get(urn, []))
        for urn in sorted(actions)
    )
    unanswered = sorted(
        {
            lookup.describe()
            for value in stand_ins_in([r.inputs for r in new.resources.values()])
            if value not in known and (lookup := lookup_of(value)) is not None
        }
    )
    return ChangeSet(
        stack=new.stack,
        notes=(
            (
                f"the plan's lookups {', '.join(unanswered)} are answered at deploy time: the inputs they "
                "feed were not compared with the checkpoint (drift compares them with the live cloud)",
            )
            if unanswered and old.outputs
            else ()
        ),
        source="offline-diff",
        source_detail=(
            f"offline diff of {old.label} → {new.label}. No provider was asked: *replace expected* "
            "marks inputs the OpenStack provider declares ForceNew; only `pulumi preview` with "
            "credentials can confirm"
        ),
        changes=changes,
        unchanged=unchanged,
        reads=0,
        topology=merge(topology_from_snapshot(old), topology_from_snapshot(new)),
        security_groups={
            r.id: r.name
            for side in (old, new)
            for r in side.resources.values()
            if r.type == SEC_GROUP and r.id
        },
        graph={
            **{r.urn: r.dependencies for r in old.resources.values()},
            **{r.urn: r.dependencies for r in new.resources.values()},
        },
    )


def _recorded_images(old: Snapshot, new: Snapshot) -> dict[str, str]:
    """Each image stand-in of ``new`` -> the id the old side's state records for that image name, where
    every resource recording the name records one id (IMAGE_REFERENCE: the provider reads both from the
    server). A name recorded with two ids (re-uploaded, some servers not rebuilt) resolves to neither."""
    ids: dict[str, set[str]] = {}
    for urn, outputs in old.outputs.items():
        pair = IMAGE_REFERENCE.get(old.resources[urn].type) if urn in old.resources else None
        ident, name = (outputs.get(pair[0]), outputs.get(pair[1])) if pair else (None, None)
        if isinstance(ident, str) and isinstance(name, str):
            ids.setdefault(name, set()).add(ident)
    known = {}
    for resource in new.resources.values():
        for value in stand_ins_in(resource.inputs):
            name = image_name(value)
            if name is not None and len(ids.get(name, ())) == 1:
                known[value] = next(iter(ids[name]))
    return known


def delete_before_replace(resource: Resource) -> bool:
    """Will the engine delete this resource before creating its replacement?

    The option itself, or the bridge's rule for explicitly named resources: pulumi-openstack auto-names
    every resource whose string input is literally ``name`` (``SetAutonaming(255, "-")``; the bridge's
    ``pkg/tfbridge/info/autonaming.go`` at v3.135.0), and ``nameRequiresDeleteBeforeReplace``
    (``pkg/tfbridge/schema.go`` v3.135.0) returns true when such a field holds a value the autonamer
    did not fill in, which ``Diff`` turns into ``DeleteBeforeReplace`` (``provider.go`` v3.135.0:1276).
    Two objects with one name cannot exist at once, so the old one goes first.

    An option the program set wins either way: the engine takes the provider's ``DeleteBeforeReplace``
    only when the goal's is nil (pulumi/pulumi ``pkg/resource/deploy/step_generator.go``:
    ``deleteBeforeReplace := diff.DeleteBeforeReplace; if goal.DeleteBeforeReplace != nil {...}``), and
    the Python SDK sends ``deleteBeforeReplaceDefined`` for any value given, False included.
    """
    if resource.delete_before_replace_defined:
        return resource.delete_before_replace
    named = isinstance(resource.inputs.get("name"), str) and resource.type.startswith("openstack:")
    return resource.delete_before_replace or named


def _masked(resource: Resource, key: str) -> bool:
    """An ``ignoreChanges`` path inside ``key`` keeps the old value where the new ID would go."""
    return any(_top(path) == key for path in resource.ignore_changes)


def _cascade(
    old: Snapshot,
    new: Snapshot,
    actions: dict[str, Action],
    reasons: dict[str, list[str]],
    properties: dict[str, list[PropertyChange]],
) -> None:
    """A replaced resource gets a new ID: whatever holds that ID changes with it.

    Both plans give a resource the same mock ID (derived from its URN), so this is computed from
    ``propertyDependencies`` rather than seen in the inputs. A ForceNew input that holds the ID
    replaces the dependent. Any other input is updated in place (a port moved to its subnet's new
    ID), and made visible here, since the inputs alone show no change.

    When the replaced resource is deleted first, the engine replaces its dependents with it: it
    diffs each one with the whole dependent input unknown (pulumi/pulumi
    ``pkg/resource/deploy/step_generator.go``, ``calculateDependentReplacements``), which no nested
    ``ignoreChanges`` path can mask. A create-before-delete replacement only changes the ID, which
    such a path does keep (an instance's sibling-group hint).
    """
    changed = True
    while changed:
        changed = False
        for urn, resource in new.resources.items():
            if actions.get(urn) in (Action.CREATE, Action.REPLACE) or urn not in old.resources:
                continue
            for key, deps in sorted(resource.property_dependencies.items()):
                replaced = [d for d in deps if actions.get(d) == Action.REPLACE]
                if not replaced:
                    continue
                first = [
                    d for d in replaced if d in new.resources and delete_before_replace(new.resources[d])
                ]
                names = ", ".join(sorted({d.rsplit("::", 1)[-1] for d in replaced}))
                if forces_replacement(resource.type, key, resource.replace_on_changes) and (
                    first or not _masked(resource, key)
                ):
                    actions[urn] = Action.REPLACE
                    why = f"replaced {names} is deleted first" if first else f"new ID of replaced {names}"
                    reasons.setdefault(urn, []).append(f"{key} ({why})")
                    changed = True
                    break
                listed = properties.setdefault(urn, [])
                if any(p.path == key for p in listed) or _masked(resource, key):
                    continue
                listed.append(PropertyChange(path=key, kind="update", reason=f"new ID of replaced {names}"))
                if urn not in actions:
                    actions[urn] = Action.UPDATE
                    changed = True


def _change(
    urn: str,
    action: Action,
    old: Snapshot,
    new: Snapshot,
    properties: list[PropertyChange],
    reasons: list[str],
) -> Change:
    before, after = old.resources.get(urn), new.resources.get(urn)
    resource = after or before
    assert resource is not None  # every URN in actions comes from one side or the other
    return Change(
        urn=urn,
        type=resource.type,
        name=resource.name,
        action=action,
        certainty=Certainty.EXPECTED,
        properties=tuple(properties),
        replace_reasons=tuple(reasons),
        replace_on_changes=resource.replace_on_changes,
        old_inputs=before.inputs if before else None,
        new_inputs=after.inputs if after else None,
        protected=bool((before and before.protect) or (after and after.protect)),
        parent=resource.parent,
        dependencies=resource.dependencies,
        # The engine walks the old state's graph for delete-before-replace dependents.
        property_dependencies={k: tuple(v) for k, v in (before or resource).property_dependencies.items()},
        delete_before_replace=action is Action.REPLACE and delete_before_replace(resource),
        retain_on_delete=bool(before and before.retain_on_delete),
    )
