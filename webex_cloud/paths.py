"""Where the project's files are: the one place that knows the checkout's layout.

Every command resolves its defaults from here, so it behaves the same from any working folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

PROJECT: Final = "webex-cloud"
"""The Pulumi project name (``name:`` in Pulumi.yaml); stack config keys are ``webex-cloud:<key>``."""

PROJECT_DIR: Final = Path(__file__).resolve().parent.parent
"""The checkout: Pulumi.yaml, catalog/, stacks/, policies/ and scheduler-filters/ live here."""

CATALOG_DIR: Final = PROJECT_DIR / "catalog"
STACKS_DIR: Final = PROJECT_DIR / "stacks"
PACK_DIR: Final = PROJECT_DIR / "policies"
FILTERS_SOURCE_DIR: Final = PROJECT_DIR / "scheduler-filters"
BUILD_DIR: Final = PROJECT_DIR / "build"
PLAN_DIR: Final = BUILD_DIR / "plan"


STACK_FILE_PREFIX: Final = "Pulumi."
STACK_FILE_SUFFIX: Final = ".yaml"
STACK_FILE_GLOB: Final = f"{STACK_FILE_PREFIX}*{STACK_FILE_SUFFIX}"
"""The Pulumi CLI's name of a stack's config file (``stackConfigDir: stacks`` in Pulumi.yaml)."""


_PLAIN_SEGMENT: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def plain_relative(path: str) -> bool:
    """``path`` names a file inside a checkout in the one spelling every reader agrees on: ``/``
    separated segments of letters, digits and ``._-``, none starting with a dot (no ``..``, no hidden
    ``.git``), no empty segment, not absolute. Data that may be written into a checkout (a last good
    record, a pull request's data overlay) is refused under any other name."""
    return 0 < len(path) <= 1024 and all(_PLAIN_SEGMENT.fullmatch(part) for part in path.split("/"))


def stack_file(stack: str) -> str:
    """The config file of ``stack``, relative to a checkout (the one place that spells it)."""
    return f"{STACKS_DIR.name}/{STACK_FILE_PREFIX}{stack}{STACK_FILE_SUFFIX}"


def stack_of(file_name: str) -> str:
    """The stack a config file belongs to: ``Pulumi.dc1.yaml`` (or ``stacks/Pulumi.dc1.yaml``) -> ``dc1``."""
    return Path(file_name).name.removeprefix(STACK_FILE_PREFIX).removesuffix(STACK_FILE_SUFFIX)


def known_stacks(project_dir: Path) -> list[str]:
    """Stacks that have a config file under ``project_dir``/stacks."""
    return sorted(stack_of(p.name) for p in (project_dir / STACKS_DIR.name).glob(STACK_FILE_GLOB))


def plan_dir(project_dir: Path) -> Path:
    """Where a project's offline plans are written and read by default: ``<project>/build/plan``."""
    return project_dir / BUILD_DIR.name / PLAN_DIR.name


def plan_path(stack: str, plan_dir: Path = PLAN_DIR) -> Path:
    """Where the offline plan of one stack is written and, by default, read."""
    return plan_dir / f"{stack}.json"


DRIFT_ACK_DIR: Final = PROJECT_DIR / "drift-acks"
"""Committed acknowledgements of drift, one file per stack (docs/drift.md)."""


def drift_ack_path(stack: str, ack_dir: Path = DRIFT_ACK_DIR) -> Path:
    """The acknowledgement file of one stack's drift."""
    return ack_dir / f"{stack}.yaml"
