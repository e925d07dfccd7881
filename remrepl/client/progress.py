"""Progress on the user's terminal: a bar redrawn in place on a tty, plain lines otherwise.

Two producers share the drawing: cluster maps (``Progress`` events from the server, drawn by
``ProgressDisplay``: items done of total, rate, ETA) and file transfers (``ProgressBar``, a callback with
bytes done of total). On a terminal the bar is redrawn in place (carriage return, erase to end of line);
when the stream is not a terminal (``remrepl exec`` into a file or a pipe) a few plain lines are written
instead, so logs stay readable.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

from ..protocol import Progress

LINE_INTERVAL = 2.0  # without a tty: at most one line per map this often (and one when it ends)
REDRAW_SECONDS = 0.1  # a tty's transfer bar is redrawn at most this often
PLAIN_STEPS = 4  # without a tty: a transfer line at 25 %, 50 %, 75 % and 100 %
_ERASE = "\r\x1b[K"


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if isatty is not None else False


def _bar(done: int, total: int, width: int) -> str:
    """``[#####.....]`` of ``width`` characters in all."""
    inner = width - 2
    filled = inner * min(max(done, 0), total) // total if total > 0 else inner
    return f"[{'#' * filled}{'.' * (inner - filled)}]"


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


# --- cluster maps: Progress events --------------------------------------------------------------


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


class ProgressDisplay:
    """Shows progress events on ``stream``; ``clear()`` before writing anything else to the terminal."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = _is_tty(stream) if tty is None else tty
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
        bar_width = min(32, width - len(text) - 1)
        if bar_width >= 12 and event.total > 0:
            text = f"{_bar(event.done, event.total, bar_width)} {text}"
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


# --- file transfers: a byte-count callback ------------------------------------------------------


class ProgressBar:
    """Call it with (bytes done, bytes in all) as a transfer goes; ``close()`` ends the line."""

    def __init__(
        self,
        label: str,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 0.0,
    ) -> None:
        """``delay``: draw nothing for a transfer shorter than that many seconds (a quick sync says only
        its summary line)."""
        self.label = label
        self.delay = delay
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else tty
        self.clock = clock
        self.started = clock()
        self._last_draw = 0.0
        self._step = -1
        self._drawn = False
        self._done = self._total = 0

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if self.delay and self.clock() - self.started < self.delay:
            return
        if self.tty:
            now = self.clock()
            if now - self._last_draw >= REDRAW_SECONDS or done >= total or not self._drawn:
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
        bar_width = max(12, width - len(self.label) - len(figures) - 4)
        return f"{self.label} {_bar(done, total if total > 0 else 1, bar_width)} {figures}"

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write(_ERASE + self._text(width)[:width])
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (a tty's bar stays, as it last was)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
