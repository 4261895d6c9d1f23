"""The live audit's verdict as metrics: every service and kind written (0 included), what the identity
could not see marked, and an exposition promtool accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.monitoring.tools import require
from webex_cloud.audit.compare import Limitation, Report
from webex_cloud.cli_common import CommandError
from webex_cloud.cloud.views import parse_server
from webex_cloud.commands.monitoring import main
from webex_cloud.config.loader import load_deployment
from webex_cloud.drift.controllers import ControllerState, Judged, Rollout, ServiceState
from webex_cloud.facts.invariants import PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN, Finding
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import stack_watch
from webex_cloud.monitoring_ops.facts import KINDS, Live, exposition


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_findings_are_counted_per_service_and_kind_and_zero_is_written() -> None:
    watch = stack_watch(load_deployment(REPO, "dc1"), "stacks/Pulumi.dc1.yaml")
    report = Report(
        stack="dc1",
        findings=[
            Finding(REPLICAS_SHARE_DOMAIN, "messaging", "replicas 0 and 1 in rack-a"),
            Finding(REPLICAS_SHARE_DOMAIN, "messaging", "replicas 1 and 2 in rack-b"),
            Finding(PODS_SHARE_HOST, "meetings-media", "pods 0 and 1 on dc1-compute-01"),
            Finding("missing-instance", "messaging", "not a placement metric"),
        ],
        limitations=[Limitation("the failure domains of volume replicas", "rule", "admin")],
    )
    got = samples(exposition(watch, report, (), read_at=1765000000.5))
    findings = {key: value for key, value in got.items() if key.startswith(c.PLACEMENT_FINDINGS)}
    assert len(findings) == len(watch.services) * len(KINDS)
    key = '{datacenter="dc1",service="messaging",owner="team-messaging",kind="replicas-share-domain"}'
    assert findings[c.PLACEMENT_FINDINGS + key] == 2
    key = '{datacenter="dc1",service="meetings-media",owner="team-media",kind="pods-share-host"}'
    assert findings[c.PLACEMENT_FINDINGS + key] == 1
    assert sum(findings.values()) == 3
    assert (
        got[f'{c.PLACEMENT_UNCHECKED}{{datacenter="dc1",check="the failure domains of volume replicas"}}']
        == 1
    )
    assert got[f'{c.PLACEMENT_CHECKED_AT}{{datacenter="dc1"}}'] == 1765000000.5


def _server(status: str, service: str, datacenter: str, fault: str | None) -> dict[str, object]:
    """A ``GET /servers/detail`` record as nova 34 sends it (``fault`` only on ERROR/DELETED servers)."""
    owner = {"messaging": "team-messaging", "meetings-media": "team-media"}[service]
    record: dict[str, object] = {
        "id": f"id-{service}-{status}",
        "name": f"{datacenter}-{service}-pod-0-app-0",
        "status": status,
        "hostId": "",
        "metadata": {"service": service, "owner": owner, "datacenter": datacenter},
    }
    if fault is not None:
        record["fault"] = {"code": 500, "created": "2026-12-06T23:00:00Z", "message": fault}
    return record


def test_servers_nova_found_no_host_for_are_counted_per_service() -> None:
    watch = stack_watch(load_deployment(REPO, "dc1"), "stacks/Pulumi.dc1.yaml")
    no_host = "No valid host was found. There are not enough hosts available."
    servers = [
        parse_server(record)
        for record in (
            _server("ERROR", "messaging", "dc1", no_host),
            _server("ERROR", "messaging", "dc1", "No valid host was found. "),
            # Another fault, another datacenter's server, a healthy server: not counted.
            _server("ERROR", "meetings-media", "dc1", "Build of instance aborted: Volume not found"),
            _server("ERROR", "meetings-media", "dc2", no_host),
            _server("ACTIVE", "meetings-media", "dc1", None),
        )
    ]
    got = samples(exposition(watch, Report(stack="dc1"), servers, read_at=1.0))
    counts = {key: value for key, value in got.items() if key.startswith(c.NO_VALID_HOST_SERVERS)}
    assert len(counts) == len(watch.services)
    messaging = '{datacenter="dc1",service="messaging",owner="team-messaging"}'
    assert counts[c.NO_VALID_HOST_SERVERS + messaging] == 2
    assert sum(counts.values()) == 2


def test_promtool_accepts_the_exposition() -> None:
    require("promtool")
    watch = stack_watch(load_deployment(REPO, "dc2"), "stacks/Pulumi.dc2.yaml")
    report = Report(stack="dc2", limitations=[Limitation('a "quoted"\ncheck', "rule", "admin")])
    judged = Judged(
        Rollout("urn:ctl-01-rollout", "ctl-01", {"wheel_sha256": "a" * 64}),
        ControllerState(None, {"nova": ServiceState("nova-scheduler", None, None, "failed", None)}),
        (),
    )
    live = Live(
        n_plus_one={service.service: True for service in watch.services},
        unavailable_hosts=1,
        controllers={"ctl-01": judged},
        unchecked=("controller ctl-02 (10.0.0.2): no answer",),
    )
    text = exposition(watch, report, (), read_at=1.0, live=live)
    assert f'{c.CONTROLLER_FILTER_RELEASE}{{datacenter="dc2",controller="ctl-01",owner="' in text
    assert 'release="none",deployed="' + "a" * 64 + '"} 1' in text
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_facts_without_a_plan_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "placement.prom"
    code = main(["--stack", "dc1", "--facts", str(target), "--plan", str(tmp_path / "none.json")])
    assert code == 2 and "cannot read plan" in capsys.readouterr().err
    assert not target.exists()


def test_facts_name_one_stack(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--facts names one stack's file"):
        main(["--facts", str(tmp_path / "placement.prom")])


@pytest.mark.parametrize(
    "option", [["--push-nodes"], ["--controllers", "--checkpoint", "x.json"], ["--plan", "p"]]
)
def test_an_option_of_facts_without_facts_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    """Before, the files were generated instead (exit 0) and the facts silently never pushed or read."""
    with pytest.raises(SystemExit) as done:
        main(["--stack", "dc1", "--out", str(tmp_path), *option])
    assert done.value.code == 2 and f"{option[0]}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_without_controllers_is_refused_rather_than_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "placement.prom"
    with pytest.raises(SystemExit) as done:
        main(["--stack", "dc1", "--facts", str(target), "--checkpoint", str(tmp_path / "dc1.json")])
    assert done.value.code == 2 and "--controllers" in capsys.readouterr().err
    assert not target.exists()


def test_every_fact_of_the_contract_is_in_the_documented_table() -> None:
    page = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    for name in (
        c.PLACEMENT_FINDINGS, c.PLACEMENT_UNCHECKED, c.PLACEMENT_CHECKED_AT, c.NO_VALID_HOST_SERVERS,
        c.SERVICE_N_PLUS_ONE, c.HOSTS_UNAVAILABLE, c.CONTROLLER_FILTERS_LOADED, c.CONTROLLER_FILTER_RELEASE,
    ):  # fmt: skip
        assert f"| `{name}` |" in page, name
