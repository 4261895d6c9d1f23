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
    assert ours == {"webex_cloud.config.errors", "webex_cloud.input_files", "webex_cloud.paths"}
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


def test_no_module_imports_the_dispatcher() -> None:
    """webex_cloud/cli.py only dispatches: the commands' shared helpers live below them
    (webex_cloud/cli_common.py), so an import of the dispatcher would run back up."""
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__main__.py" and "webex_cloud.cli" in imports(path)
    ]
    imported_as_name = [
        str(path.relative_to(REPO))
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(
            isinstance(node, ast.ImportFrom)
            and node.module == "webex_cloud"
            and any(alias.name == "cli" for alias in node.names)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert not offenders and not imported_as_name, offenders + imported_as_name


def test_the_shared_command_helpers_need_only_the_standard_library_and_the_ground_floor() -> None:
    """They run before the bootstrap (to say that it is missing): no third-party import."""
    ours = {m for m in imports(PACKAGE / "cli_common.py") if m.startswith("webex_cloud")}
    assert ours <= {"webex_cloud", "webex_cloud.atomic", "webex_cloud.paths", "webex_cloud.exit_codes"}


def test_the_configuration_and_the_plan_do_not_import_the_components() -> None:
    """Resource names live on the ground floor (webex_cloud/naming.py), below the components."""
    offenders = [
        f"{path.relative_to(REPO)}: {sorted(bad)}"
        for package in ("config", "plan")
        for path in sorted((PACKAGE / package).glob("*.py"))
        if (bad := {m for m in imports(path) if m.startswith("webex_cloud.components")})
    ]
    assert not offenders
    assert not {m for m in imports(PACKAGE / "naming.py") if m.startswith("webex_cloud")}
