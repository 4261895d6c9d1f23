"""Plan resources -> the Analyzer protocol messages the Pulumi engine sends for them.

The engine (pulumi/pkg/resource/deploy/step_generator.go) calls ``Analyze`` once per registered
resource with its checked *inputs*, its options and its provider (type, name, URN and the
provider's inputs), and ``AnalyzeStack`` once with every resource's *outputs*, parent,
dependencies and property dependencies. Values travel as a protobuf Struct in which secrets are
``{<sig>: <secret sig>, "value": ...}`` objects and unknowns are sentinel strings
(sdk/go/common/resource/plugin/rpc.go); this module writes the plan in that form.

The plan was rendered under mocks, so it has no unknowns and no outputs. Outputs are taken as the
inputs plus ``id`` (what a Terraform-bridged provider like pulumi-openstack returns), and
:class:`Unknowns` turns chosen inputs back into unknowns to show what a first preview sees.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from webex_cloud.plan.format import (
    PLAN_SECRET,
    PLAN_UNKNOWN,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN_STRING,
    parse_plan,
)


@dataclass(frozen=True)
class UnknownInput:
    """Make one input path of the matching resources unknown, as during a preview."""

    resource: str
    """A type token or URN, or a glob over them (``openstack:compute/instance:*``)."""
    path: tuple[str, ...]
    """Property path; list indexes as digits, ``*`` for every key or index at that level."""

    @classmethod
    def parse(cls, spec: str) -> UnknownInput:
        """``<type|urn glob>=<dotted.path>``, e.g. ``openstack:compute/instance:Instance=metadata.pod``."""
        target, sep, path = spec.rpartition("=")
        if not sep or not target or not path:
            raise ValueError(f"--unknown takes TYPE_OR_URN=PROPERTY.PATH, not {spec!r}")
        return cls(target, tuple(path.split(".")))

    def matches(self, resource: Mapping[str, Any]) -> bool:
        return any(fnmatch.fnmatchcase(str(resource.get(k, "")), self.resource) for k in ("type", "urn"))


@dataclass(frozen=True)
class Unknowns:
    """Which plan inputs to send as unknown."""

    inputs: tuple[UnknownInput, ...] = ()
    computed_ids: bool = False
    """Every string holding another planned resource's id becomes unknown: that is exactly what a
    first ``pulumi preview`` of the stack sees (ids exist only once the resources are created)."""

    def apply(self, resources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Copies of ``resources`` with the selected inputs replaced by the unknown sentinel."""
        ids = {str(r["id"]) for r in resources if r.get("id")} if self.computed_ids else set()
        out = []
        for resource in resources:
            inputs = resource.get("inputs", {})
            if ids:
                inputs = _blank_ids(inputs, ids)
            for spec in self.inputs:
                if spec.matches(resource):
                    inputs = _blank_path(inputs, spec.path)
            out.append({**resource, "inputs": inputs})
        return out


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


NO_UNKNOWNS: Final = Unknowns()
"""Send the plan as rendered: every value known (the mocks resolve everything)."""


def _blank_ids(value: Any, ids: set[str]) -> Any:
    if isinstance(value, str):
        # Joined lists (the sibling-groups hint) are computed from ids too: any id inside counts.
        if value in ids or any(match in ids for match in _UUID.findall(value)):
            return UNKNOWN_STRING
        return value
    if isinstance(value, dict) and SIG_KEY not in value:
        return {k: _blank_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_ids(v, ids) for v in value]
    return value


def _blank_path(value: Any, path: tuple[str, ...]) -> Any:
    if not path:
        return UNKNOWN_STRING
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and SIG_KEY in value:
        # An asset, archive or secret is one value on the wire: it is unknown as a whole or not at all.
        return UNKNOWN_STRING
    if isinstance(value, dict):
        return {k: (_blank_path(v, rest) if head in ("*", k) else v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_path(v, rest) if head in ("*", str(i)) else v for i, v in enumerate(value)]
    return value


def to_wire(value: Any) -> Any:
    """Plan value -> protocol value: redacted secrets become secret objects, '[unknown]' the sentinel."""
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if value == PLAN_SECRET:
        return {SIG_KEY: SECRET_SIG, "value": PLAN_SECRET}
    if value == PLAN_UNKNOWN:
        return UNKNOWN_STRING
    return value


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(to_wire(dict(value)))
    return struct


@dataclass(frozen=True)
class PlanResources:
    """The resources of one plan, indexed the way the engine looks them up."""

    resources: list[dict[str, Any]]
    by_urn: dict[str, dict[str, Any]]
    ids_unknown: bool = False
    """Ids are not known yet (a first preview): outputs carry an unknown ``id``."""

    @classmethod
    def of(cls, plan: Mapping[str, Any], unknowns: Unknowns = NO_UNKNOWNS) -> PlanResources:
        # Validated through the plan format; the analyzer messages are built from the JSON data.
        parse_plan(plan, source=f"plan of stack {plan.get('stack')!r}")
        resources = unknowns.apply(plan["resources"])
        return cls(resources, {r["urn"]: r for r in resources}, unknowns.computed_ids)

    def provider(self, resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerProviderResource | None:
        """The provider resource a reference ``<urn>::<id>`` points to, as the engine sends it."""
        reference = str(resource.get("provider") or "")
        urn = reference.rsplit("::", 1)[0] if reference.count("::") > 1 else reference
        target = self.by_urn.get(urn)
        if target is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            type=target["type"],
            name=target["name"],
            urn=target["urn"],
            properties=_struct(target.get("inputs", {})),
        )

    def _options(self, resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
        delete_before_replace = bool(resource.get("deleteBeforeReplace"))
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=bool(resource.get("protect")),
            ignoreChanges=list(resource.get("ignoreChanges", [])),
            deleteBeforeReplace=delete_before_replace,
            deleteBeforeReplaceDefined=delete_before_replace,
            customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
            parent=str(resource.get("parent", "")),
        )

    def analyze_requests(self) -> Iterable[analyzer_pb2.AnalyzeRequest]:
        """One AnalyzeRequest per resource, in registration (plan) order."""
        for resource in self.resources:
            provider = self.provider(resource)
            yield analyzer_pb2.AnalyzeRequest(
                type=resource["type"],
                urn=resource["urn"],
                name=resource["name"],
                properties=_struct(resource.get("inputs", {})),
                options=self._options(resource),
                **({"provider": provider} if provider is not None else {}),
            )

    def stack_request(self) -> analyzer_pb2.AnalyzeStackRequest:
        """The AnalyzeStackRequest: every resource with its outputs and its graph edges."""
        items = []
        for resource in self.resources:
            outputs = dict(resource.get("inputs", {}))
            if resource.get("custom") and resource.get("id"):
                outputs["id"] = UNKNOWN_STRING if self.ids_unknown else resource["id"]
            provider = self.provider(resource)
            items.append(
                analyzer_pb2.AnalyzerResource(
                    type=resource["type"],
                    urn=resource["urn"],
                    name=resource["name"],
                    properties=_struct(outputs),
                    options=self._options(resource),
                    parent=str(resource.get("parent", "")),
                    dependencies=list(resource.get("dependencies", [])),
                    propertyDependencies={
                        key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
                        for key, urns in (resource.get("propertyDependencies") or {}).items()
                    },
                    **({"provider": provider} if provider is not None else {}),
                )
            )
        return analyzer_pb2.AnalyzeStackRequest(resources=items)
