"""Progress of a long map, reported where the user sees it.

Inside a remrepl kernel, updates go to the supervisor as control messages and reach the client as
``Progress`` events, which it draws on its own terminal (so progress never mixes into the run's
stdout). Anywhere else (a plain Python process using ``remrepl.cluster``), the same bar is drawn on
this process's stderr. Updates are throttled: a few per second, none at all for a map that ends within
``DELAY`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

DELAY = 0.3  # a map shorter than this shows no progress at all
INTERVAL = 0.25  # at most four updates a second


class ProgressReporter:
    def __init__(self, total: int, label: str, *, enabled: bool = True) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled and total > 0
        self.task = uuid.uuid4().hex[:12]
        self.began = time.monotonic()
        self.last_sent: float | None = None
        self._local: Any = None  # the stderr bar, outside a kernel

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.began < DELAY:
            return
        if self.last_sent is not None and now - self.last_sent < INTERVAL and done < self.total:
            return
        self.last_sent = now
        self._send(done, now - self.began, final=False)

    def close(self, done: int) -> None:
        """The map is over (finished, failed or interrupted): remove the bar if one was shown."""
        if self.enabled and self.last_sent is not None:
            self._send(done, time.monotonic() - self.began, final=True)
        self.enabled = False

    def _send(self, done: int, elapsed: float, *, final: bool) -> None:
        fields = {"task": self.task, "label": self.label, "done": done, "total": self.total, "elapsed": elapsed}
        if threading.current_thread() is not threading.main_thread():
            return  # the kernel's control channel belongs to the main thread; a side map shows none
        from ..server.kernel.main import report_progress  # stdlib-only; False unless this process is a kernel

        if report_progress(final=final, **fields):
            return
        self._draw_locally(final=final, **fields)

    def _draw_locally(self, **fields: Any) -> None:
        from ..client.progress import ProgressDisplay
        from ..protocol import Progress

        if self._local is None:
            self._local = ProgressDisplay(sys.stderr)
        self._local.show(Progress(seq=0, req_id="", **fields))
