"""Twenty datacenters from the example catalog: each renders, passes every policy against its nineteen
peers and previews; and a new datacenter is one new stack file, nothing else."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generated_project import datacenter_stack
from tests.conftest import REPO, ProjectCopy
from tests.stacks.conftest import TWENTY
from webex_cloud.commands import preview as preview_cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import PACK_DIR
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import SEC_GROUP_RULE, dumps
from webex_cloud.policy_check import PolicyChecker

# Twenty whole stacks rendered, checked and previewed: the full tier runs them (CI always does).
pytestmark = pytest.mark.full_tier


def command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webex_cloud", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module")
def rendered(twenty: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """`plan` over all twenty stacks, in two worker processes (the machine's two cores), policies included."""
    done = command("plan", "--project", str(twenty), "--out", str(twenty / "build" / "plan"), "--jobs", "2")
    plans = {
        path.stem: json.loads(path.read_text()) for path in sorted((twenty / "build" / "plan").glob("*.json"))
    }
    return done, plans


def test_all_twenty_render_and_pass_every_policy(
    rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    done, plans = rendered
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(plans) == TWENTY
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("policy pack ")]
    assert len(verdicts) == TWENTY and all(": passed (" in line for line in verdicts)
    assert all(" 0 mandatory " in line for line in verdicts)


def test_every_datacenter_has_its_own_pool_subnets_hosts_and_failure_domains(
    rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]],
) -> None:
    _, plans = rendered
    pools = [ipaddress.ip_network(plan["datacenter"]["cidr_pool"]) for plan in plans.values()]
    assert all(not a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1 :])
    subnets = [
        ipaddress.ip_network(s["subnet"]) for plan in plans.values() for s in plan["services"].values()
    ]
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])

    def repeated(values: list[str]) -> list[str]:
        return [value for value, count in Counter(values).items() if count > 1]

    datacenters = [plan["datacenter"] for plan in plans.values()]
    assert repeated([h["name"] for dc in datacenters for h in dc["hosts"]]) == []
    assert repeated([b for dc in datacenters for fd in dc["failure_domains"].values() for b in fd]) == []
    assert repeated([z for dc in datacenters for z in dc["availability_zones"]]) == []
    assert repeated([str(h["address"]) for dc in datacenters for h in dc["controllers"]["hosts"]]) == []
    assert repeated([dc["deploy"]["runner"] for dc in datacenters]) == []


def test_the_parallel_render_is_the_in_process_render(
    twenty: Path, rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]
) -> None:
    for stack in ("dc1", "dc17"):
        expected = dumps(render_plan(stack, project_dir=twenty))
        assert (twenty / "build" / "plan" / f"{stack}.json").read_text() == expected


def _without_service(plan: dict[str, Any], service: str) -> dict[str, Any]:
    kept = [r for r in plan["resources"] if r["inputs"].get("metadata", {}).get("service") != service]
    return {**plan, "resources": kept}


def test_the_cross_datacenter_policy_names_the_peers_that_differ(
    twenty: Path, rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]
) -> None:
    _, plans = rendered
    peers = {name: plan for name, plan in plans.items() if name != "dc7"}
    for drifted in ("dc13", "dc4"):
        peers[drifted] = _without_service(peers[drifted], "messaging")
    with PolicyChecker(PACK_DIR) as checker:
        config = checker.config_for(plans["dc7"], peers)
        assert sorted(config["cross-datacenter-same-shape"][1]["peers"]) == sorted(peers)
        run = checker.check(plans["dc7"], peers)
    assert [v.message for v in run.by_policy("cross-datacenter-same-shape")] == [
        "service messaging runs in dc7 but not in dc13, dc4; the catalog runs it there too"
    ]


def test_every_stack_previews(
    tmp_path: Path, rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]
) -> None:
    _, plans = rendered
    out = tmp_path / "report.json"
    for stack, plan in plans.items():
        plan_file = tmp_path / f"{stack}.json"
        plan_file.write_text(dumps(plan))
        code = preview_cli.main(
            ["--stack", stack, "--plan", str(plan_file), "--base", str(plan_file), "--json", str(out)]
        )
        report = json.loads(out.read_text())
        assert code == 0 and report["stack"] == stack
        assert sum(report["counts"].values()) == 0 and report["unchanged"] > 0


def test_a_new_datacenter_previews_as_all_creates_and_nothing_blocking(
    tmp_path: Path, rendered: tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]
) -> None:
    _, plans = rendered
    plan_file, base_file, out = tmp_path / "dc20.json", tmp_path / "base.json", tmp_path / "report.json"
    plan_file.write_text(dumps(plans["dc20"]))
    empty = {key: plans["dc20"][key] for key in ("format", "project", "stack")}
    base_file.write_text(dumps({**empty, "datacenter": {"name": "dc20"}, "services": {}, "resources": []}))
    code = preview_cli.main(
        ["--stack", "dc20", "--plan", str(plan_file), "--base", str(base_file), "--json", str(out)]
    )
    report = json.loads(out.read_text())
    assert code == 0 and report["blocking"] == []
    assert report["counts"]["create"] == sum(1 for r in plans["dc20"]["resources"] if r["custom"])


def test_adding_a_stack_file_is_the_only_change_a_new_datacenter_needs(
    project: ProjectCopy, tmp_path: Path
) -> None:
    (project.root / "stacks" / "Pulumi.dc3.yaml").write_text(datacenter_stack(3))

    def differs(path: Path) -> bool:
        original = REPO / path.relative_to(project.root)
        return not original.is_file() or original.read_bytes() != path.read_bytes()

    changed = [
        str(p.relative_to(project.root)) for p in project.root.rglob("*") if p.is_file() and differs(p)
    ]
    assert changed == ["stacks/Pulumi.dc3.yaml"]
    listed = command("stacks", "--json", "--project", str(project.root))
    entry = next(e for e in json.loads(listed.stdout) if e["stack"] == "dc3")
    assert (entry["wave"], entry["runner"], entry["bake_s"]) == (2, "webex-ops-dc3", 0)
    out = tmp_path / "plan"
    done = command("plan", "--project", str(project.root), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.json")) == ["dc1.json", "dc2.json", "dc3.json"]
    assert "policy pack webex-cloud-policies on stack dc3: passed" in done.stdout
    plans = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    with PolicyChecker(PACK_DIR) as checker:
        config = checker.config_for(plans["dc1"], {"dc2": plans["dc2"], "dc3": plans["dc3"]})
    assert sorted(config["cross-datacenter-same-shape"][1]["peers"]) == ["dc2", "dc3"]
    # The peers admit the new datacenter with no edit of their own files: peer-dc is derived.
    assert plans["dc1"]["datacenter"]["sources"]["peer-dc"] == ["10.20.0.0/16", "10.30.0.0/16"]
    admitted = {
        r["inputs"].get("remoteIpPrefix") for r in plans["dc1"]["resources"] if r["type"] == SEC_GROUP_RULE
    }
    assert "10.30.0.0/16" in admitted


def test_a_bad_stack_among_workers_is_reported_by_name_and_nothing_is_written(
    project: ProjectCopy, tmp_path: Path
) -> None:
    (project.root / "stacks" / "Pulumi.dc3.yaml").write_text(
        datacenter_stack(3).replace("wave: 2", "wave: 0")
    )
    out = tmp_path / "plan"
    done = command("plan", "--project", str(project.root), "--out", str(out), "--jobs", "2")
    assert done.returncode == ExitCode.INPUT
    assert "dc3: invalid configuration (1 problem)" in done.stderr
    assert "stacks/Pulumi.dc3.yaml: config.webex-cloud:datacenter.deploy.wave" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
