"""Two gates judged by the real Prometheus (Debian's 2.42, installed by tools/monitoring/install.sh),
scraping prometheus_client responders on 127.0.0.x every second: a wave whose "new image" fails 5 % of
its calls fails its gate; a wave as good as the pods not yet changed passes.

The responders serve traffic of their own (a steady stream of counted calls), so the whole chain is the
production one: exposition, scrape, PromQL over the bake window, the HTTP API, the judgement.
"""

from __future__ import annotations

import io
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.monitoring.tools import require
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
    """One instance of the service: its calls counted by outcome, every ``fail_every``-th one a 500."""

    def __init__(self, address: str, fail_every: int | None) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("app_calls", "Calls served, by status", ["code"], registry=self.registry)
        self.server, _ = start_http_server(0, addr=address, registry=self.registry)
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


@pytest.fixture
def prometheus(tmp_path: Path, responders: dict[str, Responder]) -> Iterator[str]:
    require("prometheus")
    targets = "\n".join(
        f"      - targets: ['{r.address}:{r.port}']\n"
        f"        labels: {{instance: {_nova_name(pod)}, pod: {pod}}}"
        for pod, r in responders.items()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE}, evaluation_interval: {SCRAPE}}}\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs:\n{targets}\n"
    )
    url = f"http://127.0.0.1:{_free_port()}"
    with subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    ) as process:
        try:
            _ready(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


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
