"""Read an offline plan (docs/plan-format.md) into a snapshot the diff and the topology use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webex_cloud.preview.errors import PreviewInputError, from_validation, read_json

PLAN_FORMAT = "webex-cloud.plan/v1"


class _PlanResource(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    urn: str = Field(min_length=1)
    id: str = ""
    type: str
    name: str
    custom: bool
    parent: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict, alias="propertyDependencies")
    dependencies: list[str] = Field(default_factory=list)
    protect: bool = False
    replace_on_changes: list[str] = Field(default_factory=list, alias="replaceOnChanges")
    ignore_changes: list[str] = Field(default_factory=list, alias="ignoreChanges")
    delete_before_replace: bool = Field(default=False, alias="deleteBeforeReplace")


class _PlanPod(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    server_group: str
    instances: list[str]


class _PlanVolumeGroup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    replicas: list[str]


class _PlanService(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pods: list[_PlanPod] = Field(default_factory=list)
    volume_groups: list[_PlanVolumeGroup] = Field(default_factory=list)


class _PlanController(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    address: str


class _PlanControllers(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hosts: list[_PlanController] = Field(default_factory=list)


class _PlanDatacenter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    controllers: _PlanControllers | None = None


class _Plan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: str
    project: str
    stack: str
    datacenter: _PlanDatacenter
    services: dict[str, _PlanService]
    resources: list[_PlanResource]


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
    retain_on_delete: bool = False


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


def snapshot_from_plan(document: Any, *, source: str) -> Snapshot:
    """Validate a plan document; ``source`` names it in errors and in the report."""
    try:
        plan = _Plan.model_validate(document)
    except ValidationError as error:
        raise from_validation(source, error) from None
    if plan.format != PLAN_FORMAT:
        raise PreviewInputError(source, f"format is {plan.format!r}, expected {PLAN_FORMAT!r}")
    resources: dict[str, Resource] = {}
    for item in plan.resources:
        if item.urn in resources:
            raise PreviewInputError(source, f"resource {item.urn} appears twice")
        resources[item.urn] = Resource(
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
        )
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


def load_plan(path: Path) -> Snapshot:
    """Read a plan file written by ``python -m webex_cloud plan``."""
    document = read_json(path, hint=" (render it with `python -m webex_cloud plan --stack ...`)")
    return snapshot_from_plan(document, source=_shown(path))


def _shown(path: Path) -> str:
    """The path as the reader typed it, or relative to the working folder when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
