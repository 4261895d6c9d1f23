"""The lookup limit bounded by an interval timer (the offline engine's way, no thread per lookup):
the same fail-closed answer on time as the thread, and nothing left behind."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from unittest import mock

import pytest

from webex_scheduler_filters import deadline

# pytest-timeout's default method holds SIGALRM itself (and the deadline then keeps its thread,
# as the test of someone else's alarm shows): these tests need the signal free, as in `place`.
pytestmark = pytest.mark.timeout(120, method="thread")

LIMIT = 0.5


@pytest.fixture
def no_thread_per_lookup() -> Iterator[None]:
    with mock.patch.object(threading.Thread, "start", side_effect=AssertionError("a thread per lookup")):
        yield


def stalled() -> str:
    time.sleep(3)  # a database that stopped answering: a blocking call, interrupted by the timer
    return "late answer"


def timed(lookup: object) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        deadline.within(LIMIT, "the test's lookup", lookup)  # type: ignore[arg-type]
    except deadline.LookupTimeout as slow:
        return slow, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_stalled_lookup_fails_closed_within_its_limit_without_a_thread(no_thread_per_lookup: None) -> None:
    with deadline.bounded_by_alarm():
        slow, waited = timed(stalled)
    assert isinstance(slow, deadline.LookupTimeout)
    assert str(slow) == "the test's lookup did not answer within 0.5 s"
    assert LIMIT <= waited < LIMIT + 0.4
    # Nothing left armed: no later signal can hit the caller, and SIGALRM is free again.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_a_lookup_that_swallows_its_interruption_still_fails_closed(no_thread_per_lookup: None) -> None:
    def stubborn() -> str:
        try:
            time.sleep(3)
        except BaseException:  # a driver that takes every error for "no rows"
            return "permissive answer"
        return "late answer"

    with deadline.bounded_by_alarm():
        slow, waited = timed(stubborn)
    assert isinstance(slow, deadline.LookupTimeout)
    assert waited < LIMIT + 0.4


def test_an_answer_in_time_and_a_failed_lookup_are_as_with_the_thread(no_thread_per_lookup: None) -> None:
    def broken() -> str:
        raise ConnectionError("database gone")

    with deadline.bounded_by_alarm():
        assert deadline.within(LIMIT, "lookup", lambda: "rows") == "rows"
        with pytest.raises(ConnectionError, match="database gone"):
            deadline.within(LIMIT, "lookup", broken)
    time.sleep(LIMIT + 0.2)  # no timer left to fire after the answer
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_outside_the_main_thread_the_limit_is_kept_by_a_thread() -> None:
    outcome: list[tuple[BaseException | None, float]] = []

    def in_a_pool_thread() -> None:
        with deadline.bounded_by_alarm():
            outcome.append(timed(stalled))

    worker = threading.Thread(target=in_a_pool_thread)
    worker.start()
    worker.join(5)
    [(slow, waited)] = outcome
    assert isinstance(slow, deadline.LookupTimeout)
    assert LIMIT <= waited < LIMIT + 0.4


def test_someone_elses_alarm_is_left_alone_and_the_limit_kept() -> None:
    fired: list[int] = []

    def theirs(signum: int, frame: FrameType | None) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, theirs)
    try:
        with deadline.bounded_by_alarm():
            slow, waited = timed(stalled)
        assert isinstance(slow, deadline.LookupTimeout)
        assert waited < LIMIT + 0.4
        assert signal.getsignal(signal.SIGALRM) is theirs
        assert fired == []
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_outside_the_block_a_lookup_runs_in_its_own_thread_as_in_the_scheduler() -> None:
    names: list[str] = []
    assert deadline.within(LIMIT, "lookup", lambda: names.append(threading.current_thread().name)) is None
    assert names == ["webex-lookup-lookup"]
