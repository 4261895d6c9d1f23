"""Render the release scenarios with the program *before* health gates, for the proof's "it can fail" half.

    .venv/bin/python -m tests.data.release.render_main_plans /work/main    # from this checkout's root

runs the checkout given (main before issue 9: no gates) on each scenario of tests/release/scenarios.py
and writes ``main-<scenario>.json`` here: the dc1 plan cut down to the meetings-media service (its
resources, their component ancestors and the provider), which is all the disruption count reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import ProjectCopy
from tests.release.scenarios import SCENARIOS, apply, trim_to_service

HERE = Path(__file__).resolve().parent


def main(checkout: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {**os.environ, "PYTHONPATH": f"{checkout}/scheduler-filters/src:{checkout}/policies:{checkout}"}
    for scenario in ("base", *SCENARIOS):
        with tempfile.TemporaryDirectory() as tmp:
            project = ProjectCopy(Path(tmp) / "project")
            apply(project, scenario)
            out = Path(tmp) / "out"
            subprocess.run(
                [
                    f"{checkout}/.venv/bin/python",
                    "-m",
                    "webex_cloud",
                    "plan",
                    "--project",
                    str(project.root),
                    "--out",
                    str(out),
                    "--stack",
                    "dc1",
                    "--no-policy",
                ],
                cwd=checkout,
                env=env,
                check=True,
                capture_output=True,
            )
            plan = json.loads((out / "dc1.json").read_text())
        trimmed = {**trim_to_service(plan), "rendered_by": f"main at {commit}"}
        (HERE / f"main-{scenario}.json").write_text(json.dumps(trimmed, indent=0, sort_keys=True) + "\n")
        print(f"main-{scenario}.json: {len(trimmed['resources'])} resources")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
