"""`python -m webex_cloud place`: the plan-time placement proof, on synthetic and real plans."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from webex_scheduler_filters.hints import join_list

from webex_cloud import cli
from webex_cloud.exit_codes import ExitCode
from webex_cloud.placement import cli as placement_cli
from webex_cloud.placement.cli import main
from webex_cloud.plan.document import render_plan

REPO = Path(__file__).resolve().parents[2]
HAVE_OPENSTACK = all(importlib.util.find_spec(name) is not None for name in ("nova", "cinder"))
needs_openstack = pytest.mark.skipif(not HAVE_OPENSTACK, reason="nova and cinder are not installed")
ENGINES = [pytest.param("openstack", marks=needs_openstack), "rules"]


def _id(urn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, urn))


class PlanBuilder:
    """A small plan in the documented format (docs/plan-format.md), written as the components do."""

    def __init__(self, hosts: int = 3, domains: int = 3, ram_mb: int = 65536) -> None:
        self.datacenter: dict[str, Any] = {
            "name": "dc1",
            "flavors": {"m1.medium": {"vcpus": 4, "ram_mb": 8192, "disk_gb": 40}},
            "failure_domains": {
                f"rack-{i}": [f"cinder-{i}@ssd", f"cinder-{i}@capacity"] for i in range(domains)
            },
            "hosts": [
                {"name": f"compute-{i}", "vcpus": 64, "ram_mb": ram_mb, "availability_zone": "az1"}
                for i in range(hosts)
            ],
        }
        self.services: dict[str, Any] = {}
        self.resources: list[dict[str, Any]] = []

    def _add(self, kind: str, name: str, inputs: dict[str, Any]) -> str:
        urn = f"urn:pulumi:dc1::webex-cloud::{kind}::{name}"
        self.resources.append({"urn": urn, "id": _id(urn), "type": kind, "name": name, "inputs": inputs})
        return urn

    def service(self, name: str, pods: int, size: int = 2, replicas: int = 0, siblings: bool = True) -> None:
        groups = [
            self._add(
                "openstack:compute/serverGroup:ServerGroup", f"{name}-pod-{p}-group", {"policies": "affinity"}
            )
            for p in range(pods)
        ]
        pod_entries = []
        for p, group in enumerate(groups):
            extra = {"webex_service": f"dc1/{name}", "webex_pod": f"{name}-pod-{p}"}
            if siblings and pods > 1:
                extra["webex_sibling_pod_groups"] = join_list(_id(g) for g in groups if g != group)
            instances = [
                self._add(
                    "openstack:compute/instance:Instance",
                    f"{name}-pod-{p}-app-{i}",
                    {
                        "flavorName": "m1.medium",
                        "availabilityZone": "az1",
                        "schedulerHints": [{"group": _id(group), "additionalProperties": extra}],
                    },
                )
                for i in range(size)
            ]
            pod_entries.append({"name": f"{name}-pod-{p}", "server_group": group, "instances": instances})
        spec: dict[str, Any] = {"pods": pod_entries}
        if replicas:
            key = f"dc1/{name}/store"
            spec["volume_groups"] = [
                {
                    "name": f"{name}-store",
                    "key": key,
                    "replicas": [
                        self._add(
                            "openstack:blockstorage/volume:Volume",
                            f"{name}-store-{r}",
                            {
                                "size": 10,
                                "volumeType": "ssd",
                                "metadata": {"webex_volume_group": key},
                                "schedulerHints": [
                                    {
                                        "additionalProperties": {
                                            "webex_volume_group": key,
                                            "webex_replica": str(r),
                                        }
                                    }
                                ],
                            },
                        )
                        for r in range(replicas)
                    ],
                }
            ]
        self.services[name] = spec

    def write(self, folder: Path) -> Path:
        path = folder / "dc1.json"
        document = {
            "format": "webex-cloud.plan/v1",
            "project": "webex-cloud",
            "stack": "dc1",
            "datacenter": self.datacenter,
            "services": self.services,
            "resources": self.resources,
        }
        path.write_text(json.dumps(document))
        return path


def run(path: Path, engine: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--stack", "dc1", "--plan", str(path), "--engine", engine])
    out, err = capsys.readouterr()
    return code, out, err


def pod_hosts(out: str) -> dict[str, str]:
    return dict(line.strip()[4:].split(": ", 1) for line in out.splitlines() if line.startswith("  pod "))


@pytest.mark.parametrize("engine", ENGINES)
def test_pods_apart_and_replicas_on_distinct_domains(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder()
    plan.service("chat", pods=3, replicas=3)
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 0, err
    hosts = pod_hosts(out)
    assert sorted(hosts.values()) == ["compute-0", "compute-1", "compute-2"]  # one host per pod, all apart
    assert "volume group chat-store: rack-0, rack-1, rack-2" in out
    assert "survives loss of any single host: yes" in out
    assert "survives loss of any single failure domain: yes" in out


@needs_openstack
def test_both_pipelines_place_identically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = PlanBuilder(hosts=5)
    plan.service("chat", pods=3, size=3, replicas=2)
    plan.service("media", pods=2, replicas=3)
    path = plan.write(tmp_path)
    real, rules = run(path, "openstack", capsys), run(path, "rules", capsys)
    assert real[0] == rules[0] == 0
    assert real[1].splitlines()[1:] == rules[1].splitlines()[1:]


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_sibling_hints_stack_pods_and_fail_naming_the_service(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder()
    plan.service("chat", pods=2, siblings=False)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "service chat: losing host compute-0 takes down every pod" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_too_few_failure_domains_is_reported(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(domains=2)
    plan.service("chat", pods=2, replicas=3)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "service chat: replica chat-store-2 of volume group chat-store cannot be placed" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_running_out_of_hosts_is_no_valid_host(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(hosts=2)
    plan.service("chat", pods=3)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "instance chat-pod-2-app-0 of pod chat-pod-2 cannot be placed: no valid host" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_single_pod_service_is_not_fault_tolerant(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder()
    plan.service("solo", pods=1, replicas=1)
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "survives loss of any single host: no" in out
    assert "losing failure domain rack-0 loses every replica of volume group solo-store" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_a_full_pod_host_refuses_the_pods_next_instance(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(hosts=3, ram_mb=8192)  # one m1.medium per host
    plan.service("chat", pods=2, size=2)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    # Other hosts have room, but the pod stays together (affinity), so it does not spill over.
    assert "instance chat-pod-0-app-1 of pod chat-pod-0 cannot be placed: no valid host (the filters" in err
    lone = PlanBuilder(hosts=1, ram_mb=8192)
    lone.service("chat", pods=1, size=2)
    code, _, err = run(lone.write(tmp_path), engine, capsys)
    assert "no valid host (no host has the capacity or zone)" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such plan; render it with `python -m webex_cloud plan --stack dc1`"),
        ("{not json", "not a plan (invalid JSON"),
        (json.dumps({"format": "other"}), "format is 'other'"),
        (
            json.dumps({"format": "webex-cloud.plan/v1", "datacenter": [], "resources": []}),
            "datacenter must be a dict",
        ),
    ],
)
def test_unusable_plan_is_a_clear_error_not_a_traceback(
    tmp_path: Path, content: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dc1.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(path, "rules", capsys)
    assert code == 2
    assert err.startswith(f"error: {path}: ")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
@pytest.mark.parametrize("engine", ENGINES)
def test_example_stacks_place_and_survive_single_failures(
    tmp_path: Path, stack: str, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(render_plan(stack, project_dir=REPO)))
    code = main(["--stack", stack, "--plan", str(path), "--engine", engine])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "survives loss of any single host: no" not in out
    assert out.rstrip().endswith("placed and fault tolerant")


def test_a_bug_is_reported_as_an_internal_error_not_as_missing_nova(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = PlanBuilder(hosts=3)
    plan.service("chat", pods=2)
    path = plan.write(tmp_path)

    def broken(*_args: object) -> object:
        raise KeyError("hosts")

    monkeypatch.setattr(placement_cli, "place", broken)
    monkeypatch.delenv("WEBEX_DEBUG", raising=False)
    code = cli.main(["place", "--stack", "dc1", "--plan", str(path), "--engine", "rules"])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL
    assert "internal error in `python -m webex_cloud place` (a bug, not your input): KeyError" in err
    assert "install" not in err and "Traceback" not in err


def test_nova_that_cannot_load_is_reported_with_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = PlanBuilder(hosts=3)
    plan.service("chat", pods=2)

    def unloadable(_prefer: str) -> object:
        raise ImportError("No module named 'nova'")

    monkeypatch.setattr(placement_cli, "pipelines", unloadable)
    code, _, err = run(plan.write(tmp_path), "openstack", capsys)
    assert code == ExitCode.INPUT
    assert "--engine openstack needs Nova and Cinder importable (ImportError: No module named 'nova')" in err
