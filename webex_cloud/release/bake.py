"""The canary's bake: after a stack's `up`, wait its ``deploy.bake_s``, then probe every gate again.

A release that passes its gates can still go bad minutes later (a leak, a crash loop, a dependency
timing out). The deploy job bakes the stack before it counts as deployed, so the next wave's job
cannot start until the canary has served for the whole bake. The probe is the gates' own
(release/probe.py :func:`run_gate`), over the gate specs the stack's plan holds (each gate's
``create`` is its spec), every wave of every service: after the bake the whole stack must serve.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from webex_cloud.plan import format as tokens
from webex_cloud.plan.format import Plan
from webex_cloud.release.probe import GateResult, GateSpec, gate


class BakeError(ValueError):
    """The plan holds no usable gate spec."""


def gate_specs(plan: Plan, source: str) -> list[GateSpec]:
    """Every health gate of the plan, in URN order. Raises BakeError when one cannot be read."""
    specs: list[GateSpec] = []
    for resource in plan.resources:
        if resource.type != tokens.LOCAL_COMMAND:
            continue
        create = resource.inputs.get("create")
        try:
            specs.append(GateSpec.from_json(str(create)))
        except (ValueError, KeyError, TypeError) as error:
            raise BakeError(f"{source}: {resource.name}: its create is no gate spec ({error})") from None
    return specs


def after_the_bake(spec: GateSpec, seconds: float) -> GateSpec:
    """The gate as the bake runs it again. Every pod of the stack is on the release by now, so a wave's
    metrics are judged on their absolute limits alone, over the bake just waited: its window is the
    bake, and there is no second wait (release/analysis.py)."""
    if spec.analysis is None:
        return spec
    return replace(spec, analysis=replace(spec.analysis, bake_s=seconds, old_instances=(), old_pods=()))


def _judge_now(_: float) -> None:
    """The analysis's own wait, skipped: the bake has just waited."""


def bake(
    specs: list[GateSpec],
    seconds: float,
    *,
    label: str,
    stream: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    judge: Callable[[GateSpec], GateResult] | None = None,
) -> bool:
    """Wait ``seconds``, then probe every gate; True when every one passed. A failure names its cause as
    the gate found it: the wave does not serve, or it serves and its analysis fails or cannot judge it
    (the verdict's numbers are the lines above, printed by the gate's own code, as ``judge`` prints them)."""
    out = stream or sys.stdout
    probe = judge or (lambda spec: gate(after_the_bake(spec, seconds), stream=out, sleep=_judge_now))
    print(f"[bake] {label}: baking {seconds:g}s, then probing its {len(specs)} gates again", file=out)
    out.flush()
    sleep(seconds)
    # The first gate that fails ends the bake: the rollback should not wait for every other deadline.
    for spec in specs:
        result = probe(spec)
        if not result.passed:
            print(f"[bake] {label} FAILED after the bake: {spec.label} {result.cause}", file=out)
            return False
    print(f"[bake] {label} PASSED: every gate serves after {seconds:g}s", file=out)
    return True
