"""Run the real Pulumi program under the SDK's mock engine and capture every registration.

Nothing here changes what the program does: it is executed from ``__main__.py`` with the stack's
own config, exactly as the Pulumi language host would run it, and only the engine side (the
resource monitor) is replaced by a recorder.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, settings
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.image_ids import ENVIRONMENT as IMAGE_IDS
from webex_cloud.config.image_ids import plan_setting
from webex_cloud.config.loader import read_stack_config, stack_file
from webex_cloud.facts.stand_ins import lookup_stand_in
from webex_cloud.paths import PROJECT
from webex_cloud.plan.format import PLAN_SECRET, STACK, clean_wire_value

_ID_NAMESPACE = uuid.UUID("5d3c1f1e-6f0a-4b8e-9f1e-7e0b9a3c2d10")


@dataclass
class Registration:
    """One RegisterResourceRequest as the engine received it, plus the URN and ID it was given."""

    urn: str
    id: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    delete_before_replace: bool
    delete_before_replace_defined: bool
    """The program set the option (True or False): the engine then uses it over the provider's choice."""
    ignore_changes: list[str]
    replace_on_changes: list[str]
    import_id: str = ""
    """The ``import`` option: the id of an existing cloud object the engine adopts instead of creating."""
    retain_on_delete: bool = False

    def to_json(self) -> dict[str, Any]:
        implicit = {urn for urns in self.property_dependencies.values() for urn in urns}
        return {
            "urn": self.urn,
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "inputs": self.inputs,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
            "dependsOn": sorted(set(self.dependencies) - implicit),
            "protect": self.protect,
            "deleteBeforeReplace": self.delete_before_replace,
            "deleteBeforeReplaceDefined": self.delete_before_replace_defined,
            "ignoreChanges": self.ignore_changes,
            "replaceOnChanges": self.replace_on_changes,
            "importId": self.import_id,
            "retainOnDelete": self.retain_on_delete,
        }


class PlanMocks(pulumi.runtime.Mocks):
    """Deterministic IDs derived from the URN, no state of their own, lookups answered by a stand-in
    (webex_cloud/facts/stand_ins.py).

    No state: outside a preview the SDK gives every output the engine leaves out the value of the input
    it sent (pulumi 3.272.0 sdk/python/lib/pulumi/runtime/rpc.py ``resolve_outputs``, "input prop the
    engine didn't give us a final value for"), so each output is its input, as when the inputs were
    echoed back, without the mock serialising them into a reply that the SDK deserialises again (a
    tenth of the plan's time, for nothing the plan records)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{args.typ}::{args.name}")), {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # A lookup (the external or management network by name) is resolved by the engine at deploy
        # time: the plan holds a stand-in naming the query, which no diff takes for a deployed ID.
        return {"id": lookup_stand_in(args.token, args.args), **args.args}, []


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's MockMonitor, keeping the full request of every registration."""

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.registrations: list[Registration] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine qualifies a child's type with its parent's *whole* type chain; the SDK's mock
        # keeps only the last link. Plans must carry the URNs a real deployment has, so that they
        # can be compared with the state of a stack deployed by the Pulumi CLI. Like the engine,
        # children of the root stack get no prefix.
        parent_type = parent.split("::")[2] if parent else STACK
        if parent_type != STACK:
            type_ = parent_type + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == STACK:
            return response
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        self.registrations.append(
            Registration(
                urn=response.urn,
                id=response.id,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                inputs=clean_wire_value(raw),
                dependencies=sorted(set(request.dependencies)),
                property_dependencies={
                    key: sorted(set(deps.urns))
                    for key, deps in sorted(request.propertyDependencies.items())
                    if deps.urns
                },
                protect=bool(request.protect),
                delete_before_replace=bool(request.deleteBeforeReplace),
                delete_before_replace_defined=bool(request.deleteBeforeReplaceDefined),
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                import_id=request.importId,
                retain_on_delete=bool(request.retainOnDelete),
            )
        )
        return response


def _engine_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine passes it: every value a string, objects as JSON."""
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in read_stack_config(project_dir, stack).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted with the stack's secrets provider: the plan never needs (or sees) the value.
            values[key] = PLAN_SECRET
            secrets.append(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return values, secrets


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


@contextlib.contextmanager
def _without_stack_traces() -> Iterator[None]:
    """For each registration the SDK walks the whole Python stack and turns every frame into a file URI,
    to tell the engine which line made the resource (pulumi 3.272.0 sdk/python/lib/pulumi/runtime/
    resource.py ``_get_stack_trace``, the request's ``sourcePosition`` and ``stackTrace``): a sixth of a
    plan's time, growing with the depth of the components. The mock engine reads neither field (mocks.py
    ``MockMonitor.RegisterResource``) and the plan records neither (:class:`Registration`), so under
    the mocks the SDK is handed an empty trace; a real ``pulumi preview`` or ``up`` never runs here."""
    saved = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = saved


def run_under_mocks(
    program: Callable[[], None], stack: str, config: dict[str, str], secret_keys: list[str]
) -> list[Registration]:
    """Run ``program`` as a Pulumi program of ``stack`` under the recording mock engine."""
    monitor = RecordingMonitor(PlanMocks())
    settings.ROOT.set(None)  # each render is a fresh stack, also when several run in one process
    mocks.set_mocks(PlanMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    set_all_config(config, secret_keys)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    with _without_stack_traces():
        _sync_await(run_pulumi_func(program))
    return monitor.registrations


@contextlib.contextmanager
def _without_engine_environment(stack: str) -> Iterator[None]:
    """The offline plan renders the stack file's config alone: a ``PULUMI_CONFIG`` (or
    ``PULUMI_CONFIG_<KEY>``) left in the shell must neither change the plan nor break it.

    Image ids are stand-ins of the catalog's pins unless the stack's own verification record is named (the
    deploy renders the plan drift compares with the verified ids; webex_cloud/config/image_ids.py)."""
    saved = {key: value for key, value in os.environ.items() if key.startswith("PULUMI_CONFIG")}
    for key in saved:
        del os.environ[key]
    saved_ids = os.environ.get(IMAGE_IDS)
    os.environ[IMAGE_IDS] = plan_setting(stack)
    try:
        yield
    finally:
        if saved_ids is None:
            del os.environ[IMAGE_IDS]
        else:
            os.environ[IMAGE_IDS] = saved_ids
        os.environ.update(saved)


def run_program(project_dir: Path, stack: str) -> list[Registration]:
    """Run ``project_dir/__main__.py`` for ``stack`` under mocks, as the language host would.

    Raises CatalogError for invalid input (the program's own RunError carries the same text).
    """
    config, secret_keys = _engine_config(project_dir, stack)
    main = str(project_dir / "__main__.py")
    try:
        with _without_engine_environment(stack):
            return run_under_mocks(lambda: _run_path(main), stack, config, secret_keys)
    except pulumi.RunError as error:
        raise CatalogError([Problem(stack_file(stack), "", str(error))]) from None


def _run_path(path: str) -> None:
    runpy.run_path(path, run_name="__main__")
