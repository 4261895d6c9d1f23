"""Two gates judged by the real Prometheus (Debian's 2.42, installed by tools/monitoring/install.sh),
scraping prometheus_client responders on 127.0.0.x every second: a wave whose "new image" fails 5 % of
its calls fails its gate; a wave as good as the pods not yet changed passes.

The responders serve traffic of their own (a steady stream of counted calls), so the whole chain is the
production one: exposition, scrape, PromQL over the bake window, the HTTP API, the judgement. The last test
starts the chain one step earlier, at the catalog: a service's declared metrics endpoint, the scrape job
the monitoring generates for it, and ``python -m webex_cloud judge`` reading the application's series.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.conftest import ProjectCopy
from tests.monitoring.test_generate import discovered_labels
from tests.monitoring.tools import require
from webex_cloud.commands.judge import main as judge_command
from webex_cloud.commands.monitoring import generate
from webex_cloud.facts.metrics import SCRAPE_SERIES
from webex_cloud.release.analysis import AnalysisSpec, MetricSpec
from webex_cloud.release.probe import Check, GateSpec, Target, run_gate

CALLS_PER_S = 200
SCRAPE = "1s"
BAKE_S = 8.0
REQUESTS = 'sum(increase(app_calls_total{instance=~"$instances"}[$window]))'
ERRORS = MetricSpec(
    "error-ratio",
    # A pod that never failed has no code="500" series at all: without `or vector(0)` its ratio is "no
    # series", and a good wave could not be judged (docs/releasing.md says so too).
    '(sum(increase(app_calls_total{code="500",instance=~"$instances"}[$window])) or vector(0)) / ' + REQUESTS,
    max=0.02,
    max_increase=0.01,
)


class Responder:
    """One instance of the service: its calls counted by outcome, every ``fail_every``-th one a 500.

    It also exports a series labelled ``instance`` and ``pod`` of its own (wrong ones, as a careless
    application might): the scrape must keep the discovery's labels, which the analysis splits sides by.
    """

    def __init__(self, address: str, fail_every: int | None, port: int = 0) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("app_calls", "Calls served, by status", ["code"], registry=self.registry)
        build = Gauge("app_build", "What this instance runs", ["instance", "pod"], registry=self.registry)
        build.labels(instance="localhost", pod="not-this-one").set(1)
        self.server, _ = start_http_server(port, addr=address, registry=self.registry)
        self.address, self.port = address, int(self.server.server_port)
        self.fail_every = fail_every
        self.stopped = threading.Event()
        threading.Thread(target=self._serve_traffic, daemon=True).start()

    def _serve_traffic(self) -> None:
        count = 0
        while not self.stopped.wait(1 / CALLS_PER_S):
            count += 1
            failed = self.fail_every is not None and count % self.fail_every == 0
            self.calls.labels(code="500" if failed else "200").inc()

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


PODS = {  # pod -> (loopback address, every n-th call fails); pod-0 runs the bad "new image"
    "svc-pod-0": ("127.0.0.2", 20),
    "svc-pod-1": ("127.0.0.3", None),
    "svc-pod-2": ("127.0.0.4", None),
    "svc-pod-3": ("127.0.0.5", None),
}


def _nova_name(pod: str) -> str:
    return f"dc1-{pod}-app-0"


@pytest.fixture
def responders() -> Iterator[dict[str, Responder]]:
    running = {pod: Responder(address, fail) for pod, (address, fail) in PODS.items()}
    yield running
    for responder in running.values():
        responder.stop()


@contextlib.contextmanager
def running_prometheus(folder: Path, config: str) -> Iterator[str]:
    """Debian's Prometheus on 127.0.0.1 with ``config``, ready; its URL."""
    require("prometheus")
    (folder / "prometheus.yml").write_text(config)
    url = f"http://127.0.0.1:{_free_port()}"
    with subprocess.Popen(
        [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    ) as process:
        try:
            _ready(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture
def prometheus(tmp_path: Path, responders: dict[str, Responder]) -> Iterator[str]:
    targets = "\n".join(
        f"      - targets: ['{r.address}:{r.port}']\n"
        f"        labels: {{instance: {_nova_name(pod)}, pod: {pod}}}"
        for pod, r in responders.items()
    )
    config = (
        f"global: {{scrape_interval: {SCRAPE}, evaluation_interval: {SCRAPE}}}\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs:\n{targets}\n"
    )
    with running_prometheus(tmp_path, config) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"Prometheus at {url} did not become ready")


def _gate(wave: int, prometheus: str, responders: dict[str, Responder]) -> GateSpec:
    pods = list(PODS)
    new, old = pods[wave - 1 : wave], pods[wave:]
    analysis = AnalysisSpec(
        prometheus=(prometheus,),
        bake_s=BAKE_S,
        new_instances=tuple(map(_nova_name, new)),
        new_pods=tuple(new),
        old_instances=tuple(map(_nova_name, old)),
        old_pods=tuple(old),
        requests=REQUESTS,
        min_requests=100,
        metrics=(ERRORS,),
    )
    targets = tuple(
        Target(
            pod,
            f"{pod}-app-0",
            "app",
            responders[pod].address,
            Check("tcp", responders[pod].port, interval_s=0.1),
        )
        for pod in new
    )
    return GateSpec("dc1", "svc", wave, len(pods), 1, tuple(new), 10.0, targets, analysis)


def test_the_real_prometheus_fails_the_wave_that_fails_five_percent_and_passes_the_good_one(
    prometheus: str, responders: dict[str, Responder]
) -> None:
    logs = {1: io.StringIO(), 2: io.StringIO()}
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        verdicts = dict(
            zip(
                logs,
                pool.map(lambda wave: run_gate(_gate(wave, prometheus, responders), stream=logs[wave]), logs),
                strict=True,
            )
        )
    elapsed = time.monotonic() - started
    bad, good = logs[1].getvalue(), logs[2].getvalue()
    assert verdicts == {1: False, 2: True}, bad + good
    assert "verdict: FAIL" in bad and "error-ratio: fail - new 0.0" in bad, bad
    assert "error-ratio: new 0.0" in bad and "exceeds old 0 by" in bad, bad
    assert "verdict: PASS" in good, good
    assert elapsed < BAKE_S + 10, f"judged in {elapsed:.1f}s"


APP_PODS = {  # messaging pod -> its app instance's loopback address; pod-0 runs the bad "new image"
    "messaging-pod-0": ("127.0.0.6", 20),
    "messaging-pod-1": ("127.0.0.7", None),
    "messaging-pod-2": ("127.0.0.8", None),
}
DECOYS = {  # instances the job must not keep: the role without the endpoint, and another datacenter's
    ("dc1", "messaging-pod-0", "store"): "127.0.0.9",
    ("dc2", "messaging-pod-0", "app"): "127.0.0.10",
}
APP_REQUESTS = 'sum(increase(app_calls_total{job="app-$service",instance=~"$instances"}[$window]))'
APP_ANALYSIS = {
    "requests": APP_REQUESTS,
    "min_requests": 100,
    "metrics": [
        {
            "name": "error-ratio",
            "query": '(sum(increase(app_calls_total{job="app-$service",code="500",instance=~"$instances"}'
            f"[$window])) or vector(0)) / {APP_REQUESTS}",
            "max": 0.02,
            "max_increase": 0.01,
        }
    ],
}


def _shared_port(addresses: list[str]) -> int:
    """One port free on every address: the catalog declares one metrics port for all instances."""
    for _ in range(20):
        port = _free_port()
        try:
            for address in addresses:
                with socket.socket() as probe:
                    probe.bind((address, port))
            return port
        except OSError:
            continue
    raise AssertionError("no port free on every loopback address")


def _discovered_as_file_sd(job: dict[str, Any], targets: Path, port: int) -> dict[str, Any]:
    """The generated job with OpenStack SD swapped for a file holding what Prometheus v2.42.0's OpenStack
    SD would report for each instance (its ``__meta_openstack_*`` labels, ``__address__`` at the SD's
    port): everything else, the keep and label steps included, runs as generated."""
    sd = job.pop("openstack_sd_configs")
    assert sd[0]["port"] == port
    return {**job, "scrape_interval": SCRAPE, "file_sd_configs": [{"files": [str(targets)]}]}


def test_the_generated_app_job_feeds_the_judge_the_applications_own_series(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Catalog endpoint -> generated job -> the real Prometheus scraping responders on 127.0.0.x through
    the job's relabelling -> ``python -m webex_cloud judge`` on the application's error ratio: the wave
    whose new pod fails 5 % of calls fails, the next wave (two good pods) passes."""
    addresses = [address for address, _ in APP_PODS.values()] + list(DECOYS.values())
    port = _shared_port(addresses)

    def declare(doc: dict[str, Any]) -> None:
        doc["pods"]["members"][0]["count"] = 1  # one app instance per pod: one responder each
        doc["metrics"] = {"port": port, "roles": ["app"]}
        doc.setdefault("rollout", {})["analysis"] = APP_ANALYSIS

    project.edit("catalog/messaging.yaml", declare)
    jobs = yaml.safe_load(generate(project.root, "dc1")["prometheus.yml"])["scrape_configs"]
    (job,) = [j for j in jobs if j["job_name"] == "app-messaging"]
    entries = [
        (discovered_labels("dc1", "messaging", "team-messaging", pod, "app", 0), address)
        for pod, (address, _) in APP_PODS.items()
    ] + [
        (discovered_labels(dc, "messaging", "team-messaging", pod, role, 0), address)
        for (dc, pod, role), address in DECOYS.items()
    ]
    targets = tmp_path / "targets.yml"
    targets.write_text(
        yaml.safe_dump(
            [
                {
                    "targets": [f"{address}:{port}"],
                    "labels": {k: v for k, v in labels.items() if k != "__address__"},
                }
                for labels, address in entries
            ]
        )
    )
    config = {
        "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE},
        "scrape_configs": [_discovered_as_file_sd(job, targets, port)],
    }
    responders = [Responder(address, fail, port) for address, fail in APP_PODS.values()]
    responders += [Responder(address, None, port) for address in DECOYS.values()]
    try:
        with running_prometheus(tmp_path, yaml.safe_dump(config)) as url:
            time.sleep(BAKE_S + 2)
            with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as answer:
                listed = json.load(answer)["data"]
            active = {t["labels"]["instance"]: t for t in listed["activeTargets"]}
            assert sorted(active) == [f"dc1-{pod}-app-0" for pod in APP_PODS]
            assert {t["health"] for t in active.values()} == {"up"}
            assert {t["labels"]["pod"] for t in active.values()} == set(APP_PODS)
            assert len(listed["droppedTargets"]) == len(DECOYS)
            # The application's own `instance` and `pod` were kept aside, not taken for the discovery's.
            query = urllib.parse.urlencode({"query": 'app_build{pod="messaging-pod-0"}'})
            with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as answer:
                (series,) = json.load(answer)["data"]["result"]
            assert series["metric"]["exported_pod"] == "not-this-one"
            assert series["metric"]["instance"] == "dc1-messaging-pod-0-app-0"
            # What Prometheus adds to every target is what the catalog check takes for "not the app's".
            query = urllib.parse.urlencode({"query": 'count by (__name__) ({job="app-messaging"})'})
            with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as answer:
                names = {r["metric"]["__name__"] for r in json.load(answer)["data"]["result"]}
            assert {n for n in names if not n.startswith(("app_", "python_", "process_"))} == set(
                SCRAPE_SERIES
            )

            def judge(wave: int) -> tuple[int, str]:
                argv = ["--stack", "dc1", "--project", str(project.root), "--service", "messaging"]
                argv += ["--wave", str(wave), "--prometheus", url, "--window-s", str(BAKE_S)]
                code = judge_command(argv)
                return code, capsys.readouterr().out

            bad, bad_said = judge(1)
            good, good_said = judge(2)
    finally:
        for responder in responders:
            responder.stop()
    assert bad == 1 and "verdict: FAIL" in bad_said, bad_said
    assert "error-ratio: fail - new 0.0" in bad_said and "exceeds the limit 0.02" in bad_said, bad_said
    assert good == 0 and "verdict: PASS" in good_said, good_said
