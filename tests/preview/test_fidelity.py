"""Where the real engine and provider differ from the mock engine, the report follows the real ones
(../shared/reviews/engine-and-provider-fidelity.md F2, F4, F5, F7; the issue's point 8)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.preview.helpers import INSTANCE, RULE, base_plan, pr_plan, report, report_of, resource
from webex_cloud.change.model import UNKNOWN_SENTINEL, Action
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.events import parse_event_log, policy_risks
from webex_cloud.preview.markdown import code
from webex_cloud.preview.pulumi_json import parse_preview
from webex_cloud.preview.render import render_json, render_markdown
from webex_cloud.preview.risks import STATEFUL_TYPES

SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"
SUBNET = "openstack:networking/subnet:Subnet"


def test_a_description_only_rule_change_is_replaced_delete_first_and_conflicts_otherwise(
    project: ProjectCopy,
) -> None:
    """F4: description is ForceNew and not in Neutron's duplicate key (the 409 itself:
    tests/integration/test_secgroup_rule_conflict.py)."""

    def describe(doc: dict[str, Any]) -> None:
        doc["network"]["ingress"][0]["description"] = "SIP over TLS, signalling"

    project.edit("catalog/meetings-signalling.yaml", describe)
    pr = pr_plan(project)
    rep = report(base_plan(), pr)
    rules = [c for c in rep.changes.changes if c.type == RULE]  # IPv4 and IPv6 of `source: any`
    assert len(rules) == 2 and all(c.action is Action.REPLACE and c.delete_before_replace for c in rules)
    assert [r.kind for r in rep.blocking] == []
    # The same change without the option (as the component was before): create-before-delete, 409.
    for item in pr["resources"]:
        if item["type"] == RULE:
            item["deleteBeforeReplace"] = False
    rep = report(base_plan(), pr)
    assert [r.kind for r in rep.blocking] == ["conflict", "conflict"] and "409" in rep.blocking[0].reason


def test_a_named_server_group_replaced_deletes_first_and_takes_every_pod_of_the_service() -> None:
    """F5: the bridge deletes a named resource before its replacement, and the engine then replaces
    every dependent through the whole (unknown) input: a nested ignore path cannot mask it. The
    program now sets the option itself (create-before-delete); left to the bridge, as the component
    was before, the cascade is what the report must show."""
    base, pr = base_plan(), base_plan()
    resource(pr, "messaging-pods")["inputs"]["name"] = "dc1-messaging-pods-renamed"
    as_registered = report(base, pr)
    assert not next(c for c in as_registered.changes.changes if c.type == SERVER_GROUP).delete_before_replace
    for plan in (base, pr):
        resource(plan, "messaging-pods")["deleteBeforeReplaceDefined"] = False
        for item in plan["resources"]:
            if item["type"] == INSTANCE:
                item["ignoreChanges"] = ["schedulerHints[*].group"]
    rep = report(base, pr)
    group = next(c for c in rep.changes.changes if c.type == SERVER_GROUP)
    assert group.delete_before_replace and "(deleted first)" in render_markdown(rep)
    replaced = {c.name for c in rep.changes.changes if c.type == INSTANCE and c.action is Action.REPLACE}
    # Each pod's first instance is the one in the group (the others follow it through `webex_pod`).
    assert replaced == {f"messaging-pod-{p}-app-0" for p in range(3)}
    assert [r.subject for r in rep.blocking if r.kind == "downtime"] == ["service `messaging`"]
    # Replaced create-before-delete, only its ID would change, which the ignore path keeps.
    resource(pr, "messaging-pods")["deleteBeforeReplace"] = False
    resource(pr, "messaging-pods")["inputs"].pop("name")
    resource(base, "messaging-pods")["inputs"].pop("name")
    resource(pr, "messaging-pods")["inputs"]["policies"] = "soft-anti-affinity"
    rep = report(base, pr)
    assert not [c for c in rep.changes.changes if c.type == INSTANCE]


def test_a_subnet_replaced_under_live_ports_is_blocking_and_the_ports_are_listed() -> None:
    """Point 7: both plans share one mock subnet ID, so the ports' move is computed, not seen."""
    base, pr = base_plan(), base_plan()
    resource(pr, "messaging-subnet")["inputs"]["cidr"] = "10.10.130.0/24"
    rep = report(base, pr)
    ports = [c for c in rep.changes.changes if c.type.endswith("port:Port")]
    assert ports and all(c.action is Action.UPDATE for c in ports)
    assert all(p.reason == "new ID of replaced messaging-subnet" for c in ports for p in c.properties[:1])
    (risk,) = [r for r in rep.blocking if r.kind == "subnet-move"]
    assert "9 live ports" in risk.reason


def test_a_new_services_subnet_may_move() -> None:
    base = base_plan()
    base["resources"] = [r for r in base["resources"] if "messaging" not in r["name"]]
    pr = base_plan()
    resource(pr, "messaging-subnet")["inputs"]["cidr"] = "10.10.130.0/24"
    assert [r for r in report(base, pr).blocking if r.kind == "subnet-move"] == []


def test_retain_on_delete_is_not_data_loss() -> None:
    plan = base_plan()
    volume = next(r for r in plan["resources"] if r["type"].endswith("volume:Volume"))
    state = {"urn": volume["urn"], "type": volume["type"], "inputs": volume["inputs"], "protect": False}
    document = {"steps": [{"op": "delete", "urn": volume["urn"], "oldState": state}]}
    assert [r.kind for r in report_of(parse_preview(document, source="p", stack="dc1")).blocking] == [
        "data-loss"
    ]
    state["retainOnDelete"] = True  # StepEventStateMetadata.RetainOnDelete (apitype/events.go)
    assert report_of(parse_preview(document, source="p", stack="dc1")).risks == ()


def test_every_stateful_type_the_docs_name_is_recognised_and_exists() -> None:
    docs = (REPO / "docs" / "preview.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| 🛑 blocking | `data-loss`"))
    assert set(re.findall(r"`(openstack:[^`]+)`", row)) == STATEFUL_TYPES
    sdk = Path(sys.modules["pulumi"].__file__ or "").parent.parent / "pulumi_openstack"
    sources = "\n".join(p.read_text() for p in sdk.rglob("*.py"))
    assert all(f"'{token}'" in sources for token in STATEFUL_TYPES)


def test_an_unknown_value_never_prints_as_the_sentinel() -> None:
    base, pr = base_plan(), base_plan()
    resource(pr, "messaging-pod-0-app-0")["inputs"]["flavorName"] = UNKNOWN_SENTINEL
    resource(base, "messaging-pod-0-app-1")["inputs"]["metadata"]["owner"] = "old"
    resource(pr, "messaging-pod-0-app-1")["inputs"]["metadata"]["owner"] = UNKNOWN_SENTINEL
    text = render_markdown(report(base, pr)) + json.dumps(render_json(report(base, pr)))
    assert UNKNOWN_SENTINEL not in text


def test_names_are_escaped_in_markdown() -> None:
    assert code("a`b") == "`` a`b ``" and code("x|y") == "`x\\|y`"
    document = {
        "steps": [
            {
                "op": "delete",
                "urn": "urn:pulumi:dc1::webex-cloud::openstack:blockstorage/volume:Volume::evil`|<b>x</b>",
                "oldState": {"type": "openstack:blockstorage/volume:Volume", "inputs": {}},
            }
        ]
    }
    text = render_markdown(report_of(parse_preview(document, source="p", stack="dc1")))
    assert "`` evil`\\|<b>x</b> ``" in text and "\n| evil" not in text


def test_policy_events_of_the_event_log_become_risks() -> None:
    """F7: one apitype.EngineEvent per line (sdk/go/common/apitype/events.go)."""
    lines = [
        {"sequence": 1, "timestamp": 1, "stdoutEvent": {"message": "Previewing", "color": "never"}},
        {
            "sequence": 2,
            "timestamp": 2,
            "policyEvent": {
                "resourceUrn": "urn:pulumi:dc1::webex-cloud::openstack:compute/instance:Instance::a",
                "message": "<{%fg 1%}>no image allow-list entry<{%reset%}>",
                "color": "raw",
                "policyName": "image-allow-list",
                "policyPackName": "webex-policies",
                "policyPackVersion": "0.1.0",
                "policyPackVersionTag": "0.1.0",
                "enforcementLevel": "mandatory",
            },
        },
        {
            "sequence": 3,
            "timestamp": 3,
            "policyEvent": {"message": "advice", "policyName": "p2", "enforcementLevel": "warning"},
        },
    ]
    log = parse_event_log("\n".join(json.dumps(e) for e in lines) + "\n", "events.jsonl")
    risks = policy_risks(log)
    assert [(r.level.name, r.subject) for r in risks] == [
        ("BLOCKING", "`image-allow-list` (mandatory) on `a`"),
        ("WARNING", "`p2` (warning)"),
    ]
    assert risks[0].reason == "no image allow-list entry"  # Pulumi's colour directives removed


def _preview(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "webex_cloud", "preview", "--stack", "dc1", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Windows PowerShell 5's `pulumi preview --json > preview.json` writes UTF-16 LE with a BOM.
        ('{"steps": []}'.encode("utf-16"), "is UTF-16"),
        # A Latin-1 editor's "é" (0xe9) in an otherwise UTF-8 file.
        (b'{"steps": [], "diagnostics": [{"message": "caf\xe9"}]}', "byte 0xe9 at offset 46"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_hostile_files_are_unusable_input_never_a_crash(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "preview.json"
    path.write_bytes(content)
    done = _preview("--preview", str(path))
    assert done.returncode == ExitCode.INPUT, done.stderr
    err = done.stderr.decode()
    assert message in err and str(path) in err and "Traceback" not in err
    piped = _preview("--preview", "-", stdin=content)
    assert piped.returncode == ExitCode.INPUT and "Traceback" not in piped.stderr.decode()


def test_a_deep_plan_is_unusable_input(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("[" * 100_000 + "]" * 100_000)
    done = _preview("--plan", str(plan), "--base", str(plan))
    assert done.returncode == ExitCode.INPUT and b"nested too deeply" in done.stderr


def test_a_preview_with_error_diagnostics_is_never_green() -> None:
    document = {"diagnostics": [{"message": "error: cannot reach keystone", "severity": "error"}]}
    rep = report_of(parse_preview(document, source="p", stack="dc1"))
    text = render_markdown(rep)
    assert rep.failed and "**The preview failed**" in text and "No blocking change" not in text
    assert "**No changes.**" not in text and render_json(rep)["verdict"] == "failed"
