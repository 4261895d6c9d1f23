"""A time limit on the filters' database and API lookups.

A filter that waits on a slow database stalls the scheduler worker, and with it every other
request. With a limit, a slow lookup becomes the same answer as a failed one: no host passes,
logged, within the limit, and the request fails with "No valid host" instead of hanging.

No OpenStack import: both adapters and their tests use it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import TypeVar

#: Seconds a filter waits for one lookup. A healthy lookup is a few indexed queries (Cinder) or two
#: queries per cell plus, for an anchor being created, one read of its build request (Nova),
#: answered in milliseconds; two seconds leave room for a loaded database while keeping the
#: scheduler's own RPC timeout (60 s) far away.
LOOKUP_TIMEOUT_SECONDS = 2.0

T = TypeVar("T")


class LookupTimeout(Exception):
    """A lookup did not answer within its limit."""


_BY_ALARM: ContextVar[bool] = ContextVar("webex_lookup_bounded_by_alarm", default=False)
"""Set by :func:`bounded_by_alarm`; never set in the scheduler services."""


def within(seconds: float, what: str, lookup: Callable[[], T]) -> T:
    """``lookup()``'s result, or LookupTimeout once ``seconds`` have passed without one.

    The lookup runs in a daemon thread (a green thread where the service monkey-patches
    threading, as cinder-scheduler does), so the caller's wait is bounded even when the
    database never answers; a late answer is dropped. The lookup's own errors are re-raised.
    Inside :func:`bounded_by_alarm`, on the main thread, the lookup is bounded by an interval timer
    instead (:func:`_within_by_alarm`), with the same outcome.
    """
    if seconds > 0 and _BY_ALARM.get() and _alarm_is_free():
        return _within_by_alarm(seconds, what, lookup)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(lookup())
        except BaseException as error:  # handed to the caller, which fails closed
            failure.append(error)

    worker = threading.Thread(target=run, name=f"webex-lookup-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if failure:
        raise failure[0]
    if not outcome:
        raise LookupTimeout(f"{what} did not answer within {seconds:g} s")
    return outcome[0]


@contextmanager
def bounded_by_alarm() -> Iterator[None]:
    """Within this block, :func:`within` bounds lookups on the main thread by a SIGALRM interval
    timer: no thread per lookup, the same limit, the same LookupTimeout.

    For a process that owns its main thread and SIGALRM and runs the filters thousands of times:
    the offline placement engine (``webex_cloud/placement/engine.py``), where a thread per lookup
    was a third of the placement proof's time, most of it waiting for each new thread to be
    scheduled on a loaded machine. Never for the scheduler services: their filters may run on a
    green thread (all of them share the main thread, so the alarm would interrupt whichever runs)
    or a pool thread (no signal reaches it), which is why :func:`within` keeps its thread there.
    """
    token = _BY_ALARM.set(True)
    try:
        yield
    finally:
        _BY_ALARM.reset(token)


class _Expired(BaseException):
    """Raised by the alarm into the lookup; a BaseException, so that the lookup's own
    ``except Exception`` cannot take it for a failed read and answer anyway."""


def _alarm_is_free() -> bool:
    """On the main thread (the only one a signal handler runs on), with no SIGALRM handler or
    timer of anyone else's to displace."""
    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN)
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )


def _within_by_alarm(seconds: float, what: str, lookup: Callable[[], T]) -> T:
    """``lookup()`` run on the caller's thread, LookupTimeout once ``seconds`` have passed.

    The timer's signal interrupts a blocking read too (the system call returns EINTR and the
    handler's exception ends it, PEP 475), so the wait is bounded as with the thread. Should the
    lookup swallow the interruption, its late answer is still dropped: the expiry is recorded.
    """
    expired = False

    def expire(signum: int, frame: FrameType | None) -> None:
        nonlocal expired
        expired = True
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            answer = lookup()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        expired = True
    finally:
        signal.signal(signal.SIGALRM, previous)
    if expired:
        raise LookupTimeout(f"{what} did not answer within {seconds:g} s")
    return answer
