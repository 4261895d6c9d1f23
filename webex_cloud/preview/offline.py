"""Diff two states of a stack (base plan or deployed checkpoint -> pull-request plan) into the change model.

Without the provider nobody can say for certain what will be replaced, so each changed input is looked
up in :mod:`webex_cloud.preview.forcenew` and a hit makes the change a *replace expected*. A replacement
gives the resource a new ID, so the resources that reference it through a ForceNew input are replaced
too; the plan's mock IDs are derived from URNs and never change, which is why that cascade is computed
from ``propertyDependencies`` rather than seen in the inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webex_cloud.preview.forcenew import forces_replacement
from webex_cloud.preview.model import Action, Certainty, Change, ChangeSet, PropertyChange
from webex_cloud.preview.plans import Resource, Snapshot
from webex_cloud.preview.topology import merge, topology_from_snapshot

# Values the plan cannot know (outputs of other resources) or must not show: never a difference.
_OPAQUE = frozenset({"[unknown]", "[secret]"})
_MAX_DEPTH = 4


def _normalise(value: Any, refs: Mapping[str, str]) -> Any:
    """Replace resource IDs by the URN they belong to, so a plan's mock IDs and a checkpoint's real IDs
    compare equal when they point at the same resource."""
    if isinstance(value, str):
        urn = refs.get(value)
        return f"<id of {urn}>" if urn else value
    if isinstance(value, Mapping):
        return {k: _normalise(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, refs) for v in value]
    return value


def _opaque(value: Any) -> bool:
    return isinstance(value, str) and value in _OPAQUE


def _leaves(path: str, old: Any, new: Any, depth: int, out: list[tuple[str, str, Any, Any]]) -> None:
    """Collect (path, kind, old, new) for the smallest differing parts, a few levels deep."""
    if old == new or _opaque(old) or _opaque(new):
        return
    if depth < _MAX_DEPTH and isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            _leaves(f"{path}.{key}", old.get(key), new.get(key), depth + 1, out)
        return
    if depth < _MAX_DEPTH and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _leaves(f"{path}[{index}]", a, b, depth + 1, out)
        return
    kind = "add" if old is None else "delete" if new is None else "update"
    out.append((path, kind, old, new))


def _property_changes(
    old: Resource,
    new: Resource,
    refs_old: Mapping[str, str],
    refs_new: Mapping[str, str],
    old_only_keys_count: bool,
) -> list[PropertyChange]:
    old_inputs = _normalise(old.inputs, refs_old)
    new_inputs = _normalise(new.inputs, refs_new)
    keys = set(new_inputs) | (set(old_inputs) if old_only_keys_count else set())
    found: list[tuple[str, str, Any, Any]] = []
    for key in sorted(keys):
        _leaves(key, old_inputs.get(key), new_inputs.get(key), 0, found)
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


def diff_snapshots(old: Snapshot, new: Snapshot, *, old_only_keys_count: bool = True) -> ChangeSet:
    """What applying ``new`` over ``old`` is expected to do.

    ``old_only_keys_count=False`` is for a checkpoint as the old side: the engine stores inputs after the
    provider filled in its defaults, which the program never sets, so inputs only the old side has are
    not reported as removed.
    """
    refs_old = {r.id: r.urn for r in old.resources.values() if r.id}
    refs_new = {r.id: r.urn for r in new.resources.values() if r.id}
    actions: dict[str, Action] = {}
    properties: dict[str, list[PropertyChange]] = {}
    reasons: dict[str, list[str]] = {}
    unchanged = 0
    for urn in sorted(set(old.resources) | set(new.resources)):
        before, after = old.resources.get(urn), new.resources.get(urn)
        if not any(r.custom for r in (before, after) if r is not None):
            continue  # components and the stack have no cloud counterpart
        if before is None:
            actions[urn] = Action.CREATE
        elif after is None:
            actions[urn] = Action.DELETE
        else:
            changed = _property_changes(before, after, refs_old, refs_new, old_only_keys_count)
            if not changed:
                unchanged += 1
                continue
            properties[urn] = changed
            forcing = sorted({_top(p.path) for p in changed if p.forces_replace})
            actions[urn] = Action.REPLACE if forcing else Action.UPDATE
            reasons[urn] = forcing
    _cascade(new, actions, reasons)
    changes = tuple(
        _change(urn, actions[urn], old, new, properties.get(urn, []), reasons.get(urn, []))
        for urn in sorted(actions)
    )
    return ChangeSet(
        stack=new.stack,
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
        graph={
            **{r.urn: r.dependencies for r in old.resources.values()},
            **{r.urn: r.dependencies for r in new.resources.values()},
        },
    )


def _cascade(new: Snapshot, actions: dict[str, Action], reasons: dict[str, list[str]]) -> None:
    """A replaced resource gets a new ID: whatever holds that ID in a ForceNew input is replaced too."""
    changed = True
    while changed:
        changed = False
        for urn, resource in new.resources.items():
            if actions.get(urn) in (Action.CREATE, Action.REPLACE):
                continue
            for key, deps in sorted(resource.property_dependencies.items()):
                replaced = [d for d in deps if actions.get(d) == Action.REPLACE]
                if replaced and forces_replacement(resource.type, key, resource.replace_on_changes):
                    actions[urn] = Action.REPLACE
                    names = ", ".join(sorted({d.rsplit("::", 1)[-1] for d in replaced}))
                    reasons.setdefault(urn, []).append(f"{key} (new ID of replaced {names})")
                    changed = True
                    break


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
        old_inputs=before.inputs if before else None,
        new_inputs=after.inputs if after else None,
        protected=bool((before and before.protect) or (after and after.protect)),
        parent=resource.parent,
        dependencies=resource.dependencies,
    )
