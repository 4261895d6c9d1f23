"""`python -m webex_cloud maintain` against the loopback's real Nova, with our filters on the controllers.

The deployment of test_live_audit (a part of the example catalog as a real plan of dc1 on the loopback's
inventory, pods where POD_HOSTS says) is built again in a project of its own; then fake-host-1, which
holds messaging's pod 0 (anchor and member) and controller proxy 0, is drained by the command as an
operator runs it: refused when the rest of the inventory could not hold the stack, interrupted after its
first move and run again, and finally undrained. The drain holds the stack's deploy lock in a file://
state backend of the test's own and gates each moved pod against listeners on 127.0.9.20 (an address
map: never the plan's own addresses).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import COMPUTE_HOSTS, wait_for
from tests.integration.deploy import Deployment
from tests.integration.test_live_audit import POD_HOSTS, PREFIX, STACK, Site, site
from tests.integration.test_release_rollout import Responder
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance.drain import MARK
from webex_cloud.maintenance.gate import pod_gates
from webex_cloud.plan.format import read_plan

__all__ = ["site"]
DRAINED = "fake-host-1"
TIMEOUT = 900
SERVING = "127.0.9.20"


def maintain(site: Site, *argv: str) -> list[str]:
    return [
        sys.executable,
        "-u",
        "-m",
        "webex_cloud",
        "maintain",
        *argv,
        "--stack",
        STACK,
        "--clouds-yaml",
        str(site.clouds_yaml),
        "--cloud",
        f"{PREFIX}admin",
        "--timeout",
        "60",
    ]


def name_of(site: Site, urn: str) -> str:
    return str(next(r["inputs"]["name"] for r in site.plan["resources"] if r["urn"] == urn))


def where(site: Site) -> dict[str, str]:
    """Cloud name -> host, for every server of the test's project."""
    return {s.name: s.compute_host for s in site.admin.compute.servers(details=True)}


def compute_service(site: Site, host: str) -> Any:
    (service,) = [s for s in site.admin.compute.services(binary="nova-compute") if s.host == host]
    return service


def give_back(site: Site, hosts: tuple[str, ...]) -> None:
    """Enable each of ``hosts`` that a drain disabled (the test's own undrain may not have been reached)."""
    for host in hosts:
        service = compute_service(site, host)
        if service.status == "disabled" and (service.disabled_reason or "").startswith(MARK):
            response = site.admin.compute.put(
                f"/os-services/{service.id}", json={"status": "enabled"}, microversion="2.53"
            )
            response.raise_for_status()


@pytest.fixture
def drain_options(site: Site, tmp_path: Path) -> Iterator[list[str]]:
    """--state (a file:// backend in the project layout) and --address-map (every gated instance on
    SERVING, where a listener answers at each of the gates' ports)."""
    state = tmp_path / "state"
    (state / ".pulumi").mkdir(parents=True)
    (state / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    gates = pod_gates(read_plan(site.plan_path), str(site.plan_path))
    targets = [t for gate in gates.values() for t in gate.targets]
    responders = [Responder(SERVING, port) for port in sorted({t.check.port for t in targets})]
    for responder in responders:
        responder.set_active(True)
    address_map = tmp_path / "address-map.json"
    address_map.write_text(json.dumps({t.instance: SERVING for t in targets}))
    yield ["--state", f"file://{state}", "--address-map", str(address_map)]
    for responder in responders:
        responder.set_active(False)


def locks(options: list[str]) -> list[Path]:
    folder = Path(options[1].removeprefix("file://")) / ".pulumi/locks/organization/webex-cloud" / STACK
    return sorted(folder.glob("*.json"))


def pods_whole_and_apart(site: Site) -> dict[str, str]:
    hosts = where(site)
    pods: dict[str, str] = {}
    for service in ("messaging", "telepresence-gateway"):
        for pod in site.plan["services"][service]["pods"]:
            names = [name_of(site, urn) for urn in pod["instances"]]
            on = {hosts[name] for name in names}
            assert len(on) == 1, f"pod {pod['name']} split over {on}"
            pods[pod["name"]] = on.pop()
        mine = [p["name"] for p in site.plan["services"][service]["pods"]]
        assert not [(a, b) for a, b in combinations(mine, 2) if pods[a] == pods[b]], pods
    return pods


def test_maintain_drain_refuses_resumes_and_undrains(
    site: Site, our_filters: Deployment, tmp_path: Path, drain_options: list[str]
) -> None:
    try:
        plan = ["--plan", str(site.plan_path), *drain_options]
        before = where(site)
        assert before[name_of(site, site.plan["services"]["messaging"]["pods"][0]["instances"][0])] == DRAINED
        # Three of the four hosts away: the plan's pods cannot be placed apart on one host.
        refused = subprocess.run(
            [
                *maintain(
                    site,
                    "drain",
                    *plan,
                    "--host",
                    "fake-host-1",
                    "--host",
                    "fake-host-2",
                    "--host",
                    "fake-host-3",
                )
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert refused.returncode == ExitCode.BLOCKING, refused.stderr
        assert "refused:" in refused.stderr and compute_service(site, DRAINED).status == "enabled"
        assert where(site) == before

        # Interrupted right after its first move (the anchor), then run again: it completes.
        command = [*maintain(site, "drain", *plan, "--host", DRAINED, "--move-timeout", "300")]
        errors = tmp_path / "first.stderr"
        with (
            errors.open("w") as stderr,
            subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True) as first,
        ):
            assert first.stdout is not None
            lines = []
            for line in first.stdout:
                lines.append(line)
                if line.startswith("moved "):
                    first.send_signal(signal.SIGKILL)
                    break
            first.wait(timeout=TIMEOUT)
        assert any(line.startswith("moved ") for line in lines), (lines, errors.read_text())
        assert compute_service(site, DRAINED).disabled_reason.startswith(MARK)
        assert len(locks(drain_options)) == 1  # a killed drain releases nothing; its rerun takes it over
        again = subprocess.run(
            [*command, "--json"], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT
        )
        assert again.returncode == ExitCode.OK, again.stderr
        report = json.loads(again.stdout)
        assert report["left_on_hosts"] == [] and report["moved"] and locks(drain_options) == []
        # messaging's pod 0 is gated (its members moved by this run), controller proxy 0 has no gate.
        assert {g["pod"]: g["result"] for g in report["gates"]}.get("messaging-pod-0") == "passed", report
        assert all(g["result"] != "failed" for g in report["gates"])
        after = where(site)
        assert DRAINED not in after.values(), after
        pods = pods_whole_and_apart(site)
        assert {p: h for p, h in pods.items() if POD_HOSTS[p] != DRAINED} == {
            p: h for p, h in POD_HOSTS.items() if h != DRAINED
        }
        assert compute_service(site, DRAINED).status == "disabled"

        done = subprocess.run(
            [*maintain(site, "undrain", "--host", DRAINED)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == ExitCode.OK, done.stderr
        wait_for(f"{DRAINED} enabled", lambda: compute_service(site, DRAINED).status == "enabled" or None, 60)
    finally:
        # Whatever happened, the tests after this one find every host enabled.
        give_back(site, COMPUTE_HOSTS)
