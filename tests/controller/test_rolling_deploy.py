"""The per-controller procedure and its driver, with fake scheduler commands and a real file system."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from webex_cloud.controller.remote import rolling_deploy as rd
from webex_cloud.controller.wheel import build_wheel

NOVA_OK = b"[filter_scheduler]\nenabled_filters = ComputeFilter,WebexFilter\n"
CINDER_OK = b"[DEFAULT]\nscheduler_default_filters = CapacityFilter,WebexVolumeFilter\n"


def make_source(root: Path, body: str = "VALUE = 1\n", version: str = "1.0.0") -> Path:
    (root / "src" / "demo_filters").mkdir(parents=True)
    (root / "src" / "demo_filters" / "__init__.py").write_text(body)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo-filters"\nversion = "{version}"\n'
        '[project.entry-points."cinder.scheduler.filters"]\nDemo = "demo_filters:VALUE"\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    )
    return root


@dataclass
class FakeSchedulers:
    """Stands in for restart/health commands: a service is healthy unless its fragment says BROKEN."""

    fragments: dict[str, Path]
    calls: list[tuple[str, ...]] = field(default_factory=list)
    preflight_fails: bool = False
    restore_fails: bool = False

    def __call__(self, argv: Sequence[str], timeout: float, env: dict[str, str] | None) -> tuple[int, str]:
        if argv[1:2] == ["-c"]:
            self.calls.append(("preflight",))
            return (1, "ImportError: boom") if self.preflight_fails else (0, "")
        action, service, *filters = argv
        self.calls.append((action, service, *filters))
        if action == "health":
            text = self.fragments[service].read_bytes() if self.fragments[service].exists() else b""
            if b"BROKEN" in text:
                return 1, f"{service} is not up"
            restarts = [c for c in self.calls if c[:2] == ("restart", service)]
            if self.restore_fails and len(restarts) > 1:
                return 1, f"{service} did not come back"
        return 0, ""


def profile(root: Path, name: str) -> rd.Profile:
    base = root / name
    return rd.Profile(
        controller=name,
        python="/usr/bin/python3",
        site_dir=base / "site",
        state_dir=base / "state",
        services=tuple(
            rd.SchedulerService(
                name=svc,
                fragment=frag,
                path=base / f"{svc}.d" / "50-webex.conf",
                restart=("restart", svc, "{filters}"),
                health=("health", svc, "{filters}"),
                filters_option=option,
            )
            for svc, frag, option in (
                ("nova-scheduler", "nova", "filter_scheduler.enabled_filters"),
                ("cinder-scheduler", "cinder", "scheduler_default_filters"),
            )
        ),
        health_timeout=10,
        poll_interval=1,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def controller(
    prof: rd.Profile, *, preflight_fails: bool = False, restore_fails: bool = False
) -> tuple[rd.DeployingController, FakeSchedulers]:
    schedulers = FakeSchedulers(
        {s.name: s.path for s in prof.services}, preflight_fails=preflight_fails, restore_fails=restore_fails
    )
    clock = Clock()
    return rd.DeployingController(prof, runner=schedulers, clock=clock, sleep=clock.sleep), schedulers


@pytest.fixture
def wheel(tmp_path: Path) -> rd.Release:
    built = build_wheel(make_source(tmp_path / "src-v1"), tmp_path / "dist")
    return rd.Release(built.path, built.sha256, {"nova": NOVA_OK, "cinder": CINDER_OK})


def release_v2(tmp_path: Path, nova: bytes = NOVA_OK) -> rd.Release:
    built = build_wheel(make_source(tmp_path / "src-v2", "VALUE = 2\n", "2.0.0"), tmp_path / "dist2")
    return rd.Release(built.path, built.sha256, {"nova": nova, "cinder": CINDER_OK})


def installed_version(prof: rd.Profile) -> str:
    return (prof.site_dir / "demo_filters" / "__init__.py").read_text()


def test_deploy_installs_writes_restarts_each_scheduler_and_checks_it(
    tmp_path: Path, wheel: rd.Release
) -> None:
    prof = profile(tmp_path, "ctl-1")
    ctl, fake = controller(prof)
    assert rd.deploy_one(ctl, wheel) == rd.DEPLOYED
    assert installed_version(prof) == "VALUE = 1\n"
    assert (
        prof.site_dir / "demo_filters-1.0.0.dist-info" / "INSTALLER"
    ).read_text() == "webex-rolling-deploy\n"
    assert prof.services[0].path.read_bytes() == NOVA_OK
    assert fake.calls == [
        ("preflight",),
        ("restart", "nova-scheduler", "ComputeFilter", "WebexFilter"),
        ("health", "nova-scheduler", "ComputeFilter", "WebexFilter"),
        ("restart", "cinder-scheduler", "CapacityFilter", "WebexVolumeFilter"),
        ("health", "cinder-scheduler", "CapacityFilter", "WebexVolumeFilter"),
    ]
    assert json.loads((prof.state_dir / "current.json").read_text()) == wheel.fingerprint()


def test_an_unchanged_release_is_only_health_checked(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    again, fake = controller(prof)
    assert rd.deploy_one(again, wheel) == rd.DEPLOYED
    assert [c[0] for c in fake.calls] == ["health", "health"]


def test_failed_health_check_restores_previous_wheel_and_config(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    broken = release_v2(tmp_path, nova=b"[filter_scheduler]\nenabled_filters = BROKEN\n")
    ctl, fake = controller(prof)
    assert rd.deploy_one(ctl, broken) == rd.RESTORED
    assert installed_version(prof) == "VALUE = 1\n"
    assert prof.services[0].path.read_bytes() == NOVA_OK
    assert json.loads((prof.state_dir / "current.json").read_text()) == wheel.fingerprint()
    assert not (prof.state_dir / "backup").exists()
    # nova failed its health check, cinder was never restarted; nova restarted again on the old config.
    restarts = [c for c in fake.calls if c[0] == "restart"]
    assert restarts == [
        ("restart", "nova-scheduler", "BROKEN"),
        ("restart", "nova-scheduler", "ComputeFilter", "WebexFilter"),
    ]
    assert fake.calls[-1] == ("health", "nova-scheduler", "ComputeFilter", "WebexFilter")


def test_restore_of_a_first_deployment_removes_what_it_added(tmp_path: Path) -> None:
    prof = profile(tmp_path, "ctl-1")
    built = build_wheel(make_source(tmp_path / "src"), tmp_path / "dist")
    broken = rd.Release(built.path, built.sha256, {"nova": NOVA_OK, "cinder": b"[DEFAULT]\nx = BROKEN\n"})
    ctl, fake = controller(prof)
    assert rd.deploy_one(ctl, broken) == rd.RESTORED
    assert not prof.site_dir.exists()
    assert not any(s.path.exists() for s in prof.services)
    assert not (prof.state_dir / "current.json").exists()
    # Both were restarted on the new release, so both are restarted back on the built-in config.
    assert [c for c in fake.calls if c[0] == "restart"][-2:] == [
        ("restart", "nova-scheduler"),
        ("restart", "cinder-scheduler"),
    ]


def test_a_restore_that_does_not_come_back_is_reported_degraded(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    ctl, _ = controller(prof, restore_fails=True)
    assert (
        rd.deploy_one(ctl, release_v2(tmp_path, nova=b"[filter_scheduler]\nenabled_filters = BROKEN\n"))
        == rd.DEGRADED
    )
    assert installed_version(prof) == "VALUE = 1\n"  # the files are back even so


def test_a_wheel_that_does_not_import_is_refused_before_anything_changes(
    tmp_path: Path, wheel: rd.Release
) -> None:
    prof = profile(tmp_path, "ctl-1")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    ctl, fake = controller(prof, preflight_fails=True)
    assert rd.deploy_one(ctl, release_v2(tmp_path)) == rd.REFUSED
    assert fake.calls == [("preflight",)]
    assert installed_version(prof) == "VALUE = 1\n"


@pytest.mark.parametrize("damage", ["sha256", "record", "not-a-zip"])
def test_a_corrupt_or_substituted_wheel_is_refused(tmp_path: Path, wheel: rd.Release, damage: str) -> None:
    target = tmp_path / "bad.whl"
    if damage == "sha256":
        target.write_bytes(wheel.wheel.read_bytes())
        release = rd.Release(target, "0" * 64, wheel.fragments)
    elif damage == "record":
        with zipfile.ZipFile(wheel.wheel) as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                dst.writestr(item, b"VALUE = 666\n" if item.filename.endswith("__init__.py") else data)
        release = rd.Release(target, "", wheel.fragments)
    else:
        target.write_bytes(b"not a zip")
        release = rd.Release(target, "", wheel.fragments)
    prof = profile(tmp_path, "ctl-1")
    ctl, fake = controller(prof)
    assert rd.deploy_one(ctl, release) == rd.REFUSED
    assert fake.calls == []
    assert not prof.site_dir.exists()


def test_health_is_polled_until_the_timeout(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    ctl, fake = controller(prof)
    broken = rd.Release(
        wheel.wheel,
        wheel.sha256,
        {"nova": b"[filter_scheduler]\nenabled_filters = BROKEN\n", "cinder": CINDER_OK},
    )
    assert rd.deploy_one(ctl, broken) == rd.RESTORED
    nova_health = [c for c in fake.calls if c[:2] == ("health", "nova-scheduler") and "BROKEN" in c]
    assert len(nova_health) == 10  # every poll_interval (1 s) of the 10 s health timeout


def test_roll_stops_at_the_first_failure_and_leaves_the_rest_untouched(
    tmp_path: Path, wheel: rd.Release
) -> None:
    first, second = profile(tmp_path, "ctl-1"), profile(tmp_path, "ctl-2")
    ctl1, fake1 = controller(first)
    ctl2, fake2 = controller(second)
    broken = rd.Release(
        wheel.wheel,
        wheel.sha256,
        {"nova": b"[filter_scheduler]\nenabled_filters = BROKEN\n", "cinder": CINDER_OK},
    )
    assert rd.roll([ctl1, ctl2], broken) == rd.RESTORED
    assert fake1.calls
    assert fake2.calls == []
    assert not (tmp_path / "ctl-2").exists()


def test_roll_deploys_every_controller_in_order(tmp_path: Path, wheel: rd.Release) -> None:
    order: list[str] = []
    controllers = []
    for name in ("ctl-1", "ctl-2"):
        ctl, fake = controller(profile(tmp_path, name))

        def runner(
            argv: Sequence[str],
            timeout: float,
            env: dict[str, str] | None,
            fake: FakeSchedulers = fake,
            name: str = name,
        ) -> tuple[int, str]:
            order.append(name)
            return fake(argv, timeout, env)

        ctl.runner = runner
        controllers.append(ctl)
    assert rd.roll(controllers, wheel) == rd.DEPLOYED
    assert order == ["ctl-1"] * 5 + ["ctl-2"] * 5


def test_an_interrupted_deployment_is_put_back_before_the_next_one(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    ctl, _ = controller(prof)
    ctl.take_backup()  # as if the process died right after moving the running release aside
    (prof.site_dir / "junk").mkdir(parents=True)
    prof.services[0].path.write_bytes(b"[filter_scheduler]\nenabled_filters = half-written\n")
    again, fake = controller(prof)
    assert rd.deploy_one(again, wheel) == rd.DEPLOYED
    assert not (prof.site_dir / "junk").exists()
    assert prof.services[0].path.read_bytes() == NOVA_OK
    assert [c[0] for c in fake.calls] == ["health", "health"]  # back to the deployed release: nothing to do


def test_a_second_deployment_on_the_same_controller_is_refused_while_one_runs(
    tmp_path: Path, wheel: rd.Release
) -> None:
    prof = profile(tmp_path, "ctl-1")
    prof.state_dir.mkdir(parents=True)
    with rd._locked(prof.state_dir / "lock"):
        ctl, fake = controller(prof)
        assert rd.deploy_one(ctl, wheel) == rd.REFUSED
    assert fake.calls == []


def test_the_script_runs_standalone_under_the_system_python(tmp_path: Path, wheel: rd.Release) -> None:
    """Copied alone to a controller, with only the standard library: exercised here with real commands."""
    script = tmp_path / "rolling_deploy.py"
    script.write_bytes(Path(rd.__file__).read_bytes())
    base = tmp_path / "ctl-1"
    marker = tmp_path / "restarted"
    prof = {
        "controller": "ctl-1",
        "python": "/usr/bin/python3",
        "site_dir": str(base / "site"),
        "health_timeout": 10,
        "services": [
            {
                "name": "nova-scheduler",
                "fragment": "nova",
                "path": str(base / "nova.d" / "50-webex.conf"),
                "filters_option": "filter_scheduler.enabled_filters",
                "restart": ["/bin/sh", "-c", f"echo {{controller}} >> {marker}"],
                "health": ["/usr/bin/test", "-s", str(marker)],
            }
        ],
    }
    (tmp_path / "ctl-1.json").write_text(json.dumps(prof))
    (tmp_path / "nova.conf").write_bytes(NOVA_OK)
    done = subprocess.run(
        [
            "/usr/bin/python3",
            "-I",
            str(script),
            "roll",
            "--profile",
            str(tmp_path / "ctl-1.json"),
            "--wheel",
            str(wheel.wheel),
            "--sha256",
            wheel.sha256,
            "--fragment",
            f"nova={tmp_path / 'nova.conf'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == rd.DEPLOYED, done.stderr
    assert marker.read_text() == "ctl-1\n"
    assert (base / "site" / "demo_filters" / "__init__.py").is_file()
    assert "ctl-1: deployed and healthy" in done.stderr


def test_rollback_returns_to_the_previous_release_and_a_second_one_goes_forward(
    tmp_path: Path, wheel: rd.Release
) -> None:
    prof = profile(tmp_path, "ctl-1")
    v2 = release_v2(tmp_path, nova=b"[filter_scheduler]\nenabled_filters = ComputeFilter,WebexFilterV2\n")
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    assert rd.deploy_one(controller(prof)[0], v2) == rd.DEPLOYED
    back, fake = controller(prof)
    assert rd.in_turn([back], rd.DeployingController.rollback) == rd.DEPLOYED
    assert installed_version(prof) == "VALUE = 1\n"
    assert prof.services[0].path.read_bytes() == NOVA_OK
    assert json.loads((prof.state_dir / "current.json").read_text()) == wheel.fingerprint()
    assert [c for c in fake.calls if c[0] == "restart"] == [
        ("restart", "nova-scheduler", "ComputeFilter", "WebexFilter"),
        ("restart", "cinder-scheduler", "CapacityFilter", "WebexVolumeFilter"),
    ]
    assert rd.in_turn([controller(prof)[0]], rd.DeployingController.rollback) == rd.DEPLOYED
    assert installed_version(prof) == "VALUE = 2\n"
    assert json.loads((prof.state_dir / "current.json").read_text()) == v2.fingerprint()


def test_rollback_of_a_first_deployment_leaves_the_controller_as_it_was_found(
    tmp_path: Path, wheel: rd.Release
) -> None:
    prof = profile(tmp_path, "ctl-1")
    prof.site_dir.mkdir(parents=True)  # an empty site dir, as a freshly prepared controller has
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    assert rd.in_turn([controller(prof)[0]], rd.DeployingController.rollback) == rd.DEPLOYED
    assert list(prof.site_dir.iterdir()) == []
    assert not any(s.path.exists() for s in prof.services)
    assert not (prof.state_dir / "current.json").exists()


def test_a_failed_rollback_restores_the_current_release(tmp_path: Path, wheel: rd.Release) -> None:
    prof = profile(tmp_path, "ctl-1")
    broken_before = rd.Release(
        wheel.wheel,
        wheel.sha256,
        {"nova": b"[filter_scheduler]\nenabled_filters = BROKEN\n", "cinder": CINDER_OK},
    )
    # The previous release is one that no longer starts (say, a scheduler upgrade broke it).
    assert rd.deploy_one(controller(prof)[0], wheel) == rd.DEPLOYED
    (prof.state_dir / "previous" / "fragments" / "nova-scheduler").write_bytes(
        broken_before.fragments["nova"]
    )
    manifest = json.loads((prof.state_dir / "previous" / "manifest.json").read_text())
    manifest["fragments"]["nova-scheduler"] = True
    (prof.state_dir / "previous" / "manifest.json").write_text(json.dumps(manifest))
    back, _ = controller(prof)
    assert rd.in_turn([back], rd.DeployingController.rollback) == rd.RESTORED
    assert installed_version(prof) == "VALUE = 1\n"
    assert prof.services[0].path.read_bytes() == NOVA_OK
    assert (prof.state_dir / "previous" / "manifest.json").exists()  # still there to inspect


def test_rollback_without_a_previous_release_is_refused(tmp_path: Path) -> None:
    ctl, fake = controller(profile(tmp_path, "ctl-1"))
    assert rd.in_turn([ctl], rd.DeployingController.rollback) == rd.REFUSED
    assert fake.calls == []


def test_the_wheel_installed_is_the_very_bytes_that_were_verified(
    tmp_path: Path, wheel: rd.Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel swapped in the staging directory right after the check must not be what gets installed."""
    other = release_v2(tmp_path)  # another wheel, with a valid RECORD of its own
    verify = rd.check_wheel

    def verify_then_swap(path: Path, expected_sha256: str) -> bytes:
        data = verify(path, expected_sha256)
        path.write_bytes(other.wheel.read_bytes())  # the swap, between verify and install
        return data

    monkeypatch.setattr(rd, "check_wheel", verify_then_swap)
    prof = profile(tmp_path, "ctl-1")
    ctl, _ = controller(prof)
    assert rd.deploy_one(ctl, wheel) == rd.DEPLOYED
    assert installed_version(prof) == "VALUE = 1\n"  # what was verified, not the swapped file


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_a_staging_directory_others_can_write_is_refused(
    tmp_path: Path, wheel: rd.Release, mode: int
) -> None:
    wheel.wheel.parent.chmod(mode)
    prof = profile(tmp_path, "ctl-1")
    ctl, fake = controller(prof)
    assert rd.deploy_one(ctl, wheel) == rd.REFUSED
    assert fake.calls == [] and not prof.site_dir.exists()
    with pytest.raises(rd.Refused, match="writable by group or others"):
        rd.check_staging(wheel.wheel.parent)


def test_a_staging_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: tmp_path.stat().st_uid + 1)
    monkeypatch.delenv("SUDO_UID", raising=False)
    with pytest.raises(rd.Refused, match="not by this user"):
        rd.check_staging(tmp_path)
    # Run through sudo (as root) by the user who staged it: that user's directory is accepted.
    monkeypatch.setenv("SUDO_UID", str(tmp_path.stat().st_uid))
    rd.check_staging(tmp_path)


def test_a_fragment_staged_where_others_can_write_is_refused(
    tmp_path: Path, wheel: rd.Release, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "nova.conf").write_bytes(NOVA_OK)
    shared.chmod(0o777)
    profile_path = tmp_path / "ctl.json"
    prof = profile(tmp_path, "ctl-1")
    profile_path.write_text(
        json.dumps(
            {
                "controller": "ctl-1",
                "python": "/usr/bin/python3",
                "site_dir": str(prof.site_dir),
                "state_dir": str(prof.state_dir),
                "services": [],
            }
        )
    )
    argv = ["apply", "--profile", str(profile_path), "--wheel", str(wheel.wheel)]
    code = rd.main([*argv, "--fragment", f"nova={shared}/nova.conf"])
    assert code == rd.REFUSED and not prof.state_dir.exists()
    assert f"staging directory {shared} is writable by group or others" in capsys.readouterr().err
