"""Policy evaluation of a 10,000-resource plan through the harness, against the render of that plan.

One run: generate the benchmark project (benchmarks/generated_project.py, the same one the render
benchmark uses), time the offline render of its dc1 plan, then time the real policy pack over that
plan exactly as the harness runs it (Configure, one Analyze per resource, one AnalyzeStack), with
the plan itself as the other datacenter so the cross-datacenter policy compares every service.
Target: policies / render <= 2.

Then the stack policies alone on an eighth, a quarter, half and all of the services, through the
harness (AnalyzeStack, SDK deserialization included) and called in process (the rules' own cost),
with the fitted exponent k of time ~ resources^k: linear is k = 1. These are CPU times (of the pack
process, read from /proc, and of this process), so that other load on the machine does not show
up as growth.

    .venv/bin/python -m benchmarks.bench_policies [--resources 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
    StackValidationPolicy,
)

from benchmarks.generated_project import generate_project
from webex_cloud.paths import PACK_DIR
from webex_cloud.plan.document import render_plan
from webex_cloud.policy_check.check import PolicyChecker, PolicyRun
from webex_cloud.policy_check.wire import PlanResources

T = TypeVar("T")


def best_of(
    repeat: int, run: Callable[[], T], clock: Callable[[], float] = time.perf_counter
) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = clock()
        result = run()
        best = min(best, clock() - start)
    assert result is not None
    return best, result


def cpu_clock(pid: int) -> Callable[[], float]:
    """CPU seconds (user + system) used so far by process ``pid``, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return clock


def first_services(plan: dict[str, Any], fraction: float) -> dict[str, Any]:
    """The plan cut down to the first ``fraction`` of its services (whole services, shared resources kept)."""
    names = sorted(plan["services"])
    kept = set(names[: max(1, int(len(names) * fraction))])
    dropped = set(names) - kept

    def belongs_to_dropped(resource: dict[str, Any]) -> bool:
        return any(resource["name"] == name or resource["name"].startswith(f"{name}-") for name in dropped)

    resources = [r for r in plan["resources"] if not belongs_to_dropped(r)]
    services = {k: v for k, v in plan["services"].items() if k in kept}
    return {**plan, "services": services, "resources": resources}


def stack_rules_in_process(
    plan: dict[str, Any], config: dict[str, tuple[str, dict[str, Any]]]
) -> Callable[[], int]:
    """The pack's stack policies called directly (no gRPC, no SDK deserialization): our rules' own cost."""
    from webex_policies.pack import policies

    by_urn: dict[str, PolicyResource] = {}
    for r in plan["resources"]:
        props = {**r["inputs"], **({"id": r["id"]} if r["custom"] else {})}
        timeouts = PolicyCustomTimeouts(0, 0, 0)
        options = PolicyResourceOptions(r["protect"], [], None, [], timeouts, [], r["parent"])
        by_urn[r["urn"]] = PolicyResource(r["type"], props, r["urn"], r["name"], options, None, None, [], {})
    for r in plan["resources"]:
        resource = by_urn[r["urn"]]
        resource.parent = by_urn.get(r["parent"])
        resource.dependencies = [by_urn[d] for d in r["dependencies"] if d in by_urn]
        resource.property_dependencies = {
            k: [by_urn[d] for d in v if d in by_urn] for k, v in r["propertyDependencies"].items()
        }
    stack = [p for p in policies() if isinstance(p, StackValidationPolicy)]
    resources = list(by_urn.values())

    def run() -> int:
        """Every stack rule run; the mandatory ones' findings counted (the fleet's TCP-checked services
        are rightly warned by the advisory release-judged-by-users)."""
        found: list[str] = []
        for policy in stack:
            mandatory = policy.enforcement_level == EnforcementLevel.MANDATORY

            def report(message: str, urn: str | None = None, counted: bool = mandatory) -> None:
                if counted:
                    found.append(message)

            policy.validate(StackValidationArgs(resources, config[policy.name][1]), report)
        return len(found)

    return run


def main() -> None:
    # The pack runs with these collector thresholds (policies/__main__.py); the in-process timing of
    # the rules uses them too, so that it measures the rules rather than the collector.
    gc.set_threshold(100_000, 50, 100)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = generate_project(Path(folder), args.resources)
        render_s, plan = best_of(args.repeat, lambda: render_plan("dc1", project_dir=project))
        size = len(plan["resources"])
        start = time.perf_counter()
        with PolicyChecker(PACK_DIR) as checker:
            startup_s = time.perf_counter() - start
            peers = {"dc2": plan}
            # A change that releases every service: release-judged-by-users judges them all (the worst case).
            released = sorted(plan["services"])
            policy_s, run = best_of(args.repeat, lambda: checker.check(plan, peers, released=released))
            scaling: list[tuple[int, float, float]] = []
            for fraction in (0.125, 0.25, 0.5, 1.0):
                part = first_services(plan, fraction)
                request = PlanResources.of(part).stack_request()
                # CPU time of the pack process: the scaling, without the other load on a shared machine.
                seconds, _ = best_of(
                    args.repeat,
                    partial(checker.session.analyze_stack, request),
                    cpu_clock(checker.session.pid),
                )
                config = checker.config_for(part, {"dc2": part}, released=sorted(part["services"]))
                rules_s, found = best_of(
                    max(args.repeat, 5), stack_rules_in_process(part, config), time.process_time
                )
                assert found == 0
                scaling.append((len(part["resources"]), seconds, rules_s))
    report(size, render_s, startup_s, policy_s, run, scaling)


def report(
    size: int,
    render_s: float,
    startup_s: float,
    policy_s: float,
    run: PolicyRun,
    scaling: list[tuple[int, float, float]],
) -> None:
    # The generated services are checked by TCP connects: the advisory release-judged-by-users rightly
    # warns them; nothing may block.
    assert run.mandatory == [], "the generated catalog is expected to pass every mandatory policy"
    for label, seconds in (("offline plan render  ", render_s), ("policy pack (harness)", policy_s)):
        print(f"{label} : {size:>6} resources in {seconds:7.2f} s ({seconds / size * 1e6:5.0f} us/resource)")
    print(
        f"    configure {run.seconds['configure']:.2f} s, Analyze x{size} {run.seconds['analyze']:.2f} s, "
        f"AnalyzeStack {run.seconds['analyze_stack']:.2f} s; pack start-up {startup_s:.2f} s (once)"
    )
    print(f"ratio policies/render : {policy_s / render_s:.2f}  (target <= 2)")
    print("stack policies by stack size, CPU time: AnalyzeStack in the pack | the 7 rules alone, in process")
    for count, seconds, rules_s in scaling:
        print(
            f"    {count:>6} resources: {seconds:6.2f} s ({seconds / count * 1e6:5.0f} us/resource) | "
            f"{rules_s:5.2f} s ({rules_s / count * 1e6:4.0f} us/resource)"
        )
    sizes = [n for n, _, _ in scaling]
    harness_k = exponent(sizes, [s for _, s, _ in scaling])
    rules_k = exponent(sizes, [r for _, _, r in scaling])
    print(
        f"    time ~ resources^k: k = {harness_k:.2f} through the harness, {rules_k:.2f} for the rules "
        "alone (1 is linear, 2 quadratic)"
    )


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(time) over log(size): the k of time ~ size^k."""
    xs, ys = [math.log(n) for n in sizes], [math.log(t) for t in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )


if __name__ == "__main__":
    main()
