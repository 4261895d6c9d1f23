"""The service's health gate after a pod's move: the release gate's own probe, on that pod alone.

The plan holds every release gate's spec (each gate's ``create``, webex_cloud/release/bake.py
:func:`gate_specs`): the instances of a wave, their addresses and each role's check from the catalog's
``rollout``, and the wave's deadline (``rollout.deadline_s``). After a pod moved, its instances are probed
with the same checks (release/probe.py :func:`run_gate`) until each served ``successes`` times in a row,
or the deadline passed. The metric analysis of a release wave is left out: it compares a new version's
pods with the old ones, and a move changes no version.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from webex_cloud.plan.format import Plan
from webex_cloud.release.bake import BakeError, gate_specs
from webex_cloud.release.probe import GateSpec, run_gate


class GateSpecError(ValueError):
    """The plan's gate specs cannot be read (unusable input, exit 2)."""


@dataclass(frozen=True)
class GateResult:
    pod: str
    passed: bool | None
    """None when the plan has no gate for the pod (nothing to probe)."""
    seconds: float
    instances: tuple[str, ...] = ()
    not_serving: tuple[str, ...] = ()
    """The probe's line for each instance that did not serve in time (what it answered)."""

    def describe(self) -> str:
        if self.passed is None:
            return f"gate {self.pod}: none (the plan has no health gate for it)"
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gate {self.pod}: {verdict} in {self.seconds:.1f} s ({len(self.instances)} instance(s) probed)"
        )

    def document(self) -> dict[str, object]:
        return {
            "pod": self.pod,
            "result": {None: "none", True: "passed", False: "failed"}[self.passed],
            "seconds": round(self.seconds, 1),
            "instances": list(self.instances),
            "not_serving": list(self.not_serving),
        }


def pod_gates(plan: Plan, source: str) -> dict[str, GateSpec]:
    """The gate of each pod the plan's release gates probe: its wave's spec, narrowed to the pod."""
    try:
        specs = gate_specs(plan, source)
    except BakeError as error:
        raise GateSpecError(str(error)) from None
    gates: dict[str, GateSpec] = {}
    for spec in specs:
        for pod in spec.pods:
            targets = tuple(t for t in spec.targets if t.pod == pod)
            gates[pod] = replace(spec, pods=(pod,), targets=targets, analysis=None)
    return gates


def probe_pod(
    gates: Mapping[str, GateSpec],
    pod: str,
    address_map: Mapping[str, str],
    say: Callable[[str], None],
) -> GateResult:
    """Probe the pod's instances as its release gate does; each instance's line is said, the release's
    own verdict lines (which speak of waves and `pulumi up`) are not: the result is the drain's."""
    spec = gates.get(pod)
    if spec is None or not spec.targets:
        return GateResult(pod, None, 0.0)
    began = time.monotonic()
    log = io.StringIO()
    passed = run_gate(spec, address_map=address_map, stream=log)
    lines = [
        line.split("[gate]", 1)[1].strip() for line in log.getvalue().splitlines() if "[gate]   " in line
    ]
    for line in lines:
        say(f"  {line}")
    return GateResult(
        pod,
        passed,
        time.monotonic() - began,
        tuple(t.instance for t in spec.targets),
        tuple(line for line in lines if "NOT serving" in line),
    )
