"""Every benchmark the README lists runs at a small size: it fails here when it cannot run, not on timing.

The README lists the same modules as :data:`SMALL` (tested below), so a new benchmark cannot be left out."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

SMALL = {
    "bench_render": (["--resources", "200", "--repeat", "1"], "ratio render / bare"),
    "bench_validate": (["--services", "5", "--hosts", "50", "--repeat", "1"], "ratio validate / render"),
    "bench_placement": (["--resources", "200"], "one proof run with N+1"),
    "bench_policies": (["--resources", "400", "--repeat", "1"], "time ~ resources^k"),
    "bench_datacenters": (["--stacks", "3", "--no-serial"], "ratio total:"),
    "bench_monitoring": (["--stacks", "3"], "ratio monitoring / plan:"),
    "bench_preview": (["--steps", "300", "--repeat", "1"], "ratio, gc off"),
    # Nova and Cinder each in a process of their own, with a real cell/volume database: the setup,
    # not the 50 hosts and pools, is most of its time.
    "bench_filters": (["--sizes", "50", "--repeat", "1"], "pools: ours"),
    # The canary alone: one single-stack check and a fleet check of that one stack.
    "bench_pr_check": (["--stacks", "1"], "ratio fleet / 1 single"),
}


@pytest.mark.parametrize("module", sorted(SMALL))
def test_benchmark_runs_at_its_small_size(module: str) -> None:
    args, last_line = SMALL[module]
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # Exit 1 may be a missed speed target; the summary line proves the benchmark ran to its end.
    assert done.returncode in (0, 1) and last_line in done.stdout, done.stderr[-3000:]


def test_every_benchmark_is_in_the_readme_and_runs_small_here() -> None:
    modules = {path.stem for path in (REPO / "benchmarks").glob("bench_*.py")}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"python -m benchmarks\.(bench_\w+)", readme))
    assert modules == listed == set(SMALL)
