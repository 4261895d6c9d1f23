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

The backends this handles are the ones the project already reads (docs/state-backend.md): ``s3://``
through the same boto3 client as the checkpoint reader (webex_cloud/preview/state.py), and ``file://``.
Any other scheme (azblob://, gs://) is refused with a clear message before anything is changed.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
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

    def describe(self, where: str) -> str:
        what = (
            f", a {self.maintenance.get('action')} of {', '.join(self.maintenance.get('hosts', []))}"
            if self.maintenance
            else ""
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


def content(purpose: Mapping[str, Any], now: datetime | None = None) -> bytes:
    """A ``lockContent`` (lock.go ``newLockContent``: this process's pid, user, host, time) and
    :data:`FIELD`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document = {
        "pid": os.getpid(),
        "username": getpass.getuser(),
        "hostname": socket.gethostname(),
        "timestamp": stamp,
        FIELD: dict(purpose),
    }
    return json.dumps(document).encode()


@dataclass(frozen=True)
class DeployLock:
    store: Store
    key: str
    resumed: bool
    """True when the lock was a killed run's of the same drain, taken over by this one."""

    @property
    def where(self) -> str:
        return f"{self.store.where.rstrip('/')}/{self.key}"

    def release(self) -> None:
        self.store.delete(self.key)


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


def left_behind(holder: Holder, purpose: Mapping[str, Any], take_over: bool) -> bool:
    """A lock this drain may take over: the same drain's (action, stack, hosts) whose process is known to
    be gone — on this machine, its pid no longer runs — or, from another machine, ``take_over`` (the
    operator's word, as `pulumi cancel` is: nothing can tell a killed run from a live one over there)."""
    mark = holder.maintenance or {}
    if not all(mark.get(k) == purpose[k] for k in ("action", "stack", "hosts")):
        return False
    return take_over or (holder.hostname == socket.gethostname() and not _running(holder.pid))


def refusal(store: Store, folder: str, others: list[Holder]) -> str:
    return (
        f"stack's deploy lock is held by {len(others)} lock(s): "
        + "; ".join(h.describe(store.where) for h in others)
        + ". Wait for that update or drain to end. A drain of the same hosts killed on this machine is "
        "taken over by running it again; one killed on another machine, by running it again with "
        "--take-over once you know its process is gone; any other lock whose process is gone, "
        "`pulumi cancel` removes"
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
    store.write(key, content(purpose))
    others = [h for h in holders(store, folder) if h.key != key]
    if others:
        # Someone locked between the check and the write: as Lock does, give ours back and refuse.
        store.delete(key)
        raise LockHeld(refusal(store, folder, others))
    return DeployLock(store, key, resumed=bool(found))
