"""Coming back after a dropped link: the ``Session.on_link_lost`` hook of launchers that can relink.

When the session's link dies (the SSH connection or its tunnel), ``Reconnector`` says so, then tries,
with exponential back-off and a bounded number of attempts, to ``relink`` (the launcher's job: a new SSH
connection and tunnel on the same local port) and to ``reattach`` the session (a new CurveZMQ attachment
whose Hello asks for everything after the last event seen, so a run that went on meanwhile continues
with its output intact). Giving up leaves the session to fail with ``ConnectionLost`` as before.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._exceptions import ConnectError, RemreplError, ServerGone

if TYPE_CHECKING:
    from .session import Session

ATTEMPTS = 8
FIRST_DELAY = 0.25  # s; doubled after every failed attempt
MAX_DELAY = 8.0
REATTACH_TIMEOUT = 15.0


class LinkDroppedAgain(ConnectError):
    """The link dropped again while reattaching (raised inside the session, retried here)."""


def _stderr(text: str) -> None:
    print(f"remrepl: {text}", file=sys.stderr, flush=True)


class Reconnector:
    def __init__(
        self,
        relink: Callable[[], None],
        *,
        attempts: int = ATTEMPTS,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        notify: Callable[[str], None] = _stderr,
    ) -> None:
        self.relink = relink
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.notify = notify
        self._busy = False
        self.reconnects = 0  # how many times the link came back (for tests and curious callers)

    def __call__(self, session: Session) -> bool:
        if self._busy:  # the link dropped during our own reattach: the loop below retries
            raise LinkDroppedAgain("the link dropped again while reattaching")
        self._busy = True
        try:
            return self._reconnect(session)
        finally:
            self._busy = False

    def _reconnect(self, session: Session) -> bool:
        self.notify("connection lost — reconnecting")
        delay, last = self.first_delay, "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                self.relink()
                session.reattach(REATTACH_TIMEOUT)
            except ServerGone as exc:
                self.notify(f"cannot reconnect: {exc}")
                return False
            except (RemreplError, OSError) as exc:
                last = str(exc)
                if attempt < self.attempts:
                    time.sleep(delay)
                    delay = min(delay * 2, self.max_delay)
                continue
            self.reconnects += 1
            self.notify("reconnected")
            return True
        self.notify(f"gave up reconnecting after {self.attempts} attempts: {last}")
        return False
