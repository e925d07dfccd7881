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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("remrepl.server")

Reply = Callable[[str], None]  # tells the sender, given a message for the user


@contextmanager
def guarded(what: str, reply: Reply | None = None) -> Iterator[None]:
    """Run the handling of ``what``; an exception is logged and answered with ``reply``, never raised."""
    try:
        yield
    except Exception as exc:  # the point: nothing a message causes may end the server
        log.exception("failed while handling %s; the session is intact", what)
        if reply is None:
            return
        detail = f"{type(exc).__name__}: {exc}"[:300].encode("utf-8", "backslashreplace").decode()
        message = f"the server failed while handling {what} ({detail}); the session is intact"
        try:
            reply(message)
        except Exception:  # the sender went away or cannot be told: the log has it
            log.exception("could not report the failure to the sender of %s", what)
