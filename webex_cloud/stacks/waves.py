"""Every stack's deploy settings (``deploy: {wave, runner}`` in its stack file), the waves they form, and
how long and how wide each stack's deploy job must be (config/release_time.py, from the catalog).

The stack files are the only list of datacenters: the workflows build their matrices from what
this module reads, so a new datacenter is one new stack file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.loader import (
    DATACENTER_KEY,
    known_stacks,
    load_catalog,
    parse_datacenter,
    read_stack_config,
    stack_file,
)
from webex_cloud.config.models import MAX_WAVES, Service
from webex_cloud.config.release_time import job_minutes, too_long, widest_moment
from webex_cloud.paths import STACKS_DIR

WAVE_FIELD = f"config.{DATACENTER_KEY}.deploy.wave"
RUNNER_FIELD = f"config.{DATACENTER_KEY}.deploy.runner"
RUNNER_PREFIX = "webex-ops-"
"""A stack's deployment runs on the runner labelled ``webex-ops-<stack>`` and nowhere else:
.github/workflows/deploy-stack.yml derives that label from the stack name (a test pins the two)."""


def runner_label(stack: str) -> str:
    """The runner label of the datacenter that ``stack`` deploys."""
    return f"{RUNNER_PREFIX}{stack}"


def _wrong_runner(stack: str, runner: str) -> Problem | None:
    """A stack file naming another label (another datacenter's runner, say) is refused, not obeyed."""
    if runner == runner_label(stack):
        return None
    return Problem(
        stack_file(stack),
        RUNNER_FIELD,
        f"runner {runner!r} is not this datacenter's: a stack deploys only on its own runner; "
        f"set runner: {runner_label(stack)} and register that runner inside the datacenter",
    )


@dataclass(frozen=True)
class StackEntry:
    """One stack as the deploy workflow sees it."""

    stack: str
    wave: int
    """Its deploy wave (1 is the canary)."""
    runner: str
    """The runner label of its datacenter."""
    timeout_minutes: int
    """The deploy job's ``timeout-minutes``: the steps before ``up``, its slowest service's release and
    its bake."""
    parallel: int
    """``PULUMI_PARALLEL`` for its ``up``: every step of the widest moment of its releases at once."""
    bake_s: int = 0
    """Seconds it bakes after its `up` before the next wave may start (``deploy.bake_s``)."""

    def to_json(self) -> dict[str, str | int]:
        return {
            "stack": self.stack,
            "wave": self.wave,
            "runner": self.runner,
            "timeout_minutes": self.timeout_minutes,
            "parallel": self.parallel,
            "bake_s": self.bake_s,
        }


def _gaps(entries: list[StackEntry]) -> list[Problem]:
    """A wave without stacks between used waves: the workflow would stop there (its job is skipped)."""
    used = sorted({entry.wave for entry in entries})
    problems: list[Problem] = []
    for wave in range(1, used[-1]):
        if wave in used:
            continue
        following = min(w for w in used if w > wave)
        problems.extend(
            Problem(
                stack_file(entry.stack),
                WAVE_FIELD,
                f"wave {wave} has no stack but this stack is in wave {following}; waves are numbered "
                f"1, 2, ... without gaps (wave 1 is the canary): set wave: {wave} here or renumber "
                "the others",
            )
            for entry in entries
            if entry.wave == following
        )
    return problems


def load_stacks(project_dir: Path) -> list[StackEntry]:
    """Every stack, validated, in deploy order (wave, then name: ``dc9`` before ``dc10``).

    All files' problems are reported at once.

    Raises CatalogError when there is no stack file, one is invalid, the waves have a gap, the catalog is
    invalid, or a service's release cannot finish within the deploy job's limit.
    """
    names = known_stacks(project_dir)
    if not names:
        raise CatalogError(
            [
                Problem(
                    f"{STACKS_DIR.name}/", "", "no stack config file; add one as stacks/Pulumi.<stack>.yaml"
                )
            ]
        )
    settings: list[tuple[str, int, str, int]] = []
    problems: list[Problem] = []
    for name in names:
        try:
            datacenter = parse_datacenter(read_stack_config(project_dir, name).get(DATACENTER_KEY), name)
        except CatalogError as error:
            problems.extend(error.problems)
            continue
        wrong = _wrong_runner(name, datacenter.deploy.runner)
        if wrong is not None:
            problems.append(wrong)
            continue
        settings.append((name, datacenter.deploy.wave, datacenter.deploy.runner, datacenter.deploy.bake_s))
    entries: list[StackEntry] = []
    if settings:
        try:
            catalog = load_catalog(project_dir)
        except CatalogError as error:
            problems.extend(error.problems)
            catalog = []
        problems.extend(p for label, service in catalog if (p := too_long(label, service)) is not None)
        for name, wave, runner, bake_s in settings:
            here = [s for _, s in catalog if _runs_in(s, name)]
            entries.append(
                StackEntry(name, wave, runner, job_minutes(here, bake_s), widest_moment(here), bake_s)
            )
        problems.extend(_gaps(entries))
    if problems:
        raise CatalogError(problems)
    return sorted(entries, key=lambda entry: (entry.wave, _natural(entry.stack)))


def _runs_in(service: Service, stack: str) -> bool:
    return service.datacenters is None or stack in service.datacenters


def _natural(name: str) -> tuple[tuple[int, str], ...]:
    """``dc9`` before ``dc10``: digit runs compare as numbers."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.findall(r"\d+|\D+", name))


def waves(entries: list[StackEntry]) -> list[list[StackEntry]]:
    """The stacks of wave 1, of wave 2, ... (index 0 is wave 1); every wave up to the last is non-empty."""
    last = max((entry.wave for entry in entries), default=0)
    return [[entry for entry in entries if entry.wave == wave] for wave in range(1, last + 1)]


def github_outputs(entries: list[StackEntry]) -> dict[str, str]:
    """Step outputs for the deploy workflow: ``stacks`` (every stack), ``waves`` (how many) and
    ``wave_1`` .. ``wave_<MAX_WAVES>``, each a JSON list for a matrix ``include`` (``[]`` when unused)."""
    by_wave = waves(entries)
    outputs = {
        "stacks": _compact([entry.to_json() for entry in entries]),
        "waves": str(len(by_wave)),
    }
    for index in range(MAX_WAVES):
        members = by_wave[index] if index < len(by_wave) else []
        outputs[f"wave_{index + 1}"] = _compact([entry.to_json() for entry in members])
    return outputs


def _compact(value: object) -> str:
    """One line of JSON: a GitHub step output value cannot span lines."""
    return json.dumps(value, separators=(",", ":"))
