"""A workflow's `run:` steps replayed as GitHub's runner runs them, for the tests that replay them.

What the runner does with a `run:` step, and so what :func:`run_step` does:

- the environment is the runner's own (the caller's ``env``: PATH, HOME, $GITHUB_STEP_SUMMARY, ...)
  under the workflow's `env:`, then the job's, then the step's, each value's `${{ }}` expressions
  substituted (GitHub's docs, "Workflow syntax for GitHub Actions", `env`: "the most specific variable
  will be used"); $GITHUB_OUTPUT is a fresh file for the step, read back into :attr:`Ran.outputs`;
- the script has its `${{ }}` expressions substituted and is run by the shell GitHub runs for
  `shell: bash`, ``bash --noprofile --norc -eo pipefail {0}`` (GitHub's docs, "Workflow syntax for
  GitHub Actions", ``jobs.<job_id>.steps[*].shell``, the table of built-in shells; the runner logs it
  as ``bash --noprofile --norc -e -o pipefail {0}``), the script given with ``-c`` where GitHub names a
  file (the same options; a file made the rollback replay's monitoring step hang, not understood yet).
  Without `shell: bash` GitHub runs ``bash -e {0}``, which lets a failure inside a pipe pass: every
  workflow here sets `defaults: run: shell: bash`, and a step whose shell is anything else is refused
  rather than replayed under the wrong shell.

Expressions are substituted from the caller's ``values`` (the expression's text, e.g.
``inputs.stack``, to its value), or by a function of that text for replays that decide them by rule.
A `secrets.*` with no value is empty, as GitHub gives a secret the repository does not hold; any other
expression with no value fails the replay, naming it: it is one the replay does not stand in for.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")
"""`shell: bash` on GitHub's runner, without GitHub's ``{0}`` (the script's file)."""
EXPRESSION = re.compile(r"\$\{\{\s*(?P<expr>.+?)\s*\}\}")

Values = Mapping[str, str] | Callable[[str], str]
"""What each `${{ expr }}` stands for: by the expression's text, or a function of it."""
NONE: Mapping[str, str] = {}
"""No values: only a step without expressions (or with secrets only, empty) replays with it."""


def load(name: str) -> dict[Any, Any]:
    """The workflow ``.github/workflows/<name>``, as parsed YAML (the key `on` reads as True)."""
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return workflow


def named_step(workflow: Mapping[Any, Any], job: str, name: str) -> dict[str, Any]:
    """The step of ``job`` whose `name:` is ``name``."""
    found = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == name]
    assert len(found) == 1, f"job {job} has {len(found)} steps named {name!r}"
    chosen: dict[str, Any] = found[0]
    return chosen


def resolve(text: str, values: Values) -> str:
    """``text`` with each `${{ expr }}` replaced by its value (see the module's docstring)."""

    def one(match: re.Match[str]) -> str:
        expr = match["expr"]
        if callable(values):
            return values(expr)
        if expr in values:
            return values[expr]
        assert expr.startswith("secrets."), f"the replay has no value for ${{{{ {expr} }}}}"
        return ""

    return EXPRESSION.sub(one, text)


def _env_text(value: Any) -> str:
    """A YAML `env:` value as the step sees it: GitHub writes booleans lower-case."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def step_env(
    workflow: Mapping[Any, Any],
    job: str,
    step: Mapping[str, Any],
    values: Values = NONE,
    exported: Mapping[str, str] = NONE,
) -> dict[str, str]:
    """The variables the workflow's, the job's and the step's `env:` give the step, the most specific
    winning, their expressions substituted; ``exported`` (what earlier steps wrote to $GITHUB_ENV) over
    the job's and under the step's, where the runner puts them."""
    declared = {**workflow.get("env", {}), **workflow["jobs"][job].get("env", {})}
    outer = {name: resolve(_env_text(value), values) for name, value in declared.items()}
    own = {name: resolve(_env_text(value), values) for name, value in step.get("env", {}).items()}
    return {**outer, **exported, **own}


def _shell(workflow: Mapping[Any, Any], job: str, step: Mapping[str, Any]) -> str | None:
    for declared in (
        step,
        workflow["jobs"][job].get("defaults", {}).get("run", {}),
        workflow.get("defaults", {}).get("run", {}),
    ):
        if "shell" in declared:
            shell: str = declared["shell"]
            return shell
    return None


@dataclass(frozen=True)
class Ran:
    """What a replayed step did."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    """What it wrote to $GITHUB_OUTPUT (`name=value` lines): its `steps.<id>.outputs`."""


def run_step(
    workflow: Mapping[Any, Any],
    job: str,
    step: Mapping[str, Any],
    *,
    cwd: Path,
    env: Mapping[str, str],
    values: Values = NONE,
    exported: Mapping[str, str] = NONE,
    timeout: float = 300,
) -> Ran:
    """Run ``step`` (a step of ``job`` in ``workflow``) in ``cwd`` as the runner runs it, ``env`` being
    the runner's own environment (the module's docstring says what is added). ``exported``: what the
    steps before it that the replay does not run would have left in $GITHUB_ENV (see :func:`step_env`)."""
    shell = _shell(workflow, job, step)
    assert shell == "bash", f"{step.get('name')}: shell {shell!r}, not the `shell: bash` these replays run"
    with tempfile.TemporaryDirectory(prefix="step-") as folder:
        output = Path(folder) / "github_output"
        output.write_text("")
        done = subprocess.run(
            [*BASH, "-c", resolve(step["run"], values)],
            cwd=cwd,
            env={**env, **step_env(workflow, job, step, values, exported), "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        written = output.read_text().splitlines()
    outputs = dict(line.split("=", 1) for line in written if "=" in line)
    return Ran(done.returncode, done.stdout, done.stderr, outputs)
