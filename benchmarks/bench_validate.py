"""Validating a 10,000-host, 250-service input vs rendering the same input, in one run.

Validation is everything `load_deployment` does before the program registers a resource: reading
and checking every catalog and stack file (the strict YAML reader), the schema, the cross-file and
per-datacenter checks (crowded zones, host fit, name collisions, pins) and the subnet allocation.
The render is the offline plan of the same project (which validates too, as the program must).
Both start cold: the per-file cache of parsed services is cleared before each run. Target: the
validation takes at most 5% of the render.

    .venv/bin/python -m benchmarks.bench_validate [--services 250] [--hosts 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.generated_project import RESOURCES_PER_SERVICE, generate_project
from webex_cloud.config import loader
from webex_cloud.plan.document import render_plan


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        loader._parse_service.cache_clear()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=250)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = generate_project(Path(folder), args.services * RESOURCES_PER_SERVICE, hosts=args.hosts)
        deployment = loader.load_deployment(project, "dc1")
        assert len(deployment.services) == args.services and len(deployment.datacenter.hosts) == args.hosts
        validate_s = best_of(args.repeat, lambda: loader.load_deployment(project, "dc1"))
        render_s = best_of(args.repeat, lambda: render_plan("dc1", project_dir=project))
    print(
        f"validate {args.services} services, {args.hosts} hosts : {validate_s:.3f} s (best of {args.repeat})"
    )
    print(f"render the same input          : {render_s:.3f} s (best of {args.repeat})")
    print(f"ratio validate / render : {validate_s / render_s:.1%}  (target <= 5%)")


if __name__ == "__main__":
    main()
