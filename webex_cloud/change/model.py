"""The common change model both sources are turned into (plain dataclasses: validated input only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from webex_cloud.plan.format import UNKNOWN_STRING

UNKNOWN_SENTINEL = UNKNOWN_STRING
"""The string the engine puts where a value is not known until the update runs (a `pulumi preview
--json` shows it as is). Never shown as such."""


class Action(StrEnum):
    """What a change does to the cloud resource, whatever step names the source used."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    IMPORT = "import"


class Certainty(StrEnum):
    """Who decided the action: the provider (a real preview) or this tool's reading of ForceNew fields."""

    PROVIDER = "provider"
    EXPECTED = "expected"


@dataclass(frozen=True)
class PropertyChange:
    """One changed input. ``old``/``new`` are None where the source does not carry values."""

    path: str
    kind: str
    """``add``, ``update`` or ``delete`` (Pulumi's detailedDiff kinds without the ``-replace`` suffix)."""
    forces_replace: bool = False
    old: Any = None
    new: Any = None
    reason: str = ""
    """Why it changes when the inputs alone do not say (``new ID of replaced dc1-messaging-subnet``)."""


@dataclass(frozen=True)
class Change:
    """One resource the update would touch."""

    urn: str
    type: str
    name: str
    action: Action
    certainty: Certainty
    properties: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    """Why a replacement happens: provider replaceReasons, or the ForceNew inputs that changed."""
    old_inputs: Mapping[str, Any] | None = None
    new_inputs: Mapping[str, Any] | None = None
    protected: bool = False
    parent: str = ""
    dependencies: tuple[str, ...] = ()
    """URNs this resource waits for: how the engine orders it after them within one update."""
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Input key -> URNs its value comes from: the engine's delete-before-replace dependents follow these."""
    delete_before_replace: bool = False
    """A replacement deletes the old resource first (the option, or forced by the bridge for named
    resources): there is a gap, and whatever depends on it is replaced with it."""
    retain_on_delete: bool = False
    """The ``retainOnDelete`` option: a delete only forgets the resource, the cloud keeps it."""
    replace_on_changes: frozenset[str] = frozenset()
    """The ``replaceOnChanges`` option: the program's own reason to replace, whatever the provider says."""


@dataclass(frozen=True)
class ControllerNode:
    """One node of the HA controller pair, as the stack config names it."""

    name: str
    address: str


@dataclass
class Topology:
    """Which service and pod each resource belongs to, and the controller pair (when known)."""

    pods: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    """service -> pod -> URNs of the pod's resources (instances, server group, ports)."""
    owner: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """URN -> (service, pod or None) for every resource known to belong to a service."""
    controllers: tuple[ControllerNode, ...] = ()
    redundant_sets: dict[str, set[str]] = field(default_factory=dict)
    """anti-affinity server group name -> URNs of its member instances (replicas kept apart on purpose)."""
    source: str = ""
    """Where the pod totals come from, for the report (pod counts are only as good as this)."""

    def service_of(self, urn: str) -> str | None:
        found = self.owner.get(urn)
        return found[0] if found else None

    def pod_of(self, urn: str) -> str | None:
        found = self.owner.get(urn)
        return found[1] if found else None

    def add(self, urn: str, service: str, pod: str | None) -> None:
        self.owner[urn] = (service, pod)
        if pod is not None:
            self.pods.setdefault(service, {}).setdefault(pod, set()).add(urn)


@dataclass(frozen=True)
class ChangeSet:
    """Everything one report is made of."""

    stack: str
    source: str
    """``pulumi-preview`` or ``offline-diff``."""
    source_detail: str
    """One sentence for the report: which files, which checkpoint."""
    changes: tuple[Change, ...]
    unchanged: int
    reads: int
    topology: Topology
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    """Errors the source itself reported (a failed `pulumi preview`): the report is then no verdict."""
    graph: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    security_groups: Mapping[str, str] = field(default_factory=dict)
    """Security group ID -> name, over both sides: a rule's ``remoteGroupId`` is shown by name (an
    offline plan's IDs are the mock engine's, which name nothing in any cloud)."""
    """URN -> dependencies of every resource of the update, unchanged ones too: the engine orders a
    step after its dependencies' steps whether they change or not."""


def urn_name(urn: str) -> str:
    """The resource name: everything after the URN's third ``::`` (a name may itself hold ``::``;
    pulumi/pulumi sdk/go/common/resource/urn.go: ``urn:pulumi:<stack>::<project>::<type>::<name>``)."""
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn.rsplit("::", 1)[-1]


def urn_type(urn: str) -> str:
    """The resource type: the last ``$`` element of the URN's type chain."""
    parts = urn.split("::", 3)
    return parts[2].rsplit("$", 1)[-1] if len(parts) == 4 else ""


def urn_stack(urn: str) -> str:
    """The stack a URN belongs to (``urn:pulumi:<stack>::...``), or empty when it is no URN."""
    head = urn.split("::", 1)[0]
    return head.removeprefix("urn:pulumi:") if head.startswith("urn:pulumi:") else ""


def is_urn(urn: str) -> bool:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` with every part present."""
    parts = urn.split("::", 3)
    return len(parts) == 4 and bool(urn_stack(urn)) and all(parts[1:])
