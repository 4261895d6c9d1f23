"""The rolling filter deployment against the real schedulers of the loopback OpenStack.

Two controller roles (ctl-1, ctl-2) run their own nova-scheduler and cinder-scheduler on this machine
(tools/openstack-loopback). The deploy script runs exactly as on a controller: a separate process under
Debian's /usr/bin/python3, standard library only, driving the environment's own restart and health
hooks (scheduler.sh). The tests run in order: deploy, then two faulty redeployments.
"""

from __future__ import annotations

import fcntl
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from webex_scheduler_filters import hints, render

from tests.conftest import REPO
from tests.integration.conftest import (
    BACKENDS,
    FAKE_HOSTS,
    LOOPBACK_ROOT,
    boot_server,
    create_volume,
    ensure_flavor,
    ensure_image,
)
from webex_cloud.controller import rolling_deploy as rd
from webex_cloud.controller.fragments import render_fragments
from webex_cloud.controller.release import DEPLOY_SCRIPT, FILTERS_SOURCE
from webex_cloud.controller.wheel import BuiltWheel, build_wheel

TOOLS = REPO / "tools" / "openstack-loopback"
SCHEDULER_SH = TOOLS / "scheduler.sh"
LOCK = Path("/run/lock/webex-loopback.lock")
CONTROLLERS = ("ctl-1", "ctl-2")
SYSTEM_PYTHON = "/usr/bin/python3"
TIMINGS: dict[str, float] = {}
T = TypeVar("T")


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
            "path": f"{config_dir}/50-webex-filters.conf",
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


@dataclass
class Roll:
    code: int
    log: str
    seconds: float


@dataclass
class Env:
    folder: Path
    profiles: list[Path]
    fragments: dict[str, Path]
    conn: Any
    """Admin connection to the loopback cloud."""
    good: BuiltWheel | None = None

    def script(self, *args: str) -> Roll:
        """The deploy script alone, run as on a controller: its own process under the system Python."""
        script = self.folder / "rolling_deploy.py"
        shutil.copy(DEPLOY_SCRIPT, script)
        start = time.monotonic()
        done = subprocess.run(
            [SYSTEM_PYTHON, "-I", str(script), *args],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        return Roll(done.returncode, done.stdout + done.stderr, time.monotonic() - start)

    def roll(self, wheel: BuiltWheel, fragments: dict[str, Path] | None = None) -> Roll:
        """The driver mode: each controller in turn, stopping at the first failure."""
        argv = ["roll", "--wheel", str(wheel.path), "--sha256", wheel.sha256]
        for profile in self.profiles:
            argv += ["--profile", str(profile)]
        for name, path in (fragments or self.fragments).items():
            argv += ["--fragment", f"{name}={path}"]
        return self.script(*argv)

    def leave_as_found(self) -> None:
        """Roll back the controllers this module deployed to, so that the environment's other users find
        the schedulers as they were (the release before ours is each controller's ``previous``)."""
        if self.good is None:
            return
        ours = [
            profile
            for profile, controller in zip(self.profiles, CONTROLLERS, strict=True)
            if state_of(controller).current
            and json.loads(state_of(controller).current)["wheel_sha256"] == self.good.sha256
        ]
        if ours:
            result = self.script("rollback", *[arg for p in ours for arg in ("--profile", str(p))])
            TIMINGS["rollback to the release found before the tests"] = result.seconds
            assert result.code == rd.DEPLOYED, result.log


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, openstack_conn: Any) -> Iterator[Env]:
    # The environment's own lock: no up.sh or down.sh restarts services under our feet meanwhile.
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        folder = tmp_path_factory.mktemp("rolling")
        fragments = {}
        for name, text in render_fragments().items():
            fragments[name] = folder / f"{name}.conf"
            fragments[name].write_text(text)
        env = Env(folder, [write_profile(folder, c) for c in CONTROLLERS], fragments, openstack_conn)
        yield env
        env.leave_as_found()
    print("\nrolling-deploy integration timings (s):")
    for what, seconds in TIMINGS.items():
        print(f"  {seconds:7.1f}  {what}")


# ----------------------------------------------------------------------------------------------------
# Observing the controllers and the cloud


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
    fragment_files = [
        Path(paths[key]) / "50-webex-filters.conf" for key in ("NOVA_CONFIG_DIR", "CINDER_CONFIG_DIR")
    ]
    current = Path(paths["SITE_DIR"] + ".deploy") / "current.json"
    services = [f"{kind}-scheduler-{controller}" for kind in ("nova", "cinder")]
    return ControllerState(
        pids=tuple(run_file(s, "pid") for s in services),
        started=tuple(int(run_file(s, "started")) for s in services),
        current=current.read_text() if current.exists() else "",
        fragments=tuple(f.read_bytes() if f.exists() else None for f in fragment_files),
    )


def healthy_with_our_filters(controller: str) -> None:
    for kind, ours in (("nova", render.NOVA_FILTER_NAME), ("cinder", render.CINDER_FILTER_NAME)):
        check = subprocess.run(
            ["bash", str(SCHEDULER_SH), "health", kind, controller, ours],
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )
        assert check.returncode == 0, f"{kind}-scheduler on {controller}: {check.stderr[-2000:]}"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
    """Poll ``probe`` every second until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def settled_server(conn: Any, server_id: str) -> Any:
    def probe() -> Any:
        server = conn.compute.get_server(server_id)
        return server if server.status in ("ACTIVE", "ERROR") else None

    return wait_for(f"server {server_id}", probe)


def settled_volume(conn: Any, volume_id: str) -> Any:
    def probe() -> Any:
        volume = conn.block_storage.get_volume(volume_id)
        return volume if volume.status in ("available", "error") else None

    return wait_for(f"volume {volume_id}", probe)


def placement_still_correct(conn: Any, label: str) -> None:
    """Pods of one service land on distinct hosts (and one pod more than hosts finds none); replicas of
    one volume group land in distinct failure domains (and one replica more than domains finds none).
    Only our filters give these answers: the built-ins know nothing of sibling pods or failure domains."""
    started = time.monotonic()
    flavor, image = ensure_flavor(conn), ensure_image(conn)
    run = f"it-{label}-{int(time.time())}"
    groups = [
        conn.compute.create_server_group(name=f"{run}-pod-{i}", policies=["affinity"])
        for i in range(len(FAKE_HOSTS) + 1)
    ]
    servers: list[Any] = []
    volumes: list[Any] = []
    try:
        # One after the other, as the components chain them: each sees its siblings already placed.
        for index, group in enumerate(groups):
            pod = f"{run}-pod-{index}"
            pod_hints = {
                "group": group.id,
                hints.NOVA_SERVICE_HINT: f"it/{run}",
                hints.NOVA_POD_HINT: pod,
                hints.NOVA_SIBLING_GROUPS_HINT: hints.join_list(g.id for g in groups if g.id != group.id),
            }
            server = boot_server(conn, pod, flavor=flavor, image=image, scheduler_hints=pod_hints, wait=False)
            servers.append(settled_server(conn, server.id))
        *placed, extra = servers
        assert [s.status for s in placed] == ["ACTIVE"] * len(FAKE_HOSTS), [s.fault for s in servers]
        assert sorted(s.compute_host for s in placed) == sorted(FAKE_HOSTS)
        assert extra.status == "ERROR" and "No valid host" in extra.fault["message"]

        domains = sorted(set(BACKENDS.values()))
        key = f"it/{run}/data"
        for replica in range(len(domains) + 1):
            volume = create_volume(
                conn,
                f"{run}-vol-{replica}",
                metadata={hints.VOLUME_GROUP_METADATA_KEY: key},
                scheduler_hints={
                    hints.CINDER_VOLUME_GROUP_HINT: key,
                    hints.CINDER_REPLICA_HINT: str(replica),
                },
                wait=False,
            )
            volumes.append(settled_volume(conn, volume.id))
        *spread, surplus = volumes
        assert [v.status for v in spread] == ["available"] * len(domains)
        assert sorted(BACKENDS[v.host.split("#")[0]] for v in spread) == domains
        assert surplus.status == "error"
    finally:
        for server in servers:
            conn.compute.delete_server(server.id, ignore_missing=True)
        for volume in volumes:
            conn.block_storage.delete_volume(volume.id, ignore_missing=True)
        for server in servers:

            def gone(server_id: str = server.id) -> bool | None:
                return True if conn.compute.get(f"/servers/{server_id}").status_code == 404 else None

            wait_for("server deletion", gone)
        for group in groups:
            conn.compute.delete_server_group(group, ignore_missing=True)
    TIMINGS[f"placement check ({label})"] = time.monotonic() - started


# ----------------------------------------------------------------------------------------------------
# The tests, in order


def test_rolling_deploy_installs_and_enables_our_filters_on_ctl1_then_ctl2(env: Env) -> None:
    wheel = build_variant(env.folder, f"it{int(time.time())}")
    before = int(time.time())
    result = env.roll(wheel)
    TIMINGS["rolling deploy, both controllers (4 scheduler restarts)"] = result.seconds
    assert result.code == rd.DEPLOYED, result.log
    env.good = wheel
    starts: list[int] = []
    for controller in CONTROLLERS:
        state = state_of(controller)
        assert json.loads(state.current)["wheel_sha256"] == wheel.sha256
        assert state.fragments == tuple(env.fragments[k].read_bytes() for k in ("nova", "cinder"))
        site = Path(scheduler_paths(controller)["SITE_DIR"])
        assert (site / f"webex_scheduler_filters-{wheel.version}.dist-info" / "RECORD").is_file()
        healthy_with_our_filters(controller)
        starts += state.started
    # ctl-1's schedulers were restarted (nova, then cinder) before ctl-2's, all during this deployment.
    assert before <= starts[0] <= starts[1] <= starts[2] <= starts[3], starts
    assert result.log.index("ctl-1: deployed and healthy") < result.log.index("ctl-2: installing")
    placement_still_correct(env.conn, "after-deploy")


def test_a_config_naming_a_missing_filter_stops_at_ctl1_and_restores_it(env: Env) -> None:
    if env.good is None:
        pytest.fail("needs the deployment of the first test")
    ctl1, ctl2 = state_of("ctl-1"), state_of("ctl-2")
    broken = dict(env.fragments)
    broken["nova"] = env.folder / "nova-missing-filter.conf"
    broken["nova"].write_text(
        env.fragments["nova"].read_text().replace("enabled_filters = ", "enabled_filters = NoSuchFilter,")
    )
    result = env.roll(env.good, broken)
    TIMINGS["faulty redeploy: missing filter, ctl-1 restarted twice and restored"] = result.seconds
    assert result.code == rd.RESTORED, result.log
    assert "ctl-1: restored" in result.log and "ctl-2 left untouched" in result.log
    after = state_of("ctl-1")
    assert after.current == ctl1.current and after.fragments == ctl1.fragments
    assert after.pids[0] != ctl1.pids[0]  # the nova-scheduler was really restarted, twice
    assert state_of("ctl-2") == ctl2
    healthy_with_our_filters("ctl-1")
    healthy_with_our_filters("ctl-2")
    placement_still_correct(env.conn, "after-missing-filter")


def test_a_broken_wheel_is_refused_before_ctl1_is_touched(env: Env) -> None:
    if env.good is None:
        pytest.fail("needs the deployment of the first test")
    ctl1, ctl2 = state_of("ctl-1"), state_of("ctl-2")
    broken = build_variant(env.folder, f"broken{int(time.time())}", break_module="nova_filter.py")
    result = env.roll(broken)
    TIMINGS["faulty redeploy: broken wheel, refused by the import check"] = result.seconds
    assert result.code == rd.REFUSED, result.log
    assert "fault injected" in result.log and "ctl-2 left untouched" in result.log
    assert state_of("ctl-1") == ctl1
    assert state_of("ctl-2") == ctl2
    placement_still_correct(env.conn, "after-broken-wheel")
