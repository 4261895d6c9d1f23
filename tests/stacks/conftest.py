"""A project copy with twenty datacenters: the example dc1 and dc2 plus eighteen generated stack files."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.generated_project import generate_datacenters

TWENTY = 20


@pytest.fixture(scope="session")
def twenty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("twenty") / "project"
    root.mkdir()
    assert len(generate_datacenters(root, TWENTY)) == TWENTY
    return root
