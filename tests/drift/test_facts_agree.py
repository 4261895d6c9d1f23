"""The monitoring's live facts are drift's verdicts: `monitoring --facts` on the same cloud, plan and
checkpoint that drift reads exports N+1 without the hosts Nova reports unavailable, and each
controller's schedulers and filter release, judged by drift's own code (webex_cloud/drift).

The cloud is tests/drift/fakes.py's dc1 (served in place of the API reads); the controllers are
tests/drift/test_controllers.py's folders behind its stand-in `ssh`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.drift.fakes import Site
from tests.drift.test_controllers import _unit, controllers, dc1
from tests.drift.test_drift import _service, run
from tests.monitoring.test_facts import samples
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.cloud.views import ComputeService, observe
from webex_cloud.commands.monitoring import main
from webex_cloud.config.models import Datacenter, Service
from webex_cloud.drift.classes import MAINTENANCE_PREFIX
from webex_cloud.exit_codes import ExitCode
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring_ops.facts import live_n_plus_one
from webex_cloud.plan.format import Plan

__all__ = ["controllers", "dc1"]

SERVICES = ("meetings-media", "meetings-signalling", "messaging", "recording-storage", "telepresence-gateway")


def _facts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan_file: Path, cloud: Site, *extra: str
) -> dict[str, float]:
    inventory: Inventory = cloud.inventory()

    class Conn:
        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *_: object) -> None:
            pass

    def compute(_: object) -> Any:
        if inventory.compute_services is None:
            raise CloudError("Nova: GET /os-services: 403 Forbidden")
        return inventory.compute_services

    monkeypatch.setattr("webex_cloud.cloud.session.connect", lambda *_: Conn())
    monkeypatch.setattr(
        "webex_cloud.cloud.views.read_project",
        lambda _: observe(inventory.servers, inventory.volumes, inventory.project),
    )
    monkeypatch.setattr("webex_cloud.cloud.views.read_compute_services", compute)
    target = tmp_path / "placement.prom"
    code = main(["--stack", "dc1", "--facts", str(target), "--plan", str(plan_file), "--cloud", "x", *extra])
    assert code == ExitCode.OK
    return samples(target.read_text())


def _n_plus_one(facts: dict[str, float]) -> dict[str, float]:
    return {
        key.split('service="')[1].split('"')[0]: value
        for key, value in facts.items()
        if key.startswith(c.SERVICE_N_PLUS_ONE + "{")
    }


def test_n_plus_one_is_lost_exactly_when_drift_finds_it_lost(
    dc1: Site,
    plan: Plan,
    plan_file: Path,
    catalog: list[tuple[str, Service]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    az1 = [h.name for h in plan.datacenter.hosts if h.availability_zone == "dc1-az1"]
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1)
    assert _n_plus_one(facts) == dict.fromkeys(SERVICES, 1)
    assert facts[f'{c.HOSTS_UNAVAILABLE}{{datacenter="dc1"}}'] == 0

    # One host down: dc1 keeps a spare per zone, so drift finds nothing to block and N+1 holds.
    _service(dc1, az1[0])["state"] = "down"
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1)
    assert not [d for d in run(dc1, plan, catalog).drift if d.kind == "n-plus-one"]
    assert _n_plus_one(facts) == dict.fromkeys(SERVICES, 1)
    assert facts[f'{c.HOSTS_UNAVAILABLE}{{datacenter="dc1"}}'] == 1

    # A second one disabled by hand: the zone cannot hold its pods after one more loss, for everyone.
    _service(dc1, az1[1]).update(status="disabled", disabled_reason="broken PSU")
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1)
    assert [d for d in run(dc1, plan, catalog).drift if d.kind == "n-plus-one" and d.blocking]
    assert _n_plus_one(facts) == dict.fromkeys(SERVICES, 0)
    assert facts[f'{c.HOSTS_UNAVAILABLE}{{datacenter="dc1"}}'] == 2


def test_hosts_in_a_recorded_drain_are_not_an_alert_and_an_unreadable_host_list_is_unchecked(
    dc1: Site, plan: Plan, plan_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for host in (h.name for h in plan.datacenter.hosts[:2]):
        _service(dc1, host).update(status="disabled", disabled_reason=f"{MAINTENANCE_PREFIX} firmware")
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1)
    assert _n_plus_one(facts) == dict.fromkeys(SERVICES, 1)
    assert facts[f'{c.HOSTS_UNAVAILABLE}{{datacenter="dc1"}}'] == 0

    dc1.services = None
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1)
    assert _n_plus_one(facts) == {}, "unknown is not 1: no series"
    unchecked = [key for key in facts if key.startswith(c.PLACEMENT_UNCHECKED)]
    assert len(unchecked) == 1 and "403 Forbidden" in unchecked[0]


def test_each_controllers_schedulers_and_filter_release_are_exported_as_drift_judges_them(
    dc1: Site,
    plan: Plan,
    plan_file: Path,
    controllers: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoint = tmp_path / "dc1.json"
    checkpoint.write_text(json.dumps(dc1.checkpoint()))
    extra = ("--controllers", "--checkpoint", str(checkpoint))
    plane = Datacenter.model_validate(plan.datacenter.model_dump(mode="json", by_alias=True)).controllers
    first, second = plane.hosts
    deployed = json.loads(
        (controllers / str(first.address) / plane.deploy.state_dir.lstrip("/") / "current.json").read_text()
    )["wheel_sha256"]

    def loaded(facts: dict[str, float]) -> dict[tuple[str, str], float]:
        return {
            (key.split('controller="')[1].split('"')[0], key.split('scheduler="')[1].split('"')[0]): value
            for key, value in facts.items()
            if key.startswith(c.CONTROLLER_FILTERS_LOADED + "{")
        }

    def release(facts: dict[str, float]) -> dict[str, tuple[str, float]]:
        return {
            key.split('controller="')[1].split('"')[0]: (key.split('release="')[1].split('"')[0], value)
            for key, value in facts.items()
            if key.startswith(c.CONTROLLER_FILTER_RELEASE + "{")
        }

    facts = _facts(monkeypatch, tmp_path, plan_file, dc1, *extra)
    names = (first.name, second.name)
    assert loaded(facts) == {(h, s): 1 for h in names for s in ("cinder", "nova")}
    assert release(facts) == {h: (deployed, 1) for h in names}
    assert f'{c.LABEL_DEPLOYED}="{deployed}"' in next(
        k for k in facts if k.startswith(c.CONTROLLER_FILTER_RELEASE)
    )

    # The first runs another release by hand, the second's cinder scheduler stopped.
    state = controllers / str(first.address) / plane.deploy.state_dir.lstrip("/") / "current.json"
    state.write_text(json.dumps({"wheel_sha256": "ab" * 32}))
    _unit(controllers / str(second.address), plane.deploy.cinder.unit, "failed", 1_800_000_000)
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1, *extra)
    assert loaded(facts) == {
        (first.name, "cinder"): 1,
        (first.name, "nova"): 1,
        (second.name, "cinder"): 0,
        (second.name, "nova"): 1,
    }
    assert release(facts) == {first.name: ("ab" * 32, 0), second.name: (deployed, 1)}

    # A controller that cannot be read is unchecked, never "loaded".
    (controllers / str(first.address) / "host_key").write_text("ssh-ed25519 AAAAother")
    facts = _facts(monkeypatch, tmp_path, plan_file, dc1, *extra)
    assert {h for h, _ in loaded(facts)} == {second.name}
    assert any(k.startswith(c.PLACEMENT_UNCHECKED) and first.name in k for k in facts)


def test_controllers_need_the_checkpoint(tmp_path: Path, plan_file: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(
            ["--stack", "dc1", "--facts", str(tmp_path / "f.prom"), "--plan", str(plan_file), "--controllers"]
        )
    assert exit_.value.code == ExitCode.INPUT


def test_a_broken_zone_costs_n_plus_one_only_to_the_services_with_pods_in_it(
    plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """Whatever the zones are called: before, a zone was found by its name in the problem's message, so
    with zones ``dc1-az1`` and ``dc1-az1b`` a broken dc1-az1b cost N+1 to dc1-az1's services too."""
    datacenter = plan.datacenter.model_dump_json(by_alias=True).replace("dc1-az2", "dc1-az1b")
    gateway = plan.services["telepresence-gateway"]
    # One pod, so in the first zone only (pod N goes to zone N modulo the zones).
    services = {
        **plan.services,
        "telepresence-gateway": gateway.model_copy(update={"pods": gateway.pods[:1]}),
    }
    renamed = plan.model_copy(
        update={"datacenter": type(plan.datacenter).model_validate_json(datacenter), "services": services}
    )
    second = [h.name for h in renamed.datacenter.hosts if h.availability_zone == "dc1-az1b"]
    down = [ComputeService(f"id-{h}", h, "dc1-az1b", False, True, "broken PSU") for h in second[:3]]
    compute = [
        *down,
        *(
            ComputeService(f"id-{h.name}", h.name, h.availability_zone, True, True, "")
            for h in renamed.datacenter.hosts
            if h.name not in second[:3]
        ),
    ]

    one_pod = [
        (label, s.model_copy(update={"pods": s.pods.model_copy(update={"count": 1})}))
        if s.name == "telepresence-gateway"
        else (label, s)
        for label, s in catalog
    ]
    live = live_n_plus_one(renamed, one_pod, compute, [h.name for h in renamed.datacenter.hosts])
    assert live.n_plus_one is not None
    assert live.n_plus_one["telepresence-gateway"] is True, "its one pod is in dc1-az1"
    assert not any(live.n_plus_one[name] for name in SERVICES if name != "telepresence-gateway")
