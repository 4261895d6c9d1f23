"""The controllers too (webex_cloud/drift/controllers.py, `drift --controllers`): the filter release and
scheduler fragments on each controller against what the stack's rollout deployed.

Each controller is a folder standing in for its file system, with what the stack's reader install
leaves there (the read script, the reader's one authorized_keys line from controller/reader.py), reached
through a stand-in `ssh` that checks the login the command makes (batch mode, the stack file's host key
pinned in a known_hosts of its own, the reader's account and the deploy's port) and then does what sshd
does with that key: runs its forced command (the installed script, unchanged, under this Python with the
controller's paths inside that folder), whatever the client asked. `systemctl` is a stand-in answering
from the folder. Nothing is sent anywhere. tests/controller/test_reader_sshd.py holds the same login to a
real sshd."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.drift.fakes import Site, site
from tests.drift.test_cli import argv, run_cli, served
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.controller.reader import READ_SCRIPT, authorized_keys_line
from webex_cloud.drift.classes import Up
from webex_cloud.drift.controllers import (
    FRAGMENT_KEY,
    NO_READER,
    ControllerState,
    classify,
    controller_plane,
    rollouts,
)
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import Plan

STAND_IN_SSH = f"""#!{sys.executable}
import os, shlex, subprocess, sys
args = sys.argv[1:]
options = [args[i + 1] for i, a in enumerate(args) if a == "-o"]
login, command = args[-2], args[-1]
user, address = login.split("@")
assert "BatchMode=yes" in options and "StrictHostKeyChecking=yes" in options, options
assert "GlobalKnownHostsFile=/dev/null" in options and "UpdateHostKeys=no" in options, options
known = next(o.split("=", 1)[1] for o in options if o.startswith("UserKnownHostsFile="))
root = os.path.join(os.environ["CONTROLLERS"], address)
with open(os.path.join(root, "host_key")) as handle:
    presented = handle.read().strip()
with open(os.path.join(os.environ["CONTROLLERS"], "calls"), "a") as handle:
    handle.write(" ".join(args) + "\\n")
if open(known).read().split() != [address, *presented.split()]:
    print("Host key verification failed.", file=sys.stderr)
    sys.exit(255)
# As sshd does with the account's one key: its forced command runs, whatever the client asked.
keys = os.path.join(root, "home", user, "authorized_keys")
if not os.path.exists(keys) or os.environ.get("READER_KEY_REFUSED"):
    print(f"{{login}}: Permission denied (publickey).", file=sys.stderr)
    sys.exit(255)
line = open(keys).read()
assert line.startswith('restrict,command="'), line
python, script, *rest = shlex.split(line.split('"')[1])
inside = [os.path.join(root, a[1:]) if a.startswith("/") else a.replace("=/", f"={{root}}/") for a in rest]
env = dict(os.environ, CONTROLLER_ROOT=root)
run = [sys.executable, os.path.join(root, script[1:]), *inside]
sys.exit(subprocess.run(run, env=env, stdin=subprocess.DEVNULL, check=False).returncode)
"""

STAND_IN_SYSTEMCTL = """#!/usr/bin/env bash
# systemctl show --property=... --timestamp=unix UNIT
cat "$CONTROLLER_ROOT/units/${@: -1}"
"""

STARTED = 1_800_000_000
"""When the schedulers started: after their fragments were written."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _fragment(plan: Plan, name: str) -> str:
    """The fragment the rollout copies to the controllers (the plan's StringAsset of its copy)."""
    copy = next(r for r in plan.resources if r.urn.endswith(f"dc1-ctl-01-fragment-{name}"))
    text: str = copy.inputs["source"]["text"]
    return text


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


@pytest.fixture
def controllers(tmp_path: Path, plan: Plan, dc1: Site, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both controllers as the deploy leaves them: the release recorded, the fragments, units active."""
    plane = controller_plane(plan)
    recorded = rollouts([(r["urn"], r["type"], r["inputs"]) for r in dc1.resources], plane)
    root = tmp_path / "controllers"
    for host in plane.hosts:
        mine = root / str(host.address)
        (mine / "units").mkdir(parents=True)
        (mine / "host_key").write_text(str(host.host_key))
        # What the stack's reader install leaves there: the read script and the one forced-command key.
        reader = plane.drift_reader
        assert reader is not None, "the example dc1 names a drift reader"
        installed = mine / reader.script.lstrip("/")
        installed.parent.mkdir(parents=True)
        installed.write_bytes(READ_SCRIPT.read_bytes())
        home = mine / "home" / reader.user
        home.mkdir(parents=True)
        (home / "authorized_keys").write_text(authorized_keys_line(plane, reader) + "\n")
        state = mine / plane.deploy.state_dir.lstrip("/")
        state.mkdir(parents=True)
        (state / "current.json").write_text(json.dumps(dict(recorded[host.name].fingerprint)))
        for unit, text in (
            (plane.deploy.nova, _fragment(plan, "nova")),
            (plane.deploy.cinder, _fragment(plan, "cinder")),
        ):
            fragment = mine / unit.fragment_path.lstrip("/")
            fragment.parent.mkdir(parents=True, exist_ok=True)
            fragment.write_text(text)
            os.utime(fragment, (STARTED - 60, STARTED - 60))
            _unit(mine, unit.unit, "active", STARTED)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", STAND_IN_SSH), ("systemctl", STAND_IN_SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CONTROLLERS", str(root))
    return root


def _unit(root: Path, unit: str, state: str, since: int) -> None:
    (root / "units" / unit).write_text(f"ActiveState={state}\nActiveEnterTimestamp=@{since}\n")


class Drift(Protocol):
    def __call__(self, *extra: str, plan: Path | None = None) -> tuple[int, dict[str, Any]]: ...


@pytest.fixture
def drift(
    dc1: Site, plan_file: Path, served: list[Inventory], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Drift:
    """`drift --json` of dc1 (its cloud as deployed) with ``extra`` options, on its plan or ``plan``."""
    served.append(dc1.inventory())

    def run(*extra: str, plan: Path | None = None) -> tuple[int, dict[str, Any]]:
        code, out, _ = run_cli(argv(plan or plan_file, tmp_path, dc1, "--json", *extra), capsys)
        report: dict[str, Any] = json.loads(out)
        return code, report

    return run


def test_rollouts_are_read_from_the_commands_the_stack_deployed(plan: Plan, dc1: Site) -> None:
    plane = controller_plane(plan)
    found = rollouts([(r["urn"], r["type"], r["inputs"]) for r in dc1.resources], plane)
    assert sorted(found) == ["dc1-ctl-01", "dc1-ctl-02"]
    command = next(r for r in plan.resources if r.urn.endswith("dc1-ctl-01-rollout")).inputs["create"]
    argv_ = shlex.split(command)
    assert found["dc1-ctl-01"].fingerprint == {
        "wheel_sha256": argv_[argv_.index("--sha256") + 1],
        FRAGMENT_KEY.format("cinder"): _sha(_fragment(plan, "cinder")),
        FRAGMENT_KEY.format("nova"): _sha(_fragment(plan, "nova")),
    }


def test_controllers_as_deployed_report_nothing_and_without_the_flag_none_is_read(
    controllers: Path, drift: Drift
) -> None:
    code, report = drift("--controllers")
    assert code == ExitCode.OK and report["drift"] == [] and report["could_not_check"] == [], report
    calls = (controllers / "calls").read_text().splitlines()
    assert len(calls) == 2 and all(" -p 22 webex-drift@10.250.1.1" in c for c in calls)
    assert all(c.endswith(" drift-read") for c in calls), "no script sent: the controller runs its own"
    code, report = drift()
    assert code == ExitCode.OK and report["sources"]["controllers"].startswith("not read")
    assert len((controllers / "calls").read_text().splitlines()) == 2


def test_a_release_a_fragment_and_a_scheduler_changed_by_hand_are_each_found_and_block(
    controllers: Path, plan: Plan, drift: Drift
) -> None:
    plane = controller_plane(plan)
    one, two = (controllers / "10.250.1.11", controllers / "10.250.1.12")
    state = plane.deploy.state_dir.lstrip("/")
    # ctl-01: its release rolled back by hand, its cinder-scheduler stopped.
    current = json.loads((one / state / "current.json").read_text())
    (one / state / "current.json").write_text(json.dumps(current | {"wheel_sha256": "ab" * 32}))
    _unit(one, plane.deploy.cinder.unit, "inactive", STARTED)
    # ctl-02: its nova fragment edited (and nova-scheduler not restarted since), cinder's removed.
    nova = two / plane.deploy.nova.fragment_path.lstrip("/")
    nova.write_text(_fragment(plan, "nova").replace(",PodFilter", ""))
    os.utime(nova, (STARTED + 60, STARTED + 60))
    (two / plane.deploy.cinder.fragment_path.lstrip("/")).unlink()
    code, report = drift("--controllers")
    assert code == ExitCode.BLOCKING
    found = sorted((d["kind"], d["name"], d["field"]) for d in report["drift"])
    assert found == [
        ("filter-not-loaded", "dc1-ctl-01", "cinder-scheduler.ActiveState"),
        ("filter-not-loaded", "dc1-ctl-02", "nova-scheduler.started"),
        ("filter-release", "dc1-ctl-01", "wheel_sha256"),
        ("fragment-edited", "dc1-ctl-02", "fragment_cinder_sha256"),
        ("fragment-edited", "dc1-ctl-02", "fragment_nova_sha256"),
    ]
    assert all(
        d["blocking"] and d["side"] == "live-vs-state" and d["up"] == "nothing" for d in report["drift"]
    )
    release = next(d for d in report["drift"] if d["kind"] == "filter-release")
    assert release["observed"] == "ab" * 32 and release["recorded"] == current["wheel_sha256"]
    assert "--replace" in release["fix"] and release["resource"].endswith("dc1-ctl-01-rollout")
    started = next(d for d in report["drift"] if d["field"] == "nova-scheduler.started")
    assert "before its fragment was last written" in started["message"]


def test_when_the_plan_rolls_another_release_up_puts_it_in_place(plan: Plan, dc1: Site) -> None:
    """`up` re-runs a rollout only when its triggers change: then the hand-changed release is replaced."""
    plane = controller_plane(plan)
    deployed = rollouts([(r["urn"], r["type"], r["inputs"]) for r in dc1.resources], plane)["dc1-ctl-01"]
    other = replace(deployed, fingerprint={**deployed.fingerprint, "wheel_sha256": "cd" * 32})
    state = ControllerState(current={"wheel_sha256": "ab" * 32}, services={})
    assert [(d.kind, d.up) for d in classify(deployed, deployed, state)] == [("filter-release", Up.NOTHING)]
    (changed,) = classify(deployed, other, state)
    assert changed.up is Up.REVERT and changed.planned == "cd" * 32 and changed.blocking


def test_a_controller_presenting_another_host_key_is_not_read_and_says_why(
    controllers: Path, drift: Drift
) -> None:
    (controllers / "10.250.1.12" / "host_key").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImpostor")
    code, report = drift("--controllers")
    assert code == ExitCode.OK and report["drift"] == []
    (unread,) = report["could_not_check"]
    assert unread.startswith("controller dc1-ctl-02 (webex-drift@10.250.1.12): the host key it presents")


def _unread(report: dict[str, Any]) -> list[str]:
    unread: list[str] = report["could_not_check"]
    return unread


def test_a_stack_without_a_reader_reads_no_controller_and_says_so(
    controllers: Path, plan_file: Path, tmp_path: Path, drift: Drift
) -> None:
    document = json.loads(plan_file.read_text())
    del document["datacenter"]["controllers"]["drift_reader"]
    no_reader = tmp_path / "dc1-no-reader.json"
    no_reader.write_text(json.dumps(document))
    code, report = drift("--controllers", plan=no_reader)
    assert code == ExitCode.OK and report["drift"] == []
    assert _unread(report) == [NO_READER] and report["sources"]["controllers"] == NO_READER
    assert "controllers.drift_reader.public_key" in NO_READER
    assert not (controllers / "calls").exists(), "no login tried, the deploy's least of all"


def test_a_controller_running_another_read_script_is_not_read(
    controllers: Path, plan: Plan, drift: Drift
) -> None:
    """Its answer may not mean what this checkout thinks: say so rather than judge it."""
    plane = controller_plane(plan)
    assert plane.drift_reader is not None
    installed = controllers / "10.250.1.11" / plane.drift_reader.script.lstrip("/")
    installed.write_text(installed.read_text() + "# an older release's read\n")
    code, report = drift("--controllers")
    assert code == ExitCode.OK and report["drift"] == []
    (unread,) = _unread(report)
    assert unread.startswith("controller dc1-ctl-01 (webex-drift@10.250.1.11): its read script")
    assert "is not this checkout's" in unread and "deploy the stack" in unread


def test_a_refused_reader_key_says_which_key_and_where_it_comes_from(
    controllers: Path, monkeypatch: pytest.MonkeyPatch, drift: Drift
) -> None:
    monkeypatch.setenv("READER_KEY_REFUSED", "1")
    code, report = drift("--controllers")
    assert code == ExitCode.OK and len(_unread(report)) == 2
    assert all("DRIFT_READER_SSH_KEY" in u and "Permission denied" in u for u in _unread(report))


def test_a_fragment_the_reader_may_not_read_is_not_taken_for_a_missing_one(
    controllers: Path, plan: Plan, drift: Drift
) -> None:
    plane = controller_plane(plan)
    # a directory in place of the file: open() fails with an OSError other than "not found", as a
    # permission refusal would (these tests run as root, which no file mode refuses)
    fragment = controllers / "10.250.1.12" / plane.deploy.nova.fragment_path.lstrip("/")
    fragment.unlink()
    fragment.mkdir()
    code, report = drift("--controllers")
    assert code == ExitCode.OK and report["drift"] == []
    (unread,) = _unread(report)
    assert unread.startswith("controller dc1-ctl-02 (webex-drift@10.250.1.12): the reader may not read")
    assert "Is a directory" in unread


def test_a_release_record_the_reader_may_not_read_is_not_taken_for_another_release(
    controllers: Path, plan: Plan, drift: Drift
) -> None:
    """Before, an unreadable current.json was judged a hand-changed release: blocking drift."""
    record = (
        controllers / "10.250.1.11" / controller_plane(plan).deploy.state_dir.lstrip("/") / "current.json"
    )
    record.unlink()
    record.mkdir()  # an OSError other than "not found", as a permission refusal would be (see above)
    code, report = drift("--controllers")
    assert code == ExitCode.OK and report["drift"] == []
    (unread,) = _unread(report)
    assert unread.startswith("controller dc1-ctl-01 (webex-drift@10.250.1.11): the reader may not read")
    assert "current.json" in unread


__all__ = ["served"]
