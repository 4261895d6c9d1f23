"""Which stacks a pull request can change (webex_cloud/preview/changed_stacks.py): a stack is left out
only when every input it reads is the base's; every doubt checks every stack."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from webex_cloud.preview.changed_stacks import changed_stacks

STACKS = ["dc1", "dc2", "dc3"]


def _stack(name: str, pool: str, hosts: int = 3) -> str:
    return (
        f"config:\n  webex-cloud:datacenter:\n    name: {name}\n    cidr_pool: {pool}\n    hosts: {hosts}\n"
    )


def _checkout(root: Path) -> Path:
    """A checkout shaped like the project: code, stack files, service files, the image catalog."""
    files = {
        "__main__.py": "print('program')\n",
        "Pulumi.yaml": "name: webex-cloud\n",
        "webex_cloud/loader.py": "LOADER = 1\n",
        "policies/pack.py": "RULES = 1\n",
        "tests/test_x.py": "def test_x() -> None: ...\n",
        "docs/x.md": "# docs\n",
        "README.md": "# readme\n",
        "catalog/gateway.yaml": "name: gateway\ndatacenters: [dc1]\n",
        "catalog/messaging.yaml": "name: messaging\n",
        "catalog/images/images.yaml": "images: []\n",
    }
    for number, stack in enumerate(STACKS, start=1):
        files[f"stacks/Pulumi.{stack}.yaml"] = _stack(stack, f"10.{number}0.0.0/16")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    pr = _checkout(tmp_path / "pr")
    base = tmp_path / "base"
    shutil.copytree(pr, base)
    return pr, base


def _changed(sides: tuple[Path, Path]) -> set[str]:
    pr, base = sides
    return set(changed_stacks(pr, pr, base, STACKS))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_nothing_changed_checks_no_stack(sides: tuple[Path, Path]) -> None:
    assert _changed(sides) == set()


def test_what_no_render_reads_changes_no_stack(sides: tuple[Path, Path]) -> None:
    pr, _ = sides
    _write(pr / "tests" / "test_x.py", "changed\n")
    _write(pr / "docs" / "new.md", "new\n")
    _write(pr / "README.md", "changed\n")
    _write(pr / ".venv" / "lib" / "x.py", "installed\n")
    assert _changed(sides) == set()


def test_a_service_that_runs_in_one_stack_checks_that_stack(sides: tuple[Path, Path]) -> None:
    pr, _ = sides
    _write(pr / "catalog" / "gateway.yaml", "name: gateway\nowner: someone\ndatacenters: [dc1]\n")
    assert changed_stacks(pr, pr, sides[1], STACKS) == {"dc1": "catalog/gateway.yaml changed"}


def test_a_service_moved_to_another_stack_checks_both(sides: tuple[Path, Path]) -> None:
    pr, _ = sides
    _write(pr / "catalog" / "gateway.yaml", "name: gateway\ndatacenters: [dc2]\n")
    assert _changed(sides) == {"dc1", "dc2"}


def test_one_stack_file_checks_that_stack_unless_its_pool_changed(sides: tuple[Path, Path]) -> None:
    pr, _ = sides
    _write(pr / "stacks" / "Pulumi.dc2.yaml", _stack("dc2", "10.20.0.0/16", hosts=4))
    assert _changed(sides) == {"dc2"}
    # Every stack derives its peer-dc source from the others' pools.
    _write(pr / "stacks" / "Pulumi.dc2.yaml", _stack("dc2", "10.21.0.0/16"))
    assert _changed(sides) == set(STACKS)


EVERY_STACK: dict[str, Callable[[Path], None]] = {
    "program code": lambda pr: _write(pr / "webex_cloud" / "loader.py", "LOADER = 2\n"),
    "a new code file": lambda pr: _write(pr / "webex_cloud" / "new.py", "NEW = 1\n"),
    "the policy pack": lambda pr: _write(pr / "policies" / "pack.py", "RULES = 2\n"),
    "the program": lambda pr: _write(pr / "__main__.py", "print('changed')\n"),
    "a service of every stack": lambda pr: _write(
        pr / "catalog" / "messaging.yaml", "name: messaging\nowner: x\n"
    ),
    "a new service": lambda pr: _write(pr / "catalog" / "chat.yaml", "name: chat\ndatacenters: [dc3]\n"),
    "an unreadable service": lambda pr: _write(pr / "catalog" / "gateway.yaml", "name: [unclosed\n"),
    "a service of an unknown stack": lambda pr: _write(
        pr / "catalog" / "gateway.yaml", "name: gateway\ndatacenters: [dc9]\n"
    ),
    "the image catalog": lambda pr: _write(pr / "catalog" / "images" / "images.yaml", "images: [x]\n"),
    "a new stack": lambda pr: _write(pr / "stacks" / "Pulumi.dc4.yaml", _stack("dc4", "10.40.0.0/16")),
    "an unreadable stack file": lambda pr: _write(pr / "stacks" / "Pulumi.dc3.yaml", "config: [\n"),
    # The workflow decides what the check is given and run with (.github/workflows/pr-preview.yml).
    "the pull-request workflow": lambda pr: _write(pr / ".github" / "workflows" / "pr.yml", "on: x\n"),
    "the runtime lock": lambda pr: _write(pr / "requirements.lock", "pulumi==3.0 --hash=sha256:00\n"),
    "a pinned tool": lambda pr: _write(pr / "constraints" / "pulumi-cli.txt", "3.272.0\n"),
    "a scheduler filter": lambda pr: _write(pr / "scheduler-filters" / "src" / "f.py", "F = 1\n"),
    "a script": lambda pr: _write(pr / "scripts" / "bootstrap.sh", "exit 0\n"),
}


@pytest.mark.parametrize("change", sorted(EVERY_STACK))
def test_any_doubt_checks_every_stack(sides: tuple[Path, Path], change: str) -> None:
    EVERY_STACK[change](sides[0])
    assert _changed(sides) == set(STACKS)


def test_a_code_file_only_the_base_has_checks_every_stack(sides: tuple[Path, Path]) -> None:
    _write(sides[1] / "webex_cloud" / "removed.py", "GONE = 1\n")
    assert _changed(sides) == set(STACKS)


def test_the_code_that_runs_is_compared_as_well_as_the_project(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    """With --project, the code is this checkout and the inputs the project's: both must be the base's."""
    pr, base = sides
    code = tmp_path / "code"
    shutil.copytree(pr, code)
    assert set(changed_stacks(code, pr, base, STACKS)) == set()
    _write(code / "webex_cloud" / "loader.py", "LOADER = 3\n")
    assert set(changed_stacks(code, pr, base, STACKS)) == set(STACKS)
