"""A transfer's progress on the terminal: a bar redrawn in place on a tty, a few plain lines otherwise."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

REDRAW_SECONDS = 0.1  # a tty's bar is redrawn at most this often
PLAIN_STEPS = 4  # without a tty: a line at 25 %, 50 %, 75 % and 100 %


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class ProgressBar:
    """Call it with (bytes done, bytes in all) as a transfer goes; ``close()`` ends the line."""

    def __init__(
        self,
        label: str,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self._last_draw = float("-inf")  # the first call draws
        self._step = -1
        self._drawn = False
        self._done = self._total = 0

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if self.tty:
            now = self.clock()
            if now - self._last_draw >= REDRAW_SECONDS or done >= total:
                self._last_draw = now
                self._draw()
            return
        step = PLAIN_STEPS if total <= 0 or done >= total else done * PLAIN_STEPS // total
        if step > self._step and step > 0:
            self._step = step
            self.stream.write(self._text() + "\n")
            self.stream.flush()

    def _text(self, width: int | None = None) -> str:
        done, total = self._done, self._total
        fraction = 1.0 if total <= 0 else min(1.0, done / total)
        elapsed = max(self.clock() - self.started, 1e-6)
        figures = f"{fraction:4.0%}  {human_bytes(done)}/{human_bytes(total)}  {human_bytes(done / elapsed)}/s"
        if width is None:
            return f"{self.label}  {figures}"
        bar_width = max(10, width - len(self.label) - len(figures) - 6)
        filled = int(bar_width * fraction)
        return f"{self.label} [{'#' * filled}{'.' * (bar_width - filled)}] {figures}"

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write("\r" + self._text(width)[:width] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (a tty's bar stays, as it last was)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
