"""The placement proof with N+1 on a generated stack of about 10,000 resources.

Renders the generated project's plan (benchmarks/generated_project.py) once (the baseline of the
same run: ratio proof / render), then times one proof
run (Nova's default weighers, catalog order) through Nova's and Cinder's filter handlers: placing
every pod instance and replica, the invariants, and N+1 over every single host and failure-domain
loss (each lost pod and replica placed again). `python -m webex_cloud place` runs this for packing
and spreading in four service orders, eight runs.

    .venv/bin/python -m benchmarks.bench_placement [--resources 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.commands import load_average
from benchmarks.generated_project import generate_project
from webex_cloud.placement.engine import pipelines, place
from webex_cloud.placement.plan import placement_view
from webex_cloud.plan.document import build_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=10000)
    args = parser.parse_args(argv)
    print(f"before the render: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-placement-") as tmp:
        root = generate_project(Path(tmp) / "project", args.resources)
        start = time.perf_counter()
        document = build_plan("dc1", project_dir=root)
        rendered = time.perf_counter() - start
        plan = placement_view(document, root / "dc1.json")
    print(f"before the proof: {load_average()}", flush=True)
    engine = pipelines(plan, "openstack")
    start = time.perf_counter()
    run = place(plan, engine, "spread")
    proved = time.perf_counter() - start
    print(f"after the proof: {load_average()}")
    instances = sum(len(p.instances) for s in plan.services for p in s.pods)
    replicas = sum(len(g.replicas) for s in plan.services for g in s.volume_groups)
    print(
        f"{len(document.resources)} resources: {len(plan.services)} services, {instances} instances, "
        f"{replicas} replicas, {len(plan.hosts)} hosts, {len(plan.failure_domains)} failure domains "
        f"(plan rendered in {rendered:.1f} s)"
    )
    print(
        f"one proof run with N+1 ({run.hosts_checked} host and {run.domains_checked} domain losses): "
        f"{proved:.1f} s, {len(run.blocking())} blocking problems"
    )
    # The baseline of the same run: the render of the plan the proof places (both grow with the stack).
    print(f"ratio proof / render: {proved / rendered:.2f}")
    return 0 if not run.blocking() else 1


if __name__ == "__main__":
    raise SystemExit(main())
