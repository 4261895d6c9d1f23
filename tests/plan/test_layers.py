"""Data flows one way: catalog -> config -> program -> plan -> policy, placement, preview.

Read from the source (no import side effects): a module that imports a layer above it fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "webex_cloud"


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_plan_format_needs_only_pydantic_the_standard_library_and_the_paths() -> None:
    ours = {m for m in imports(PACKAGE / "plan" / "format.py") if m.startswith("webex_cloud")}
    assert ours == {"webex_cloud.config.errors", "webex_cloud.paths"}
    assert "pulumi" not in {m.split(".")[0] for m in imports(PACKAGE / "plan" / "format.py")}


def test_the_readers_of_the_plan_do_not_import_its_renderer() -> None:
    """Placement, preview and the policy harness read plans through plan/format.py; only the
    commands (cli.py) and the plan-then-policy pipeline may render one."""
    offenders = []
    for package in ("placement", "preview", "policy_check", "audit"):
        for path in sorted((PACKAGE / package).glob("*.py")):
            if path.name == "cli.py":
                continue
            bad = {
                m
                for m in imports(path)
                if m.startswith(("webex_cloud.plan.document", "webex_cloud.plan.capture"))
            }
            if bad:
                offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert not offenders


def test_the_plan_package_never_imports_the_policy_harness_but_through_the_pipeline() -> None:
    for path in sorted((PACKAGE / "plan").glob("*.py")):
        assert not {m for m in imports(path) if m.startswith("webex_cloud.policy_check")}, path.name
    assert "webex_cloud.pipeline" in imports(PACKAGE / "plan" / "cli.py")


def test_the_controller_payload_imports_nothing_of_the_project() -> None:
    for path in sorted((PACKAGE / "controller" / "remote").glob("*.py")):
        assert not {m for m in imports(path) if m.startswith("webex_cloud")}, path.name
