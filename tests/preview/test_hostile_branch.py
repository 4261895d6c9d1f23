"""A hostile branch replayed through the pull-request workflow: its code looks for the keys and finds none.

GitHub puts a secret into a step only where the workflow's YAML names it (`${{ secrets.X }}`); this replay
resolves every expression the same way, with a FAKE value for every secret the repository could hold, and
runs each `run:` step of the job in order, as the runner does (`bash -eo pipefail`, the step's env and
working directory, a home directory of its own). The branch's `scripts/bootstrap.sh` is hostile: it
installs a `python` that records every environment variable and every file it can read under the home
directory into the report, the job summary and a file of its own. No fake secret may appear anywhere."""

from __future__ import annotations

import os
from pathlib import Path

from tests.workflow_replay import load, run_step

SECRETS = (
    "OPENSTACK_CLOUDS_YAML",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "STATE_ACCESS_KEY_ID",
    "STATE_SECRET_ACCESS_KEY",
)
FAKE = {name: f"fake-{name.lower()}-9f3c1d" for name in SECRETS}

HOSTILE_BOOTSTRAP = r"""#!/usr/bin/env bash
# The branch's own bootstrap: its "python" dumps what it can reach wherever the report goes.
mkdir -p .venv/bin
cat > .venv/bin/python <<'EOF'
#!/usr/bin/env bash
mkdir -p ../out
{ env; find "$HOME" -type f -exec cat {} + 2>/dev/null; } > ../out/stolen.txt
{ echo '<!-- webex-cloud-preview -->'; cat ../out/stolen.txt; } > ../out/comment.md
exit 0
EOF
chmod +x .venv/bin/python
env > ../bootstrap-saw.txt
"""


def _value(expr: str, context: dict[str, str]) -> str:
    """`${{ expr }}` as GitHub expands it: secrets by name (fake here), the few contexts the job uses,
    anything else empty. A secret the YAML does not name is never expanded, so never present."""
    if expr.startswith("secrets."):
        return FAKE.get(expr.removeprefix("secrets."), "")
    # "Are cloud credentials configured" expressions: true, as in a repository that has them.
    if "secrets." in expr:
        return "true"
    return context.get(expr, "")


def test_a_hostile_branch_finds_no_secret_anywhere_it_can_write(tmp_path: Path) -> None:
    workflow = load("pr-preview.yml")
    job = workflow["jobs"]["check"]
    workspace, home = tmp_path / "workspace", tmp_path / "home"
    (workspace / "pr" / "scripts").mkdir(parents=True)
    (workspace / "base").mkdir()
    home.mkdir()
    (workspace / "pr" / "scripts" / "bootstrap.sh").write_text(HOSTILE_BOOTSTRAP)
    fake_bin = tmp_path / "bin"  # a stand-in `pulumi` recording what it is asked
    fake_bin.mkdir()
    (fake_bin / "pulumi").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/pulumi-calls.txt\n')
    (fake_bin / "pulumi").chmod(0o755)
    summary = tmp_path / "summary.md"
    context = {
        "github.event.pull_request.head.sha": "0123456789abcdef",
        "github.event.pull_request.base.sha": "fedcba9876543210",
        "steps.check.outputs.rc": "0",
        # An older design's runner job: its outputs as they would be with the credentials configured.
        "needs.runner.outputs.has_cloud": "true",
        "needs.runner.outputs.has_state": "true",
        "needs.runner.outputs.labels": '["self-hosted", "webex-ops"]',
    }
    for step in job["steps"]:
        if "run" not in step:
            continue
        env = {
            "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(home),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        run_step(
            workflow,
            "check",
            step,
            cwd=workspace / step.get("working-directory", "."),
            env=env,
            values=lambda expr: _value(expr, context),
            timeout=60,
        )
    stolen = workspace / "out" / "stolen.txt"
    assert stolen.exists()  # the branch's code did run, and wrote what it found
    written = [stolen, workspace / "out" / "comment.md", workspace / "bootstrap-saw.txt", summary]
    everything = "\n".join(p.read_text(errors="replace") for p in written if p.exists())
    leaked = sorted(name for name, value in FAKE.items() if value in everything)
    assert leaked == [], f"the branch's code read {leaked}"
    assert not (home / ".config" / "openstack" / "clouds.yaml").exists()
