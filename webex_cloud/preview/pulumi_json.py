"""Read a real ``pulumi preview --json`` output into the change model.

The document is Pulumi's preview digest (``pkg/display/json.go``): ``{"steps": [...], "changeSummary":
{...}, "diagnostics": [...], ...}``. Each step has ``op``, ``urn``, optional ``oldState``/``newState``
(each with ``type``, ``inputs``, ``parent``, ``protect``...), ``diffReasons``, ``replaceReasons`` and
``detailedDiff`` (``{path: {"kind": "update-replace", "inputDiff": bool}}``, null for many replaces).
A replacement may appear as one ``replace`` step or as ``create-replacement``/``replace``/``delete-replaced``
steps for the same URN, depending on the CLI version; both collapse into one REPLACE change here.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webex_cloud.change.model import (
    Action,
    Certainty,
    Change,
    ChangeSet,
    PropertyChange,
    Topology,
    is_urn,
    urn_name,
    urn_stack,
    urn_type,
)
from webex_cloud.input_files import MAX_DOCUMENT_BYTES, InputFileError, read_bounded
from webex_cloud.plan.format import SEC_GROUP
from webex_cloud.preview.errors import PreviewInputError, decode_text, from_validation
from webex_cloud.preview.topology import StateRecord, build_topology

#: Every step op the CLI emits (pulumi.automation.OpType), mapped to what it does to the resource.
#: None: nothing changes in the cloud (counted as unchanged); "read": only a read (counted as a read).
_OPS: dict[str, Action | str | None] = {
    "same": None,
    "remove-pending-replace": None,
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "delete": Action.DELETE,
    "replace": Action.REPLACE,
    "create-replacement": Action.REPLACE,
    "delete-replaced": Action.REPLACE,
    "import-replacement": Action.REPLACE,
    "import": Action.IMPORT,
    "read": "read",
    "read-replacement": "read",
    "refresh": "read",
    "discard": "read",
    "discard-replaced": "read",
}
# Pulumi's colour directives (``<{%reset%}>``, sdk/go/common/diag/colors) and ANSI escapes.
_COLOUR = re.compile(r"<\{%[^%]*%\}>|\x1b\[[0-9;]*m")
# When one URN has several steps, the strongest action wins (a replacement's three steps -> REPLACE).
_STRENGTH = {Action.REPLACE: 4, Action.DELETE: 3, Action.CREATE: 2, Action.UPDATE: 1, Action.IMPORT: 0}


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str = ""
    id: str = ""
    inputs: dict[str, Any] | None = None
    parent: str = ""
    protect: bool = False
    retain_on_delete: bool = Field(default=False, alias="retainOnDelete")
    dependencies: list[str] = Field(default_factory=list)
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict, alias="propertyDependencies")
    # apitype.ResourceV3's `replaceOnChanges` (sdk/go/common/apitype/core.go, the step's newState):
    # the engine adds these keys to replaceReasons itself, so they are the program's reason, not the
    # provider's (step_generator.go applyReplaceOnChanges; both read at the snapshot topping 3.259.0).
    replace_on_changes: list[str] = Field(default_factory=list, alias="replaceOnChanges")


class _DiffEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: str
    input_diff: bool = Field(default=False, alias="inputDiff")


class _Step(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    op: str
    urn: str = Field(min_length=1)
    old_state: _State | None = Field(default=None, alias="oldState")
    new_state: _State | None = Field(default=None, alias="newState")
    diff_reasons: list[str] | None = Field(default=None, alias="diffReasons")
    replace_reasons: list[str] | None = Field(default=None, alias="replaceReasons")
    detailed_diff: dict[str, _DiffEntry] | None = Field(default=None, alias="detailedDiff")


class _Diagnostic(BaseModel):
    """``display.PreviewDiagnostic`` (pulumi/pulumi ``pkg/display/json.go``): urn, message, severity."""

    model_config = ConfigDict(extra="ignore")

    urn: str = ""
    message: str = ""
    severity: str = ""


class _Preview(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    steps: list[_Step] = Field(default_factory=list)
    change_summary: dict[str, int] | None = Field(default=None, alias="changeSummary")
    diagnostics: list[_Diagnostic] = Field(default_factory=list)


def _properties(step: _Step) -> tuple[PropertyChange, ...]:
    if step.detailed_diff:
        out = []
        for path, entry in sorted(step.detailed_diff.items()):
            kind, _, replace = entry.kind.partition("-")
            out.append(PropertyChange(path=path, kind=kind, forces_replace=replace == "replace"))
        return tuple(out)
    # No detailed diff (common for replaces): the top-level keys are all the CLI tells.
    replaced = set(step.replace_reasons or ())
    return tuple(
        PropertyChange(path=key, kind="update", forces_replace=key in replaced)
        for key in sorted(set(step.diff_reasons or ()) | replaced)
    )


def _change(step: _Step, action: Action, deleted_first: bool = False) -> Change:
    old, new = step.old_state, step.new_state
    return Change(
        urn=step.urn,
        type=(new.type if new and new.type else old.type if old and old.type else urn_type(step.urn)),
        name=urn_name(step.urn),
        action=action,
        certainty=Certainty.PROVIDER,
        properties=_properties(step),
        replace_reasons=tuple(step.replace_reasons or ()),
        old_inputs=old.inputs if old else None,
        new_inputs=new.inputs if new else None,
        protected=bool((old and old.protect) or (new and new.protect)),
        parent=(new.parent if new and new.parent else old.parent if old else ""),
        dependencies=tuple(new.dependencies if new else old.dependencies if old else ()),
        property_dependencies={
            k: tuple(v)
            for k, v in (
                old.property_dependencies if old else new.property_dependencies if new else {}
            ).items()
        },
        retain_on_delete=bool(old and old.retain_on_delete),
        delete_before_replace=action is Action.REPLACE and deleted_first,
        replace_on_changes=frozenset(new.replace_on_changes if new else ()),
    )


#: The ops of a replacement's halves: which one comes first tells the order the engine chose.
_REPLACEMENT_OPS = ("delete-replaced", "create-replacement", "replace")


def deleted_first(steps: list[_Step]) -> set[str]:
    """URNs the engine deletes before creating their replacement, read from the order of their steps.

    The preview's JSON carries no ``deleteBeforeReplace`` field (``PreviewStep`` in pulumi/pulumi
    ``pkg/display/json.go``; ``apitype.ResourceV3`` has none either), but the steps come in the
    engine's order, and ``step_generator.go`` (pulumi/pulumi, read at the stored snapshot whose
    CHANGELOG tops at 3.259.0; the SDK pins 3.272.0) emits a
    delete-before-replace as ``delete-replaced`` steps first (the dependents it condemns, in
    reverse dependency order, then the resource), then ``replace`` and ``create-replacement``;
    a create-before-delete as ``create-replacement`` and ``replace``, its ``delete-replaced`` only
    after every create and update. So a URN whose first replacement step is ``delete-replaced`` is
    deleted first, whether by its own option, the provider's choice or as a dependent of one, as
    the mock-engine plan marks it (``preview/offline.py`` ``delete_before_replace``, with the
    release model's cascade). A CLI that prints one ``replace`` step per replacement tells nothing:
    such a change stays create-first.
    """
    first: dict[str, str] = {}
    for step in steps:
        if step.op in _REPLACEMENT_OPS:
            first.setdefault(step.urn, step.op)
    return {urn for urn, op in first.items() if op == "delete-replaced"}


def parse_preview(document: Any, *, source: str, stack: str, topology: Topology | None = None) -> ChangeSet:
    """Turn a parsed preview document into a ChangeSet; ``source`` names the file in errors and the report.

    ``topology`` (from the stack's offline plan) places resources in services and pods and names the
    controllers; without it, both are inferred from the steps' parent chain and instance metadata.
    """
    try:
        preview = _Preview.model_validate(document)
    except ValidationError as error:
        raise from_validation(source, error) from None
    return _change_set(preview, source=source, stack=stack, topology=topology)


def _change_set(preview: _Preview, *, source: str, stack: str, topology: Topology | None) -> ChangeSet:
    if not preview.steps and not preview.diagnostics and preview.change_summary is None:
        # Every key of the digest is omitempty (pkg/display/json.go), but a preview always has a step
        # (the stack), a diagnostic or a summary.
        raise PreviewInputError(
            source, "no steps, diagnostics or changeSummary: not the output of `pulumi preview --json`"
        )
    bad = [f"steps[{i}].urn {s.urn!r}" for i, s in enumerate(preview.steps) if not is_urn(s.urn)]
    if bad:
        raise PreviewInputError(
            source,
            f"{', '.join(bad[:3])}: not a URN (urn:pulumi:<stack>::<project>::<type>::<name>); "
            "the file is not a `pulumi preview --json` output",
        )
    others = sorted({urn_stack(s.urn) for s in preview.steps} - {stack})
    if others:
        raise PreviewInputError(
            source,
            f"holds steps of stack(s) {', '.join(map(repr, others))}, not {stack!r}: this is another stack's "
            f"preview; run `pulumi preview --stack {stack} --json`, or pass --stack {others[0]}",
        )
    unknown = sorted({s.op for s in preview.steps if s.op not in _OPS})
    if unknown:
        raise PreviewInputError(
            source, f"unknown step op(s) {', '.join(map(repr, unknown))}; known: {', '.join(_OPS)}"
        )
    chosen: dict[str, tuple[Action, _Step]] = {}
    order: list[str] = []
    unchanged: set[str] = set()
    reads: set[str] = set()
    for step in preview.steps:
        effect = _OPS[step.op]
        if effect is None:
            unchanged.add(step.urn)
        elif effect == "read":
            reads.add(step.urn)
        elif isinstance(effect, Action):
            previous = chosen.get(step.urn)
            if previous is None:
                order.append(step.urn)
            # The ``replace`` step carries the diff; the create-/delete- halves carry less, so keep it.
            if previous is None or _STRENGTH[effect] > _STRENGTH[previous[0]] or step.op == "replace":
                chosen[step.urn] = (effect, step)
    _check_summary(preview, chosen, source)
    first_deleted = deleted_first(preview.steps)
    changes = tuple(
        _change(step, action, step.urn in first_deleted) for action, step in (chosen[urn] for urn in order)
    )
    same_steps = len(unchanged - chosen.keys())
    summarised = int((preview.change_summary or {}).get("same", 0))
    notes: list[str] = []
    if summarised > same_steps:
        notes.append(
            "the preview was run without --show-sames: pods and services are known only from the "
            "plan, or else from the changed resources"
        )
    return ChangeSet(
        stack=stack,
        source="pulumi-preview",
        source_detail=f"`pulumi preview --json` output `{source}`: the provider decided every replace",
        changes=changes,
        # Without --show-sames the steps omit unchanged resources; the changeSummary still counts them.
        unchanged=max(same_steps, summarised),
        reads=len(reads - chosen.keys()),
        topology=topology or build_topology(preview_states(preview), source="the preview's own steps"),
        notes=tuple(notes),
        errors=tuple(diagnostic_line(d.urn, d.message) for d in preview.diagnostics if d.severity == "error"),
        security_groups={
            state.id: urn_name(step.urn)
            for step in preview.steps
            for state in (step.old_state, step.new_state)
            if state is not None and state.type == SEC_GROUP and state.id
        },
        # Same steps too (with --show-sames): an unchanged resource still orders what depends on it.
        graph={
            step.urn: tuple(state.dependencies)
            for step in preview.steps
            if (state := step.new_state or step.old_state) is not None
        },
    )


#: The changeSummary keys that count one resource each, and the action the steps show for it.
_SUMMARISED = {
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "delete": Action.DELETE,
    "replace": Action.REPLACE,
}


def _check_summary(preview: _Preview, chosen: dict[str, tuple[Action, _Step]], source: str) -> None:
    """The engine counts the same steps it prints (pkg/backend/display/json.go, ``changeSummary`` from
    the summary event's resource changes): a summary that disagrees with the steps is a file that was
    cut, edited or assembled, and no verdict can be read from it."""
    if preview.change_summary is None:
        return
    counted = {
        key: sum(1 for action, _ in chosen.values() if action is want) for key, want in _SUMMARISED.items()
    }
    wrong = [
        f"{key}: {preview.change_summary.get(key, 0)} in changeSummary, {counted[key]} in the steps"
        for key in _SUMMARISED
        if int(preview.change_summary.get(key, 0)) != counted[key]
    ]
    if wrong:
        raise PreviewInputError(
            source,
            f"changeSummary contradicts the steps ({'; '.join(wrong)}): the file is inconsistent; use the "
            "unedited output of `pulumi preview --json`",
        )


def diagnostic_line(urn: str, message: str) -> str:
    """An engine error as one readable line: the resource's name, then the message without colour codes."""
    plain = _COLOUR.sub("", message).strip()
    return f"{urn_name(urn)}: {plain}" if urn else plain


def preview_states(preview: _Preview) -> list[StateRecord]:
    """Every step's resource as the topology needs it (the newest state when a step has two)."""
    out = []
    for step in preview.steps:
        state = step.new_state or step.old_state
        if state is None:
            out.append(StateRecord(step.urn, urn_type(step.urn), "", {}))
        else:
            out.append(
                StateRecord(
                    step.urn,
                    state.type or urn_type(step.urn),
                    state.parent,
                    state.inputs or {},
                    state.property_dependencies,
                )
            )
    return out


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large preview is turned into objects.

    A 10,000-step preview is millions of dicts and lists, none of them in reference cycles; the
    collector, triggered by the allocations, would rescan them all again and again (it made up half of
    the report's time). Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_preview(path: Path, *, stack: str, topology: Topology | None = None) -> ChangeSet:
    """Read ``path`` (the JSON the CLI printed) into a ChangeSet; bad files raise PreviewInputError."""
    try:
        raw = read_bounded(path, MAX_DOCUMENT_BYTES)
    except InputFileError as error:
        raise PreviewInputError(str(path), f"the file {error}") from None
    except OSError as error:
        raise PreviewInputError(str(path), f"cannot read: {error.strerror or error}") from None
    text = decode_text(raw, str(path))
    with _no_cycle_collection():
        # Parsing and validating in one pass never builds the objects of the keys the report ignores
        # (outputs, stack traces: most of the bytes).
        try:
            preview = _Preview.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            if first["type"] == "json_invalid":
                raise PreviewInputError(
                    str(path), f"not JSON ({first['msg']}); was `pulumi preview` run with --json?"
                ) from None
            raise from_validation(str(path), error) from None
        return _change_set(preview, source=str(path), stack=stack, topology=topology)
