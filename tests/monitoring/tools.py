"""The Prometheus tools the monitoring tests run (Debian's, installed by tools/monitoring/install.sh).

The full tier installs them first (scripts/test.sh), so there a missing tool fails the test; the fast tier
does not install system packages, so there it skips, naming the install step.
"""

from __future__ import annotations

import base64
import gzip
import shutil

import pytest
import yaml

from tests.conftest import fast_tier


def require(*names: str) -> None:
    """Skip (fast tier) or fail (full tier) unless every tool in ``names`` is on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing and fast_tier():
        pytest.skip(f"fast tier: {', '.join(missing)} not installed (bash tools/monitoring/install.sh)")
    assert not missing, f"{missing} not installed: scripts/test.sh runs tools/monitoring/install.sh first"


def boot_files(user_data: str) -> dict[str, str]:
    """What cloud-init writes from a monitoring node's user data: path -> text."""
    assert user_data.startswith("#cloud-config\n")
    document = yaml.safe_load(user_data)
    return {
        item["path"]: gzip.decompress(base64.b64decode(item["content"])).decode()
        for item in document["write_files"]
    }
