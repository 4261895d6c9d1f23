"""The whole pull-request check of a twenty-datacenter fleet, against twenty single-stack checks.

One run: a generated twenty-datacenter project (dc1, dc2 and eighteen stacks made from dc2:
benchmarks/generated_project.py) as the pull request, with one service changed (its owner, so every
stack that runs it has an update; ``--change stack``: the last stack's file instead, so every other
stack has the same plan inputs on both sides and is planned once), and the same project before that
change as the base commit, with its own copy of the code, as .github/workflows/pr-preview.yml checks
them out. Then, as CI runs it:

- baseline: ``python -m webex_cloud pr-check --project PR --base-dir BASE --stack S`` once per stack,
  twenty commands one after another (the check as twenty single-stack jobs would run it);
- fleet, cold: ``python -m webex_cloud pr-check --project PR --base-dir BASE --base-cache EMPTY``
  once, every stack (every base plan rendered);
- fleet, warm: the same again, the base plans kept by the cold run reused (the base is unchanged).

Each check plans the branch, runs the policy pack and the placement proof, renders the base commit's
plan with the base's own code, and writes the preview and the one comment. Reported: wall time and
peak memory of each single-stack check and of the fleet check (peak resident memory of
the whole process tree and of its largest process, sampled every 50 ms), their CPU time (the whole
tree's, which moves far less than the wall time with the load of a shared machine), each stack's
seconds inside the fleet check, and ratio = cold fleet / (sum of the single-stack checks). Goal: the
cold fleet check within 60 s on two cores and 1 GiB of memory (exit status 1 when missed).

    .venv/bin/python -m benchmarks.bench_pr_check [--stacks 20] [--singles K] [--change service|stack]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.commands import load_average
from benchmarks.generated_project import MAX_GENERATED, generate_datacenters
from webex_cloud.paths import PROJECT_DIR, stack_file
from webex_cloud.plan.format import read_plan
from webex_cloud.preview.changed_stacks import code_files

GOAL_SECONDS = 60.0
"""Issue 29: the whole check of twenty datacenters within a minute on two cores."""
GOAL_BYTES = 1 << 30
"""Issue 29: peak memory of the whole check within 1 GiB."""
CHANGED_SERVICE = "messaging"
"""The service the benchmark's pull request touches (its owner: a tag update wherever it runs)."""
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def _resident(pids: list[int]) -> tuple[int, int]:
    """Resident memory of these processes: in total, and of the largest one."""
    sizes = [0]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
                sizes.append(int(statm.read().split()[1]) * PAGE)
        except (OSError, IndexError, ValueError):
            continue
    return sum(sizes), max(sizes)


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_bytes: int
    """Peak resident memory of the command's whole process tree (sampled)."""
    largest_bytes: int
    """Peak resident memory of its largest single process (sampled)."""
    cpu_seconds: float
    """CPU time (user and system) of the whole process tree: what the check costs, which moves far less
    than its wall time with what else shares the cores."""
    stdout: str
    code: int
    load: str
    """The load average when the command ended."""


def _measure(args: list[str]) -> Measured:
    """Run ``python -m webex_cloud pr-check ARGS`` from the checkout; wall time and peak memory."""
    peak = largest = 0
    # Every process of the tree is waited for by its parent (workers, packs, the base's `plan`), so
    # the children's usage of this process holds all of them once the command has ended.
    before = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "webex_cloud", "pr-check", *args],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not done.wait(0.05):
            total, one = _resident(_children(process.pid))
            peak, largest = max(peak, total), max(largest, one)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"`pr-check {' '.join(args)}` exited {process.returncode}:\n{stdout[-3000:]}")
    cpu = _children_cpu() - before
    return Measured(seconds, peak, largest, cpu, stdout, process.returncode, load_average())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _layout(root: Path, count: int, change: str) -> tuple[Path, Path, list[str]]:
    """The pull request's project and the base commit's checkout (its own code), side by side; the
    pull request changes :data:`CHANGED_SERVICE` (every stack) or its last stack's file (that one)."""
    pr, base = root / "pr", root / "base"
    pr.mkdir()
    base.mkdir()
    stacks = generate_datacenters(pr, count)
    generate_datacenters(base, count)
    if count == 1:  # the canary alone (the test command's small size)
        for folder in (pr, base):
            (folder / "stacks" / "Pulumi.dc2.yaml").unlink()
        stacks = ["dc1"]
    # The policy pack is the project's (`policy --project`); it runs in the checkout's environment
    # (PulumiPolicy.yaml: ../.venv). The base has no .venv: it renders with this interpreter, as its
    # requirements are the same (a differing base would get a venv of its own, never this one).
    (pr / ".venv").symlink_to(PROJECT_DIR / ".venv")
    (pr / "policies").symlink_to(PROJECT_DIR / "policies")
    # The base commit's own code: this checkout's, file for file what a plan key counts as code, so a
    # stack the pull request leaves alone has the same key on both sides (one render, as in CI).
    for name in code_files(PROJECT_DIR):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / name, base / name)
    if change == "stack":
        last = pr / stack_file(stacks[-1])
        document = yaml.safe_load(last.read_text())
        document["config"]["webex-cloud:datacenter"]["region"] = "RegionTwo"
        last.write_text(yaml.safe_dump(document, sort_keys=False))
        return pr, base, stacks
    service = pr / "catalog" / f"{CHANGED_SERVICE}.yaml"
    document = yaml.safe_load(service.read_text())
    old, new = document["owner"], f"{document['owner']}-renamed"
    document["owner"] = new
    service.write_text(yaml.safe_dump(document, sort_keys=False))
    # The new owner is alerted like the old one: every owner needs a receiver (docs/monitoring.md).
    for path in (pr / "stacks").glob("Pulumi.*.yaml"):
        stack = yaml.safe_load(path.read_text())
        receivers = (stack["config"]["webex-cloud:datacenter"].get("monitoring") or {}).get("receivers")
        if receivers and old in receivers:
            receivers[new] = receivers[old]
            path.write_text(yaml.safe_dump(stack, sort_keys=False))
    return pr, base, stacks


def _shape(out: Path, stacks: list[str]) -> str:
    """Resources, services, pod instances and replica volumes per stack, from the plans the check wrote
    (the figures are only comparable between runs of the same shape)."""
    counts = []
    for stack in stacks:
        found = sorted(out.glob(f"**/plan-files/{stack}.json"))
        plan = read_plan(found[0])
        services = plan.services.values()
        pods = sum(len(pod.instances) for service in services for pod in service.pods)
        replicas = sum(len(group.replicas) for service in services for group in service.volume_groups)
        counts.append((len(plan.resources), len(plan.services), pods, replicas))
    columns = [sorted(column) for column in zip(*counts, strict=True)]
    span = [f"{c[0]}" if c[0] == c[-1] else f"{c[0]}-{c[-1]}" for c in columns]
    return (
        f"{span[0]} resources, {span[1]} services, {span[2]} pod instances, {span[3]} replica volumes "
        "per stack"
    )


STEP_LINE = re.compile(r"^\S+ (?P<step>[\w-]+): exit \d+, (?P<seconds>[0-9.]+) s$", re.MULTILINE)


def _steps(stdout: str) -> str:
    """Where the time goes: each step's seconds summed over the stacks (from the progress lines)."""
    totals: dict[str, float] = {}
    for match in STEP_LINE.finditer(stdout):
        totals[match["step"]] = totals.get(match["step"], 0.0) + float(match["seconds"])
    return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in totals.items())


STACK_LINE = re.compile(r"^(?P<stack>\S+): .* \((?P<seconds>[0-9.]+) s\)$", re.MULTILINE)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=20, help="datacenters in the fleet (1..24)")
    parser.add_argument(
        "--singles",
        type=int,
        default=None,
        metavar="K",
        help="measure the single-stack checks of the first K stacks only and take the others' at their "
        "mean (a loaded machine: twenty of them take an hour; default: every stack)",
    )
    parser.add_argument(
        "--change",
        choices=("service", "stack"),
        default="service",
        help=f"what the pull request changes: the service {CHANGED_SERVICE} (every stack; default) or the "
        "last stack's file (that stack alone: the others are planned once, their plan being the base's)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.stacks <= MAX_GENERATED:
        parser.error(f"--stacks takes 1..{MAX_GENERATED} datacenters, not {args.stacks}")
    if args.singles is not None and not 1 <= args.singles <= args.stacks:
        parser.error(f"--singles takes 1..{args.stacks} stacks, not {args.singles}")
    with tempfile.TemporaryDirectory(prefix="bench-pr-check-") as folder:
        root = Path(folder)
        pr, base, stacks = _layout(root, args.stacks, args.change)
        common = ["--project", str(pr), "--base-dir", str(base), "--commit", "bench"]
        single: dict[str, Measured] = {}
        for stack in stacks[: args.singles]:
            single[stack] = _measure([*common, "--out", str(root / "single" / stack), "--stack", stack])
            print(
                f"single {stack}: {single[stack].seconds:.1f} s, {_mib(single[stack].peak_bytes)}; "
                f"{single[stack].load}",
                flush=True,
            )
        # A fleet of one is its single-stack check (the test command's small size): not run twice.
        warm: Measured | None = None
        if len(stacks) == 1:
            fleet = single[stacks[0]]
        else:
            cached = [*common, "--base-cache", str(root / "base-plans")]
            fleet = _measure([*cached, "--out", str(root / "fleet")])  # cold: an empty cache
            print(f"fleet check, cold: {fleet.seconds:.1f} s; {fleet.load}", flush=True)
            warm = _measure([*cached, "--out", str(root / "fleet-warm")])
        shape = _shape(root / ("single" if len(stacks) == 1 else "fleet"), stacks)
    inside = {m["stack"]: float(m["seconds"]) for m in STACK_LINE.finditer(fleet.stdout)}
    if sorted(inside) != sorted(stacks):
        raise SystemExit(f"the fleet check did not report every stack:\n{fleet.stdout[-3000:]}")
    n = len(stacks)
    what = CHANGED_SERVICE if args.change == "service" else stack_file(stacks[-1])
    print(f"fleet shape (the plans this run checked): {shape}")
    print(f"cores usable: {len(os.sched_getaffinity(0))}; {n} datacenters, the PR changes {what}")
    print(f"{'stack':<6} {'single check':>13} {'peak memory':>12} {'in the fleet check':>19}")
    for stack in stacks:
        if (one := single.get(stack)) is None:
            print(f"{stack:<6} {'-':>13} {'-':>12} {inside[stack]:>17.1f} s")
            continue
        print(f"{stack:<6} {one.seconds:>11.1f} s {_mib(one.peak_bytes):>12} {inside[stack]:>17.1f} s")
    measured = sum(one.seconds for one in single.values())
    # Stacks whose single check was not measured count at the measured ones' mean (said below).
    total = measured * n / len(single)
    estimated = f" ({len(single)} measured, {n - len(single)} at their mean)" if len(single) < n else ""
    peak_single = max(one.peak_bytes for one in single.values())
    cpu = sum(one.cpu_seconds for one in single.values()) * n / len(single)
    print(
        f"{n} single-stack checks: {total:.1f} s in total{estimated}, CPU {cpu:.1f} s, "
        f"peak memory {_mib(peak_single)}"
    )
    print(f"  their steps, summed: {_steps(''.join(one.stdout for one in single.values()))}")
    print(
        f"fleet check, cold: {fleet.seconds:.1f} s, CPU {fleet.cpu_seconds:.1f} s, peak memory "
        f"{_mib(fleet.peak_bytes)} (process tree; largest process {_mib(fleet.largest_bytes)}); {fleet.load}"
    )
    print(f"  its steps, summed over the stacks (one stack per core at a time): {_steps(fleet.stdout)}")
    if warm is not None:
        print(
            f"fleet check, warm (base plans kept from the cold run): {warm.seconds:.1f} s, CPU "
            f"{warm.cpu_seconds:.1f} s, peak memory {_mib(warm.peak_bytes)}; "
            f"warm / cold = {warm.seconds / fleet.seconds:.2f}; {warm.load}"
        )
        print(f"  its steps, summed: {_steps(warm.stdout)}")
    met = fleet.seconds <= GOAL_SECONDS and fleet.peak_bytes <= GOAL_BYTES
    print(
        f"ratio fleet / {n} single: {fleet.seconds:.1f} s / {total:.1f} s = {fleet.seconds / total:.2f}"
        f"{estimated}; "
        f"goal <= {GOAL_SECONDS:.0f} s and <= {_mib(GOAL_BYTES)}: {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
