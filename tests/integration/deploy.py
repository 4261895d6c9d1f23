"""Driving the rolling filter deployment on the loopback controllers, shared by the integration tests.

The deploy script runs exactly as on a controller: a separate process under Debian's /usr/bin/python3,
standard library only, driving the environment's own restart and health hooks (scheduler.sh) through one
profile per controller role (ctl-1, ctl-2). ``deployment`` holds the environment's lock for as long as a
test changes or relies on the schedulers' configuration, and leaves the controllers as it found them.
"""

from __future__ import annotations

import fcntl
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.integration.conftest import LOOPBACK_ROOT
from webex_cloud.controller.filter_release import DEPLOY_SCRIPT, FILTERS_SOURCE
from webex_cloud.controller.fragments import render_fragments
from webex_cloud.controller.remote import rolling_deploy as rd
from webex_cloud.controller.wheel import BuiltWheel, build_wheel

TOOLS = REPO / "tools" / "openstack-loopback"
SCHEDULER_SH = TOOLS / "scheduler.sh"
LOCK = Path("/run/lock/webex-loopback.lock")
CONTROLLERS = ("ctl-1", "ctl-2")
SYSTEM_PYTHON = "/usr/bin/python3"
#: The fragment the deployment writes into each scheduler's config directory.
FRAGMENT_NAME = "50-webex-filters.conf"
#: How many deployments of this process hold the environment's lock (``_environment_lock``).
_lock_depth = 0


def scheduler_paths(controller: str) -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(SCHEDULER_SH), "paths", controller], check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in shlex.split(out, posix=True) if "=" in line)


def write_profile(folder: Path, controller: str) -> Path:
    """The deploy script's profile of one loopback controller, on the environment's own hooks."""
    paths = scheduler_paths(controller)

    def service(kind: str, config_dir: str, option: str) -> dict[str, object]:
        hook = ["bash", str(SCHEDULER_SH)]
        return {
            "name": f"{kind}-scheduler",
            "fragment": kind,
            "path": f"{config_dir}/{FRAGMENT_NAME}",
            "filters_option": option,
            "restart": [*hook, "restart", kind, controller, "{filters}"],
            "health": [*hook, "health", kind, controller, "{filters}"],
        }

    profile = {
        "controller": controller,
        "python": paths["SCHEDULER_PYTHON"],
        "site_dir": paths["SITE_DIR"],
        "state_dir": paths["SITE_DIR"] + ".deploy",
        "health_timeout": 180,
        "services": [
            service("nova", paths["NOVA_CONFIG_DIR"], "filter_scheduler.enabled_filters"),
            service("cinder", paths["CINDER_CONFIG_DIR"], "scheduler_default_filters"),
        ],
    }
    path = folder / f"{controller}.json"
    path.write_text(json.dumps(profile, indent=1))
    return path


def build_variant(folder: Path, label: str, break_module: str | None = None) -> BuiltWheel:
    """The real filter distribution with a local version label of this run (so the deployment really
    installs it), optionally with one module that fails on import (an injected fault)."""
    source = folder / f"src-{label}"
    shutil.copytree(
        FILTERS_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "tests")
    )
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text()
    version = re.search(r'^version = "([^"]+)"', text, re.M)
    assert version is not None
    pyproject.write_text(text.replace(version.group(0), f'version = "{version.group(1)}+{label}"', 1))
    if break_module:
        module = source / "src" / "webex_scheduler_filters" / break_module
        module.write_text('raise ImportError("fault injected by the rolling-deploy integration test")\n')
    return build_wheel(source, folder / f"dist-{label}")


def run_file(service: str, suffix: str) -> str:
    return (LOOPBACK_ROOT / "run" / f"{service}.{suffix}").read_text().strip()


@dataclass(frozen=True)
class ControllerState:
    pids: tuple[str, ...]
    started: tuple[int, ...]
    current: str
    fragments: tuple[bytes | None, ...]


def state_of(controller: str) -> ControllerState:
    paths = scheduler_paths(controller)
    fragment_files = [Path(paths[key]) / FRAGMENT_NAME for key in ("NOVA_CONFIG_DIR", "CINDER_CONFIG_DIR")]
    current = Path(paths["SITE_DIR"] + ".deploy") / "current.json"
    services = [f"{kind}-scheduler-{controller}" for kind in ("nova", "cinder")]
    return ControllerState(
        pids=tuple(run_file(s, "pid") for s in services),
        started=tuple(int(run_file(s, "started")) for s in services),
        current=current.read_text() if current.exists() else "",
        fragments=tuple(f.read_bytes() if f.exists() else None for f in fragment_files),
    )


@dataclass
class Roll:
    code: int
    log: str
    seconds: float
    started: int
    """When the script started (seconds since the epoch, as the schedulers' ``started`` files)."""


@dataclass
class Deployment:
    """The deploy script on the loopback controllers, with this checkout's rendered fragments."""

    folder: Path
    profiles: list[Path]
    fragments: dict[str, Path]
    good: BuiltWheel | None = None
    """The wheel this deployment rolled out successfully."""
    rolled: set[str] = field(default_factory=set)
    """sha256 of every wheel a roll was started with: a roll that stopped half-way leaves one
    controller on it, and ``leave_as_found`` must roll that one back too."""
    timings: dict[str, float] = field(default_factory=dict)
    first_roll: Roll | None = None
    """The roll that put ``good`` on the controllers (``roll_out_our_filters``), for the tests of it."""

    def script(self, *args: str) -> Roll:
        """The deploy script alone, run as on a controller: its own process under the system Python."""
        script = self.folder / "rolling_deploy.py"
        shutil.copy(DEPLOY_SCRIPT, script)
        started, start = int(time.time()), time.monotonic()
        done = subprocess.run(
            [SYSTEM_PYTHON, "-I", str(script), *args],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        return Roll(done.returncode, done.stdout + done.stderr, time.monotonic() - start, started)

    def roll(self, wheel: BuiltWheel, fragments: dict[str, Path] | None = None) -> Roll:
        """The driver mode: each controller in turn, stopping at the first failure."""
        self.rolled.add(wheel.sha256)
        argv = ["roll", "--wheel", str(wheel.path), "--sha256", wheel.sha256]
        for profile in self.profiles:
            argv += ["--profile", str(profile)]
        for name, path in (fragments or self.fragments).items():
            argv += ["--fragment", f"{name}={path}"]
        return self.script(*argv)

    def leave_as_found(self) -> None:
        """Roll back the controllers this deployment deployed to, so that the environment's other users
        find the schedulers as they were (the release before ours is each controller's ``previous``)."""
        ours = [
            profile
            for profile, controller in zip(self.profiles, CONTROLLERS, strict=True)
            if state_of(controller).current
            and json.loads(state_of(controller).current)["wheel_sha256"] in self.rolled
        ]
        if ours:
            result = self.script("rollback", *[arg for p in ours for arg in ("--profile", str(p))])
            self.timings["rollback to the release found before the tests"] = result.seconds
            assert result.code == rd.DEPLOYED, result.log


@contextmanager
def _environment_lock() -> Iterator[None]:
    """The environment's lock, re-entrant within this process: the session's rollout of our filters
    (the ``our_filters`` fixture) and a module's own deployment nest, and a second ``flock`` on a new
    descriptor would wait for the first one forever."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0


@contextmanager
def deployment(folder: Path) -> Iterator[Deployment]:
    """Hold the environment's lock (no up.sh, down.sh or other deployment restarts schedulers under our
    feet meanwhile) and, at the end, roll back whatever this deployment rolled out."""
    with _environment_lock():
        fragments = {}
        for name, text in render_fragments().items():
            fragments[name] = folder / f"{name}.conf"
            fragments[name].write_text(text)
        deploy = Deployment(folder, [write_profile(folder, c) for c in CONTROLLERS], fragments)
        try:
            yield deploy
        finally:
            deploy.leave_as_found()


def roll_out_our_filters(folder: Path) -> Iterator[Deployment]:
    """This checkout's filter wheel on both controllers, rolled back at the end (the ``our_filters``
    fixture); what the roll did is kept for test_rolling_deploy, which asserts it."""
    with deployment(folder) as deploy:
        wheel = build_variant(folder, f"ours{int(time.time())}")
        # Even a partial rollout (ctl-1 deployed, ctl-2 restored) is rolled back: roll() records the wheel.
        deploy.first_roll = deploy.roll(wheel)
        deploy.timings["rolling deploy of our filters, both controllers (4 scheduler restarts)"] = (
            deploy.first_roll.seconds
        )
        assert deploy.first_roll.code == rd.DEPLOYED, deploy.first_roll.log
        deploy.good = wheel
        yield deploy
    print("\nrolling deploy timings (s):")
    for what, seconds in deploy.timings.items():
        print(f"  {seconds:7.1f}  {what}")
