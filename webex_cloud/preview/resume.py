"""After a failed `pulumi up`: is the checkpoint it left sound, and will the next `up` gate what it changes?

Read at pulumi/pulumi 3.260.0-dev (the stored snapshot, CHANGELOG top 3.259.0; the CLI is pinned 3.272.0):

- The checkpoint's integrity rules are the engine's own, ``pkg/resource/deploy/snapshot.go``
  ``Snapshot.VerifyIntegrity``, which the DIY backend runs on every checkpoint it reads
  (``pkg/backend/diy/state.go``: a stack that fails it cannot be updated until repaired). Checked here in
  its order: the manifest's magic (``manifest.go`` ``NewMagic``: sha256 of the CLI version, hex), a URN and
  type on every resource, no ID on a component, a provider reference to a provider listed earlier (not
  required of a resource pending replacement), parents, dependencies, property dependencies,
  ``deletedWith`` and ``replaceWith`` listed earlier, and one URN at most that is not pending deletion.
  Every violation is listed, not only the first.
- A pending *create* (``pending_operations`` with ``type: creating``) is carried into every later
  checkpoint until a person resolves it (``pkg/backend/snapshot.go``, "we don't want to clear pending
  CREATE operations"): the server may exist in Nova without the state knowing it. Other pending
  operations are only warned about by the next `up` (``deployment_executor.go``
  ``printPendingOperationsWarning``) and dropped.
- A delete-before-replace whose delete ran and whose create did not (a failed step, or a step skipped
  after an error under ``--continue-on-error``) keeps the old resource with ``pendingReplacement: true``
  (``step.go``, ``DeleteStep.Apply``): gone from the cloud, still in the state; the next `up` creates it.

A health gate (pulumi-command ``local.Command``) runs its probe only when it is created or replaced, and it
is replaced only when its ``triggers`` change (``replaceOnChanges``, pulumi-command v1.2.1
``provider/pkg/provider/common/inputs.go``). So an instance the next `up` creates is gated only when its
wave's gate is absent from the checkpoint or recorded with other triggers than the program's; a gate
recorded with the program's triggers (a plan's unknown values count as equal, the safe side) would let
the instance come back unprobed: that is reported with the command that reruns the gate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from webex_cloud.plan import format as tokens
from webex_cloud.plan.format import PLAN_UNKNOWN, clean_wire_value
from webex_cloud.preview.errors import PreviewInputError

PROVIDER_TYPE_PREFIX: Final = "pulumi:providers:"
UNKNOWN_ID: Final = tokens.UNKNOWN_STRING
"""The ID of a provider reference written without one (sdk/go/common/providers ``NewReference``)."""

INTEGRITY: Final = "integrity"
PENDING_CREATE: Final = "pending-create"
PENDING_OTHER: Final = "pending-operation"
PENDING_REPLACEMENT: Final = "pending-replacement"
UNGATED: Final = "ungated"
GATE_RERUNS: Final = "gate-reruns"


@dataclass(frozen=True)
class Finding:
    kind: str
    urn: str
    message: str
    fix: str = ""
    blocking: bool = False
    """True when the next `up` must not run before the fix: it would fail, or change a pod unprobed."""


def deployment_of(document: object, source: str) -> Mapping[str, Any]:
    """The deployment inside ``pulumi stack export`` output (``{"version", "deployment"}``,
    apitype ``UntypedDeployment``) or a DIY checkpoint file (``{"version", "checkpoint": {"latest"}}``,
    apitype ``CheckpointV3``)."""
    if isinstance(document, Mapping):
        deployment = document.get("deployment")
        if isinstance(deployment, Mapping):
            return deployment
        checkpoint = document.get("checkpoint")
        if isinstance(checkpoint, Mapping):
            latest = checkpoint.get("latest")
            return latest if isinstance(latest, Mapping) else {}
    raise PreviewInputError(
        source,
        'not a Pulumi checkpoint: expected `pulumi stack export` output ({"version": 3, "deployment": '
        '{...}}) or a state backend\'s <stack>.json ({"version": 3, "checkpoint": {...}})',
    )


def _records(deployment: Mapping[str, Any], key: str, source: str) -> list[Mapping[str, Any]]:
    items = deployment.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise PreviewInputError(source, f"deployment.{key}: expected a list of objects")
    return list(items)


def _provider_ref(text: str) -> tuple[str, str] | None:
    """``<URN>::<ID>`` split at its last ``::`` (``providers.ParseReference``); None when malformed."""
    urn, sep, ident = text.rpartition("::")
    return (urn, ident) if sep and urn.startswith("urn:pulumi:") else None


def _dependencies(state: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(what, URN) for every resource this one must follow (``State.GetAllDependencies``)."""
    if state.get("parent"):
        yield "parent", str(state["parent"])
    for urn in state.get("dependencies") or []:
        yield "dependency", str(urn)
    for key, urns in sorted((state.get("propertyDependencies") or {}).items()):
        for urn in urns or []:
            yield f"property dependency (from property {key})", str(urn)
    if state.get("deletedWith"):
        yield "deletedWith", str(state["deletedWith"])
    for urn in state.get("replaceWith") or []:
        yield "replaceWith", str(urn)


def integrity(deployment: Mapping[str, Any], source: str) -> list[Finding]:
    """Every violation of the engine's ``VerifyIntegrity`` rules."""
    found: list[Finding] = []

    def bad(urn: str, message: str) -> None:
        found.append(
            Finding(
                INTEGRITY,
                urn,
                message,
                "the backend refuses this checkpoint: repair it by hand (`pulumi stack export`, edit, "
                "`pulumi stack import`), then `pulumi refresh`",
                blocking=True,
            )
        )

    manifest = deployment.get("manifest") or {}
    version = str(manifest.get("version") or "")
    magic = hashlib.sha256(version.encode()).hexdigest() if version else ""
    if str(manifest.get("magic") or "") != magic:
        bad("", "magic cookie mismatch (manifest.magic is not sha256 of manifest.version)")
    resources = _records(deployment, "resources", source)
    seen: dict[str, list[Mapping[str, Any]]] = {}
    providers: set[tuple[str, str]] = set()
    for index, state in enumerate(resources):
        urn = str(state.get("urn") or "")
        if not urn:
            bad("", f"resource at index {index} missing required 'urn' field")
            continue
        kind = str(state.get("type") or "")
        if not kind:
            bad(urn, "missing required 'type' field")
        if not state.get("custom") and state.get("id"):
            bad(urn, "custom false but non-empty ID")
        if kind.startswith(PROVIDER_TYPE_PREFIX):
            providers.add((urn, str(state.get("id") or UNKNOWN_ID)))
        provider = str(state.get("provider") or "")
        if provider:
            ref = _provider_ref(provider)
            if ref is None:
                bad(urn, f"unparsable provider reference {provider}")
            elif ref not in providers and not state.get("pendingReplacement"):
                bad(urn, f"refers to unknown provider {provider}")
        later = {str(other.get("urn") or "") for other in resources[index + 1 :]}
        for what, dependency in _dependencies(state):
            if dependency not in seen:
                where = "comes after it" if dependency in later else "is missing"
                bad(urn, f"its {what} {dependency} {where}")
        seen.setdefault(urn, []).append(state)
    for urn, states in seen.items():
        deletes = sum(1 for s in states if s.get("delete"))
        if len(states) > 1 and deletes < len(states) - 1:
            bad(urn, f"duplicate resource ({len(states)} entries, {deletes} marked for deletion)")
    return found


def _matches(planned: object, recorded: object) -> bool:
    """Equal, reading a plan's unknown value as equal to anything (the program cannot know it yet)."""
    if planned == PLAN_UNKNOWN:
        return True
    if isinstance(planned, Mapping) and isinstance(recorded, Mapping):
        return planned.keys() == recorded.keys() and all(_matches(planned[k], recorded[k]) for k in planned)
    if isinstance(planned, list) and isinstance(recorded, list):
        if len(planned) != len(recorded):
            return False
        return all(_matches(p, r) for p, r in zip(planned, recorded, strict=True))
    return planned == recorded


def next_up(deployment: Mapping[str, Any], plan: Mapping[str, Any], source: str) -> list[Finding]:
    """What the next `up` of ``plan`` does with this checkpoint that a person must know or fix first."""
    found: list[Finding] = []
    resources = _records(deployment, "resources", source)
    live = {str(s.get("urn")): s for s in resources if not s.get("delete")}
    recreated: dict[str, str] = {}
    for operation in _records(deployment, "pending_operations", source):
        state = operation.get("resource") or {}
        urn, kind = str(state.get("urn") or ""), str(operation.get("type") or "")
        name = urn.rsplit("::", 1)[-1]
        if kind == "creating":
            recreated[urn] = "its create was interrupted"
            found.append(
                Finding(
                    PENDING_CREATE,
                    urn,
                    f"{name}: the update stopped while creating it; it may exist in the cloud unrecorded",
                    f"find it by name ({name}); if it exists: `pulumi refresh --import-pending-creates "
                    f"{urn} <its ID>`, else `pulumi refresh --clear-pending-creates {urn}`",
                    blocking=True,
                )
            )
        else:
            found.append(
                Finding(
                    PENDING_OTHER,
                    urn,
                    f"{name}: the update stopped while {kind or 'changing'} it; the next `up` warns and "
                    "drops the record",
                    "`pulumi refresh` first, so the next `up` starts from what the cloud really has",
                )
            )
    for urn, state in live.items():
        if state.get("pendingReplacement"):
            recreated.setdefault(urn, "deleted by a delete-before-replace whose create did not run")
            found.append(
                Finding(
                    PENDING_REPLACEMENT,
                    urn,
                    f"{urn.rsplit('::', 1)[-1]}: deleted in the cloud, kept in the state pending its "
                    "replacement; the next `up` creates it",
                )
            )
    planned = [r for r in plan.get("resources") or [] if isinstance(r, Mapping)]
    instance_urn = {
        str(r.get("name")): str(r.get("urn")) for r in planned if r.get("type") == tokens.INSTANCE
    }
    for urn in instance_urn.values():
        if urn not in live:
            recreated.setdefault(urn, "not in the state")
    for gate in (r for r in planned if r.get("type") == tokens.LOCAL_COMMAND):
        triggers = (gate.get("inputs") or {}).get("triggers") or []
        names = [str(t.get("instance")) for t in triggers if isinstance(t, Mapping) and t.get("instance")]
        coming = {n: recreated[instance_urn[n]] for n in names if instance_urn.get(n) in recreated}
        gate_urn = str(gate.get("urn"))
        recorded = live.get(gate_urn)
        if not coming:
            if recorded is None:
                found.append(
                    Finding(
                        GATE_RERUNS,
                        gate_urn,
                        f"gate {gate.get('name')} is absent from the state (its create failed or never "
                        "ran), so the next `up` runs its probe",
                    )
                )
            continue
        which = ", ".join(f"{n} ({why})" for n, why in sorted(coming.items()))
        was = clean_wire_value((recorded or {}).get("inputs", {}).get("triggers"))
        if recorded is not None and _matches(triggers, was):
            found.append(
                Finding(
                    UNGATED,
                    gate_urn,
                    f"the next `up` creates {which}, but gate {gate.get('name')} is recorded with the "
                    "program's triggers, so it is not replaced and its probe does not run",
                    f"`pulumi up --replace {gate_urn}` (the gate is replaced after its instances, "
                    "so its probe runs on the new ones)",
                    blocking=True,
                )
            )
        else:
            state = "absent from the state" if recorded is None else "recorded with other triggers"
            found.append(
                Finding(
                    GATE_RERUNS,
                    gate_urn,
                    f"the next `up` creates {which}; gate {gate.get('name')} is {state}, so its probe runs "
                    "after them",
                )
            )
    return found


def check(document: object, plan: Mapping[str, Any], source: str) -> list[Finding]:
    """Integrity first (a checkpoint the backend refuses cannot be resumed at all), then the next `up`."""
    deployment = deployment_of(document, source)
    stack = str(plan.get("stack") or "")
    others = sorted(
        {
            urn.split("::", 1)[0].removeprefix("urn:pulumi:")
            for state in _records(deployment, "resources", source)
            if (urn := str(state.get("urn") or "")).startswith("urn:pulumi:")
        }
        - {stack}
    )
    if others:
        raise PreviewInputError(
            source,
            f"this is the state of stack {', '.join(others)}, not {stack}: export the state of "
            f"organization/webex-cloud/{stack} (`pulumi stack export --stack ... --file F`)",
        )
    return integrity(deployment, source) + next_up(deployment, plan, source)
