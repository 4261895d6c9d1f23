"""The drain's deploy lock on both backends the project uses: a file:// folder and S3 (moto's server on
127.0.0.1, as the state reader's tests use it), against lock files as `pulumi up` writes them
(pulumi/pulumi pkg/backend/diy/lock.go at 3.260.0-dev, commit 1b59498)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.preview.conftest import Backend, _fake_credentials, backend, s3_endpoint
from webex_cloud.maintenance import lock

__all__ = ["_fake_credentials", "backend", "s3_endpoint"]
DRAIN = {"action": "drain", "stack": "dc1", "hosts": ["h1"], "by": "ops"}
UP = {"pid": 4242, "username": "deployer", "hostname": "ci-runner-7", "timestamp": "2026-11-24T08:00:00Z"}


@dataclass
class Place:
    """A backend as the drain opens it, and a way to write a file into it as someone else would."""

    store: lock.Store
    put: Callable[[str, bytes], None]


@pytest.fixture(params=["file", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "file":
        root = tmp_path / "state"
        (root / ".pulumi").mkdir(parents=True)
        (root / ".pulumi/meta.yaml").write_text("version: 1\n")

        def put(key: str, data: bytes) -> None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)

        return Place(lock.open_store(f"file://{root}"), put)
    bucket: Backend = request.getfixturevalue("backend")
    return Place(lock.open_store(bucket.url), bucket.put)


FOLDER = ".pulumi/locks/organization/webex-cloud/dc1/"


def test_the_lock_is_a_file_pulumi_reads_where_pulumi_looks_and_goes_on_release(place: Place) -> None:
    taken = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    (key,) = place.store.list(FOLDER)
    assert key == taken.key and not taken.resumed
    written: dict[str, Any] = json.loads(place.store.read(key) or b"")
    assert set(written) == {"pid", "username", "hostname", "timestamp", lock.FIELD}
    assert isinstance(written["pid"], int) and written[lock.FIELD] == DRAIN | {
        lock.HEARTBEAT: written["timestamp"]
    }
    taken.release()
    assert place.store.list(FOLDER) == []


def test_a_pulumi_up_in_progress_refuses_the_drain_and_is_named(place: Place) -> None:
    place.put(f"{FOLDER}0b8f7c1e-1111-4000-8000-000000000000.json", json.dumps(UP).encode())
    expected = "held by 1 lock(s)"
    assert expected in (lock.check(place.store, "webex-cloud", "dc1", DRAIN) or "")
    with pytest.raises(lock.LockHeld, match=r"deployer@ci-runner-7 \(pid 4242\) at 2026-11-24T08:00:00Z"):
        lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    assert len(place.store.list(FOLDER)) == 1


def test_another_drain_and_a_running_one_are_refused_and_a_left_lock_is_taken_over(place: Place) -> None:
    first = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    other = DRAIN | {"hosts": ["h2"]}
    with pytest.raises(lock.LockHeld, match="a drain of h1"):
        lock.acquire(place.store, "webex-cloud", "dc1", other)
    with pytest.raises(lock.LockHeld, match="--take-over"):  # the same drain, running (this process)
        lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    # Its heartbeat is fresh: a live drain, which even --take-over does not take.
    with pytest.raises(lock.LockHeld, match=r"alive: heartbeat \d+ s ago"):
        lock.acquire(place.store, "webex-cloud", "dc1", DRAIN, take_over=True)
    # The same lock as an older drain wrote it, without a heartbeat, from another machine: --take-over.
    left = json.loads(place.store.read(first.key) or b"") | {"hostname": "ops-laptop-2"}
    del left[lock.FIELD][lock.HEARTBEAT]
    place.put(first.key, json.dumps(left).encode())
    again = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN | {"by": "someone else"}, take_over=True)
    assert again.resumed and again.key == first.key and place.store.list(FOLDER) == [first.key]


def left_by(place: Place, purpose: dict[str, Any], beat_age: float) -> str:
    """A drain's lock from another machine whose latest heartbeat is ``beat_age`` seconds old."""
    beat = datetime.now(UTC) - timedelta(seconds=beat_age)
    written = json.loads(lock.content(purpose, beat, beat - timedelta(hours=1)))
    key = f"{FOLDER}0c9d1e2f-2222-4000-8000-000000000000.json"
    place.put(key, json.dumps(written | {"hostname": "ops-laptop-2", "pid": 31337}).encode())
    return key


def test_a_stale_heartbeat_is_taken_over_by_the_same_drain_only(place: Place) -> None:
    key = left_by(place, DRAIN, lock.STALE_AFTER_S + 30)
    other = DRAIN | {"hosts": ["h2"]}
    held = lock.check(place.store, "webex-cloud", "dc1", other, take_over=True) or ""
    assert re.search(r"a drain of h1, STALE: no heartbeat for 1[5-9]\d s", held), held
    taken = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    assert taken.resumed and taken.key == key


def test_a_live_heartbeat_from_another_machine_is_never_taken_over(place: Place) -> None:
    left_by(place, DRAIN, lock.STALE_AFTER_S - 30)
    for take_over in (False, True):
        with pytest.raises(lock.LockHeld, match=r"ops-laptop-2 \(pid 31337\).*alive: heartbeat 9\d s ago"):
            lock.acquire(place.store, "webex-cloud", "dc1", DRAIN, take_over=take_over)


def test_a_lock_goes_stale_after_eight_of_the_beats_it_declares_whoever_reads_it(place: Place) -> None:
    """The holder's --heartbeat is written into its file; a reader judges by it, not by its own."""
    fast = DRAIN | {lock.INTERVAL: 2.0}
    key = left_by(place, fast, 17)
    (holder,) = lock.holders(place.store, FOLDER)
    assert holder.stale_after == 16 and holder.stale(datetime.now(UTC))
    assert lock.acquire(place.store, "webex-cloud", "dc1", DRAIN).key == key  # the reader's default: 15 s
    place.store.delete(key)
    left_by(place, fast, 6)
    with pytest.raises(lock.LockHeld, match=r"alive: heartbeat \d+ s ago \(stale after 16 s\)"):
        lock.acquire(place.store, "webex-cloud", "dc1", DRAIN | {lock.INTERVAL: 1.0})
    # A declared interval under a second is read as one: never stale before 8 s.
    for declared, stale_after in ((0.001, 8.0), (True, lock.STALE_AFTER_S), ("2", lock.STALE_AFTER_S)):
        place.store.delete(next(iter(place.store.list(FOLDER))))
        left_by(place, DRAIN | {lock.INTERVAL: declared}, 5)
        (holder,) = lock.holders(place.store, FOLDER)
        assert holder.stale_after == stale_after and not holder.stale(datetime.now(UTC))


def test_the_heartbeat_refreshes_the_lock_and_keeps_what_pulumi_prints(place: Place) -> None:
    taken = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN | {lock.INTERVAL: 0.01})
    first: dict[str, Any] = json.loads(place.store.read(taken.key) or b"")
    beat = lock.Heartbeat(taken).start()
    deadline = time.monotonic() + 10
    while beat.beats < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.stop()
    now: dict[str, Any] = json.loads(place.store.read(taken.key) or b"")
    assert beat.beats >= 2 and beat.lost is None
    # checkForLock prints pid, user, host and timestamp ("created by ... at"): those stay as taken.
    assert {k: now[k] for k in UP} == {k: first[k] for k in UP}
    assert now[lock.FIELD][lock.HEARTBEAT] > first[lock.FIELD][lock.HEARTBEAT]
    assert place.store.list(FOLDER) == [taken.key]


def test_a_lock_pulumi_cancel_removed_is_lost_not_written_back(place: Place) -> None:
    taken = lock.acquire(place.store, "webex-cloud", "dc1", DRAIN)
    beat = lock.Heartbeat(taken)
    beat.beat()
    for key in place.store.list(FOLDER):  # CancelCurrentUpdate (backend.go): every lock file deleted
        place.store.delete(key)
    beat.beat()
    assert beat.lost is not None and "pulumi" in beat.lost and place.store.list(FOLDER) == []


def test_a_lock_written_between_the_check_and_the_write_wins(place: Place) -> None:
    """As Lock does: the second check sees it, the drain deletes its own file and refuses."""

    @dataclass(frozen=True)
    class Racing:
        inner: lock.Store

        @property
        def where(self) -> str:
            return self.inner.where

        def list(self, prefix: str) -> list[str]:
            return self.inner.list(prefix)

        def read(self, key: str) -> bytes | None:
            return self.inner.read(key)

        def write(self, key: str, data: bytes) -> None:
            place.put(f"{FOLDER}racer.json", json.dumps(UP).encode())
            self.inner.write(key, data)

        def delete(self, key: str) -> None:
            self.inner.delete(key)

    with pytest.raises(lock.LockHeld, match="deployer@ci-runner-7"):
        lock.acquire(Racing(place.store), "webex-cloud", "dc1", DRAIN)
    assert place.store.list(FOLDER) == [f"{FOLDER}racer.json"]


def test_the_legacy_layout_locks_by_stack_name(tmp_path: Path) -> None:
    """No meta.yaml: lock.go's stackLockDir of the stack's bare name (backend.go's legacy references)."""
    store = lock.open_store(f"file://{tmp_path}")
    taken = lock.acquire(store, "webex-cloud", "dc1", DRAIN)
    assert taken.key.startswith(".pulumi/locks/dc1/") and (tmp_path / taken.key).is_file()


@pytest.mark.parametrize("url", ["azblob://state", "gs://state", "https://api.pulumi.com"])
def test_a_backend_the_drain_cannot_lock_is_refused_by_name(url: str) -> None:
    with pytest.raises(lock.LockError, match="s3:// and file:// backends only"):
        lock.open_store(url)
