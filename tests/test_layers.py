"""The house's floors, and the directions imports may run: every room (a folder or a module of
webex_cloud/) sits on one floor and imports only from floors below it, never sideways, never up.

Read from the source (no import side effects, lazy imports included), so a module that imports a room
above it fails here, and so does a new room that is not placed on a floor. Data flows one way: the
catalog is read by config/, the program (components/) is run into plans (plan/), the capabilities judge
plans and the live cloud, and the commands compose them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "webex_cloud"

FLOORS: tuple[tuple[str, frozenset[str]], ...] = (
    # 0: facts and helpers that import nothing of the project (the standard library only).
    # ``tags``: the ownership metadata keys every resource carries, which the components write and the
    # audit and the monitoring read.
    (
        "ground",
        frozenset({"exit_codes", "paths", "atomic", "naming", "facts", "input_files", "tags", "pinned_ssh"}),
    ),
    # 1: what every command shares (its options, exit codes, atomic files) and the pictures' drawing;
    # the one format of a forced-command login (over pinned_ssh's key check).
    ("shared helpers", frozenset({"cli_common", "picture", "forced_command"})),
    # 2: the catalog and stack files, validated into plain objects.
    ("configuration", frozenset({"config"})),
    # 3: the plan document every tool reads (plan/format.py) and its rendering by the offline program.
    ("plan", frozenset({"plan"})),
    # 4: what a change is; the one owner of live cloud access; the controllers' filter release.
    ("change, cloud access, controller", frozenset({"change", "cloud", "controller"})),
    # 5: a service's release in health-gated waves (and the disruption an update causes).
    ("release waves", frozenset({"release"})),
    # 5b: the monitoring generated from the catalog and the stack file (the monitoring pair's component
    # ships it, so it sits below the components).
    ("monitoring configuration", frozenset({"monitoring"})),
    # 6: the Pulumi components (what the program registers).
    ("components", frozenset({"components"})),
    # 7: the capabilities, each one package, none importing another.
    ("capabilities", frozenset({"audit", "images", "placement", "policy_check", "preview", "stacks"})),
    # 7b: operations on the live cloud that compose capabilities (a drain runs the placement proof and
    # reads the plan's expectations as the audit does).
    ("operations", frozenset({"maintenance", "drift", "rollback"})),
    # 7c: what operates the monitoring: its live facts are drift's own verdicts (N+1 without the hosts
    # Nova reports unavailable, the controllers' filters), so it sits above drift.
    ("monitoring operations", frozenset({"monitoring_ops"})),
    # 8: one module per command (and the pull-request check that runs them), composing the rooms below.
    ("commands", frozenset({"commands"})),
    # 9: the dispatcher of `python -m webex_cloud`, which imports the commands by name only.
    ("dispatcher", frozenset({"cli"})),
    # 10: `python -m webex_cloud` itself.
    ("entry point", frozenset({"__main__"})),
)
"""Bottom to top. A new room is placed here, on the lowest floor its imports allow."""

FLOOR_OF = {room: level for level, (_, rooms) in enumerate(FLOORS) for room in rooms}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports included);
    ``from webex_cloud import naming`` counts as an import of ``webex_cloud.naming``, and
    ``from webex_cloud.commands import plan`` as one of the module ``webex_cloud.commands.plan``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            folder = REPO.joinpath(*node.module.split("."))
            found |= {
                f"{node.module}.{alias.name}"
                for alias in node.names
                if node.module == "webex_cloud"
                or (
                    node.module.startswith("webex_cloud.")
                    and ((folder / f"{alias.name}.py").is_file() or (folder / alias.name).is_dir())
                )
            }
    return found


def room_of(module: str) -> str | None:
    """The room of a ``webex_cloud`` module: its folder or module right under webex_cloud/."""
    parts = module.split(".")
    if parts[0] != "webex_cloud" or len(parts) < 2:
        return None
    return parts[1]


def rooms() -> set[str]:
    """Every room of webex_cloud/ as it is on disk."""
    return {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.is_file() and p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }


def arrows() -> Iterator[tuple[str, str, str, str]]:
    """(from room, to room, file, imported module) for every import between two rooms."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0].removesuffix(".py")
        if source == "__init__":
            continue
        for module in sorted(imports(path)):
            target = room_of(module)
            if target is not None and target != source:
                yield source, target, str(path.relative_to(REPO)), module


def folder_of(module: str) -> str:
    """The folder a module lives in (a module right under webex_cloud/ is a room, so its own node)."""
    parts = module.removesuffix(".__init__").split(".")
    if (REPO.joinpath(*parts)).is_dir() or len(parts) <= 2:
        return ".".join(parts)
    return ".".join(parts[:-1])


def test_every_room_is_placed_on_one_floor() -> None:
    placed = [room for _, floor in FLOORS for room in floor]
    assert len(placed) == len(set(placed)), "a room is placed on two floors"
    unplaced = sorted(rooms() - set(placed))
    assert not unplaced, f"place {unplaced} on a floor of FLOORS in tests/test_layers.py"
    gone = sorted(set(placed) - rooms())
    assert not gone, f"{gone} no longer exist: remove them from FLOORS"


def test_every_import_runs_down_never_sideways_or_up() -> None:
    offenders = [
        f"{path}: imports {module} ({source} on floor {FLOORS[FLOOR_OF[source]][0]!r}, "
        f"{target} on floor {FLOORS[FLOOR_OF[target]][0]!r})"
        for source, target, path, module in arrows()
        if target in FLOOR_OF and source in FLOOR_OF and FLOOR_OF[target] >= FLOOR_OF[source]
    ]
    assert not offenders, "\n".join(offenders)


def test_no_import_loop_between_folders() -> None:
    """Folders at every depth (webex_cloud/controller/remote as well as webex_cloud/controller): no two
    import each other, directly or through others."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        folder = folder_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        for module in imports(path):
            if module.startswith("webex_cloud.") and (target := folder_of(module)) != folder:
                graph.setdefault(folder, set()).add(target)
    loops = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                loops.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not loops, loops


def test_the_pulumi_program_imports_only_the_programs_parts() -> None:
    """__main__.py (outside webex_cloud/) wires the configuration to the components: nothing of the
    tools above them (capabilities, commands) is part of what `pulumi up` runs."""
    used = {room for m in imports(REPO / "__main__.py") if (room := room_of(m)) is not None}
    assert "components" in used
    assert all(FLOOR_OF[room] <= FLOOR_OF["components"] for room in used), sorted(used)


def test_the_layer_checks_catch_an_import_back_up(tmp_path: Path) -> None:
    """The checks above can fail: an import of a command from the configuration is seen as one."""
    path = tmp_path / "loader.py"
    path.write_text("from webex_cloud.commands.plan import main\nfrom webex_cloud import preview\n")
    found = {room for m in imports(path) if (room := room_of(m)) is not None}
    assert found == {"commands", "preview"}
    assert all(FLOOR_OF[room] > FLOOR_OF["config"] for room in found)


def test_the_plan_format_needs_only_pydantic_the_standard_library_and_the_paths() -> None:
    ours = {m for m in imports(PACKAGE / "plan" / "format.py") if m.startswith("webex_cloud")}
    assert ours == {"webex_cloud.config.errors", "webex_cloud.input_files", "webex_cloud.paths"}
    assert "pulumi" not in {m.split(".")[0] for m in imports(PACKAGE / "plan" / "format.py")}


def test_the_readers_of_the_plan_do_not_import_its_renderer() -> None:
    """Placement, preview, the policy harness and the audit read plans through plan/format.py; only the
    commands (webex_cloud/commands/, the plan-then-policy pipeline among them) may render one."""
    offenders = []
    for package in ("placement", "preview", "policy_check", "audit"):
        for path in sorted((PACKAGE / package).glob("*.py")):
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
    assert "webex_cloud.commands.pipeline" in imports(PACKAGE / "commands" / "plan.py")


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


def test_the_ground_floor_imports_nothing_of_the_project() -> None:
    """Names, the provider's behaviour per input, the rollout's constants, the placement invariants,
    the paths and the exit codes: every floor above may import them, so they import no room at all."""
    ground = [
        path
        for room in FLOORS[0][1]
        for path in (
            [PACKAGE / f"{room}.py"] if (PACKAGE / f"{room}.py").exists() else (PACKAGE / room).rglob("*.py")
        )
    ]
    assert len(ground) >= 8
    offenders = {
        str(path.relative_to(REPO)): bad
        for path in ground
        if (bad := {m for m in imports(path) if m.startswith("webex_cloud")})
    }
    assert not offenders


COMMAND_FLOORS: tuple[frozenset[str], ...] = (
    # The composing commands, above the commands they call through their Python entry points: the
    # pull-request check calls plan, policy, place and preview in its workers and builds the comment;
    # plan runs the plan-then-policy pipeline. Every other command module is on the floor below them.
    frozenset({"plan"}),
    frozenset({"pr_check"}),
)
"""Bottom to top, over the ground floor of commands/ (every command module not listed here)."""


def _command_floor(module: str) -> int:
    return next((level + 1 for level, floor in enumerate(COMMAND_FLOORS) if module in floor), 0)


def test_commands_call_only_the_commands_below_them() -> None:
    """Inside commands/ too, imports run down: a command composed by another (pr-check's steps) is
    imported, not run as a process no import shows, so this test sees the edge."""
    edges = {
        (path.stem, module.split(".")[2])
        for path in sorted((PACKAGE / "commands").glob("*.py"))
        for module in imports(path)
        if module.startswith("webex_cloud.commands.") and module.split(".")[2] != path.stem
    }
    assert {("pr_check", "plan"), ("pr_check", "policy"), ("pr_check", "place")} <= edges
    offenders = sorted((a, b) for a, b in edges if _command_floor(b) >= _command_floor(a))
    assert not offenders, offenders
