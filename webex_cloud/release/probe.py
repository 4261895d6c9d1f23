"""The health gate's probe: is every instance of one release wave serving again?

Run by the wave's gate, a pulumi-command ``local.Command``, on the machine where ``pulumi up`` runs (the
deploy runner inside the datacenter): ``.venv/bin/python -m webex_cloud.release.probe '<gate spec>'``.
It probes every target of the spec at once (TCP connect, or an HTTP(S) GET expecting a status), each
until it answered ``successes`` times in a row; then, when the spec carries an analysis, it lets the wave
bake and judges it by its metrics (``release/analysis.py``). It exits 0 when every instance served within
the wave's deadline and the verdict is "pass", 1 otherwise, 2 when the spec is unusable (:class:`ExitCode`).
Every line it prints lands in the deploy job's log (the command's stdout is streamed by the engine), so the
log reads as the release, wave by wave.

Standard library only (and the shared exit codes and the analysis, standard library too): the gate runs it
in the project's environment, and nothing here may fail to import half-way through a release. This module
owns the gate spec's format (:class:`GateSpec`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from webex_cloud.exit_codes import ExitCode
from webex_cloud.release.analysis import AnalysisSpec, Query, Verdict, analyse, describe, prometheus_query

SPEC_FORMAT = "webex-cloud.health-gate/v1"


@dataclass(frozen=True)
class Check:
    """One role's health check, as the catalog's ``rollout`` declares it."""

    protocol: str
    port: int
    path: str = "/"
    expected_status: int = 200
    timeout_s: float = 2.0
    interval_s: float = 2.0
    successes: int = 3

    def describe(self) -> str:
        if self.protocol == "tcp":
            return f"tcp/{self.port}"
        return f"{self.protocol} GET :{self.port}{self.path} = {self.expected_status}"


@dataclass(frozen=True)
class Target:
    """One instance of the wave."""

    pod: str
    instance: str
    """Pulumi resource name of the instance (what the plan and the policy pack call it)."""
    role: str
    address: str
    check: Check


@dataclass(frozen=True)
class GateSpec:
    """Everything one gate probes; its JSON is the gate's ``create`` command."""

    datacenter: str
    service: str
    wave: int
    """1-based position of the wave in the release."""
    waves: int
    max_unavailable: int
    pods: tuple[str, ...]
    deadline_s: float
    targets: tuple[Target, ...] = field(default=())
    analysis: AnalysisSpec | None = None
    """How the wave is judged once it serves; None in a datacenter without monitoring (no Prometheus)."""

    def to_json(self) -> str:
        document = {"format": SPEC_FORMAT, **asdict(self)}
        if self.analysis is None:
            # Absent rather than null: a gate of a stack without monitoring keeps the text it had before
            # analyses existed, so its Pulumi resource shows no diff.
            del document["analysis"]
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> GateSpec:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != SPEC_FORMAT:
            raise ValueError(f"not a {SPEC_FORMAT} document")
        targets = tuple(Target(**{**t, "check": Check(**t["check"])}) for t in document.get("targets", []))
        analysis = document.get("analysis")
        fields = {k: v for k, v in document.items() if k not in ("format", "targets", "analysis")}
        return GateSpec(
            **{**fields, "pods": tuple(fields["pods"]), "targets": targets},
            analysis=None if analysis is None else AnalysisSpec.from_document(analysis),
        )

    @property
    def label(self) -> str:
        return f"{self.datacenter}/{self.service} wave {self.wave}/{self.waves}"


def attempt(check: Check, address: str) -> str | None:
    """One probe of one instance: None when it serves, else what went wrong (a few words)."""
    try:
        if check.protocol == "tcp":
            with socket.create_connection((address, check.port), timeout=check.timeout_s):
                return None
        connection: http.client.HTTPConnection
        if check.protocol == "https":
            # The instance's certificate names the service, not the address probed: the gate asks
            # "does it answer", the service's clients check who answers.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(
                address, check.port, timeout=check.timeout_s, context=context
            )
        else:
            connection = http.client.HTTPConnection(address, check.port, timeout=check.timeout_s)
        try:
            connection.request("GET", check.path, headers={"User-Agent": "webex-cloud-health-gate"})
            status = connection.getresponse().status
        finally:
            connection.close()
        return None if status == check.expected_status else f"HTTP {status}, expected {check.expected_status}"
    except OSError as error:
        return error.strerror or type(error).__name__
    except http.client.HTTPException as error:
        return f"bad HTTP answer ({type(error).__name__})"


@dataclass
class _Progress:
    streak: int = 0
    attempts: int = 0
    last_error: str = "not probed yet"
    serving_after: float | None = None


class _Log:
    """Timestamped, thread-safe lines on one stream."""

    def __init__(self, stream: TextIO, clock: Callable[[], datetime]) -> None:
        self._stream, self._clock, self._lock = stream, clock, threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            self._stream.write(f"{self._clock().strftime('%Y-%m-%dT%H:%M:%SZ')} {text}\n")
            self._stream.flush()


@dataclass(frozen=True)
class GateResult:
    """How a gate ended, and why, in words that finish ``<wave label> …`` (the bake's last line)."""

    passed: bool
    cause: str
    """``serves``, ``does not serve: …`` or ``serves, but its analysis says …`` with the verdict's reasons."""
    verdict: Verdict | None = None
    """The analysis's verdict when the wave served and was judged (its numbers: ``describe``)."""


def run_gate(
    spec: GateSpec,
    *,
    address_map: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    stream: TextIO | None = None,
    probe: Callable[[Check, str], str | None] = attempt,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Probe every target until each served ``successes`` times in a row, or the deadline passed; then
    bake and judge the wave when the spec carries an analysis. True when it passed (:func:`gate` says why)."""
    return gate(
        spec, address_map=address_map, deadline_s=deadline_s, stream=stream, probe=probe, sleep=sleep
    ).passed


def gate(
    spec: GateSpec,
    *,
    address_map: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    stream: TextIO | None = None,
    probe: Callable[[Check, str], str | None] = attempt,
    sleep: Callable[[float], None] = time.sleep,
) -> GateResult:
    """:func:`run_gate`, with the cause of its end: a wave that does not serve, or serves and its analysis
    fails or cannot judge it (Prometheus unreachable, no series, too few requests) are different faults."""
    # The stream is looked up at call time: sys.stdout may have been replaced since this module loaded.
    log = _Log(stream or sys.stdout, lambda: datetime.now(UTC))
    limit = spec.deadline_s if deadline_s is None else deadline_s
    mapped = dict(address_map or {})
    checks = sorted({t.check.describe() for t in spec.targets})
    log(
        f"[gate] {spec.label}: pods {', '.join(spec.pods)}; probing {len(spec.targets)} instances "
        f"({'; '.join(checks)}), deadline {limit:g}s"
    )
    start = time.monotonic()
    progress = {t.instance: _Progress() for t in spec.targets}

    def watch(target: Target) -> None:
        state = progress[target.instance]
        address = mapped.get(target.instance, target.address)
        while time.monotonic() - start < limit:
            began = time.monotonic()
            error = probe(target.check, address)
            state.attempts += 1
            if error is None:
                state.streak += 1
                if state.streak >= target.check.successes:
                    state.serving_after = time.monotonic() - start
                    log(
                        f"[gate]   {target.instance} ({target.address} {target.check.describe()}) serving "
                        f"after {state.serving_after:.1f}s ({state.streak} successes in a row)"
                    )
                    return
            else:
                state.streak, state.last_error = 0, error
            time.sleep(max(0.0, min(target.check.interval_s - (time.monotonic() - began), limit)))

    threads = [threading.Thread(target=watch, args=(t,), daemon=True) for t in spec.targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    failed = [t for t in spec.targets if progress[t.instance].serving_after is None]
    if not failed and spec.analysis is None:
        log(f"[gate] {spec.label} PASSED in {elapsed:.1f}s: pods {', '.join(spec.pods)} serve")
        return GateResult(True, "serves")
    if not failed and spec.analysis is not None:
        log(f"[gate] {spec.label}: pods {', '.join(spec.pods)} serve after {elapsed:.1f}s")
        verdict = bake_and_judge(spec, spec.analysis, log, sleep)
        if verdict.passed:
            log(f"[gate] {spec.label} PASSED: pods {', '.join(spec.pods)} serve and their metrics pass")
            return GateResult(True, "serves and its metrics pass", verdict)
        log(
            f"[gate] {spec.label} FAILED: the analysis says {verdict.outcome}; the release of "
            f"{spec.service} stops here and later waves keep the old version; `python -m webex_cloud judge "
            f"--stack {spec.datacenter} --service {spec.service} --wave {spec.wave}` reads it again "
            "(docs/releasing.md)"
        )
        reasons = "; ".join(verdict.reasons) or "no reason given"
        return GateResult(
            False, f"serves, but its analysis says {verdict.outcome.replace('-', ' ')} ({reasons})", verdict
        )
    for target in failed:
        state = progress[target.instance]
        log(
            f"[gate]   {target.instance} ({target.address} {target.check.describe()}) NOT serving: "
            f"{state.last_error} ({state.attempts} attempts, {state.streak} successes in a row)"
        )
    log(
        f"[gate] {spec.label} FAILED after {elapsed:.1f}s: the release of {spec.service} stops here; "
        "later waves keep the old version. Fix and rerun `pulumi up` to resume, or revert the catalog "
        "change to roll back (docs/releasing.md)"
    )
    shown = ", ".join(f"{t.instance}: {progress[t.instance].last_error}" for t in failed)
    return GateResult(False, f"does not serve ({shown})")


def bake_and_judge(
    spec: GateSpec,
    analysis: AnalysisSpec,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    query: Query | None = None,
) -> Verdict:
    """Let the wave bake, then judge its window: the last ``bake_s`` seconds, when it served throughout."""
    old = ", ".join(analysis.old_pods) or "none left: absolute limits only"
    log(
        f"[gate] {spec.label}: baking {analysis.bake_s:g}s, then judging {len(analysis.metrics)} metrics "
        f"({', '.join(m.name for m in analysis.metrics)}) against old pods ({old})"
    )
    sleep(analysis.bake_s)
    reader = query or prometheus_query(analysis.prometheus, at=time.time())
    verdict = analyse(analysis, reader, service=spec.service, datacenter=spec.datacenter)
    for line in describe(verdict):
        log(f"[gate]   {line}")
    return verdict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webex_cloud.release.probe", description=__doc__)
    parser.add_argument("spec", help="the gate spec (JSON, as the gate's create command holds it)")
    parser.add_argument(
        "--address-map",
        type=Path,
        help="JSON file {instance: address} probed instead of the spec's addresses (probing from elsewhere)",
    )
    parser.add_argument("--deadline-s", type=float, help="override the wave's deadline (seconds)")
    args = parser.parse_args(argv)
    try:
        spec = GateSpec.from_json(args.spec)
        address_map: Any = json.loads(args.address_map.read_text()) if args.address_map else {}
        if not isinstance(address_map, dict):
            raise ValueError("--address-map must hold a JSON object {instance: address}")
    except (ValueError, KeyError, TypeError, OSError) as error:
        print(f"health gate: unusable gate spec or address map: {error}", file=sys.stderr)
        return ExitCode.INPUT
    passed = run_gate(
        spec, address_map={str(k): str(v) for k, v in address_map.items()}, deadline_s=args.deadline_s
    )
    return ExitCode.OK if passed else ExitCode.BLOCKING


if __name__ == "__main__":
    sys.exit(main())
