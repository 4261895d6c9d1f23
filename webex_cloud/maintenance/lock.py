"""The stack's deploy lock, held by a drain: written in the Pulumi DIY backend's own lock format, so a
`pulumi up` (or refresh, destroy, import) of the stack refuses to start while a drain moves its servers.

What the engine does, read in pulumi/pulumi ``pkg/backend/diy/lock.go`` (the stored snapshot is
3.260.0-dev at commit 1b5949891b3c, CHANGELOG top 3.259.0; the file's format parts date from before
2026-04 in its history there; the CLI pin, 3.272.0, is newer than the snapshot):

- a lock is one file ``<lockDir>/<fully qualified stack name as a path>/<lockID>.json``:
  ``lockDir`` is ``.pulumi/locks`` (``workspace.BookkeepingDir``, ``pkgWorkspace.LockDir``), the name is
  ``organization/<project>/<stack>`` in the project-scoped layout (``diyBackendReference.FullyQualifiedName``
  in ``backend.go``; ``.pulumi/meta.yaml`` says ``version: 1``) and ``<stack>`` in the legacy one
  (no meta.yaml, or ``version: 0``); ``lockID`` is a random UUID per backend object;
- its content is ``lockContent``: ``{"pid": int, "username", "hostname", "timestamp": RFC 3339}``. Go's
  ``json.Unmarshal`` ignores keys it does not know, so the drain adds one, :data:`FIELD`, that tells its
  own lock from anyone else's;
- ``Lock`` (``lock.go``) runs ``checkForLock``, which lists the stack's lock folder and fails with
  "the stack is currently locked by N lock(s)" when any file but its own is there, then writes its file
  and checks again. ``Update``, ``Import``, ``Refresh`` and ``Destroy`` (``backend.go``, each but their
  preview-only forms) call ``Lock`` first; ``Preview`` does not lock, so `pulumi preview` still runs
  beside a drain; ``pulumi cancel`` (``CancelCurrentUpdate``) deletes every lock file of the stack.
  ``CreateStack``, ``RemoveStack``, ``renameStack`` and ``ImportDeployment`` lock too (`pulumi stack
  init/rm/rename/import`); showing a stack (`pulumi stack`, ``GetStack``) reads no lock.

The heartbeat. Nothing in a lock file tells a live holder from a dead one: Pulumi never rewrites its
lock and never expires it (``Lock`` writes once, ``Unlock`` deletes). A drain therefore refreshes its
own file every :data:`HEARTBEAT_S` seconds, or at the interval the drain is given (:class:`Heartbeat`),
writing the time into ``webexMaintenance.heartbeat`` and the interval into
``webexMaintenance.heartbeat_s``, and keeping Pulumi's ``timestamp`` as the time the lock was taken —
``checkForLock`` prints it as "created by ... at", so it must not move. A heartbeat that finds its file
gone stops: someone ran `pulumi cancel` (or deleted it), and writing it back would undo their word
while a `pulumi up` may already have started; the drain stops at its next pod (:attr:`Heartbeat.lost`).
A drain's lock with no heartbeat for :data:`STALE_BEATS` of the intervals its file declares
(:data:`STALE_AFTER_S`, 120 s, at the default) is stale: its process is gone or cut off from the
backend. The rule (:func:`left_behind`): only the *same* drain (action, stack, hosts) takes a lock
over — when it is stale, when its pid is gone on this machine, or with ``--take-over`` when it carries
no heartbeat (an older drain's); a fresh heartbeat is a live drain and is never taken over, whatever is
passed. Any other lock (Pulumi's, another drain's, stale or not) is only named, with its heartbeat's
age; `pulumi cancel` remains the operator's way to clear it.

The backends this handles are the ones the project already reads (docs/state-backend.md): ``s3://``
through the same boto3 client as the checkpoint reader (webex_cloud/preview/state.py), and ``file://``.
Any other scheme (azblob://, gs://) is refused with a clear message before anything is changed.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlsplit

import yaml

from webex_cloud import atomic
from webex_cloud.preview.state import META_KEY, StateBackendError, parse_backend_url, s3_client

LOCKS: Final = ".pulumi/locks"
FIELD: Final = "webexMaintenance"
"""The key the drain adds to its lock file: what holds the lock (action, stack, hosts), for its reruns."""
HEARTBEAT: Final = "heartbeat"
"""The key under :data:`FIELD` with the time of the holder's latest heartbeat (RFC 3339, UTC)."""
HEARTBEAT_S: Final = 15.0
"""Seconds between two refreshes of a drain's lock file, unless the drain is given another interval."""
INTERVAL: Final = "heartbeat_s"
"""The key under :data:`FIELD` with the holder's own heartbeat interval: the reader judges staleness by
the interval the writer promised, so no reader can declare a live drain stale by choosing a short one."""
MIN_HEARTBEAT_S: Final = 1.0
"""The shortest interval a drain beats at, and the shortest a reader believes a lock file declares."""
STALE_BEATS: Final = 8
"""Missed beats after which a drain's lock is stale: a slow backend or a clock a few seconds off is not
a dead drain. Judged by the reader's clock against the writer's, so the machines' clocks must agree to
well within ``STALE_BEATS`` intervals (NTP)."""
STALE_AFTER_S: Final = STALE_BEATS * HEARTBEAT_S
"""Seconds without a heartbeat after which a lock of the default interval (or declaring none) is stale."""


def stale_after(interval: float) -> float:
    """Seconds without a heartbeat after which a drain beating every ``interval`` seconds is stale."""
    return STALE_BEATS * max(interval, MIN_HEARTBEAT_S)


class LockError(Exception):
    """The lock cannot be used: an unsupported or unreadable backend (exit 2)."""


class LockHeld(Exception):
    """Someone else holds the stack's lock: the drain is refused, nothing changed (exit 1)."""


class Store(Protocol):
    """The four calls on a backend's files (keys relative to the backend's root, ``/``-separated)."""

    @property
    def where(self) -> str: ...

    def list(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class Folder:
    """A ``file://`` backend: the folder ``pulumi login file://<path>`` writes."""

    root: Path
    where: str

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        # gocloud's fileblob keeps each file's metadata beside it as ``<name>.attrs`` and hides those
        # from listings; a file being written atomically is a hidden ``.<name>.partial`` for a moment.
        return sorted(
            f"{prefix.rstrip('/')}/{p.name}"
            for p in folder.iterdir()
            if p.is_file() and not p.name.endswith(".attrs") and not p.name.startswith(".")
        )

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> None:
        atomic.write_bytes(self.root / key, data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)
        (self.root / f"{key}.attrs").unlink(missing_ok=True)


@dataclass(frozen=True)
class Bucket:
    """An ``s3://`` backend, through the checkpoint reader's boto3 client (its credentials, its endpoint)."""

    client: Any
    bucket: str
    prefix: str
    where: str

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                args["ContinuationToken"] = token
            page = self.client.list_objects_v2(**args)
            keys += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return [k for k in keys if not k.endswith("/")]

    def read(self, key: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except Exception as error:  # botocore's errors are not importable without boto3
            if getattr(error, "response", {}).get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return body

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType="application/json"
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def open_store(url: str) -> Store:
    """The backend of a ``pulumi login`` URL; LockError for a scheme the drain cannot lock."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Folder(Path(unquote(parts.path)), url)
    if parts.scheme == "s3":
        try:
            location = parse_backend_url(url)
            return Bucket(s3_client(location), location.bucket, location.prefix, url)
        except StateBackendError as error:
            raise LockError(str(error)) from None
    raise LockError(
        f"state backend {url!r}: a drain holds the stack's deploy lock, and it can do so on s3:// and "
        "file:// backends only (the ones the project reads); hold off `pulumi up` on the stack by hand "
        "and use one of those, or drain with a backend URL of that kind"
    )


def stack_lock_dir(store: Store, project: str, stack: str) -> str:
    """``stackLockDir`` of lock.go for the backend's layout (its ``.pulumi/meta.yaml``, meta.go)."""
    raw = store.read(META_KEY)
    try:
        meta = yaml.safe_load(raw) if raw is not None else None
    except yaml.YAMLError as error:
        raise LockError(f"{store.where}: {META_KEY} is not YAML ({error})") from None
    version = meta.get("version", 0) if isinstance(meta, dict) else 0
    if version == 1:
        return f"{LOCKS}/organization/{project}/{stack}/"
    if version == 0:
        return f"{LOCKS}/{stack}/"
    raise LockError(f"{store.where}: {META_KEY} has state layout version {version!r}; known: 0 and 1")


@dataclass(frozen=True)
class Holder:
    """One lock file of the stack, as ``checkForLock`` reports it."""

    key: str
    username: str
    hostname: str
    pid: object
    timestamp: str
    maintenance: Mapping[str, Any] | None

    def heartbeat_age(self, now: datetime) -> float | None:
        """Seconds since the holder's latest heartbeat; None when it writes none (Pulumi never does)."""
        stamp = (self.maintenance or {}).get(HEARTBEAT)
        try:
            beat = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
        except ValueError:
            return None
        return None if beat is None or beat.tzinfo is None else (now - beat).total_seconds()

    @property
    def stale_after(self) -> float:
        """When this lock goes stale: :data:`STALE_BEATS` of the interval it declares (a number at least
        :data:`MIN_HEARTBEAT_S`), or :data:`STALE_AFTER_S` when it declares none."""
        declared = (self.maintenance or {}).get(INTERVAL)
        if isinstance(declared, int | float) and not isinstance(declared, bool) and declared > 0:
            return stale_after(float(declared))
        return STALE_AFTER_S

    def stale(self, now: datetime) -> bool:
        age = self.heartbeat_age(now)
        return age is not None and age > self.stale_after

    def describe(self, where: str, now: datetime | None = None) -> str:
        what = (
            f", a {self.maintenance.get('action')} of {', '.join(self.maintenance.get('hosts', []))}"
            if self.maintenance
            else ""
        )
        age = self.heartbeat_age(now or datetime.now(UTC))
        if age is not None:
            what += (
                f", STALE: no heartbeat for {age:.0f} s (its process is gone or cut off)"
                if age > self.stale_after
                else f", alive: heartbeat {max(age, 0):.0f} s ago (stale after {self.stale_after:g} s)"
            )
        return (
            f"{where.rstrip('/')}/{self.key}: created by {self.username}@{self.hostname} (pid {self.pid}) "
            f"at {self.timestamp}{what}"
        )


def holders(store: Store, folder: str) -> list[Holder]:
    found: list[Holder] = []
    for key in store.list(folder):
        raw = store.read(key)
        try:
            content = json.loads(raw or b"")
        except json.JSONDecodeError:
            content = None
        if not isinstance(content, dict):
            # The engine fails on such a file too (json.Unmarshal's error): the stack is locked either way.
            found.append(Holder(key, "?", "?", "?", "unreadable lock file", None))
            continue
        mark = content.get(FIELD)
        found.append(
            Holder(
                key,
                str(content.get("username", "?")),
                str(content.get("hostname", "?")),
                content.get("pid", "?"),
                str(content.get("timestamp", "?")),
                mark if isinstance(mark, dict) else None,
            )
        )
    return found


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(
    purpose: Mapping[str, Any], now: datetime | None = None, created: datetime | None = None
) -> bytes:
    """A ``lockContent`` (lock.go ``newLockContent``: this process's pid, user, host, and the time the
    lock was ``created``) and :data:`FIELD` with ``purpose`` (its :data:`INTERVAL` included) and a
    heartbeat at ``now``."""
    moment = now or datetime.now(UTC)
    document = {
        "pid": os.getpid(),
        "username": getpass.getuser(),
        "hostname": socket.gethostname(),
        "timestamp": _stamp(created or moment),
        FIELD: {**purpose, HEARTBEAT: _stamp(moment)},
    }
    return json.dumps(document).encode()


@dataclass(frozen=True)
class DeployLock:
    store: Store
    key: str
    resumed: bool
    """True when the lock was a killed run's of the same drain, taken over by this one."""
    purpose: Mapping[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def interval(self) -> float:
        """The heartbeat interval the lock file declares (what :meth:`Heartbeat` beats at)."""
        return float(self.purpose.get(INTERVAL, HEARTBEAT_S))

    @property
    def where(self) -> str:
        return f"{self.store.where.rstrip('/')}/{self.key}"

    def release(self) -> None:
        self.store.delete(self.key)


class Heartbeat:
    """Refreshes a held lock at the interval its file declares, on a thread of its own, until :meth:`stop`.

    It never writes a file that is gone: :attr:`lost` then says why, and the holder stops at its next
    safe point. A backend that refuses the refresh until the lock is stale (:func:`stale_after`) is lost
    too: by then another machine may rightly judge the lock stale and take it over."""

    def __init__(self, taken: DeployLock, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.taken = taken
        self.interval = taken.interval
        self.now = now
        self.lost: str | None = None
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deploy-lock-heartbeat", daemon=True)

    def beat(self) -> None:
        """One refresh (what the thread does every interval)."""
        if self.taken.store.read(self.taken.key) is None:
            self.lost = (
                f"the deploy lock {self.taken.where} was removed while the drain held it (`pulumi "
                "cancel`, or by hand): a `pulumi up` may run now, so nothing more is moved"
            )
            return
        self.taken.store.write(self.taken.key, content(self.taken.purpose, self.now(), self.taken.created))
        self.beats += 1

    def _run(self) -> None:
        last = self.now()
        while not self._stop.wait(self.interval) and self.lost is None:
            try:
                self.beat()
                last = self.now()
            except Exception as error:  # the backend's own errors (botocore, OSError): kept trying
                if (self.now() - last).total_seconds() > stale_after(self.interval):
                    self.lost = (
                        f"the deploy lock {self.taken.where} could not be refreshed for "
                        f"{stale_after(self.interval):g} s ({error}): another machine may take it over "
                        "as stale"
                    )

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _running(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # not a process this machine can ask about: assume it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def left_behind(
    holder: Holder, purpose: Mapping[str, Any], take_over: bool, now: datetime | None = None
) -> bool:
    """A lock this drain may take over: the same drain's (action, stack, hosts) whose process is known to
    be gone — on this machine, its pid no longer runs; anywhere, its heartbeat is stale — or, for a lock
    without a heartbeat from another machine, ``take_over`` (the operator's word, as `pulumi cancel` is).
    A fresh heartbeat is a live drain: never taken over."""
    mark = holder.maintenance or {}
    if not all(mark.get(k) == purpose[k] for k in ("action", "stack", "hosts")):
        return False
    moment = now or datetime.now(UTC)
    if holder.hostname == socket.gethostname() and not _running(holder.pid):
        return True
    age = holder.heartbeat_age(moment)
    if age is None:
        return take_over
    return holder.stale(moment)


def refusal(store: Store, folder: str, others: list[Holder]) -> str:
    return (
        f"stack's deploy lock is held by {len(others)} lock(s): "
        + "; ".join(h.describe(store.where) for h in others)
        + ". Wait for that update or drain to end. A drain of the same hosts is taken over by running it "
        f"again once it is killed on this machine or its heartbeat is stale ({STALE_BEATS} missed beats); "
        "one without a heartbeat killed on another machine, with --take-over once you know its process is "
        "gone; any other lock whose process is gone, `pulumi cancel` removes"
    )


def check(
    store: Store, project: str, stack: str, purpose: Mapping[str, Any], take_over: bool = False
) -> str | None:
    """Why the drain could not take the lock now (the dry run's check), None when it could."""
    folder = stack_lock_dir(store, project, stack)
    others = [h for h in holders(store, folder) if not left_behind(h, purpose, take_over)]
    return refusal(store, folder, others) if others else None


def acquire(
    store: Store, project: str, stack: str, purpose: Mapping[str, Any], take_over: bool = False
) -> DeployLock:
    """Take the stack's lock as ``Lock`` does (check, write, check again); a lock the same drain left
    behind (:func:`left_behind`) is taken over and rewritten. LockHeld when anyone else holds it."""
    folder = stack_lock_dir(store, project, stack)
    found = holders(store, folder)
    others = [h for h in found if not left_behind(h, purpose, take_over)]
    if others:
        raise LockHeld(refusal(store, folder, others))
    for extra in found[1:]:
        store.delete(extra.key)
    key = found[0].key if found else f"{folder}{uuid.uuid4()}.json"
    created = datetime.now(UTC)
    store.write(key, content(purpose, created))
    others = [h for h in holders(store, folder) if h.key != key]
    if others:
        # Someone locked between the check and the write: as Lock does, give ours back and refuse.
        store.delete(key)
        raise LockHeld(refusal(store, folder, others))
    return DeployLock(store, key, resumed=bool(found), purpose=dict(purpose), created=created)
