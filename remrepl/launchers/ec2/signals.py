"""Signals while cloud resources are made or deleted: an interrupted ``up`` must not leak them.

``signals_interrupt()``: while the head is made, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` as Ctrl-C
does, so the launcher's clean-up runs. ``no_interrupts(notify)``: while they are deleted, SIGINT, SIGTERM
and SIGHUP are noted and ignored. Both do nothing outside the main thread (signals are the main
thread's), and a signal the caller ignores (``nohup``'s SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While the head is being made, SIGTERM and SIGHUP (a closed terminal) interrupt like Ctrl-C, so that
    what was created is deleted instead of leaking when the launcher is killed that way. A signal the caller
    chose to ignore (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    wanted = [sig for sig in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, interrupt) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def no_interrupts(notify: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C while cloud resources are being deleted would leak them: say so and go on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        notify("still deleting the cloud resources; interruptions are ignored until that is done")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
