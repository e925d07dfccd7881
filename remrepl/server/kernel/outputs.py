"""The kernel's fds 1 and 2: two pipes to the supervisor, or the client's terminal (a pty).

The supervisor gives every kernel both (``supervisor/kernel_process.py``); ``Outputs.use`` switches
between them between runs (``UseTerminal``). ``Outputs.wait_drained`` is what keeps the two pipes in the
order they were written in (kernel/main.py's docstring): it waits until the supervisor has read a pipe.
Standard library only: the kernel imports this at start.
"""

from __future__ import annotations

import fcntl
import os
import sys
import termios
import time

from ...protocol.kernel_channel import UseTerminal

# How long a write to one pipe waits for the supervisor to read the other one: it gives up once the
# other pipe has not shrunk for DRAIN_STALL s (nobody reads: the client's queue is full) or after DRAIN_MAX s.
DRAIN_STALL = 0.2
DRAIN_MAX = 1.0
_FIONREAD_BUF = bytes(4)
# Keys typed at the client never reach the pty: a pager (git log, man) would wait for them for ever, so
# on a terminal programs print without one ("cat"), unless the server's environment names one.
_PAGERS = ("PAGER", "GIT_PAGER")


class Outputs:
    """``pty_fd``: the slave end of the pty the supervisor made for this kernel (None: pipes only)."""

    def __init__(self, pty_fd: int | None) -> None:
        self.pty_fd = pty_fd
        self.tty = False  # fds 1 and 2 are the pty now
        self._ctty = False  # it is our controlling terminal (made so the first time it is used)
        self._pipes: tuple[int, int] | None = None  # the pipes' fds, kept while fds 1 and 2 are the pty
        self._saved_env = {name: os.environ.get(name) for name in ("TERM", "COLORTERM", *_PAGERS)}

    def use(self, msg: UseTerminal) -> None:
        """fds 1 and 2 become the pty (``msg.on``) or the pipes again; TERM and COLORTERM follow (back to
        the kernel's own when off), so subprocesses inherit them. The caller has flushed."""
        if self.pty_fd is None or not (msg.on or self.tty):  # (on again: TERM may be another)
            return
        if msg.on:
            if self._pipes is None:
                self._pipes = (os.dup(1), os.dup(2))
            if not self._ctty:
                self._ctty = True
                try:  # a session leader (the supervisor starts us so): SIGWINCH reaches us and our children
                    fcntl.ioctl(self.pty_fd, termios.TIOCSCTTY, 0)
                except OSError:
                    pass  # output still works; only resizes go unsignalled
            os.dup2(self.pty_fd, 1)
            os.dup2(self.pty_fd, 2)
            env: dict[str, str | None] = {"TERM": msg.term or None, "COLORTERM": msg.colorterm or None}
            env.update({name: self._saved_env[name] or "cat" for name in _PAGERS})
        else:
            assert self._pipes is not None
            os.dup2(self._pipes[0], 1)
            os.dup2(self._pipes[1], 2)
            env = dict(self._saved_env)
        self.tty = msg.on
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def wait_drained(self, fd: int) -> None:
        """Wait (bounded) until the supervisor has read what waits in pipe ``fd`` (1 or 2)."""
        if self.tty:
            return
        waiting = _pending_bytes(fd)
        if not waiting:
            return
        start = last_change = time.monotonic()
        pause = 0.00005
        while waiting:
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
            now_waiting = _pending_bytes(fd)
            now = time.monotonic()
            if now_waiting != waiting:
                waiting, last_change = now_waiting, now
            elif now - last_change > DRAIN_STALL or now - start > DRAIN_MAX:
                return  # nobody reads it now: order is given up rather than output held back


def _pending_bytes(fd: int) -> int:
    """Bytes waiting in the pipe ``fd`` (either end); 0 if that cannot be known."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, _FIONREAD_BUF), sys.byteorder)
    except OSError:
        return 0
