"""The controllers too: the filter release and scheduler config fragments actually on each controller,
against what the controller stack deployed (the checkpoint) and plans (the plan).

What the stack deployed is the rollout command of each controller (webex_cloud/components/
controller_rollout.py): its ``create`` names the wheel's sha256 (``--sha256``) and the fragments
(``--fragment NAME=...``), its ``triggers`` hold, in order, the digests of the wheel, the deploy script,
the profile and each fragment by sorted name. That is the fingerprint the deploy script records on the
controller as ``<state_dir>/current.json`` (webex_cloud/controller/remote/rolling_deploy.py
``Release.fingerprint``) when a release is deployed and healthy.

A controller is read over SSH through the stack's drift reader login (``controllers.drift_reader``: its
account, its pinned ``host_key``, the reader key in the caller's ssh-agent), which can do one thing: its
key's forced command runs the read script the stack installed (webex_cloud/controller/reader.py,
controller/remote/read_controller.py), whatever the client asks. It prints its own sha256 (a controller
whose script is not this checkout's is not read: its answer may not mean what this code thinks),
``current.json``, each fragment's sha256, text and modification time, and each scheduler unit's state and
start time (``systemctl show``). A stack without a reader is not read, and the report says so. Then:

- ``filter-release``: the release recorded on the controller is not the one the stack deployed (rolled
  back or installed by hand, or none recorded);
- ``fragment-edited``: a fragment on disk is not the one deployed (edited, removed);
- ``filter-not-loaded``: a scheduler is not active, or was started before its fragment was last
  written, so it runs without the filters on disk.

`up` re-runs a controller's rollout only when its triggers change: for an unchanged release it does
nothing to any of these (``up: nothing``); when the plan rolls another release it puts that one in
place (``revert``). They block either way: the placement rules hold only while the filters run.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from webex_cloud.config.models import ControllerPlane, Datacenter
from webex_cloud.controller.reader import read_script_sha256
from webex_cloud.drift.classes import Up
from webex_cloud.drift.findings import Drift, make
from webex_cloud.pinned_ssh import pinned_ssh_argv
from webex_cloud.plan.format import REMOTE_COMMAND, Plan

SSH_TIMEOUT_S: Final = 60.0
FILTER_RELEASE: Final = "filter-release"
FRAGMENT_EDITED: Final = "fragment-edited"
FILTER_NOT_LOADED: Final = "filter-not-loaded"
"""The controller drift kinds (drift/classes.py classifies them; monitoring_ops/facts.py exports them)."""
FRAGMENT_KEY: Final = "fragment_{}_sha256"
"""How the deploy script's fingerprint names a fragment's digest (rolling_deploy.py ``fingerprint``)."""


class ControllerReadError(Exception):
    """A controller that could not be read; the message names it and why."""


@dataclass(frozen=True)
class Rollout:
    """What one rollout command deploys: the release's fingerprint, as ``current.json`` records it."""

    urn: str
    controller: str
    fingerprint: Mapping[str, str]


@dataclass(frozen=True)
class ServiceState:
    unit: str
    sha256: str | None
    mtime: int | None
    active: str
    since: int | None


@dataclass(frozen=True)
class ControllerState:
    current: Mapping[str, Any] | None
    services: Mapping[str, ServiceState]
    """Fragment name (``nova``, ``cinder``) -> its file and unit as read."""


def rollouts(
    resources: Sequence[tuple[str, str, Mapping[str, Any]]], plane: ControllerPlane
) -> dict[str, Rollout]:
    """Controller name -> what its rollout command deploys, from ``(urn, type, inputs)`` of the
    checkpoint or the plan (the command is named ``<pair>-<controller>-rollout``)."""
    found: dict[str, Rollout] = {}
    for urn, kind, inputs in resources:
        name = urn.rsplit("::", 1)[-1]
        host = next((h.name for h in plane.hosts if name.endswith(f"-{h.name}-rollout")), None)
        argv = shlex.split(str(inputs.get("create", "")))
        if kind != REMOTE_COMMAND or host is None or "--sha256" not in argv:
            continue
        names = sorted(b.split("=", 1)[0] for a, b in itertools.pairwise(argv) if a == "--fragment")
        # triggers: wheel, deploy script, profile, then each fragment by sorted name (controller_rollout.py)
        digests = [str(t) for t in inputs.get("triggers") or []][3:]
        fingerprint = {"wheel_sha256": argv[argv.index("--sha256") + 1]}
        fingerprint |= {FRAGMENT_KEY.format(n): d for n, d in zip(names, digests, strict=False)}
        found[host] = Rollout(urn, host, fingerprint)
    return found


NO_READER: Final = (
    "controllers: not read: the stack file names no drift reader (controllers.drift_reader.public_key), "
    "so no login can read them without the deploy key; add one (docs/drift.md) and deploy the stack"
)


def ssh_argv(plane: ControllerPlane, address: str, known_hosts: Path, command: str) -> list[str]:
    """The reader's login (its own account, the deploy's port), held to the pinned host key only."""
    if plane.drift_reader is None:
        raise ControllerReadError(NO_READER)
    login = f"{plane.drift_reader.user}@{address}"
    return pinned_ssh_argv(login, known_hosts, command, plane.ssh_port)


def _refused(host: str, login: str, said: list[str], returncode: int) -> ControllerReadError:
    why = said[-1] if said else f"exit {returncode}"
    if any("Host key verification failed" in line for line in said):
        why = f"the host key it presents is not the stack file's host_key ({why})"
    elif any("Permission denied" in line for line in said):
        why = (
            f"the reader key was refused or none was offered ({why}): load the private half of "
            "controllers.drift_reader.public_key into the ssh-agent (in CI the secret "
            "DRIFT_READER_SSH_KEY of the environments drift-<stack> and production-<stack>), and deploy "
            "the stack if the key is new"
        )
    return ControllerReadError(f"{host} ({login}): {why}")


def read_controller(plane: ControllerPlane, host: str, folder: Path) -> ControllerState:
    """One controller as it is, over SSH through the reader login. Raises ControllerReadError."""
    controller = next(h for h in plane.hosts if h.name == host)
    if controller.host_key is None:
        raise ControllerReadError(
            f"{host}: no host_key in the stack file, so its SSH login cannot be checked; set "
            "controllers.hosts[].host_key (docs/controllers.md)"
        )
    known_hosts = folder / f"known_hosts-{host}"
    known_hosts.write_text(
        f"[{controller.address}]:{plane.ssh_port} {controller.host_key}\n"
        if plane.ssh_port != 22
        else f"{controller.address} {controller.host_key}\n"
    )
    # The forced command runs the read whatever is asked: this names it for the controller's auth log.
    argv = ssh_argv(plane, str(controller.address), known_hosts, "drift-read")
    login = argv[-2]
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=SSH_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ControllerReadError(
            f"{host} ({controller.address}): no answer over ssh in {SSH_TIMEOUT_S:g} s"
        ) from None
    except OSError as error:
        raise ControllerReadError(f"{host}: cannot run ssh ({error})") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _refused(host, login, said, done.returncode)
    try:
        raw = json.loads(done.stdout.decode("utf-8"))
        script = raw["script_sha256"]
        services = {
            str(fragment): ServiceState(
                unit=str(item["unit"]),
                sha256=item["sha256"],
                mtime=item["mtime"],
                active=str(item["active"]),
                since=item["since"],
            )
            for fragment, item in raw["services"].items()
        }
        unreadable = [str(item["error"]) for item in raw["services"].values() if item.get("error")]
        current = raw["current"]
        if current is not None and "unreadable" in current:
            # current.json there but not readable: the release is unknown, not another one
            unreadable.append(str(current["unreadable"]))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ControllerReadError(
            f"{host}: the read printed no report ({type(error).__name__}: {error})"
        ) from None
    if script != read_script_sha256():
        raise ControllerReadError(
            f"{host} ({login}): its read script (sha256 {str(script)[:12]}) is not this checkout's "
            f"({read_script_sha256()[:12]}): deploy the stack, which installs it"
        )
    if unreadable:
        raise ControllerReadError(
            f"{host} ({login}): the reader may not read {'; '.join(unreadable)}: let it read the "
            "fragments (they hold no secret) and current.json"
        )
    return ControllerState(current, services)


def _when(seconds: int | None) -> str:
    return (
        "an unknown time"
        if seconds is None
        else f"{dt.datetime.fromtimestamp(seconds, dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    )


def classify(deployed: Rollout, planned: Rollout | None, state: ControllerState) -> list[Drift]:
    """The controller's drift against what its rollout deployed (and what the plan rolls next)."""
    host, urn = deployed.controller, deployed.urn
    up = Up.REVERT if planned is not None and planned.fingerprint != deployed.fingerprint else Up.NOTHING
    fix = (
        "roll the release again: `pulumi up --replace '" + urn + "'` (a health-gated rollout of the deployed "
        "release on this controller alone, docs/controllers.md), after finding who changed it"
    )
    found: list[Drift] = []
    wheel = deployed.fingerprint["wheel_sha256"]
    current = state.current
    recorded = None if current is None else current.get("wheel_sha256")
    if recorded != wheel:
        said = (
            "no filter release is recorded on it (no current.json)"
            if current is None
            else f"it runs release {str(recorded)[:12]} (current.json), not {wheel[:12]}"
        )
        found.append(
            make(
                FILTER_RELEASE,
                urn,
                host,
                host,
                "wheel_sha256",
                wheel,
                recorded,
                f"{host}: {said}, the one the controller stack deployed",
                up=up,
                fix=fix,
                planned=None if planned is None else planned.fingerprint.get("wheel_sha256"),
            )
        )
    for fragment, service in sorted(state.services.items()):
        key = FRAGMENT_KEY.format(fragment)
        expected = deployed.fingerprint.get(key)
        if expected is not None and service.sha256 != expected:
            said = (
                "is missing"
                if service.sha256 is None
                else f"was edited (sha256 {service.sha256[:12]}, deployed {expected[:12]})"
            )
            found.append(
                make(
                    FRAGMENT_EDITED,
                    urn,
                    host,
                    host,
                    key,
                    expected,
                    service.sha256,
                    f"{host}: the {fragment} scheduler's fragment {said}",
                    up=up,
                    fix=fix,
                )
            )
        if service.active != "active":
            found.append(
                make(
                    FILTER_NOT_LOADED,
                    urn,
                    host,
                    host,
                    f"{service.unit}.ActiveState",
                    "active",
                    service.active,
                    f"{host}: {service.unit} is {service.active}: the {fragment} filters are not running",
                    fix=f"find why {service.unit} stopped (journalctl -u {service.unit}) and start it",
                )
            )
        elif service.mtime is not None and service.since is not None and service.mtime > service.since:
            found.append(
                make(
                    FILTER_NOT_LOADED,
                    urn,
                    host,
                    host,
                    f"{service.unit}.started",
                    _when(service.mtime),
                    _when(service.since),
                    f"{host}: {service.unit} started at {_when(service.since)}, before its fragment was last "
                    f"written at {_when(service.mtime)}: it runs without the filters on disk",
                    fix=f"systemctl restart {service.unit} on {host} (as the deploy would, health-gated)",
                )
            )
    return found


@dataclass(frozen=True)
class Judged:
    """One controller as read, and its drift against what its rollout deployed (the monitoring's facts
    export the same verdict: monitoring_ops/facts.py)."""

    rollout: Rollout
    state: ControllerState
    drift: tuple[Drift, ...]


def judge_controllers(
    plane: ControllerPlane,
    deployed: Mapping[str, Rollout],
    planned: Mapping[str, Rollout],
    read: Callable[[str], ControllerState],
) -> tuple[dict[str, Judged], list[str]]:
    """Each controller the stack deployed to, read and classified; and what could not be read."""
    judged: dict[str, Judged] = {}
    unread: list[str] = []
    if plane.drift_reader is None:
        return judged, [NO_READER]
    for host in sorted(deployed):
        try:
            state = read(host)
        except ControllerReadError as error:
            unread.append(f"controller {error}")
            continue
        judged[host] = Judged(
            deployed[host], state, tuple(classify(deployed[host], planned.get(host), state))
        )
    return judged, unread


def controller_plane(plan: Plan) -> ControllerPlane:
    """The plan's controller plane (its hosts, logins and drift reader), as the stack file declared it."""
    return Datacenter.model_validate(plan.datacenter.model_dump(mode="json", by_alias=True)).controllers


def read_controllers(
    plan: Plan, deployed: Sequence[tuple[str, str, Mapping[str, Any]]]
) -> tuple[dict[str, Judged], list[str]]:
    """The stack's controllers read over SSH (read only) and judged against the rollouts of the
    checkpoint's ``(urn, type, inputs)`` and the plan's."""
    plane = controller_plane(plan)
    recorded = rollouts(deployed, plane)
    planned = rollouts([(r.urn, r.type, r.inputs) for r in plan.resources], plane)
    with tempfile.TemporaryDirectory(prefix="drift-controllers-") as folder:
        return judge_controllers(
            plane, recorded, planned, lambda host: read_controller(plane, host, Path(folder))
        )
