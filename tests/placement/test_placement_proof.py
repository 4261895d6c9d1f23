"""`python -m webex_cloud place`: the plan-time placement proof, on synthetic and real plans."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from webex_cloud import cli
from webex_cloud.commands import place as placement_cli
from webex_cloud.commands.place import main
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.document import render_plan

HAVE_OPENSTACK = all(importlib.util.find_spec(name) is not None for name in ("nova", "cinder"))
needs_openstack = pytest.mark.skipif(not HAVE_OPENSTACK, reason="nova and cinder are not installed")
ENGINES = [pytest.param("openstack", marks=needs_openstack), "rules"]


def _id(urn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, urn))


class PlanBuilder:
    """A small plan in the documented format (docs/plan-format.md), written as the components do."""

    def __init__(self, hosts: int = 4, domains: int = 4, ram_mb: int = 65536, **host: Any) -> None:
        self.datacenter: dict[str, Any] = {
            "name": "dc1",
            "flavors": {"m1.medium": {"vcpus": 4, "ram_mb": 8192, "disk_gb": 40}},
            "failure_domains": {
                f"rack-{i}": [f"cinder-{i}@ssd", f"cinder-{i}@capacity"] for i in range(domains)
            },
            "hosts": [
                {"name": f"compute-{i}", "vcpus": 64, "ram_mb": ram_mb, "availability_zone": "az1", **host}
                for i in range(hosts)
            ],
        }
        self.services: dict[str, Any] = {}
        self.resources: list[dict[str, Any]] = []

    def _add(self, kind: str, name: str, inputs: dict[str, Any]) -> str:
        urn = f"urn:pulumi:dc1::webex-cloud::{kind}::{name}"
        self.resources.append({"urn": urn, "id": _id(urn), "type": kind, "name": name, "inputs": inputs})
        return urn

    def service(
        self,
        name: str,
        pods: int,
        size: int = 2,
        replicas: int = 0,
        unhinted_pods: tuple[int, ...] = (),
        unhinted_replicas: tuple[int, ...] = (),
        attach: bool = False,
    ) -> None:
        group = self._add(
            "openstack:compute/serverGroup:ServerGroup", f"{name}-pods", {"policies": "anti-affinity"}
        )
        pod_entries = []
        for p in range(pods):
            key = f"dc1/{name}/{name}-pod-{p}"
            instances = []
            for i in range(size):
                hinted = p not in unhinted_pods
                hint: dict[str, Any] = {"additionalProperties": {"webex_pod": key} if hinted else {}}
                if i == 0 and hinted:
                    hint["group"] = _id(group)
                metadata = {"webex_service": f"dc1/{name}", "webex_pod": key}
                metadata["webex_pod_role"] = "anchor" if i == 0 else "member"
                instances.append(
                    self._add(
                        "openstack:compute/instance:Instance",
                        f"{name}-pod-{p}-app-{i}",
                        {
                            "flavorName": "m1.medium",
                            "availabilityZone": "az1",
                            "metadata": metadata if hinted else {},
                            "schedulerHints": [hint],
                        },
                    )
                )
            pod_entries.append({"name": f"{name}-pod-{p}", "server_group": group, "instances": instances})
        spec: dict[str, Any] = {"pods": pod_entries}
        if replicas:
            key = f"dc1/{name}/store"
            urns = []
            for r in range(replicas):
                hinted = r not in unhinted_replicas
                urns.append(
                    self._add(
                        "openstack:blockstorage/volume:Volume",
                        f"{name}-store-{r}",
                        {
                            "size": 10,
                            "volumeType": "ssd",
                            "metadata": {"webex_volume_group": key, "webex_replica": str(r)}
                            if hinted
                            else {},
                            "schedulerHints": [
                                {"additionalProperties": {"webex_volume_group": key} if hinted else {}}
                            ],
                        },
                    )
                )
                if attach and r < pods:
                    self._add(
                        "openstack:compute/volumeAttach:VolumeAttach",
                        f"{name}-store-{r}-attach",
                        {"instanceId": _id(pod_entries[r]["instances"][0]), "volumeId": _id(urns[-1])},
                    )
            spec["volume_groups"] = [{"name": f"{name}-store", "key": key, "replicas": urns}]
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


HOSTS_OK = "survives loss of any single host (every lost pod placed again): yes"
DOMAINS_OK = "survives loss of any single failure domain (every lost replica placed again): yes"


@pytest.mark.parametrize("engine", ENGINES)
def test_pods_apart_replicas_apart_and_every_single_loss_recoverable(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder()
    plan.service("chat", pods=3, replicas=3)
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 0, err
    hosts = pod_hosts(out)
    assert len(set(hosts.values())) == 3 and all("," not in h for h in hosts.values())  # whole and apart
    assert len(set(out.split("volume group chat-store: ")[1].splitlines()[0].split(", "))) == 3
    assert HOSTS_OK in out and DOMAINS_OK in out


@needs_openstack
def test_both_pipelines_place_identically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = PlanBuilder(hosts=6)
    plan.service("chat", pods=3, size=3, replicas=2)
    plan.service("media", pods=2, replicas=3)
    path = plan.write(tmp_path)
    real, rules = run(path, "openstack", capsys), run(path, "rules", capsys)
    assert real[0] == rules[0] == 0
    assert real[1].splitlines()[1:] == rules[1].splitlines()[1:]


@pytest.mark.parametrize("engine", ENGINES)
def test_two_of_three_pods_on_one_host_is_reported_not_called_survivable(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Review 3, defect 7: one pod lacking the hints packed onto another pod's host; the old proof
    # flagged only a host common to *all* pods and printed "survives ... yes".
    plan = PlanBuilder(hosts=4)
    plan.service("chat", pods=3, unhinted_pods=(2,))
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "share host" in err and "losing it takes down both" in err
    assert "survives loss of any single host (every lost pod placed again): no" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_two_of_three_replicas_in_one_domain_is_reported(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder()
    plan.service("chat", pods=2, replicas=3, unhinted_replicas=(2,))
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "volume group chat-store: replicas " in err and " share failure domain " in err


@pytest.mark.parametrize("engine", ENGINES)
def test_too_few_failure_domains_is_reported(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(domains=2)
    plan.service("chat", pods=2, replicas=3)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "service chat: volume group chat-store: replica chat-store-2: no valid backend" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_no_spare_host_fails_n_plus_one_unless_the_stack_relaxes_it(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Review 3: "barely enough" hosts passed although every host loss was unrecoverable.
    plan = PlanBuilder(hosts=3)
    plan.service("chat", pods=3)
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "after losing host compute-0, pod chat-pod-" in err and "cannot be placed again" in err
    plan.datacenter["placement"] = {"n_plus_one": False}
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 0, err
    assert "N+1 not required" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_no_spare_domain_fails_n_plus_one_and_counts_the_attached_pod_impaired(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(domains=3)
    plan.service("chat", pods=3, replicas=3, attach=True)
    code, out, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    assert "after losing failure domain rack-0, volume group chat-store" in err
    assert "stays impaired" in err
    assert "losing rack-0 impairs chat-pod-" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_a_full_anchor_host_refuses_the_pods_next_instance_naming_why(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(hosts=3, ram_mb=8192)  # one m1.medium per host
    plan.service("chat", pods=1, size=2)
    code, _, err = run(plan.write(tmp_path), engine, capsys)
    assert code == 1
    # Other hosts have room, but a member only joins its anchor, so the pod does not spill over.
    assert "instance chat-pod-0-app-1: no valid host (its pod's anchor is on compute-" in err
    lone = PlanBuilder(hosts=1, ram_mb=4096)
    lone.service("chat", pods=1, size=2)
    code, _, err = run(lone.write(tmp_path), engine, capsys)
    assert "no valid host (no host has the capacity or zone)" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_allocation_ratios_and_disk_are_counted(
    tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # 4 physical vCPUs: one m1.medium at 1:1, two at cpu_allocation_ratio 2.0.
    tight = PlanBuilder(hosts=4, vcpus=4)
    tight.datacenter["hosts"] = [dict(h, vcpus=4) for h in tight.datacenter["hosts"]]
    tight.service("chat", pods=1, size=2)
    assert run(tight.write(tmp_path), engine, capsys)[0] == 1
    tight.datacenter["hosts"] = [dict(h, cpu_allocation_ratio=2.0) for h in tight.datacenter["hosts"]]
    assert run(tight.write(tmp_path), engine, capsys)[0] == 0
    # 60 GB of local disk holds one 40 GB root disk.
    disk = PlanBuilder(hosts=4)
    disk.datacenter["hosts"] = [dict(h, disk_gb=60) for h in disk.datacenter["hosts"]]
    disk.service("chat", pods=1, size=2)
    code, _, err = run(disk.write(tmp_path), engine, capsys)
    assert code == 1 and "its pod's anchor is on" in err


@needs_openstack
def test_nova_default_weighers_are_predicted_a_big_host_takes_every_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Review 4 "bighost": Nova's RAM weigher spreads by free RAM, so one much larger host gets the
    # first pod of every service; the old proof (packing) put one there.
    plan = PlanBuilder(hosts=6)
    plan.datacenter["hosts"][0].update(vcpus=384, ram_mb=1572864)
    for name in ("a", "b", "c", "d", "e"):
        plan.service(name, pods=2, size=1)
    code, out, err = run(plan.write(tmp_path), "openstack", capsys)
    assert code == 0, err
    on_big = [pod for pod, host in pod_hosts(out).items() if host == "compute-0"]
    assert len(on_big) == 5, on_big


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
    assert ": no" not in out
    assert out.rstrip().endswith("placed and fault tolerant in every order")


def test_a_bug_is_reported_as_an_internal_error_not_as_missing_nova(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = PlanBuilder(hosts=3)
    plan.service("chat", pods=2)
    path = plan.write(tmp_path)

    def broken(*_args: object, **_kwargs: object) -> object:
        raise KeyError("hosts")

    monkeypatch.setattr(placement_cli, "prove", broken)
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

    def unloadable(*_args: object) -> object:
        raise ImportError("No module named 'nova'")

    monkeypatch.setattr(placement_cli, "pipelines", unloadable)
    code, _, err = run(plan.write(tmp_path), "openstack", capsys)
    assert code == ExitCode.INPUT
    assert "--engine openstack needs Nova and Cinder importable (ImportError: No module named 'nova')" in err


def test_a_proof_that_cannot_finish_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = PlanBuilder(hosts=4)
    for name in ("chat", "mail", "voice"):
        plan.service(name, pods=2)
    path = plan.write(tmp_path)
    code = main(["--stack", "dc1", "--plan", str(path), "--engine", "rules", "--max-states", "3"])
    out, err = capsys.readouterr()
    assert code == ExitCode.BLOCKING
    assert "followed more than 3 states and stopped: not proven" in err
    assert "fault tolerant in every order" not in out
    assert main(["--stack", "dc1", "--plan", str(path), "--engine", "rules"]) == ExitCode.OK


def test_zone_losses_are_reported_against_max_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = PlanBuilder(hosts=6)
    for host in plan.datacenter["hosts"][3:]:
        host["availability_zone"] = "az2"
    plan.service("chat", pods=2)
    code, out, err = run(plan.write(tmp_path), "rules", capsys)
    assert code == ExitCode.OK, err
    # The builder pins every pod to az1: losing it leaves none, losing az2 costs nothing.
    assert "losing availability zone az1 (worst order, before re-placement): chat 0 of 2 pods (below" in out
    assert "losing availability zone az2 (worst order, before re-placement): chat 2 of 2 pods (keeps" in out
