#!/usr/bin/env python3
"""Health-gated deployment of the scheduler-filter wheel and its config fragments to controllers.

Runs on its own with any Python >= 3.9 and the standard library only: it is copied to each controller
and run there by the Pulumi program (one remote command per controller), and run locally by the
integration tests against the loopback OpenStack. Nothing here imports the project.

    rolling_deploy.py apply --profile ctl.json --wheel W.whl --sha256 HEX --fragment nova=F [...]
        One controller: back up the installed wheel and fragments, install, restart each scheduler,
        wait until each is healthy; on any failure restore the backup, restart, and exit non-zero.
    rolling_deploy.py roll --profile ctl-1.json --profile ctl-2.json --wheel ... --fragment ...
        The driver: ``apply`` on each controller in turn, stopping at the first failure so that the
        controllers after it are not touched at all.
    rolling_deploy.py rollback --profile ctl-1.json [--profile ctl-2.json]
        Back to the release each controller ran before its current one, in turn, health-gated the same way.

    rolling_deploy.py reader --user U --home H --script-from S --script D --keys-from K [--remove]
        The drift reader login (webex_cloud/components/controller_reader.py): the account U (created
        without password, shell /bin/sh for sshd to run the forced command with), the read script S
        installed at D, and H/.ssh/authorized_keys set to K's one ``restrict,command="..."`` line; the
        home, the key file and the script owned by root, so the account cannot change what its key may
        do. ``--remove`` empties its authorized_keys (the key logs in no more), then deletes the
        account and its home, or locks and expires it when ``userdel`` refuses.

    rolling_deploy.py logs --from F --check-with C --to T --restart CMD --health CMD
        The controllers' rsyslog drop-in (webex_cloud/components/controller_logs.py): ``rsyslogd -N1 -f C``
        (C includes Debian's main configuration, then the staged F) must pass before F goes to T; then
        rsyslog is restarted and must be healthy, or the previous T is put back and rsyslog restarted
        again (exit 1). A refused F changes nothing and restarts nothing (exit 3).

Exit codes: 0 deployed (or already deployed and healthy); 1 failed and restored, the controller runs
what it ran before; 2 failed and the restore did not come back healthy (operator needed); 3 refused
before anything on the controller was changed (bad wheel, bad fragment, bad profile, locked).

A profile (JSON) describes one controller. Strings may use ``{controller}``; an argv item that is
exactly ``{filters}`` expands to the filters the service's fragment enables (none when it has none)::

    {"controller": "ctl-1", "python": "/usr/bin/python3", "site_dir": "/opt/webex-scheduler-filters/site",
     "state_dir": "/var/lib/webex-scheduler-filters", "health_timeout": 180,
     "services": [{"name": "nova-scheduler", "fragment": "nova",
                   "path": "/etc/nova/nova-scheduler.d/50-webex-filters.conf",
                   "filters_option": "filter_scheduler.enabled_filters",
                   "restart": ["systemctl", "restart", "nova-scheduler"],
                   "health": ["systemctl", "is-active", "--quiet", "nova-scheduler"]}]}

``site_dir`` is the directory on the schedulers' ``PYTHONPATH`` that holds only our wheel; ``state_dir``
(on the same file system) keeps the lock, the backup of the running release and the record of it.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

DEPLOYED, RESTORED, DEGRADED, REFUSED = 0, 1, 2, 3
INSTALLER = "webex-rolling-deploy"
FILTERS_PLACEHOLDER = "{filters}"


class Refused(Exception):
    """Something is wrong before the controller was touched: nothing to restore."""


class Unhealthy(Exception):
    """A step after the controller was changed failed: restore."""


def log(message: str) -> None:
    # stderr, one line per step, no secrets: this is what `pulumi up` shows for the remote command.
    print(
        f"{time.strftime('%H:%M:%S', time.gmtime())} [rolling-deploy] {message}", file=sys.stderr, flush=True
    )


@dataclass(frozen=True)
class SchedulerService:
    name: str
    fragment: str
    path: Path
    restart: tuple[str, ...]
    health: tuple[str, ...]
    filters_option: str = ""


@dataclass(frozen=True)
class Profile:
    controller: str
    python: str
    site_dir: Path
    state_dir: Path
    services: tuple[SchedulerService, ...]
    health_timeout: float = 180.0
    poll_interval: float = 2.0

    @staticmethod
    def load(path: Path) -> Profile:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise Refused(f"profile {path}: {error}") from None
        try:
            controller = str(raw["controller"])

            def text(value: object) -> str:
                return str(value).replace("{controller}", controller)

            def argv(values: Sequence[object]) -> tuple[str, ...]:
                return tuple(text(v) for v in values)

            site_dir = Path(text(raw["site_dir"]))
            services = tuple(
                SchedulerService(
                    name=text(s["name"]),
                    fragment=text(s["fragment"]),
                    path=Path(text(s["path"])),
                    restart=argv(s["restart"]),
                    health=argv(s["health"]),
                    filters_option=text(s.get("filters_option", "")),
                )
                for s in raw["services"]
            )
            return Profile(
                controller=controller,
                python=text(raw.get("python", sys.executable)),
                site_dir=site_dir,
                state_dir=Path(text(raw.get("state_dir", str(site_dir) + ".deploy"))),
                services=services,
                health_timeout=float(raw.get("health_timeout", 180)),
                poll_interval=float(raw.get("poll_interval", 2)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise Refused(f"profile {path}: missing or invalid {error}") from None


@dataclass(frozen=True)
class Release:
    wheel: Path
    sha256: str
    fragments: dict[str, bytes]
    """Fragment name (``nova``, ``cinder``) -> file content."""

    def fingerprint(self) -> dict[str, str]:
        """What identifies this release on a controller (written to ``current.json``)."""
        return {
            "wheel_sha256": self.sha256,
            **{f"fragment_{name}_sha256": _sha256(data) for name, data in sorted(self.fragments.items())},
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------------
# The wheel: verified against its own RECORD and installed by extraction (a pure-Python wheel needs
# nothing else), so no pip is needed in the scheduler's Python.


def check_staging(directory: Path) -> None:
    """Refuse a staging directory someone else could write into: whoever can replace the wheel or a
    fragment there between the upload and this run chooses the code the schedulers load as root."""
    try:
        info = directory.stat()
    except OSError as error:
        raise Refused(f"staging directory {directory}: {error}") from None
    # Under sudo (how the program runs it) the files were staged by the SSH user sudo names.
    owners = {
        os.geteuid(),
        *([int(os.environ["SUDO_UID"])] if os.environ.get("SUDO_UID", "").isdigit() else []),
    }
    if info.st_uid not in owners:
        raise Refused(
            f"staging directory {directory} is owned by uid {info.st_uid}, not by this user "
            f"(uid {sorted(owners)}); stage the release in a directory of your own"
        )
    if info.st_mode & 0o022:
        raise Refused(
            f"staging directory {directory} is writable by group or others (mode {info.st_mode & 0o777:o}); "
            "chmod go-w it or stage the release in a private directory"
        )


def check_wheel(path: Path, expected_sha256: str) -> bytes:
    """The wheel's bytes, read once and verified: the caller installs these bytes, never the file
    again (a file swapped after the check would otherwise be installed unverified)."""
    data = path.read_bytes()
    if expected_sha256 and _sha256(data) != expected_sha256:
        raise Refused(f"{path.name}: sha256 {_sha256(data)} is not the expected {expected_sha256}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Refused(f"{path.name}: not a zip archive") from None
    with archive:
        names = archive.namelist()
        for name in names:
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts:
                raise Refused(f"{path.name}: unsafe entry {name!r}")
        records = [n for n in names if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
        if len(records) != 1:
            raise Refused(f"{path.name}: expected one .dist-info/RECORD, found {len(records)}")
        dist_info = records[0].split("/")[0]
        wheel_meta = archive.read(f"{dist_info}/WHEEL").decode("utf-8")
        if "Root-Is-Purelib: true" not in wheel_meta:
            raise Refused(f"{path.name}: not a pure-Python wheel; it cannot be installed by extraction")
        listed: set[str] = set()
        for row in csv.reader(io.StringIO(archive.read(records[0]).decode("utf-8"))):
            if not row:
                continue
            name, digest = row[0], row[1] if len(row) > 1 else ""
            listed.add(name)
            if not digest:
                continue
            algorithm, _, value = digest.partition("=")
            actual = hashlib.new(algorithm, archive.read(name)).digest()
            if base64.urlsafe_b64encode(actual).rstrip(b"=").decode("ascii") != value:
                raise Refused(f"{path.name}: {name} does not match its RECORD hash (corrupt wheel)")
        unlisted = sorted(set(n for n in names if not n.endswith("/")) - listed)
        if unlisted:
            raise Refused(f"{path.name}: entries missing from RECORD: {', '.join(unlisted)}")
    return data


def extract_wheel(data: bytes, target: Path) -> None:
    """Install the verified wheel bytes ``data`` into the empty directory ``target`` (what
    ``pip install --target`` does)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)
        dist_info = next(n.split("/")[0] for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    (target / dist_info / "INSTALLER").write_text(INSTALLER + "\n", encoding="utf-8")


def wheel_entry_points(site: Path) -> dict[str, list[str]]:
    """Entry point group -> ``module:attr`` of each entry point the installed wheel declares."""
    found: dict[str, list[str]] = {}
    for entry_points in sorted(site.glob("*.dist-info/entry_points.txt")):
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(entry_points, encoding="utf-8")
        for section in parser.sections():
            found.setdefault(section, []).extend(value.strip() for value in parser[section].values())
    return found


# ----------------------------------------------------------------------------------------------------
# Config fragments: oslo.config INI files read after the service's main config.


def _parse_fragment(name: str, data: bytes) -> configparser.ConfigParser:
    # oslo.config allows repeated keys (multi-valued options); only well-formedness is checked here.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(data.decode("utf-8"), source=name)
    except (configparser.Error, UnicodeDecodeError) as error:
        raise Refused(f"fragment {name}: {error}") from None
    return parser


def enabled_filters(data: bytes | None, option: str) -> list[str]:
    """Filter names the fragment enables through ``option`` (``section.key``; no dot: DEFAULT)."""
    if data is None or not option:
        return []
    section, _, key = option.rpartition(".")
    parser = _parse_fragment(option, data)
    value = parser.get(section or "DEFAULT", key, fallback="")
    return [item.strip() for item in value.split(",") if item.strip()]


def available_filter_paths(data: bytes) -> list[str]:
    """Dotted class paths listed by Nova's multi-valued ``[filter_scheduler] available_filters``."""
    paths: list[str] = []
    section = ""
    for raw in data.decode("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == "filter_scheduler" and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            if key.strip() == "available_filters":
                paths.append(value.strip())
    return paths


PREFLIGHT = """
import importlib, sys
failed = []
for target in sys.argv[1:]:
    module, _, attr = target.replace(":", ".").rpartition(".")
    try:
        getattr(importlib.import_module(module), attr)
    except Exception as error:
        failed.append("%s: %s: %s" % (target, type(error).__name__, error))
if failed:
    print("\\n".join(failed), file=sys.stderr)
    sys.exit(1)
"""


# ----------------------------------------------------------------------------------------------------
# Running commands: the only side effects on services go through here, so tests can replace it.

Runner = Callable[[Sequence[str], float, "dict[str, str] | None"], "tuple[int, str]"]


def run_command(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``argv``; return its exit code and the tail of its combined output."""
    try:
        done = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=max(timeout, 1.0),
            env=None if env is None else {**os.environ, **env},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f}s"
    except OSError as error:
        return 127, str(error)
    return done.returncode, done.stdout.decode("utf-8", "replace")[-2000:]


@dataclass
class DeployingController:
    """One controller's deployment, with the clock and command runner injectable for tests."""

    profile: Profile
    runner: Runner = run_command
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    restarted: list[SchedulerService] = field(default_factory=list)

    @property
    def backup(self) -> Path:
        return self.profile.state_dir / "backup"

    # -- the parts of one deployment --------------------------------------------------------------

    def expand(self, argv: Sequence[str], filters: Sequence[str]) -> list[str]:
        out: list[str] = []
        for item in argv:
            out.extend(filters if item == FILTERS_PLACEHOLDER else [item])
        return out

    def fragment_on_disk(self, service: SchedulerService) -> bytes | None:
        try:
            return service.path.read_bytes()
        except FileNotFoundError:
            return None

    def preflight(self, site: Path, release: Release) -> None:
        """Import every filter the release names, with the scheduler's Python, before touching anything.

        One process per fragment and per entry point group, as each scheduler loads them: Nova and
        Cinder register clashing config options, so their modules cannot share a process.
        """
        tops = {p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
        batches = list(wheel_entry_points(site).values())
        for data in release.fragments.values():
            batches.append([p for p in available_filter_paths(data) if p.split(".")[0] in tops])
        for targets in batches:
            if not targets:
                continue
            code, output = self.runner(
                [self.profile.python, "-c", PREFLIGHT, *sorted(set(targets))],
                60.0,
                {"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
            )
            if code != 0:
                raise Refused(f"the new wheel does not import in {self.profile.python}: {output.strip()}")

    def healthy(self, service: SchedulerService, filters: Sequence[str]) -> tuple[bool, str]:
        """Poll the service's health command until it passes or the health timeout is over."""
        deadline = self.clock() + self.profile.health_timeout
        while True:
            remaining = deadline - self.clock()
            code, output = self.runner(self.expand(service.health, filters), remaining, None)
            if code == 0:
                return True, output
            if self.clock() + self.profile.poll_interval >= deadline:
                return False, output
            self.sleep(self.profile.poll_interval)

    def restart_and_check(self, service: SchedulerService) -> None:
        filters = enabled_filters(self.fragment_on_disk(service), service.filters_option)
        log(f"{self.profile.controller}: restarting {service.name}")
        self.restarted.append(service)
        code, output = self.runner(self.expand(service.restart, filters), self.profile.health_timeout, None)
        if code != 0:
            raise Unhealthy(f"{service.name}: restart failed (exit {code}): {output.strip()[-600:]}")
        ok, output = self.healthy(service, filters)
        if not ok:
            raise Unhealthy(f"{service.name}: not healthy after restart: {output.strip()[-600:]}")
        shown = ", ".join(filters) or "(the built-in default)"
        log(f"{self.profile.controller}: {service.name} healthy with filters {shown}")

    # -- backup and restore ---------------------------------------------------------------------

    def take_backup(self) -> None:
        """Copy the fragments and move the site dir aside; raise Refused if that fails part-way."""
        if self.backup.exists():
            shutil.rmtree(self.backup)
        try:
            (self.backup / "fragments").mkdir(parents=True)
            manifest: dict[str, object] = {
                "site": self.profile.site_dir.exists(),
                "fragments": {},
                "release": self.current(),
            }
            for service in self.profile.services:
                current = self.fragment_on_disk(service)
                manifest["fragments"][service.name] = current is not None  # type: ignore[index]
                if current is not None:
                    (self.backup / "fragments" / service.name).write_bytes(current)
            # The manifest before the move: from here on an interrupted run is put back by the next one.
            _write_atomic(self.backup / "manifest.json", json.dumps(manifest, sort_keys=True).encode())
            if self.profile.site_dir.exists():
                self.profile.site_dir.rename(self.backup / "site")
        except OSError as error:
            if not self.profile.site_dir.exists() and (self.backup / "site").exists():
                (self.backup / "site").rename(self.profile.site_dir)
            shutil.rmtree(self.backup, ignore_errors=True)
            raise Refused(f"cannot back up the running release: {error}") from None

    def lay_down(self, saved: Path, *, move: bool) -> dict[str, object]:
        """Put the site dir and fragments saved in ``saved`` in place (no restart); return its manifest.

        ``move`` consumes ``saved`` (a backup); otherwise it is copied and stays (the previous release).
        """
        manifest: dict[str, object] = json.loads((saved / "manifest.json").read_text(encoding="utf-8"))
        saved_site = saved / "site"
        # Interrupted before the site dir was moved aside: what is in place is still the old release.
        if saved_site.exists() or not manifest["site"]:
            if self.profile.site_dir.exists():
                shutil.rmtree(self.profile.site_dir)
            if saved_site.exists() and move:
                saved_site.rename(self.profile.site_dir)
            elif saved_site.exists():
                shutil.copytree(saved_site, self.profile.site_dir, symlinks=True)
        fragments: dict[str, bool] = manifest["fragments"]  # type: ignore[assignment]
        for service in self.profile.services:
            if fragments.get(service.name):
                _write_atomic(service.path, (saved / "fragments" / service.name).read_bytes())
            else:
                service.path.unlink(missing_ok=True)
        return manifest

    def put_back(self) -> None:
        """Restore the site dir and fragments from the backup (no restart) and drop the backup."""
        self.lay_down(self.backup, move=True)
        shutil.rmtree(self.backup)

    def restore(self) -> int:
        log(f"{self.profile.controller}: restoring the previous wheel and configuration")
        self.put_back()
        failures = []
        for service in self.restarted:
            filters = enabled_filters(self.fragment_on_disk(service), service.filters_option)
            code, output = self.runner(
                self.expand(service.restart, filters), self.profile.health_timeout, None
            )
            ok = code == 0 and self.healthy(service, filters)[0]
            if not ok:
                failures.append(f"{service.name}: {output.strip()[-300:]}")
        if failures:
            log(f"{self.profile.controller}: DEGRADED, the restored schedulers are not healthy: {failures}")
            return DEGRADED
        log(f"{self.profile.controller}: restored; it runs what it ran before")
        return RESTORED

    # -- the whole procedure --------------------------------------------------------------------

    def current(self) -> dict[str, str] | None:
        try:
            return dict(json.loads((self.profile.state_dir / "current.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def unchanged(self, release: Release) -> bool:
        """The release is what this controller already runs, file for file."""
        if self.current() != release.fingerprint():
            return False
        return all(
            self.fragment_on_disk(s) == release.fragments.get(s.fragment) for s in self.profile.services
        )

    def apply(self, release: Release) -> int:
        name = self.profile.controller
        self.profile.state_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.profile.state_dir / "lock"):
            if (self.backup / "manifest.json").exists():
                log(f"{name}: an earlier deployment was interrupted; putting its backup back first")
                self.put_back()
            missing = sorted({s.fragment for s in self.profile.services} - set(release.fragments))
            if missing:
                raise Refused(f"no fragment given for {', '.join(missing)}")
            for fragment, data in release.fragments.items():
                _parse_fragment(fragment, data)
            check_staging(release.wheel.parent)
            verified = check_wheel(release.wheel, release.sha256)
            if self.unchanged(release):
                log(f"{name}: release {release.sha256[:12]} already deployed; checking health only")
                for service in self.profile.services:
                    filters = enabled_filters(self.fragment_on_disk(service), service.filters_option)
                    ok, output = self.healthy(service, filters)
                    if not ok:
                        raise Refused(
                            f"{service.name} is unhealthy before any change: {output.strip()[-600:]}"
                        )
                return DEPLOYED
            incoming = self.profile.state_dir / "incoming"
            if incoming.exists():
                shutil.rmtree(incoming)
            extract_wheel(verified, incoming)
            self.preflight(incoming, release)

            log(f"{name}: installing {release.wheel.name} ({release.sha256[:12]})")
            self.take_backup()
            try:
                incoming.rename(self.profile.site_dir)
                for service in self.profile.services:
                    _write_atomic(service.path, release.fragments[service.fragment])
                for service in self.profile.services:
                    self.restart_and_check(service)
            except (Unhealthy, OSError) as error:
                log(f"{name}: FAILED: {error}")
                return self.restore()
            previous = self.profile.state_dir / "previous"
            if previous.exists():
                shutil.rmtree(previous)
            self.backup.rename(previous)
            _write_atomic(
                self.profile.state_dir / "current.json",
                json.dumps(release.fingerprint(), indent=1, sort_keys=True).encode(),
            )
            log(f"{name}: deployed and healthy")
            return DEPLOYED

    def rollback(self) -> int:
        """Go back to the release deployed before the current one, health-gated like a deployment.

        On success the release rolled back from becomes the previous one (a second rollback goes
        forward again); on failure the controller is restored to the release it ran.
        """
        name = self.profile.controller
        previous = self.profile.state_dir / "previous"
        self.profile.state_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.profile.state_dir / "lock"):
            if (self.backup / "manifest.json").exists():
                log(f"{name}: an earlier deployment was interrupted; putting its backup back first")
                self.put_back()
            if not (previous / "manifest.json").exists():
                raise Refused("no previous release recorded on this controller")
            log(f"{name}: rolling back to the previous release")
            self.take_backup()
            try:
                target = self.lay_down(previous, move=False)
                for service in self.profile.services:
                    self.restart_and_check(service)
            except (Unhealthy, OSError) as error:
                log(f"{name}: FAILED: {error}")
                return self.restore()
            shutil.rmtree(previous)
            self.backup.rename(previous)
            record = self.profile.state_dir / "current.json"
            if target.get("release"):
                _write_atomic(record, json.dumps(target["release"], indent=1, sort_keys=True).encode())
            else:
                record.unlink(missing_ok=True)
            log(f"{name}: rolled back and healthy")
            return DEPLOYED


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(f"another deployment holds {path}") from None
        yield


def guarded(controller: DeployingController, step: Callable[[DeployingController], int]) -> int:
    """Run one controller's step; a refusal (nothing changed) becomes exit code 3."""
    try:
        return step(controller)
    except Refused as error:
        log(f"{controller.profile.controller}: REFUSED, nothing was changed: {error}")
        return REFUSED


def deploy_one(controller: DeployingController, release: Release) -> int:
    return guarded(controller, lambda c: c.apply(release))


def in_turn(controllers: Sequence[DeployingController], step: Callable[[DeployingController], int]) -> int:
    """Each controller in turn; at the first failure the ones after it are left untouched."""
    for index, controller in enumerate(controllers):
        code = guarded(controller, step)
        if code != DEPLOYED:
            rest = [c.profile.controller for c in controllers[index + 1 :]]
            if rest:
                log(f"stopping: {', '.join(rest)} left untouched")
            return code
    return DEPLOYED


def roll(controllers: Sequence[DeployingController], release: Release) -> int:
    """Deploy ``release`` to each controller in turn, stopping at the first failure."""
    return in_turn(controllers, lambda c: c.apply(release))


def _release(args: argparse.Namespace) -> Release:
    fragments: dict[str, bytes] = {}
    for item in args.fragment:
        name, sep, path = item.partition("=")
        if not sep:
            raise Refused(f"--fragment {item!r}: expected NAME=PATH")
        check_staging(Path(path).parent)
        try:
            fragments[name] = Path(path).read_bytes()
        except OSError as error:
            raise Refused(f"--fragment {item!r}: {error}") from None
    return Release(wheel=Path(args.wheel), sha256=args.sha256, fragments=fragments)


FORCED_PREFIX = 'restrict,command="'
"""The one form of line the reader's authorized_keys may hold (sshd(8), AUTHORIZED_KEYS FILE FORMAT)."""


def _run_checked(argv: Sequence[str]) -> str:
    code, output = run_command(argv, 60.0)
    if code != 0:
        raise Refused(f"{' '.join(argv)}: exit {code}: {output.strip()[-300:]}")
    return output


def _owned_by_me(path: Path, mode: int) -> None:
    os.chown(path, os.geteuid(), os.getegid())
    path.chmod(mode)


def install_reader(user: str, home: Path, script_from: Path, script: Path, keys_from: Path) -> int:
    """The drift reader login, idempotent: account, read script, forced-command key."""
    for staged in (script_from, keys_from):
        check_staging(staged.parent)
    line = keys_from.read_text(encoding="utf-8").strip()
    if "\n" in line or not line.startswith(FORCED_PREFIX):
        raise Refused(f'{keys_from}: not one {FORCED_PREFIX}..." key line; nothing was installed')
    code, entry = run_command(["getent", "passwd", user], 30.0)
    if code == 0:
        found = entry.strip().split(":")
        if len(found) < 7 or Path(found[5]) != home:
            raise Refused(
                f"account {user} exists with home {found[5] if len(found) > 5 else '?'}, not {home}: not "
                "the drift reader's; name another drift_reader.user"
            )
    else:
        _run_checked(
            ["useradd", "--system", "--shell", "/bin/sh", "--home-dir", str(home), "--no-create-home",
             "--password", "*", user]
        )  # fmt: skip
        log(f"reader: account {user} created")
    _write_atomic(script, script_from.read_bytes())
    _owned_by_me(script, 0o644)
    for folder in (home, home / ".ssh"):
        folder.mkdir(exist_ok=True)
        _owned_by_me(folder, 0o755)
    keys = home / ".ssh" / "authorized_keys"
    _write_atomic(keys, (line + "\n").encode("utf-8"))
    _owned_by_me(keys, 0o644)
    log(f"reader: {user} logs in to run {script} only")
    return DEPLOYED


def remove_reader(user: str, home: Path) -> int:
    """The drift reader login gone (``drift_reader`` removed from the stack), idempotent: its key file
    emptied first, so the key logs in no more even if the rest fails; then the account deleted with its
    home, or, when ``userdel`` refuses (a read still running as it), locked and expired, which sshd
    refuses for any key (sshd(8): an expired or locked account may not log in). An account of that
    name with another home is not the reader's: its key file is not touched, nor the account."""
    code, entry = run_command(["getent", "passwd", user], 30.0)
    found = entry.strip().split(":") if code == 0 else []
    if found and (len(found) < 7 or Path(found[5]) != home):
        log(f"reader: account {user} has another home than {home}: not the drift reader's, left alone")
        return DEPLOYED
    keys = home / ".ssh" / "authorized_keys"
    if keys.exists():
        _write_atomic(keys, b"")
        log(f"reader: {keys} emptied, the reader key logs in no more")
    if not found:
        return DEPLOYED
    deleted, said = run_command(["userdel", user], 60.0)
    if deleted == 0:
        shutil.rmtree(home, ignore_errors=True)
        log(f"reader: account {user} deleted, with {home}")
        return DEPLOYED
    _run_checked(["usermod", "--lock", "--expiredate", "1", "--shell", "/usr/sbin/nologin", user])
    log(f"reader: account {user} locked and expired (userdel: {said.strip()[-200:]})")
    return DEPLOYED


def _reader(args: argparse.Namespace) -> int:
    try:
        if args.remove:
            return remove_reader(args.user, args.home)
        return install_reader(args.user, args.home, args.script_from, args.script, args.keys_from)
    except (Refused, OSError) as error:
        log(f"reader: REFUSED: {error}")
        return REFUSED


def _restarted_healthy(restart: Sequence[str], health: Sequence[str]) -> tuple[int, str]:
    """Restart rsyslog, then ask whether it runs: the first command that fails ends it."""
    code, output = run_command(restart, 120.0)
    if code == 0:
        code, output = run_command(health, 60.0)
    return code, output


def install_logs(
    staged: Path, check_with: Path, target: Path, restart: Sequence[str], health: Sequence[str]
) -> int:
    """The rsyslog drop-in: checked by rsyslogd, then installed and rsyslog restarted; idempotent."""
    for path in (staged, check_with):
        check_staging(path.parent)
    new = staged.read_bytes()
    before = target.read_bytes() if target.exists() else None
    code, output = run_command(["rsyslogd", "-N1", "-f", str(check_with)], 60.0)
    if code != 0:
        raise Refused(f"rsyslogd -N1 refused {staged} (exit {code}): {output.strip()[-600:]}")
    if before == new:
        code, output = run_command(health, 60.0)
        if code == 0:
            log(f"logs: {target} already installed, rsyslog healthy")
            return DEPLOYED
    _write_atomic(target, new)
    target.chmod(0o644)
    code, output = _restarted_healthy(restart, health)
    if code == 0:
        log(f"logs: {target} installed, rsyslog restarted and healthy")
        return DEPLOYED
    log(f"logs: rsyslog not healthy after the restart (exit {code}): {output.strip()[-300:]}; restoring")
    if before is None:
        target.unlink()
    else:
        _write_atomic(target, before)
    code, output = _restarted_healthy(restart, health)
    if code == 0:
        log(f"logs: {target} restored, rsyslog runs what it ran before")
        return RESTORED
    log(f"logs: rsyslog not healthy after the restore either (exit {code}): {output.strip()[-300:]}")
    return DEGRADED


def _logs(args: argparse.Namespace) -> int:
    try:
        return install_logs(
            args.source, args.check_with, args.to, shlex.split(args.restart), shlex.split(args.health)
        )
    except (Refused, OSError) as error:
        log(f"logs: REFUSED, nothing was changed and rsyslog not restarted: {error}")
        return REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    reader = sub.add_parser("reader", help="install (or --remove) the drift reader login")
    reader.add_argument("--user", required=True)
    reader.add_argument("--home", required=True, type=Path)
    reader.add_argument("--script-from", type=Path, help="the staged read script")
    reader.add_argument("--script", type=Path, help="where the forced command runs it from")
    reader.add_argument("--keys-from", type=Path, help="the staged authorized_keys line")
    reader.add_argument("--remove", action="store_true")
    logs = sub.add_parser("logs", help="check, install and load the rsyslog drop-in")
    logs.add_argument("--from", dest="source", required=True, type=Path, help="the staged drop-in")
    logs.add_argument("--check-with", required=True, type=Path, help="main config for rsyslogd -N1 -f")
    logs.add_argument("--to", required=True, type=Path, help="where rsyslog reads the drop-in")
    logs.add_argument("--restart", required=True, help="the command that restarts rsyslog")
    logs.add_argument("--health", required=True, help="the command that exits 0 when rsyslog runs")
    for command, help_ in (
        ("apply", "deploy to one controller"),
        ("roll", "deploy to each controller in turn"),
        ("rollback", "go back to the previous release on each controller in turn"),
    ):
        p = sub.add_parser(command, help=help_)
        p.add_argument("--profile", action="append", required=True, type=Path, help="controller profile JSON")
        if command == "rollback":
            continue
        p.add_argument("--wheel", required=True, help="the filter wheel")
        p.add_argument("--sha256", default="", help="expected sha256 of the wheel (refuse on mismatch)")
        p.add_argument("--fragment", action="append", default=[], help="NAME=PATH of a config fragment")
    args = parser.parse_args(argv)
    if args.command == "logs":
        return _logs(args)
    if args.command == "reader":
        if not args.remove and None in (args.script_from, args.script, args.keys_from):
            parser.error("reader needs --script-from, --script and --keys-from (or --remove)")
        return _reader(args)
    if args.command == "apply" and len(args.profile) != 1:
        parser.error("apply takes exactly one --profile (use roll for several)")
    try:
        controllers = [DeployingController(Profile.load(path)) for path in args.profile]
        if args.command == "rollback":
            return in_turn(controllers, DeployingController.rollback)
        release = _release(args)
    except Refused as error:
        log(f"REFUSED, nothing was changed: {error}")
        return REFUSED
    return roll(controllers, release)


if __name__ == "__main__":
    sys.exit(main())
