"""Property: whatever the files hold, the loader either loads or raises CatalogError, nothing else."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import mocks
from pulumi.runtime.config import set_all_config

from tests.conftest import REPO, ProjectCopy
from webex_cloud.config.engine import ENVIRONMENT, program_config
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.paths import PROJECT
from webex_cloud.plan.capture import PlanMocks

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


SERVICE, STACK = "catalog/messaging.yaml", "stacks/Pulumi.dc1.yaml"


def _check_with(write: Callable[[ProjectCopy], None]) -> None:
    """Load a copy of the project after ``write`` changed its files."""
    with tempfile.TemporaryDirectory() as folder:
        project = ProjectCopy(Path(folder) / "project")
        write(project)
        _check(project.root)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(service=mutated(BASE_SERVICE), datacenter=mutated(BASE_DC))
def test_structured_mutations_load_or_raise_catalog_error(service: Any, datacenter: Any) -> None:
    def write(project: ProjectCopy) -> None:
        project.save(SERVICE, service)
        project.save(STACK, datacenter)

    _check_with(write)


@settings(max_examples=100, deadline=None, derandomize=True)
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


# --- YAML-level mutations: tags, anchors and aliases, nesting, number forms, on the files' text -----------

NUMBER_FORMS = st.sampled_from(
    [
        "0443",
        "22:23",
        "0500",
        "1_000",
        "0x1F",
        "0o17",
        "0b101",
        "1e3",
        ".5",
        "08",
        "+3",
        "-0",
        "12:30:00",
        "2026-02-30",
        "2026-02-28",
        "2026-02-28T10:00:00Z",
        ".nan",
        "-.inf",
        "yes",
        "No",
        "on",
        "OFF",
        "~",
        "null",
        "True",
        "1.5",
        "9" * 25,
    ]
)
TAGS = st.sampled_from(
    [
        "!!int",
        "!!str",
        "!!float",
        "!!bool",
        "!!null",
        "!!binary",
        "!!timestamp",
        "!!set",
        "!!omap",
        "!!python/object:os.system",
        "!custom",
        "!",
        "!!map",
        "!!seq",
        "!!merge",
    ]
)


@st.composite
def yaml_mutation(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few YAML-level edits: a scalar replaced by a tricky number form, a tag inserted,
    an anchor and alias (maybe a merge or an alias bomb), or deep nesting."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        kind = draw(st.sampled_from(["number", "tag", "anchor", "nesting", "merge", "bomb"]))
        if kind == "number" and ": " in line:
            key, _, _ = line.partition(": ")
            lines[index] = f"{key}: {draw(NUMBER_FORMS)}"
        elif kind == "tag" and ": " in line:
            key, _, value = line.partition(": ")
            lines[index] = f"{key}: {draw(TAGS)} {value}"
        elif kind == "anchor" and ": " in line:
            key, _, value = line.partition(": ")
            lines[index] = f"{key}: &x{index} {value}"
            target = draw(st.integers(index, len(lines) - 1))
            if ": " in lines[target] and target != index:
                other, _, _ = lines[target].partition(": ")
                lines[target] = f"{other}: *x{index}"
        elif kind == "nesting":
            depth = draw(st.sampled_from([5, 40, 2000]))
            opener = draw(st.sampled_from(["[", "{a: "]))
            lines[index] = f"{line.partition(': ')[0]}: {opener * depth}"
        elif kind == "merge":
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(index + 1, f"{indent}<<: {draw(st.sampled_from(['*nowhere', '[1, 2]', '{a: 1}']))}")
        elif kind == "bomb":
            bomb = ['bomb0: &b0 ["x", "x", "x", "x", "x", "x", "x", "x"]']
            bomb += [f"bomb{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 8) + "]" for i in range(1, 8)]
            lines = [*lines, *bomb]
    return "\n".join(lines) + "\n"


SERVICE_TEXT = (REPO / "catalog/messaging.yaml").read_text()
STACK_TEXT = (REPO / "stacks/Pulumi.dc1.yaml").read_text()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(service=yaml_mutation(SERVICE_TEXT), stack=yaml_mutation(STACK_TEXT))
def test_yaml_level_mutations_load_or_raise_catalog_error(service: str, stack: str) -> None:
    def write(project: ProjectCopy) -> None:
        project.write(SERVICE, service)
        project.write(STACK, stack)

    _check_with(write)


# --- The environment: whatever PULUMI_CONFIG holds, the program reads it or raises CatalogError -----------

ENV_VALUES = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40),
    st.sampled_from(
        ["", "5", "[]", "null", '"webex-cloud:datacenter"', "[" * 5000, '{"webex-cloud:datacenter": 5}']
    ),
    VALUES.map(lambda v: json.dumps({"webex-cloud:datacenter": v})),
    VALUES.map(lambda v: json.dumps({"webex-cloud:datacenter": json.dumps(v)})),
    st.just(json.dumps({"webex-cloud:datacenter": json.dumps(BASE_DC["config"]["webex-cloud:datacenter"])})),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(value=ENV_VALUES)
def test_any_pulumi_config_environment_is_read_or_a_catalog_error(value: str) -> None:
    saved = os.environ.get(ENVIRONMENT)
    mocks.set_mocks(PlanMocks(), project=PROJECT, stack="dc1", preview=False)
    set_all_config({})
    os.environ[ENVIRONMENT] = value.replace("\x00", "")  # the OS refuses NUL in the environment
    try:
        try:
            config = program_config()
        except CatalogError as error:
            assert error.problems and all(p.file == ENVIRONMENT for p in error.problems)
            return
        try:
            load_deployment(REPO, "dc1", config.datacenter)
        except CatalogError as error:
            assert error.problems
    finally:
        if saved is None:
            os.environ.pop(ENVIRONMENT, None)
        else:
            os.environ[ENVIRONMENT] = saved
