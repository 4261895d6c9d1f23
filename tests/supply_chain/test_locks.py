"""The hash locks: what the deploy and the runners install, checked against the pins and installed
the way scripts/bootstrap.sh installs them (scripts/install-locked.sh, run against a local wheelhouse:
no traffic leaves the machine)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO
from tests.workflow_replay import Ran, load, named_step, run_step

RUNTIME_LOCK = REPO / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"
BUILD_LOCK = REPO / "requirements-build.lock"
LOCAL_PACKAGES = (REPO, REPO / "policies", REPO / "scheduler-filters")
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+) \\$")
HASH = re.compile(r"^    --hash=sha256:(?P<digest>[0-9a-f]{64})(?: \\)?$")
# Tools that must never be in the set the deploy installs next to its secrets.
DEV_ONLY = ("pytest", "nova", "cinder", "moto", "ruff", "mypy", "zizmor", "hypothesis", "uv", "boto3")


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 digests), as pip reads the file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if (entry := ENTRY.match(line)) is not None:
            current = canonicalize_name(entry["name"])
            assert current not in entries, f"{path.name}: {current} twice"
            entries[current] = (entry["version"], [])
        elif (digest := HASH.match(line)) is not None:
            assert current is not None, f"{path.name}: a hash before any requirement: {line}"
            entries[current][1].append(digest["digest"])
        else:
            current = None
            assert line == "" or line.lstrip().startswith("#"), f"{path.name}: not a hashed pin: {line!r}"
    return entries


def requirement_lines(path: Path) -> list[Requirement]:
    """The requirements a requirements file names itself (its `-r` includes and `-e` folders left out)."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def local_dependencies() -> list[Requirement]:
    """What the project's own three packages (installed from the checkout, not the lock) depend on."""
    out = []
    for folder in LOCAL_PACKAGES:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        out += [Requirement(dep) for dep in project.get("dependencies", [])]
    return [req for req in out if not canonicalize_name(req.name).startswith("webex-")]


def runtime_roots() -> list[Requirement]:
    return [
        *requirement_lines(REPO / "requirements.txt"),
        *requirement_lines(REPO / "requirements-build.txt"),
        *local_dependencies(),
    ]


def dev_roots() -> list[Requirement]:
    return [*runtime_roots(), *requirement_lines(REPO / "requirements-dev.txt")]


def closure(roots: Iterable[Requirement], lock: dict[str, tuple[str, list[str]]]) -> set[str]:
    """Every distribution the roots pull in on the runners' interpreter, each checked to be in the lock
    at a version its dependents accept; read from the metadata of the distributions installed here
    (bootstrap.sh installed them from the dev lock)."""
    environment = {key: str(value) for key, value in default_environment().items()}
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(req, "the pins") for req in roots]
    while todo:
        req, wanted_by = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**environment, "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        assert name in lock, f"{req} (wanted by {wanted_by}) is not in the lock: run scripts/lock.sh"
        version = lock[name][0]
        assert req.specifier.contains(Version(version), prereleases=True), (
            f"{wanted_by} wants {req}, the lock has {name}=={version}"
        )
        names.add(name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        installed = importlib.metadata.version(name)
        assert installed == version, (
            f"{name}: {installed} installed, {version} locked: run scripts/bootstrap.sh"
        )
        for dep in importlib.metadata.requires(name) or []:
            dep_req = Requirement(dep)
            if dep_req.marker is not None and not any(
                dep_req.marker.evaluate({**environment, "extra": extra}) for extra in ("", *req.extras)
            ):
                continue
            todo.append((Requirement(str(dep_req).split(";")[0]), f"{name}=={version}"))
    return names


def test_every_entry_of_both_locks_is_pinned_and_hashed_with_sha256() -> None:
    for path in (RUNTIME_LOCK, DEV_LOCK, BUILD_LOCK):
        entries = read_lock(path)
        assert len(entries) >= (3 if path == BUILD_LOCK else 30), path.name
        for name, (version, digests) in entries.items():
            assert digests, f"{path.name}: {name}=={version} has no hash"


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [
        (("requirements.txt", "requirements-build.txt"), RUNTIME_LOCK),
        (
            (
                "requirements.txt",
                "requirements-build.txt",
                "requirements-dev.txt",
                "constraints/openstack.txt",
                "constraints/resolver.txt",
            ),
            DEV_LOCK,
        ),
    ],
    ids=["runtime", "dev"],
)
def test_every_pin_is_locked_at_its_version(requirements: tuple[str, ...], lock: Path) -> None:
    entries = read_lock(lock)
    for file in requirements:
        for req in requirement_lines(REPO / file):
            name = canonicalize_name(req.name)
            assert name in entries, f"{file}: {req} is not in {lock.name}: run scripts/lock.sh"
            assert req.specifier.contains(Version(entries[name][0]), prereleases=True), (
                f"{file} says {req}, {lock.name} has {entries[name][0]}: run scripts/lock.sh"
            )


def test_the_runtime_lock_is_exactly_what_the_program_needs() -> None:
    """Closed (every dependency of every pin is in it, at an accepted version) and nothing more: no test
    tool, no Nova, reaches the job that holds the deploy secrets."""
    lock = read_lock(RUNTIME_LOCK)
    needed = closure(runtime_roots(), lock)
    assert needed == set(lock), f"locked but not needed: {sorted(set(lock) - needed)}"
    assert not [tool for tool in DEV_ONLY if tool in lock]


def test_the_dev_and_build_locks_are_closed_and_hold_the_deploys_versions() -> None:
    dev, build, runtime = read_lock(DEV_LOCK), read_lock(BUILD_LOCK), read_lock(RUNTIME_LOCK)
    needed = closure(dev_roots(), dev)
    assert needed == set(dev), f"locked but not needed: {sorted(set(dev) - needed)}"
    assert closure(requirement_lines(REPO / "requirements-build.txt"), build) == set(build)
    for name, (version, digests) in runtime.items():
        assert dev[name] == (version, digests), (
            f"{name}: {version} in the deploy, {dev[name][0]} in the tests"
        )
    for name, entry in build.items():
        assert runtime[name] == entry, f"{name}: the build tools and the runtime lock disagree"


def test_the_locks_are_for_the_runners_python() -> None:
    """The locks resolve markers for CPython 3.11 (scripts/lock.sh), the version every workflow sets up."""
    assert (
        "--python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu"
        in (REPO / "scripts" / "lock.sh").read_text()
    )
    assert sys.version_info[:2] == (3, 11) and sys.version_info >= (3, 11, 3)
    for path in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "setup-python" in step.get("uses", ""):
                    assert step["with"]["python-version"] == "3.11", path.name


def _workflow_steps() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        for job_name, job in yaml.safe_load(path.read_text())["jobs"].items():
            out += [(path.name, job_name, step) for step in job.get("steps", [])]
    return out


def test_every_workflow_installs_through_bootstrap_and_the_deploy_the_runtime_set_only() -> None:
    installs = {
        (f, j): s["run"]
        for f, j, s in _workflow_steps()
        if "pip " in s.get("run", "") or "bootstrap" in s.get("run", "")
    }
    assert all("pip " not in run for run in installs.values()), installs  # no install around the locks
    assert installs[("deploy-stack.yml", "up")] == "bash scripts/bootstrap.sh --runtime"
    assert installs[("deploy.yml", "stacks")] == "bash scripts/bootstrap.sh --runtime"
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert 'bash scripts/install-locked.sh .venv/bin/python "$lock" "${source_builds[@]}"' in bootstrap
    assert "bash scripts/install-locked.sh .venv/bin/python requirements-build.lock" in bootstrap
    # The runtime set builds nothing from source; the dev set only the one package PyPI has no wheel of.
    runtime_case = next(line for line in bootstrap.splitlines() if line.strip().startswith("--runtime)"))
    assert "lock=requirements.lock" in runtime_case and "source_builds=()" in runtime_case
    assert "source_builds=(--no-binary ovs)" in bootstrap
    assert "--no-index" in bootstrap and "-r requirements" not in bootstrap


# --- The install command, run against a local wheelhouse ------------------------------------------


WHEEL_FILE = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _wheel(folder: Path, name: str, version: str, *, body: str = "VALUE = 1\n", requires: str = "") -> Path:
    """A minimal pure-Python wheel, written as the wheel spec lays it out."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + (f"Requires-Dist: {requires}\n" if requires else ""),
        f"{dist_info}/WHEEL": WHEEL_FILE,
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    target = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def empty_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(target, with_pip=True)
    return target / "bin" / "python"


def _install(python: Path, lock: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    # No index and no machine-wide pip config: only the wheelhouse on this disk.
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "install-locked.sh"), str(python), str(lock)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def _installed(python: Path, name: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({name!r}) else 1)"
    return subprocess.run([str(python), "-c", probe], check=False, timeout=60).returncode == 0


def test_the_install_takes_a_wheel_whose_bytes_match_the_lock(empty_venv: Path, tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "lockgood", "1.0")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"lockgood==1.0 \\\n    --hash=sha256:{_sha256(wheel)}\n")
    done = _install(empty_venv, lock, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _installed(empty_venv, "lockgood")


def test_a_swapped_wheel_is_refused_and_nothing_is_installed(empty_venv: Path, tmp_path: Path) -> None:
    """Same name, same version, other bytes (a re-upload, a poisoned mirror): refused."""
    (tmp_path / "locked").mkdir()
    locked = _wheel(tmp_path / "locked", "lockswap", "1.0")
    (tmp_path / "served").mkdir()
    _wheel(tmp_path / "served", "lockswap", "1.0", body="import os\nos.system('echo owned')\n")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"lockswap==1.0 \\\n    --hash=sha256:{_sha256(locked)}\n")
    done = _install(empty_venv, lock, tmp_path / "served")
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr
    assert not _installed(empty_venv, "lockswap")


def test_an_entry_without_a_hash_is_refused(empty_venv: Path, tmp_path: Path) -> None:
    _wheel(tmp_path, "lockbare", "1.0")
    fine = _wheel(tmp_path, "lockfine", "1.0")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"lockfine==1.0 \\\n    --hash=sha256:{_sha256(fine)}\nlockbare==1.0\n")
    done = _install(empty_venv, lock, tmp_path)
    assert done.returncode != 0 and "Hashes are required in --require-hashes mode" in done.stderr
    assert not _installed(empty_venv, "lockbare") and not _installed(empty_venv, "lockfine")


def test_a_dependency_missing_from_the_lock_is_refused(empty_venv: Path, tmp_path: Path) -> None:
    top = _wheel(tmp_path, "locktop", "1.0", requires="lockdep")
    _wheel(tmp_path, "lockdep", "1.0")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"locktop==1.0 \\\n    --hash=sha256:{_sha256(top)}\n")
    done = _install(empty_venv, lock, tmp_path)
    assert done.returncode != 0 and "lockdep" in done.stderr
    assert not _installed(empty_venv, "locktop") and not _installed(empty_venv, "lockdep")


def test_a_source_distribution_is_refused_before_its_build_script_runs(
    empty_venv: Path, tmp_path: Path
) -> None:
    """Even with its hash in the lock: building it would run the package's own code here."""
    source = tmp_path / "locksrc-1.0"
    source.mkdir()
    ran = tmp_path / "setup-py-ran"
    (source / "setup.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).write_text('ran')\n"
        "from setuptools import setup\nsetup(name='locksrc', version='1.0')\n"
    )
    sdist = tmp_path / "locksrc-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(source, arcname="locksrc-1.0")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"locksrc==1.0 \\\n    --hash=sha256:{_sha256(sdist)}\n")
    done = _install(empty_venv, lock, tmp_path)
    assert done.returncode != 0 and not ran.exists()
    assert not _installed(empty_venv, "locksrc")


def test_a_missing_lock_is_named(empty_venv: Path, tmp_path: Path) -> None:
    done = _install(empty_venv, tmp_path / "nothing.lock", tmp_path)
    assert done.returncode == 2 and "nothing.lock not found" in done.stderr


def _pull_request_checkout(root: Path) -> Path:
    """The branch as the pull-request job checks it out (every file git would give it), with the
    bootstrap's venv in place."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(source.read_bytes())
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return root


def _replay_lock_step(pr: Path) -> Ran:
    workflow = load("pr-preview.yml")
    step = named_step(workflow, "check", "Pins and locks agree")
    assert step["working-directory"] == "pr"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH"))}
    return run_step(workflow, "check", step, cwd=pr, env=env)


def test_the_pull_request_check_fails_while_a_pin_moved_without_its_lock(tmp_path: Path) -> None:
    """A Dependabot pull request moves a pin in requirements.txt only; bootstrap would still install the
    lock's old version, so the check would judge code that is not what merges. The workflow's step,
    replayed in a checkout of the branch, fails it and says how to mend it."""
    pr = _pull_request_checkout(tmp_path / "pr")
    assert _replay_lock_step(pr).returncode == 0
    requirements = pr / "requirements.txt"
    pinned = requirements.read_text()
    assert "\nPyYAML==6.0.3\n" in pinned
    requirements.write_text(pinned.replace("\nPyYAML==6.0.3\n", "\nPyYAML==6.0.2\n"))
    done = _replay_lock_step(pr)
    assert done.returncode != 0
    assert "PyYAML==6.0.2, requirements.lock has 6.0.3: run scripts/lock.sh" in done.stdout
