"""Property: whatever the files hold, the loader either loads or raises CatalogError, nothing else."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, ProjectCopy
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["10.0.0.0/8", "::/0", "tcp", "5004-5100", "m1.small", "dc1", "a@b", "", "65536-1"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
BASE_SERVICE = yaml.safe_load((REPO / "catalog/messaging.yaml").read_text())
BASE_DC = yaml.safe_load((REPO / "stacks/Pulumi.dc1.yaml").read_text())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with a few of its nodes replaced by arbitrary values (keeps most of it valid)."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        value = draw(VALUES)
        if not path:
            doc = value
            continue
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def _check(root: Path) -> None:
    try:
        load_deployment(root, "dc1")
    except CatalogError as error:
        assert error.problems
        assert all(p.file and p.message for p in error.problems)


@settings(max_examples=150, deadline=None)
@given(service=mutated(BASE_SERVICE), datacenter=mutated(BASE_DC))
def test_structured_mutations_load_or_raise_catalog_error(service: Any, datacenter: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = ProjectCopy(Path(folder) / "project")
        project.save("catalog/messaging.yaml", service)
        project.save("stacks/Pulumi.dc1.yaml", datacenter)
        _check(project.root)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_load_or_raise_catalog_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = ProjectCopy(Path(folder) / "project")
        (project.root / "catalog/messaging.yaml").write_bytes(data)
        _check(project.root)


def test_non_utf8_file_is_a_catalog_error(project: ProjectCopy) -> None:
    (project.root / "catalog/messaging.yaml").write_bytes(b"name: \xff\xfe\n")
    try:
        load_deployment(project.root, "dc1")
    except CatalogError as error:
        assert "UTF-8" in str(error)
    else:
        raise AssertionError("a non-UTF-8 catalog file must be refused")
