"""The local terminal as the remote code is to see it: its size and names, and its resizes.

``local_terminal(stream)`` tells a ``Session`` (``Session.use_terminal``) what the local terminal is, each
time it asks; ``tracking_resizes(session)`` passes SIGWINCH on while a run goes on (at the prompt the
window's size is asked again before each run instead: prompt_toolkit owns SIGWINCH while it reads).
Portable (macOS and Linux): only ``os.get_terminal_size`` and the signal; the pty is the server's.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from ..client.session import Session
from ..protocol.events import MAX_TERMINAL_SIDE, Terminal

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")  # as protocol.events.Terminal accepts


def _name(variable: str) -> str:
    """``$variable`` if it is a plain terminal name (short, printable), else "" (not passed on)."""
    value = os.environ.get(variable, "")
    return value if _NAME.fullmatch(value) else ""


def _isatty(stream: IO[str]) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, replaced, or not a real file
        return False


def local_terminal(stream: IO[str], *also: IO[str]) -> Callable[[], Terminal | None]:
    """What ``stream`` (the local stdout) is, asked anew on each call: a ``Terminal`` of its size, TERM
    and COLORTERM if it is a terminal (and so are the streams ``also``), else None (a pipe or a file:
    the remote output stays pipes)."""

    def current() -> Terminal | None:
        if not all(_isatty(other) for other in also):
            return None
        try:
            fd = stream.fileno()
            if not os.isatty(fd):
                return None
            size = os.get_terminal_size(fd)
        except (OSError, ValueError, AttributeError):  # closed, replaced, or not a real file
            return None
        if size.lines <= 0 or size.columns <= 0:  # a terminal that does not know its size
            return None
        rows, columns = min(size.lines, MAX_TERMINAL_SIDE), min(size.columns, MAX_TERMINAL_SIDE)
        return Terminal(rows, columns, _name("TERM"), _name("COLORTERM"))

    return current


@contextmanager
def tracking_resizes(session: Session) -> Iterator[None]:
    """While the block runs, a resize of the local window reaches the remote pty (its SIGWINCH)."""
    winch = getattr(signal, "SIGWINCH", None)
    if winch is None:  # no such signal here: the size is still sent before each run
        yield
        return
    previous = signal.signal(winch, lambda signum, frame: session.terminal_resized())
    try:
        yield
    finally:
        signal.signal(winch, previous)
