"""After a failed `pulumi up`: the checkpoint's integrity and whether the next `up` gates what it changes
(issue 32). The checkpoints are dc1's plan deployed, in the shape pulumi/pulumi writes them
(``sdk/go/common/apitype/core.go`` ``DeploymentV3``/``ResourceV3``/``OperationV2``; the manifest's magic
from ``pkg/resource/deploy/manifest.go`` ``NewMagic``), then changed as each failure leaves them
(webex_cloud/preview/resume.py cites the engine code behind each)."""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from webex_cloud.commands.checkpoint import main
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan import format as tokens
from webex_cloud.plan.document import render_plan
from webex_cloud.preview.resume import (
    GATE_RERUNS,
    INTEGRITY,
    PENDING_CREATE,
    PENDING_REPLACEMENT,
    UNGATED,
    check,
)

CLI_VERSION = "3.272.0"


@cache
def _plan() -> dict[str, Any]:
    return render_plan("dc1", project_dir=REPO)


def plan() -> dict[str, Any]:
    return copy.deepcopy(_plan())


def _known(value: Any, name: str) -> Any:
    """A value as the provider returned it: the plan's unknowns are IDs once deployed."""
    if value == tokens.PLAN_UNKNOWN:
        return f"id-of-{name}"
    if isinstance(value, dict):
        return {k: _known(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return value


def _engine_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan lists resources by name; the engine writes each after its provider, parent and
    dependencies (a resource is registered only once they are), as ``Snapshot.Toposort`` orders them."""
    by_urn = {r["urn"]: r for r in resources}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def visit(urn: str) -> None:
        if urn in done or urn not in by_urn:
            return
        done.add(urn)
        state = by_urn[urn]
        before = [state.get("parent", ""), state.get("provider", "").rpartition("::")[0]]
        before += state.get("dependencies", [])
        before += [u for urns in state.get("propertyDependencies", {}).values() for u in urns]
        for other in before:
            visit(other)
        ordered.append(state)

    for resource in resources:
        visit(resource["urn"])
    return ordered


def deployed(document: dict[str, Any]) -> dict[str, Any]:
    """`pulumi stack export` of a stack on which ``document`` was deployed whole: every resource of the
    plan, with the default providers and any parent the plan does not list, in the engine's order."""
    project, stack = document["project"], document["stack"]
    resources: dict[str, dict[str, Any]] = {}
    for resource in document["resources"]:
        state: dict[str, Any] = {
            "urn": resource["urn"],
            "custom": resource.get("custom", False),
            "type": resource["type"],
            "inputs": _known(resource.get("inputs", {}), resource["name"]),
            "outputs": _known(resource.get("inputs", {}), resource["name"]),
        }
        for key in ("parent", "dependencies", "propertyDependencies"):
            if resource.get(key):
                state[key] = resource[key]
        if state["custom"]:
            state["id"] = resource.get("id") or f"id-{resource['name']}"
            provider = resource.get("provider") or ""
            if resource["type"].startswith("pulumi:providers:"):
                pass  # a provider is no provider's resource
            elif not provider:
                package = resource["type"].split(":", 1)[0]
                urn = f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::default"
                resources.setdefault(
                    urn,
                    {
                        "urn": urn,
                        "custom": True,
                        "id": f"provider-{package}",
                        "type": f"pulumi:providers:{package}",
                    },
                )
                provider = f"{urn}::provider-{package}"
            if provider:
                state["provider"] = provider
        resources[state["urn"]] = state
    for state in list(resources.values()):
        parent = state.get("parent")
        if parent and parent not in resources:
            kind = parent.split("::")[2].rsplit("$", 1)[-1]
            resources[parent] = {"urn": parent, "custom": False, "type": kind}
    magic = hashlib.sha256(CLI_VERSION.encode()).hexdigest()
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-12-06T23:00:00Z", "magic": magic, "version": CLI_VERSION},
            "resources": _engine_order(list(resources.values())),
        },
    }


def _gates(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [
        r
        for r in document["resources"]
        if r["type"] == tokens.LOCAL_COMMAND and f"{service}-" in r["name"] and r["inputs"].get("triggers")
    ]


def _instance_urn(document: dict[str, Any], name: str) -> str:
    return next(
        str(r["urn"]) for r in document["resources"] if r["type"] == tokens.INSTANCE and r["name"] == name
    )


def _state(checkpoint: dict[str, Any], urn: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in checkpoint["deployment"]["resources"] if s["urn"] == urn)
    return found


def _forget(checkpoint: dict[str, Any], urn: str) -> dict[str, Any]:
    """The resource gone from the state, and from its dependents' dependencies, as a refresh that finds
    it deleted leaves it (pulumi/pulumi ``pkg/engine`` ``FilterRefreshDeletes``) and as a create that
    never finished never wrote it."""
    resources = checkpoint["deployment"]["resources"]
    state = _state(checkpoint, urn)
    resources.remove(state)
    for other in resources:
        if urn in other.get("dependencies", []):
            other["dependencies"] = [u for u in other["dependencies"] if u != urn]
        for key, urns in other.get("propertyDependencies", {}).items():
            other["propertyDependencies"][key] = [u for u in urns if u != urn]
    return state


def kinds(findings: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in findings:
        out.setdefault(finding.kind, []).append(finding.urn)
    return out


def test_a_whole_deploy_leaves_nothing_to_fix() -> None:
    document = plan()
    assert check(deployed(document), document, "state.json") == []


def test_a_failed_gate_in_a_pod_design_move_under_continue_on_error_resumes_gated() -> None:
    """meetings-media's wave-2 gate failed; its replacement create left the old gate with the old
    triggers; --continue-on-error still ran the delete half of wave 3's anchor (delete-before-replace),
    whose create was skipped: the old state stays, ``pendingReplacement`` (step.go ``DeleteStep``)."""
    document = plan()
    checkpoint = deployed(document)
    second, third = _gates(document, "meetings-media")[1:3]
    for gate in (second, third):
        for entry in _state(checkpoint, gate["urn"])["inputs"]["triggers"]:
            entry["schedulerHints"] = [{"group": "id-of-the-old-design"}]
    anchor = third["inputs"]["triggers"][0]["instance"]
    _state(checkpoint, _instance_urn(document, anchor))["pendingReplacement"] = True
    findings = check(checkpoint, document, "state.json")
    assert not [f for f in findings if f.blocking]
    found = kinds(findings)
    assert found[PENDING_REPLACEMENT] == [_instance_urn(document, anchor)]
    assert found[GATE_RERUNS] == [third["urn"]]
    rerun = next(f for f in findings if f.kind == GATE_RERUNS)
    assert anchor in rerun.message and "recorded with other triggers" in rerun.message


def test_an_instance_the_state_lost_would_come_back_unprobed_and_is_refused_with_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server whose host died, dropped from the state by `pulumi refresh`: the next `up` creates it,
    but its wave's gate is recorded with the program's triggers and is not replaced."""
    document = plan()
    checkpoint = deployed(document)
    gate = _gates(document, "messaging")[0]
    lost = gate["inputs"]["triggers"][-1]["instance"]
    urn = _instance_urn(document, lost)
    _forget(checkpoint, urn)
    findings = check(checkpoint, document, "state.json")
    assert kinds(findings) == {UNGATED: [gate["urn"]]}
    assert findings[0].blocking and f"`pulumi up --replace {gate['urn']}`" in findings[0].fix

    plan_file, state_file = tmp_path / "dc1.json", tmp_path / "state.json"
    plan_file.write_text(json.dumps(document))
    state_file.write_text(json.dumps(checkpoint))
    code = main(["--stack", "dc1", "--plan", str(plan_file), "--checkpoint", str(state_file)])
    out = capsys.readouterr().out
    assert code == ExitCode.BLOCKING
    assert out.startswith("dc1: the next `up` must wait: 1 thing(s) to fix first")
    assert f"fix: `pulumi up --replace {gate['urn']}`" in out


def test_a_job_killed_while_creating_names_the_import_command() -> None:
    """The job timed out while Nova built a server: the create stays pending in every later checkpoint
    until resolved (pkg/backend/snapshot.go), and the gate of its wave must run after it."""
    document = plan()
    checkpoint = deployed(document)
    gate = _gates(document, "meetings-signalling")[0]
    name = gate["inputs"]["triggers"][0]["instance"]
    urn = _instance_urn(document, name)
    state = _forget(checkpoint, urn)
    checkpoint["deployment"]["pending_operations"] = [{"resource": state, "type": "creating"}]
    _state(checkpoint, gate["urn"]).pop("inputs")  # the gate was being replaced: recorded without triggers
    findings = check(checkpoint, document, "state.json")
    found = kinds(findings)
    assert found[PENDING_CREATE] == [urn] and found[GATE_RERUNS] == [gate["urn"]]
    pending = next(f for f in findings if f.kind == PENDING_CREATE)
    assert pending.blocking and f"--import-pending-creates {urn} <its ID>" in pending.fix
    assert f"--clear-pending-creates {urn}" in pending.fix


def _drop_group(checkpoint: dict[str, Any]) -> str:
    """The issue's --continue-on-error case: a per-pod group deleted while skipped states still use it."""
    resources = checkpoint["deployment"]["resources"]
    group = next(
        s
        for s in resources
        if s["type"] == tokens.SERVER_GROUP
        and any(s["urn"] in (o.get("dependencies") or []) for o in resources)
    )
    resources.remove(group)
    return str(group["urn"])


def _after_dependent(checkpoint: dict[str, Any]) -> str:
    resources = checkpoint["deployment"]["resources"]
    index = next(i for i, s in enumerate(resources) if s.get("dependencies"))
    dependency = resources[index]["dependencies"][0]
    moved = next(s for s in resources if s["urn"] == dependency)
    resources.remove(moved)
    resources.append(moved)
    return str(dependency)


def _duplicate(checkpoint: dict[str, Any]) -> str:
    resources = checkpoint["deployment"]["resources"]
    instance = next(s for s in resources if s["type"] == tokens.INSTANCE)
    resources.append(copy.deepcopy(instance))
    return str(instance["urn"])


def _unknown_provider(checkpoint: dict[str, Any]) -> str:
    resources = checkpoint["deployment"]["resources"]
    instance = next(s for s in resources if s["type"] == tokens.INSTANCE)
    instance["provider"] = instance["provider"].rsplit("::", 1)[0] + "::another-id"
    return str(instance["urn"])


def _tampered(checkpoint: dict[str, Any]) -> str:
    checkpoint["deployment"]["manifest"]["version"] = "3.273.0"
    return ""


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_drop_group, "is missing"),
        (_after_dependent, "comes after it"),
        (_duplicate, "duplicate resource (2 entries, 0 marked for deletion)"),
        (_unknown_provider, "refers to unknown provider"),
        (_tampered, "magic cookie mismatch"),
    ],
)
def test_a_checkpoint_the_backend_would_refuse_is_named(damage: Any, message: str) -> None:
    document = plan()
    checkpoint = deployed(document)
    urn = damage(checkpoint)
    problems = [f for f in check(checkpoint, document, "state.json") if f.kind == INTEGRITY]
    assert problems and all(f.blocking for f in problems)
    assert any(message in f.message and (urn in f.message or urn == f.urn) for f in problems), problems


def test_a_pending_replacement_may_refer_to_a_replaced_provider() -> None:
    """VerifyIntegrity's one exception: a resource pending replacement keeps its old provider."""
    document = plan()
    checkpoint = deployed(document)
    urn = _unknown_provider(checkpoint)
    _state(checkpoint, urn)["pendingReplacement"] = True
    assert not [f for f in check(checkpoint, document, "state.json") if f.kind == INTEGRITY]


def test_a_file_that_is_no_checkpoint_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file, state_file = tmp_path / "dc1.json", tmp_path / "state.json"
    plan_file.write_text(json.dumps(plan()))
    state_file.write_text(json.dumps({"resources": []}))
    code = main(["--stack", "dc1", "--plan", str(plan_file), "--checkpoint", str(state_file)])
    err = capsys.readouterr().err
    assert code == ExitCode.INPUT
    assert f"{state_file}: not a Pulumi checkpoint" in err and "pulumi stack export" in err


def test_another_stacks_state_or_plan_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = plan()
    state = json.dumps(deployed(document)).replace("urn:pulumi:dc1::", "urn:pulumi:dc2::")
    plan_file, state_file = tmp_path / "dc1.json", tmp_path / "state.json"
    plan_file.write_text(json.dumps(document))
    state_file.write_text(state)
    code = main(["--stack", "dc1", "--plan", str(plan_file), "--checkpoint", str(state_file)])
    err = capsys.readouterr().err
    assert code == ExitCode.INPUT and "this is the state of stack dc2, not dc1" in err
    code = main(["--stack", "dc2", "--plan", str(plan_file), "--checkpoint", str(state_file)])
    assert code == ExitCode.INPUT and "is the plan of stack 'dc1', not 'dc2'" in capsys.readouterr().err
