"""Drawing ``Progress`` events: a one-line bar on a terminal, plain lines otherwise.

On a terminal the bar is redrawn in place (carriage return, erase to end of line) and erased when the
operation ends or before any other output is written, so it never leaves debris between output lines.
When the stream is not a terminal (``remrepl exec`` into a file or a pipe), it writes a plain line at
most every ``LINE_INTERVAL`` seconds and one when the operation ends.
"""

from __future__ import annotations

import shutil
import time
from typing import IO

from ..protocol import Progress

LINE_INTERVAL = 2.0
_ERASE = "\r\x1b[K"


def describe(event: Progress) -> str:
    """``map f: 1,200/5,000 (24%) · 310/s · ETA 0:12`` (without the bar)."""
    done, total = event.done, max(event.total, 0)
    percent = f" ({100 * done // total}%)" if total else ""
    rate = done / event.elapsed if event.elapsed > 0 else 0.0
    parts = [f"{event.label}: {done:,}/{total:,}{percent}"]
    if rate > 0:
        parts.append(f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.2g}/s")
    if event.final:
        parts.append(f"{'done' if done >= total else 'stopped'} in {_clock(event.elapsed)}")
    elif rate > 0 and total > done:
        parts.append(f"ETA {_clock((total - done) / rate)}")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressDisplay:
    """Shows progress events on ``stream``; ``clear()`` before writing anything else to the terminal."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None) -> None:
        self.stream = stream
        if tty is None:
            isatty = getattr(stream, "isatty", None)
            tty = bool(isatty()) if isatty is not None else False
        self.tty = tty
        self.drawn = False  # a bar is on the screen
        self._last_line: dict[str, float] = {}  # task -> when its last plain line was written

    def show(self, event: Progress) -> None:
        if self.tty:
            self._draw(event)
        else:
            self._line(event)

    def clear(self) -> None:
        if self.drawn:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.drawn = False

    def _draw(self, event: Progress) -> None:
        if event.final:
            self.clear()
            return
        text = describe(event)
        width = shutil.get_terminal_size((80, 24)).columns - 1
        bar_width = min(30, width - len(text) - 3)
        if bar_width >= 10 and event.total > 0:
            filled = bar_width * min(event.done, event.total) // event.total
            text = f"[{'#' * filled}{'.' * (bar_width - filled)}] {text}"
        self.stream.write(_ERASE + text[:width])
        self.stream.flush()
        self.drawn = True

    def _line(self, event: Progress) -> None:
        now = time.monotonic()
        if event.final:
            self._last_line.pop(event.task, None)
        else:
            last = self._last_line.get(event.task)
            if last is not None and now - last < LINE_INTERVAL:
                return
            self._last_line[event.task] = now
        self.stream.write(f"[remrepl] {describe(event)}\n")
        self.stream.flush()
