"""Keeps a launcher's SSH link up while nothing else notices it is down (an idle prompt, ``--direct``).

A launched server waits only a grace period for its launcher after the SSH link dropped (its tether;
see ``server/ssh_keeper.py``). A session notices a dead tunnel when it next talks to the server; a user
thinking at an idle prompt for longer than the grace would lose the server. This thread checks the link
every few seconds and relinks in the background, with back-off, until the launcher closes or the server
is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..._exceptions import RemreplError, ServerGone

CHECK_EVERY = 2.0
MAX_DELAY = 8.0


class LinkWatchdog:
    def __init__(self, is_up: Callable[[], bool], relink: Callable[[], None], notify: Callable[[str], None]) -> None:
        self.is_up, self.relink, self.notify = is_up, relink, notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="remrepl-ssh-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = CHECK_EVERY
        while not self._stop.wait(delay):
            if self.is_up():
                delay = CHECK_EVERY
                continue
            try:
                self.relink()
            except ServerGone as exc:
                self.notify(str(exc))
                return
            except (RemreplError, OSError):
                delay = min(delay * 2, MAX_DELAY)  # still down: try again a little later
                continue
            delay = CHECK_EVERY

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)
