"""Where the project's files are: the one place that knows the checkout's layout.

Every command resolves its defaults from here, so it behaves the same from any working folder.
"""

from __future__ import annotations

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


def plan_path(stack: str, plan_dir: Path = PLAN_DIR) -> Path:
    """Where the offline plan of one stack is written and, by default, read."""
    return plan_dir / f"{stack}.json"
