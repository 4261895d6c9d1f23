"""Twenty datacenters against twenty times one: plan + policy + placement, as the commands run.

One run: a one-datacenter project (the example canary, dc1, alone) and a twenty-datacenter project
(dc1, dc2 and eighteen stacks generated from dc2: benchmarks/generated_project.py), both from the
example catalog. For each, wall time of what a user or CI runs:

- ``python -m webex_cloud plan`` over every stack: renders them (in one worker process per core;
  ``--jobs``), then checks each with the policy pack against all its peers (one pack process);
- ``python -m webex_cloud place --stack S`` for every stack, one process per stack, two at a time
  (as two CI jobs would run on two cores).

Reported: each phase, the totals, and ratio = twenty / (20 x one); below 1 means a datacenter costs
less in a large fleet than alone (process start-up and imports are paid once per command, not per
stack, and the two cores are used). Also the same plan with ``--jobs 1``, to show what the worker
processes bring. The cross-datacenter policy makes each stack's check read every peer's shape, so
the policy phase is the part that grows with the fleet faster than linearly (N x N-1 shapes, each a
linear pass over one plan).

    .venv/bin/python -m benchmarks.bench_datacenters [--stacks 20] [--no-serial]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.commands import timed_command
from benchmarks.generated_project import generate_datacenters
from webex_cloud.plan.parallel import default_jobs


def _pipeline(project: Path, stacks: list[str], jobs: int | None) -> dict[str, float]:
    out = project / "build" / ("plan" if jobs is None else f"plan-jobs-{jobs}")
    plan_args = ["plan", "--project", str(project), "--out", str(out)]
    plan_s = timed_command(*plan_args, *(["--jobs", str(jobs)] if jobs else []))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(
            pool.map(
                lambda stack: timed_command(
                    "place", "--project", str(project), "--stack", stack, "--plan", str(out / f"{stack}.json")
                ),
                stacks,
            )
        )
    place_s = time.perf_counter() - start
    return {"plan+policy": plan_s, "placement": place_s, "total": plan_s + place_s}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=20, help="datacenters in the large project (2..24)")
    parser.add_argument("--no-serial", action="store_true", help="skip the --jobs 1 comparison")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-datacenters-") as folder:
        one, many = Path(folder) / "one", Path(folder) / "many"
        one.mkdir()
        many.mkdir()
        generate_datacenters(one, 2)
        (one / "stacks" / "Pulumi.dc2.yaml").unlink()  # the canary alone
        stacks = generate_datacenters(many, args.stacks)
        single = _pipeline(one, ["dc1"], None)
        fleet = _pipeline(many, stacks, None)
        serial = (
            None
            if args.no_serial
            else timed_command(
                "plan", "--project", str(many), "--out", str(many / "build" / "serial"), "--jobs", "1"
            )
        )
    n = len(stacks)
    print(f"cores usable: {len(os.sched_getaffinity(0))}; plan worker processes: {default_jobs(n)}")
    print(f"{'one datacenter (dc1 alone):':<28} " + ", ".join(f"{k} {v:.1f} s" for k, v in single.items()))
    print(f"{f'{n} datacenters:':<28} " + ", ".join(f"{k} {v:.1f} s" for k, v in fleet.items()))
    for phase in single:
        print(f"  {phase:<12} {n} datacenters / ({n} x one) = {fleet[phase] / (n * single[phase]):.2f}")
    if serial is not None:
        print(
            f"plan+policy of {n} with --jobs 1: {serial:.1f} s "
            f"(worker processes: {fleet['plan+policy']:.1f} s, {serial / fleet['plan+policy']:.2f}x faster)"
        )
    ratio = fleet["total"] / (n * single["total"])
    print(
        f"ratio total: {fleet['total']:.1f} s / ({n} x {single['total']:.1f} s) = {ratio:.2f} (target <= 1)"
    )
    return 0 if ratio <= 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
