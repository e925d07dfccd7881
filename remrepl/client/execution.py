"""One run on the server (``Execution``) and everything it produced, collected (``RunResult``).

``Session.execute`` returns an Execution; ``Session.run`` a RunResult. Both are re-exported by
``session.py``, where they used to live.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .._exceptions import ExecutionTimeout
from ..protocol import Display, Done, Error, Event, InputReply, InputRequest, Interrupt, OutputEvent
from .transfer import TransferResult


class RunLink(Protocol):
    """What an Execution needs of its session (a ``Session``; typed here so that this module does not
    import session.py, which imports it)."""

    input_handler: Callable[[str, bool], str | None]  # (prompt, password) -> the line typed, or None at EOF

    def next_event(self, timeout: float | None = None) -> OutputEvent | None: ...

    def send(self, event: Event) -> None: ...

    def run_over(self) -> None: ...


@dataclass
class RunResult:
    """Everything one run produced, collected (``Session.run``)."""

    status: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)
    error: Error | None = None
    notices: list[str] = field(default_factory=list)
    displays: list[Display] = field(default_factory=list)  # plots (image/png) the run showed
    # A script run's (Session.run_script): the server's directory it ran in, and its ``get`` downloads:
    # what landed, and the paths that did not with why (one line each)
    cwd: str = ""
    downloads: list[TransferResult] = field(default_factory=list)
    download_errors: dict[str, str] = field(default_factory=dict)

    @property
    def value(self) -> str | None:
        """The repr of the last expression echoed, as the REPL would print it."""
        return self.results[-1] if self.results else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Execution:
    """One run on the server. Iterate it for its output events; it ends after its ``Done``."""

    def __init__(self, session: RunLink, req_id: str) -> None:
        self.session = session
        self.req_id = req_id
        self.done: Done | None = None

    def __iter__(self) -> Iterator[OutputEvent]:
        return self.events()

    def events(self, timeout: float | None = None) -> Iterator[OutputEvent]:
        """Output events until the run is over; ``ExecutionTimeout`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.done is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ExecutionTimeout(f"the run did not finish within {timeout} s")
            event = self.poll(remaining)
            if event is not None:
                yield event
        self.session.run_over()  # the caller has had the whole run: a later attachment is not replayed it

    def poll(self, timeout: float | None = None) -> OutputEvent | None:
        """One step of ``events``: the run's next output event, or None if none came within ``timeout``
        (or the wait was cut short, e.g. by ``Session.wake``); sets ``done`` when its Done comes."""
        event = self.session.next_event(timeout)
        if isinstance(event, InputRequest):
            self._answer(event)
            return None
        if isinstance(event, Done) and event.req_id == self.req_id:
            self.done = event
        return event

    def _answer(self, request: InputRequest) -> None:
        try:
            text = self.session.input_handler(request.prompt, request.password)
        except KeyboardInterrupt:
            self.interrupt()  # the remote input() raises KeyboardInterrupt; no reply is owed
            return
        self.session.send(InputReply(self.req_id, request.seq, text or "", eof=text is None))

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the remote code (what Ctrl-C does)."""
        if self.done is None:
            self.session.send(Interrupt(self.req_id))

    def wait(self, timeout: float | None = None) -> Done:
        for _ in self.events(timeout):
            pass
        assert self.done is not None
        return self.done
