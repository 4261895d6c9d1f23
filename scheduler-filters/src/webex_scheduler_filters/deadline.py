"""A time limit on the filters' database and API lookups.

A filter that waits on a slow database stalls the scheduler worker, and with it every other
request. With a limit, a slow lookup becomes the same answer as a failed one: no host passes,
logged, within the limit, and the request fails with "No valid host" instead of hanging.

No OpenStack import: both adapters and their tests use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

#: Seconds a filter waits for one lookup. A healthy lookup is a few indexed queries (Cinder) or two
#: queries per cell plus, for an anchor being created, one read of its build request (Nova),
#: answered in milliseconds; two seconds leave room for a loaded database while keeping the
#: scheduler's own RPC timeout (60 s) far away.
LOOKUP_TIMEOUT_SECONDS = 2.0

T = TypeVar("T")


class LookupTimeout(Exception):
    """A lookup did not answer within its limit."""


def within(seconds: float, what: str, lookup: Callable[[], T]) -> T:
    """``lookup()``'s result, or LookupTimeout once ``seconds`` have passed without one.

    The lookup runs in a daemon thread (a green thread where the service monkey-patches
    threading, as cinder-scheduler does), so the caller's wait is bounded even when the
    database never answers; a late answer is dropped. The lookup's own errors are re-raised.
    """
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
