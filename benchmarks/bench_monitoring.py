"""Generating the monitoring of a fleet against planning it, as the commands run.

One run: a project of ``--stacks`` datacenters (dc1, dc2 and stacks generated from dc2:
benchmarks/generated_project.py) from the example catalog; wall time of
``python -m webex_cloud monitoring --project P`` (every stack's Prometheus, blackbox, rules with their
unit tests and Alertmanager files) against ``python -m webex_cloud plan --project P`` (every stack's
offline plan and policy check), both measured here, in the same run. The monitoring is regenerated on
every catalog change, so it must stay a small part of what a change already costs: target ratio
monitoring / plan <= 0.25 (exit 1 when missed).

    .venv/bin/python -m benchmarks.bench_monitoring [--stacks 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.commands import timed_command
from benchmarks.generated_project import generate_datacenters

TARGET = 0.25


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=20, help="datacenters in the fleet (default 20)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as folder:
        project = Path(folder) / "project"
        project.mkdir()
        stacks = generate_datacenters(project, args.stacks)
        monitoring_s = timed_command("monitoring", "--project", str(project))
        plan_s = timed_command("plan", "--project", str(project))
        files = sum(1 for _ in (project / "build" / "monitoring").rglob("*.yml"))
    ratio = monitoring_s / plan_s
    print(f"{len(stacks)} datacenters: monitoring {monitoring_s:.2f} s ({files} files), plan {plan_s:.2f} s")
    print(f"ratio monitoring / plan: {ratio:.3f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
