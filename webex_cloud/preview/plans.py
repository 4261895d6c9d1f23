"""Read an offline plan (docs/plan-format.md) into a snapshot the diff and the topology use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webex_cloud.plan.format import Plan, PlanError, parse_plan
from webex_cloud.preview.errors import PreviewInputError, read_json


@dataclass(frozen=True)
class Resource:
    """One resource of a desired (plan) or deployed (checkpoint) state, as the diff compares them."""

    urn: str
    type: str
    name: str
    id: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    property_dependencies: dict[str, list[str]]
    protect: bool
    replace_on_changes: frozenset[str]
    dependencies: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    """The ``ignoreChanges`` option: input paths the engine keeps from the old state."""
    delete_before_replace: bool = False
    """The ``deleteBeforeReplace`` option as the program set it."""
    delete_before_replace_defined: bool = False
    """The program set the option at all (an explicit False overrides the bridge's default)."""
    retain_on_delete: bool = False
    import_id: str = ""
    """The plan's ``import`` option (a checkpoint's resources are in the state already: empty)."""


@dataclass(frozen=True)
class PodShape:
    name: str
    server_group: str
    instances: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """A whole state of one stack: the resources, and the service layout when it came from a plan."""

    stack: str
    project: str
    label: str
    """How the report names this side (``base plan build/base/dc1.json``, ``checkpoint of ...``)."""
    resources: dict[str, Resource]
    pods: dict[str, tuple[PodShape, ...]]
    volume_groups: dict[str, dict[str, tuple[str, ...]]]
    controllers: tuple[tuple[str, str], ...]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URN -> what the provider recorded (a deployed checkpoint only): a Computed input the program
    sets is compared with this, not with the old input (webex_cloud/preview/offline.py)."""


def snapshot_from_plan(document: Any, *, source: str) -> Snapshot:
    """Validate a plan document; ``source`` names it in errors and in the report."""
    try:
        plan = parse_plan(document, source=source)
    except PlanError as error:
        raise PreviewInputError(error.source, error.message) from None
    return snapshot_of(plan, source=source)


def snapshot_of(plan: Plan, *, source: str) -> Snapshot:
    """The snapshot of a validated plan."""
    resources = {
        item.urn: Resource(
            urn=item.urn,
            type=item.type,
            name=item.name,
            id=item.id,
            custom=item.custom,
            parent=item.parent,
            inputs=item.inputs,
            property_dependencies=item.property_dependencies,
            protect=item.protect,
            replace_on_changes=frozenset(item.replace_on_changes),
            dependencies=tuple(item.dependencies),
            ignore_changes=tuple(item.ignore_changes),
            delete_before_replace=item.delete_before_replace,
            delete_before_replace_defined=item.delete_before_replace_defined,
            retain_on_delete=item.retain_on_delete,
            import_id=item.import_id,
        )
        for item in plan.resources
    }
    controllers = plan.datacenter.controllers.hosts if plan.datacenter.controllers else []
    return Snapshot(
        stack=plan.stack,
        project=plan.project,
        label=f"plan `{source}`",
        resources=resources,
        pods={
            name: tuple(PodShape(p.name, p.server_group, tuple(p.instances)) for p in service.pods)
            for name, service in plan.services.items()
        },
        volume_groups={
            name: {g.name: tuple(g.replicas) for g in service.volume_groups}
            for name, service in plan.services.items()
        },
        controllers=tuple((c.name, c.address) for c in controllers),
    )


def load_snapshot(path: Path) -> Snapshot:
    """Read a plan file written by ``python -m webex_cloud plan`` into a snapshot."""
    source = _shown(path)
    # Decoded and parsed here first: a UTF-16 or Latin-1 file, or one nested too deeply, is named as
    # such (webex_cloud.preview.errors) before the plan format validates the document.
    document = read_json(path, hint=" (render it with `python -m webex_cloud plan --stack ...`)")
    try:
        plan = parse_plan(document, source=source)
    except PlanError as error:
        raise PreviewInputError(error.source, error.message) from None
    return snapshot_of(plan, source=source)


def _shown(path: Path) -> str:
    """The path as the reader typed it, or relative to the working folder when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
