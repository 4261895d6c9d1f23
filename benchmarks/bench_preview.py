"""Preview report generation on a 10,000-step `pulumi preview --json` output, against `json.load` of it.

One run: write a preview document shaped like the CLI's (the samples in tests/data/preview: full
``oldState``/``newState`` with inputs, outputs, parent, provider, property dependencies and source
positions), for a catalog of services with pods, instances, ports and replicated volumes, in which most
resources are ``same`` and a few percent are updated, replaced, created or deleted. Then time, best of
``--repeat``:

- ``json.load`` of the file (the floor: any reader must at least parse it), also with the cyclic
  garbage collector paused, as the report does while parsing (the stricter comparison), and
- the whole report: read and validate the file, rank the risks, render Markdown and JSON.

Target: report / json.load <= 3.

    .venv/bin/python -m benchmarks.bench_preview [--steps 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from webex_cloud.plan import format as tokens
from webex_cloud.preview.pulumi_json import load_preview
from webex_cloud.preview.render import Report, render_json, render_markdown
from webex_cloud.preview.risks import rank

T = TypeVar("T")
STACK = "dc1"
PREFIX = f"urn:pulumi:{STACK}::webex-cloud::"
PROVIDER = f"{PREFIX}pulumi:providers:openstack::dc1-openstack::6a0e7c3e-2f4b-4d7c-9a51-0c6f3f2a9b11"
DC = f"{PREFIX}{tokens.DATACENTER}::dc1"
SERVICE_T = f"{tokens.DATACENTER}${tokens.SERVICE}"
POD_T = f"{SERVICE_T}${tokens.POD}"


def _id(urn: str) -> str:
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


def _state(
    urn: str, kind: str, parent: str, inputs: dict[str, Any], *, protect: bool = False
) -> dict[str, Any]:
    return {
        "urn": urn,
        "custom": True,
        "id": _id(urn),
        "type": kind,
        "inputs": inputs,
        "outputs": {**inputs, "id": _id(urn), "region": "RegionOne"},
        "parent": parent,
        "provider": PROVIDER,
        "protect": protect,
        "propertyDependencies": {k: [] for k in inputs},
        "created": "2026-11-20T10:00:00Z",
        "modified": "2026-11-20T10:00:00Z",
        "sourcePosition": "project:///components/pod.py#88,9",
        "stackTrace": [
            {"sourcePosition": "project:///components/pod.py#88,9"},
            {},
            {"sourcePosition": "project:///__main__.py#21,5"},
        ],
    }


def _resources(count: int) -> list[tuple[str, str, str, dict[str, Any], bool]]:
    """(urn, type, parent, inputs, protect) for ``count`` resources laid out as services of pods."""
    out: list[tuple[str, str, str, dict[str, Any], bool]] = []
    service = 0
    while len(out) < count:
        name = f"svc{service:03d}"
        service_urn = f"{PREFIX}{SERVICE_T}::{name}"
        for pod in range(4):
            pod_urn = f"{PREFIX}{POD_T}::{name}-pod-{pod}"
            group = f"{PREFIX}{POD_T}${tokens.SERVER_GROUP}::{name}-pod-{pod}-group"
            out.append(
                (
                    group,
                    tokens.SERVER_GROUP,
                    pod_urn,
                    {"name": f"dc1-{name}-pod-{pod}", "policies": "affinity"},
                    False,
                )
            )
            for member in range(3):
                instance = f"{name}-pod-{pod}-app-{member}"
                out.append(
                    (
                        f"{PREFIX}{POD_T}${tokens.PORT}::{instance}-port",
                        tokens.PORT,
                        pod_urn,
                        {
                            "name": f"dc1-{instance}",
                            "networkId": "net",
                            "fixedIps": [{"ipAddress": "10.0.0.1"}],
                        },
                        False,
                    )
                )
                out.append(
                    (
                        f"{PREFIX}{POD_T}${tokens.INSTANCE}::{instance}",
                        tokens.INSTANCE,
                        pod_urn,
                        {
                            "name": f"dc1-{instance}",
                            "flavorName": "m1.medium",
                            "imageName": "webex-base",
                            "availabilityZone": "dc1-az1",
                            "networks": [{"port": "p"}],
                            "metadata": {"service": name, "pod": f"{name}-pod-{pod}", "role": "app"},
                            "schedulerHints": [
                                {"group": "g", "additionalProperties": {"webex_pod": f"{pod}"}}
                            ],
                        },
                        False,
                    )
                )
        for replica in range(3):
            out.append(
                (
                    f"{PREFIX}{SERVICE_T}${tokens.VOLUME_GROUP}${tokens.VOLUME}::{name}-data-{replica}",
                    tokens.VOLUME,
                    f"{service_urn}",
                    {
                        "name": f"dc1-{name}-data-{replica}",
                        "size": 500,
                        "volumeType": "ssd",
                        "metadata": {"service": name},
                    },
                    True,
                )
            )
        service += 1
    return out[:count]


def generate_preview(steps: int, seed: int = 7) -> dict[str, Any]:
    """A preview document of exactly ``steps`` steps: ~94% same, the rest split over the other ops."""
    rng = random.Random(seed)
    document_steps: list[dict[str, Any]] = []
    for urn, kind, parent, inputs, protect in _resources(steps):
        old = _state(urn, kind, parent, inputs, protect=protect)
        roll = rng.random()
        if roll < 0.94:
            document_steps.append(
                {
                    "op": "same",
                    "urn": urn,
                    "provider": PROVIDER,
                    "oldState": old,
                    "newState": old,
                    "detailedDiff": None,
                }
            )
        elif roll < 0.97:
            new = _state(urn, kind, parent, {**inputs, "name": inputs["name"] + "-renamed"}, protect=protect)
            document_steps.append(
                {
                    "op": "update",
                    "urn": urn,
                    "provider": PROVIDER,
                    "oldState": old,
                    "newState": new,
                    "diffReasons": ["name"],
                    "detailedDiff": {"name": {"kind": "update", "inputDiff": True}},
                }
            )
        elif roll < 0.985:
            document_steps.append(
                {
                    "op": "replace",
                    "urn": urn,
                    "provider": PROVIDER,
                    "oldState": old,
                    "newState": old,
                    "diffReasons": ["availabilityZone"],
                    "replaceReasons": ["availabilityZone"],
                    "detailedDiff": None,
                }
            )
        elif roll < 0.995:
            document_steps.append(
                {"op": "create", "urn": urn, "provider": PROVIDER, "newState": old, "detailedDiff": None}
            )
        else:
            document_steps.append(
                {"op": "delete", "urn": urn, "provider": PROVIDER, "oldState": old, "detailedDiff": None}
            )
    counts: dict[str, int] = {}
    for step in document_steps:
        counts[step["op"]] = counts.get(step["op"], 0) + 1
    return {"steps": document_steps, "duration": 123456789, "changeSummary": counts}


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def report_of(path: Path) -> tuple[str, dict[str, Any]]:
    changes = load_preview(path, stack=STACK)
    report = Report(changes=changes, risks=tuple(rank(changes)))
    return render_markdown(report), render_json(report)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "preview.json"
        path.write_text(json.dumps(generate_preview(args.steps), indent=2))
        size = path.stat().st_size

        def load() -> Any:
            with path.open(encoding="utf-8") as handle:
                return json.load(handle)

        t_load, document = best_of(args.repeat, load)

        def load_paused() -> Any:
            gc.disable()
            try:
                return load()
            finally:
                gc.enable()

        # The report pauses the cyclic collector while parsing; the stricter comparison does the same.
        t_paused, _ = best_of(args.repeat, load_paused)
        t_report, (markdown, machine) = best_of(args.repeat, lambda: report_of(path))
    ratio = t_report / t_load
    risks = f"{len(machine['blocking'])} blocking, {len(machine['warnings'])} warnings"
    print(f"preview: {len(document['steps'])} steps, {size / 1e6:.1f} MB")
    print(f"report: {len(markdown)} characters of Markdown, {len(machine['changes'])} changes, {risks}")
    print(f"json.load           {t_load * 1000:8.1f} ms")
    print(f"report (md + json)  {t_report * 1000:8.1f} ms")
    print(f"json.load, gc off   {t_paused * 1000:8.1f} ms")
    print(f"ratio               {ratio:8.2f}x  (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")
    print(
        f"ratio, gc off       {t_report / t_paused:8.2f}x  (against json.load with the collector paused too)"
    )
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
