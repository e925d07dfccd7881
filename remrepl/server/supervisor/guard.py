"""The one guard around the handling of every message the supervisor reads.

The supervisor never dies because of one message (DESIGN.md): whatever a client, the kernel, user code,
a disk thread or an authentication request makes the handling code raise, the exception ends the
handling of that message only. It is logged with its traceback, the sender (when there is one to tell)
gets an error reply saying the session is intact, and the loop goes on with the next message.

Used at every dispatch point of the loop (``with guarded("a client message", reply):``), so no handler
needs a try/except of its own for the unexpected; expected failures keep their own precise replies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("remrepl.server")

Reply = Callable[[str], None]  # tells the sender, given a message for the user


class Guard:
    """The context manager ``guarded`` returns (a class, not ``@contextmanager``: it is entered several
    times per turn of the loop, and a generator-based one costs several times as much)."""

    __slots__ = ("reply", "what")

    def __init__(self, what: str, reply: Reply | None) -> None:
        self.what, self.reply = what, reply

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # nothing happened, or KeyboardInterrupt/SystemExit: those are not one message's
        # the point: nothing a message causes may end the server
        log.error("failed while handling %s; the session is intact", self.what, exc_info=exc)
        if self.reply is None:
            return True
        detail = f"{type(exc).__name__}: {exc}"[:300].encode("utf-8", "backslashreplace").decode()
        message = f"the server failed while handling {self.what} ({detail}); the session is intact"
        try:
            self.reply(message)
        except Exception:  # the sender went away or cannot be told: the log has it
            log.exception("could not report the failure to the sender of %s", self.what)
        return True


def guarded(what: str, reply: Reply | None = None) -> Guard:
    """Run the handling of ``what``; an exception is logged and answered with ``reply``, never raised."""
    return Guard(what, reply)
