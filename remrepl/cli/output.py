"""Showing a run's events on the local terminal, and forwarding Ctrl-C while code runs remotely."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from ..client.progress import ProgressDisplay
from ..protocol import Display, Error, Notice, OutputEvent, Progress, Result, Stream

_RED, _YELLOW, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[0m"
REPEAT_WINDOW = 5.0  # seconds: a Ctrl-C this soon after the previous one of the same run is a repeat


class OutputPrinter:
    """Writes output events to local stdout/stderr as the remote code produced them.

    Stream bytes go to the binary buffers untouched (no decode/encode on the hot path); ``at_line_start``
    tells whether a prompt can follow without a newline first.
    """

    def __init__(
        self,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        *,
        color: bool = False,
        on_display: Callable[[Display], str] | None = None,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.color = color
        self.on_display = on_display  # saves a plot, returns the line to show (client/plots.py)
        self.at_line_start = True
        self.progress = ProgressDisplay(self.stderr)  # progress bars of cluster maps, on stderr

    def show(self, event: OutputEvent) -> None:
        if isinstance(event, Progress):
            self.progress.show(event)
            return
        self.progress.clear()  # a bar on the screen goes before any other output
        if isinstance(event, Stream):
            target = self.stdout if event.name == "stdout" else self.stderr
            self._write_bytes(target, event.data)
        elif isinstance(event, Result):
            self._write(self.stdout, event.text + "\n")
        elif isinstance(event, Error):
            self._write(self.stderr, self._paint(event.traceback, _RED))
        elif isinstance(event, Notice):
            self._write(self.stderr, self._paint(f"[remrepl] {event.text}\n", _YELLOW))
        elif isinstance(event, Display):  # where a plot went: a status line, so stderr (stdout may be data)
            self.line_break()
            if self.on_display is not None:
                self._write(self.stderr, self.on_display(event) + "\n")
            else:
                self._write(self.stderr, f"[plot: {len(event.data)} bytes of {event.mime}, not saved]\n")

    def line_break(self) -> None:
        """End a partial line (output without a final newline) before a prompt or a message."""
        if not self.at_line_start:
            self._write(self.stdout, "\n")

    def _paint(self, text: str, colour: str) -> str:
        if not self.color or not text:
            return text
        body = text.rstrip("\n")  # keep the newline outside the colour, so line tracking sees it
        return f"{colour}{body}{_RESET}{text[len(body) :]}"

    def _write(self, target: IO[str], text: str) -> None:
        if not text:
            return
        target.write(text)
        target.flush()
        self.at_line_start = text.endswith("\n")

    def _write_bytes(self, target: IO[str], data: bytes) -> None:
        if not data:
            return
        buffer = getattr(target, "buffer", None)
        if buffer is None:
            target.write(data.decode(errors="replace"))
            target.flush()
        else:
            target.flush()  # text written earlier goes first
            buffer.write(data)
            buffer.flush()
        self.at_line_start = data.endswith(b"\n")


@contextmanager
def forward_sigint(interrupt: Callable[[], None]) -> Iterator[None]:
    """While the block runs, Ctrl-C calls ``interrupt()`` instead of raising KeyboardInterrupt here.

    Nothing is lost half-way: the handler runs between bytecodes and only sends one message.
    """
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def sigint_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt again (for reading a line locally inside ``forward_sigint``)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class CtrlCPresses:
    """The Ctrl-C presses of one run: the first interrupts the remote code; another within ``window``
    seconds of the previous one means it did not stop (it ignores SIGINT, or is stuck in C), and calls
    ``on_repeat`` instead (the prompt offers a restart, ``exec`` escalates). A press after a quiet
    ``window`` interrupts again: the code may have handled the earlier one and gone on, unless ``arm``
    said that the next press is a repeat whenever it comes (the prompt told the user so)."""

    def __init__(
        self, interrupt: Callable[[], None], on_repeat: Callable[[], None], window: float = REPEAT_WINDOW
    ) -> None:
        self.interrupt = interrupt
        self.on_repeat = on_repeat
        self.window = window
        self._last: float | None = None
        self._armed = False

    def press(self) -> None:
        """The SIGINT handler's body (``forward_sigint(presses.press)``)."""
        now = time.monotonic()
        repeated = self._armed or (self._last is not None and now - self._last <= self.window)
        self._last, self._armed = now, False
        (self.on_repeat if repeated else self.interrupt)()

    def arm(self) -> None:
        """Make the next press a repeat, however late it comes."""
        self._armed = True

    def reset(self) -> None:
        """Start counting afresh (after the user declined what a repeat offered)."""
        self._last, self._armed = None, False


def broken_pipe() -> int:
    """End as python does when the reader of its stdout goes away (``python FILE | head``): the error's
    last line on stderr and exit status 1. (python's traceback above that line shows the script's frame
    whose print failed; the remote print did not fail, so there is no frame to show, and none of ours.)
    Standard output then points at /dev/null: the interpreter's flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no stdout fd at all (an embedding): nothing to flush there
        pass
    try:
        print("BrokenPipeError: [Errno 32] Broken pipe", file=sys.stderr, flush=True)
    except OSError:  # stderr went the same way (`2>&1 | head`)
        pass
    return 1
