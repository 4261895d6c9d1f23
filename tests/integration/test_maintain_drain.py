"""`python -m webex_cloud maintain` against the loopback's real Nova, with our filters on the controllers.

The deployment of test_live_audit (a part of the example catalog as a real plan of dc1 on the loopback's
inventory, pods where POD_HOSTS says) is built again in a project of its own; then fake-host-1, which
holds messaging's pod 0 (anchor and member) and controller proxy 0, is drained by the command as an
operator runs it: refused when the rest of the inventory could not hold the stack, interrupted after its
first move and run again, and finally undrained. The drain holds the stack's deploy lock in a file://
state backend of the test's own and gates each moved pod against its own instances (an address map:
never the plan's own addresses).

Each gated server of the two services has an instance on 127.0.11.x (tests/integration/serving.py) that
serves while Nova shows the server ACTIVE or live-migrating, and not during a cold migration or a
rebuild. Throughout, a synthetic client per service spreads its requests over the service's pods, and a
sampler counts the pods that serve on every instance: at least 99.9 % of the requests are answered,
and no service is ever below pods - max_unavailable pods serving (issue 27's proof).
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import COMPUTE_HOSTS, wait_for
from tests.integration.deploy import Deployment
from tests.integration.serving import Instance, follow, pods_serving, request
from tests.integration.test_day2_placement import COMPUTE_SH, bring_back, down, force_down
from tests.integration.test_live_audit import POD_HOSTS, PREFIX, STACK, Site, site
from webex_cloud.exit_codes import ExitCode
from webex_cloud.maintenance.drain import MARK
from webex_cloud.maintenance.gate import pod_gates
from webex_cloud.plan.format import INSTANCE, read_plan

__all__ = ["site"]
DRAINED = "fake-host-1"
TIMEOUT = 900


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


SERVES = frozenset({"ACTIVE", "MIGRATING"})
"""Nova's statuses in which a server's instance serves: running, or being live-migrated (the guest runs
on while its memory is copied: status MIGRATING, nova compute/api.py ``live_migrate``). A cold migration
(RESIZE, then VERIFY_RESIZE until confirmed) and an evacuation's rebuild (REBUILD) stop it."""
CLIENT_RATE = 40
"""The synthetic client's requests a second, per service."""
GOAL = 0.999


@dataclass
class Traffic:
    """A synthetic client per service, each spreading its requests over the service's pods in turn (and
    over each pod's instances), and a sampler of how many of each service's pods serve on every
    instance, every 0.25 s."""

    pods: dict[str, dict[str, list[tuple[str, int]]]]
    """Service -> pod -> its instances' (address, port)."""
    stop: threading.Event = field(default_factory=threading.Event)
    sent: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str, float]] = field(default_factory=list)
    """(service, address, time) of each request that was not answered."""
    serving: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def client(self, service: str) -> None:
        pods = list(self.pods[service].values())
        for i in itertools.count():
            if self.stop.wait(1 / CLIENT_RATE):
                return
            members = pods[i % len(pods)]
            address, port = members[(i // len(pods)) % len(members)]
            self.sent[service] += 1
            if not request(address, port):
                self.failed.append((service, address, time.monotonic()))

    def sample(self) -> None:
        while not self.stop.wait(0.25):
            for service, pods in self.pods.items():
                self.serving[service].append(pods_serving(pods.values()))

    def answered(self) -> float:
        return 1 - len(self.failed) / max(1, sum(self.sent.values()))


@dataclass
class Served:
    """The stack's gated instances served on 127.0.11.x as Nova shows their servers, with the traffic
    on them, and the maintain options that point the command's gates there."""

    traffic: Traffic
    options: list[str]
    max_unavailable: dict[str, int]


@pytest.fixture
def served(site: Site, tmp_path: Path) -> Iterator[Served]:
    """--state (a file:// backend in the project layout) and --address-map (each gated instance on an
    address of its own, where its instance listens while Nova shows its server serving), and the
    traffic on those instances."""
    state = tmp_path / "state"
    (state / ".pulumi").mkdir(parents=True)
    (state / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    gates = pod_gates(read_plan(site.plan_path), str(site.plan_path))
    targets = [t for pod in sorted(gates) for t in gates[pod].targets]
    assert {t.check.protocol for t in targets} == {"tcp"}, "the responders answer TCP checks only"
    address = {t.instance: f"127.0.11.{10 + i}" for i, t in enumerate(targets)}
    instances = {t.instance: Instance(address[t.instance], t.check.port) for t in targets}
    cloud_name = {r["name"]: r["inputs"]["name"] for r in site.resources(INSTANCE)}
    ids = {site.created[cloud_name[t.instance]]: t.instance for t in targets}
    pods: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(dict)
    for t in targets:
        pods[gates[t.pod].service].setdefault(t.pod, []).append((address[t.instance], t.check.port))
    traffic = Traffic(dict(pods))

    def become(name: str, server: Any) -> None:
        instances[name].set_serving(server.status in SERVES)

    address_map = tmp_path / "address-map.json"
    address_map.write_text(json.dumps(address))
    threads = [
        threading.Thread(target=follow, args=(site.admin, ids, become, traffic.stop), daemon=True),
        threading.Thread(target=traffic.sample, daemon=True),
        *(threading.Thread(target=traffic.client, args=(s,), daemon=True) for s in sorted(pods)),
    ]
    try:
        threads[0].start()
        wait_for(
            "every gated instance serving",
            lambda: True if all(pods_serving([p]) for s in pods.values() for p in s.values()) else None,
        )
        for thread in threads[1:]:
            thread.start()
        yield Served(
            traffic,
            ["--state", f"file://{state}", "--address-map", str(address_map)],
            {gates[pod].service: gates[pod].max_unavailable for pod in gates},
        )
    finally:
        traffic.stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        for instance in instances.values():
            instance.set_serving(False)


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
    site: Site, our_filters: Deployment, tmp_path: Path, served: Served
) -> None:
    drain_options = served.options
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

        # Throughout (the refusal, the killed drain, its rerun, the undrain), the client's requests were
        # answered, and no service had fewer than pods - max_unavailable pods serving on every instance.
        traffic = served.traffic
        traffic.stop.set()
        sent, failed = sum(traffic.sent.values()), len(traffic.failed)
        fewest = {service: min(samples) for service, samples in traffic.serving.items()}
        sizes = {service: len(service_pods) for service, service_pods in traffic.pods.items()}
        print(
            f"\nsynthetic client: {sent - failed}/{sent} requests answered "
            f"({100 * traffic.answered():.3f} %; per service sent {dict(traffic.sent)}); "
            f"fewest pods serving: {fewest} of {sizes}"
        )
        assert sent > 20 * CLIENT_RATE and min(traffic.sent.values()) > 10 * CLIENT_RATE, traffic.sent
        assert traffic.answered() >= GOAL, traffic.failed
        for service, size in sizes.items():
            assert fewest[service] >= size - served.max_unavailable[service], traffic.serving[service]
    finally:
        # Whatever happened, the tests after this one find every host enabled.
        give_back(site, COMPUTE_HOSTS)


def set_enabled(site: Site, host: str, enabled: bool, reason: str = "") -> None:
    service = compute_service(site, host)
    body = {"status": "enabled"} if enabled else {"status": "disabled", "disabled_reason": reason}
    site.admin.compute.put(f"/os-services/{service.id}", json=body, microversion="2.53").raise_for_status()


def test_maintain_evacuate_rebuilds_a_dead_hosts_pods_whole_and_apart(
    site: Site, our_filters: Deployment, served: Served
) -> None:
    """messaging's pod 1 loses its host: its nova-compute stops and an admin forces it down. While the
    host still runs, and while the hosts left have no room for the pod apart from its sibling, nothing is
    split; once there is room, the evacuation's rerun rebuilds the pod whole on another host."""
    hosts = pods_whole_and_apart(site)
    dead, sibling = hosts["messaging-pod-1"], hosts["messaging-pod-0"]
    service = compute_service(site, dead)
    before = where(site)
    members = [name_of(site, urn) for urn in site.plan["services"]["messaging"]["pods"][1]["instances"]]
    command = [
        *maintain(site, "evacuate", "--plan", str(site.plan_path), *served.options, "--host", dead),
        "--move-timeout",
        "300",
        "--json",
    ]

    def evacuate() -> tuple[int, dict[str, Any], str]:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout), done.stderr

    code, report, stderr = evacuate()
    assert code == ExitCode.BLOCKING and "compute service is up" in report["refused"][0], stderr
    assert where(site) == before and compute_service(site, dead).status == "enabled"

    no_room = [h for h in COMPUTE_HOSTS if h not in (dead, sibling)]
    try:
        subprocess.run(["bash", str(COMPUTE_SH), "stop", dead], check=True, timeout=300)
        force_down(site.admin, service.id, True)
        wait_for(f"{dead} down", lambda: True if down(site.admin, dead) else None, 60)
        # Every host but the dead one and the sibling pod's disabled: no host may take the pod.
        for host in no_room:
            set_enabled(site, host, False, "test: no room")
        code, report, stderr = evacuate()
        assert code == ExitCode.INPUT and "rerun the evacuation" in report["stopped"], stderr
        assert members[0] in {m["server"] for m in report["moves"] if m["anchor"]}, report
        assert not [m for m in report["moved"] if m["server"] in members], report
        assert any(f"server {members[0]}" in f and "went to ERROR" in f for f in report["failed"]), report
        left = [f"member {m} of pod messaging-pod-1 is left" for m in members[1:]]
        assert all(any(line in f for f in report["failed"]) for line in left), report
        now = where(site)
        assert all(now[m] == dead for m in members), now  # the pod where it was, not split
        assert compute_service(site, dead).disabled_reason.startswith(MARK)

        for host in no_room:
            set_enabled(site, host, True)
        code, report, stderr = evacuate()
        assert code == ExitCode.OK, stderr
        assert set(members) <= {m["server"] for m in report["moved"]}, report
        gates = {g["pod"]: g["result"] for g in report["gates"]}
        assert gates["messaging-pod-1"] == "passed" and set(gates.values()) <= {"passed", "none"}, report
        after = pods_whole_and_apart(site)
        assert after["messaging-pod-1"] not in (dead, sibling)
        assert {p: h for p, h in after.items() if p != "messaging-pod-1"} == {
            p: h for p, h in hosts.items() if p != "messaging-pod-1"
        }
        assert dead not in where(site).values()
        assert compute_service(site, dead).status == "disabled"
    finally:
        for host in no_room:
            set_enabled(site, host, True)
        bring_back(site.admin, service.id, dead)
        give_back(site, COMPUTE_HOSTS)
