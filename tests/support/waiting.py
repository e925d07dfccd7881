"""Waiting on a condition against a deadline: the suite's only way to wait for something to happen.

A fixed ``time.sleep`` in a test either wastes time or, on a loaded machine, is too short and flakes;
``tests/test_no_fixed_sleeps.py`` refuses one in test modules. Poll a condition instead:

    wait_until(lambda: not alive(pid), 10, "the server to stop")       # something happens, in time
    holds_for(lambda: alive(pid), 2.0, "the server to stay up")        # nothing happens for a while
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL = 0.05  # seconds between two looks at the condition


def wait_until(condition: Callable[[], object], timeout: float, what: str, poll: float = POLL) -> None:
    """Return as soon as ``condition()`` is true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def holds_for(condition: Callable[[], object], duration: float, what: str, poll: float = POLL) -> None:
    """``condition()`` stays true for ``duration`` seconds (for "X does not happen within T" checks, where
    the time itself is the subject); AssertionError naming ``what`` the first time it is false."""
    deadline = time.monotonic() + duration
    while True:
        if not condition():
            raise AssertionError(f"{what}: no longer true after {duration - (deadline - time.monotonic()):.1f} s")
        if time.monotonic() >= deadline:
            return
        time.sleep(poll)
