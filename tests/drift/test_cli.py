"""`python -m webex_cloud drift`: exit codes, acknowledgements, unusable input, and the inventory read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audit.fakes import PROJECT, STACK
from tests.drift.fakes import Site, glance_holds_every_image, site
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.inventory import Inventory, read_inventory
from webex_cloud.commands.drift import main
from webex_cloud.drift.acks import AckError, Acks, apply_acks, read_acks
from webex_cloud.drift.findings import digest, make
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import INSTANCE, Plan

TODAY = dt.date(2026, 12, 6)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Inventory]]:
    """The command with its two network steps replaced: connecting yields nothing, reading returns this."""
    inventories: list[Inventory] = []

    class Conn:
        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr("webex_cloud.commands.drift.connect", lambda cloud, access, path, timeout: Conn())
    monkeypatch.setattr("webex_cloud.commands.drift.read_inventory", lambda session: inventories[0])
    glance_holds_every_image(monkeypatch)
    yield inventories


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


def argv(plan_file: Path, folder: Path, cloud: Site, *extra: str) -> list[str]:
    checkpoint = folder / "dc1.json"
    checkpoint.write_text(json.dumps(cloud.checkpoint()))
    acks = folder / "acks.yaml"
    files = ["--plan", str(plan_file), "--checkpoint", str(checkpoint), "--acks", str(acks)]
    return ["--stack", STACK, *files, "--cloud", "x", *extra]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def stop_one(cloud: Site) -> dict[str, Any]:
    server = cloud.live("servers", cloud.resource(INSTANCE)["id"])
    server["status"] = "SHUTOFF"
    return server


def test_exit_codes_follow_the_verdict_and_an_acknowledgement_releases_the_deploy(
    dc1: Site,
    plan_file: Path,
    served: list[Inventory],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    served.append(dc1.inventory())
    args = argv(plan_file, tmp_path, dc1)
    code, out, _ = run_cli(args, capsys)
    assert code == ExitCode.OK and "no blocking drift in dc1" in out

    stop_one(dc1)
    served[0] = dc1.inventory()
    code, out, _ = run_cli([*args, "--json"], capsys)
    document = json.loads(out)
    assert code == ExitCode.BLOCKING and document["blocking"] == 1
    (entry,) = document["drift"]
    assert entry["observed_sha256"] == digest("SHUTOFF")

    ack = {
        "resource": entry["resource"],
        "field": entry["field"],
        "observed_sha256": entry["observed_sha256"],
        "reason": "INC-4711 stopped for forensics",
        "expires": "2026-12-31",
    }
    (tmp_path / "acks.yaml").write_text(yaml.safe_dump({"acknowledgements": [ack]}))
    code, out, _ = run_cli([*args, "--json"], capsys)
    document = json.loads(out)
    assert code == ExitCode.OK and document["blocking"] == 0
    assert document["drift"][0]["acknowledged"].startswith("INC-4711 stopped for forensics")

    dc1.live("servers", entry["id"])["status"] = "SHELVED_OFFLOADED"  # another observed value
    served[0] = dc1.inventory()
    code, out, _ = run_cli(args, capsys)
    assert code == ExitCode.BLOCKING and "matches no drift now" in out


def test_unusable_inputs_exit_2_without_a_traceback(
    dc1: Site,
    plan_file: Path,
    served: list[Inventory],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    served.append(dc1.inventory())
    args = argv(plan_file, tmp_path, dc1)
    (tmp_path / "dc1.json").write_text("{not json")
    code, _, err = run_cli(args, capsys)
    assert code == ExitCode.INPUT and "corrupted checkpoint" in err and "Traceback" not in err

    args = argv(plan_file, tmp_path, dc1)
    (tmp_path / "acks.yaml").write_text("acknowledgements:\n  - resource: x\n    field: y\n")
    code, _, err = run_cli(args, capsys)
    assert code == ExitCode.INPUT and "acks.yaml: acknowledgements.0.observed_sha256" in err

    (tmp_path / "acks.yaml").unlink()
    args[args.index("--plan") + 1] = str(tmp_path / "none.json")
    code, _, err = run_cli(args, capsys)
    assert code == ExitCode.INPUT and "none.json" in err

    code, _, err = run_cli(["--stack", STACK, "--plan", str(plan_file)], capsys)
    assert code == ExitCode.INPUT and "give --state URL" in err and "--checkpoint FILE" in err


def test_an_unreachable_cloud_is_unusable_input(
    dc1: Site, plan_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    auth = {"auth_url": "http://127.0.0.1:9/v3", "username": "u", "password": "p", "project_name": "p"}
    auth |= {"user_domain_name": "Default", "project_domain_name": "Default"}
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"down": {"auth": auth}}}))
    args = argv(plan_file, tmp_path, dc1, "--clouds-yaml", str(clouds), "--timeout", "5")
    args[args.index("--cloud") + 1] = "down"  # nothing listens on port 9
    code, _, err = run_cli(args, capsys)
    assert code == ExitCode.INPUT and "'down'" in err and "Traceback" not in err


def _drift(observed: Any) -> Any:
    return make("stopped", "urn:a", "a", "id-a", "powerState", "active", observed, "a is stopped")


def test_an_acknowledgement_matches_only_its_exact_observed_value_until_it_expires(tmp_path: Path) -> None:
    path = tmp_path / "dc1.yaml"
    entry = {"resource": "urn:a", "field": "powerState", "observed_sha256": digest("SHUTOFF")}
    entry |= {"reason": "INC-1 kept off", "expires": "2026-12-10"}
    path.write_text(yaml.safe_dump({"acknowledgements": [entry]}))
    acks = read_acks(path, TODAY)
    (matched,), notes = apply_acks([_drift("SHUTOFF")], acks, TODAY)
    assert matched.acknowledged and not matched.blocking and notes == []
    (other,), notes = apply_acks([_drift("SHELVED")], acks, TODAY)
    assert other.blocking and "matches no drift now" in notes[0]
    (late,), notes = apply_acks([_drift("SHUTOFF")], acks, dt.date(2026, 12, 11))
    assert late.blocking and "expired on 2026-12-10" in notes[0]


def test_acknowledgement_files_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "dc1.yaml"
    assert read_acks(path, TODAY) == Acks(str(path), ())
    entry = {"resource": "urn:a", "field": "f", "observed_sha256": "0" * 64, "reason": "why not"}
    path.write_text(yaml.safe_dump({"acknowledgements": [{**entry, "expires": "2028-01-01"}]}))
    with pytest.raises(AckError, match=r"acknowledgements.0.expires: 2028-01-01 is more than 366 days"):
        read_acks(path, TODAY)
    path.write_text(
        yaml.safe_dump({"acknowledgements": [{**entry, "observed_sha256": "abc", "expires": "2027-01-01"}]})
    )
    with pytest.raises(AckError, match="64 lowercase hex digits"):
        read_acks(path, TODAY)
    path.write_text(": : :")
    with pytest.raises(AckError, match="not readable YAML"):
        read_acks(path, TODAY)


class FakeSession:
    """A Session's read surface, answering with recorded API shapes."""

    cloud = "fake"
    project_id = PROJECT

    def __init__(self, lists: Mapping[str, list[dict[str, Any]]], services: dict[str, Any] | None) -> None:
        self.lists = lists
        self.services = services

    def listing(self, service: str, path: str, key: str) -> Iterator[Mapping[str, Any]]:
        return iter(self.lists[path])

    def get(
        self, service: str, url: str, params: Mapping[str, Any] | None = None, headers: Any = None
    ) -> Mapping[str, Any]:
        if url == "/os-services":
            if self.services is None:
                raise CloudError("cloud 'fake': Nova: GET /os-services failed: 403 Forbidden")
            return self.services
        assert url == "/os-server-groups"
        return {"server_groups": [{"id": "g", "name": "g", "policies": ["anti-affinity"], "members": []}]}


def test_the_inventory_keeps_the_projects_neutron_records_and_tells_a_refused_service_list() -> None:
    mine = {"id": "r1", "project_id": PROJECT, "direction": "ingress"}
    theirs = {"id": "r2", "project_id": "another", "direction": "ingress"}
    old_neutron = {"id": "r3", "tenant_id": PROJECT, "direction": "egress"}
    lists = {
        "/servers/detail": [{"id": "s"}],
        "/volumes/detail": [{"id": "v"}],
        "/networks": [{"id": "n", "project_id": "shared"}],
        "/subnets": [{"id": "sn", "name": "mgmt", "network_id": "n", "project_id": "shared"}],
        "/ports": [{"id": "p", "project_id": "another"}],
        "/security-groups": [{"id": "sg", "project_id": PROJECT}],
        "/security-group-rules": [mine, theirs, old_neutron],
    }
    services = {"services": [{"id": 1, "host": "h", "zone": "z", "status": "enabled", "state": "down"}]}
    inventory = read_inventory(FakeSession(lists, services))  # type: ignore[arg-type]
    assert [r["id"] for r in inventory.security_group_rules] == ["r1", "r3"]
    assert inventory.ports == [] and [n["id"] for n in inventory.networks] == ["n"]
    assert [s["id"] for s in inventory.subnets] == ["sn"]  # shared: what a lookup by name may find
    assert inventory.compute_services is not None and inventory.compute_services[0].up is False
    refused = read_inventory(FakeSession(lists, None))  # type: ignore[arg-type]
    assert refused.compute_services is None and "403" in refused.compute_services_error
