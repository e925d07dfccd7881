"""Output the remote side produces while the prompt is shown (a thread the user started keeps printing).

While ``active``, a receiver thread reads the session's events (the main thread is inside the prompt and
does not touch the session then) and has the prompt show them above the line being edited, with
prompt_toolkit's ``run_in_terminal``: the prompt is erased, the output printed, the prompt and the
half-typed line redrawn. Leaving ``active`` wakes the receiver (a socket pair, no polling interval:
Enter is not slowed down), joins it, and shows whatever it had not shown yet, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prompt_toolkit.application import Application, run_in_terminal

from ..._exceptions import RemreplError
from ...client.session import Session
from ...protocol import OutputEvent
from ..output import OutputPrinter


class BackgroundOutput:
    def __init__(self, session: Session, printer: OutputPrinter) -> None:
        self.session = session
        self.printer = printer
        self._pending: list[OutputEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._app: Application[str] | None = None
        self.error: RemreplError | None = None

    @contextmanager
    def active(self, app: Application[str]) -> Iterator[None]:
        """Show output above the prompt while the block runs; raise what broke the session after it."""
        self._app, self.error = app, None
        self._stop.clear()
        thread = threading.Thread(target=self._receive, name="remrepl-background-output", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self.session.wake()
            thread.join()
            self._app = None
            self.show_pending()
            if self.error is not None:
                raise self.error  # in place of the EOFError that ended the prompt for it

    def on_prompt_started(self) -> None:
        """The prompt's ``pre_run``: show what arrived before its event loop existed."""
        self._schedule()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.session.next_event(None)
            except RemreplError as exc:  # the link broke, or another client took the session over
                self.error = exc
                app = self._app
                if app is not None and app.loop is not None:
                    app.loop.call_soon_threadsafe(self._end_prompt)
                return
            if event is None:
                continue
            with self._lock:
                self._pending.append(event)
            app = self._app
            if app is not None and app.loop is not None:
                app.loop.call_soon_threadsafe(self._schedule)

    def _end_prompt(self) -> None:
        """In the prompt's event loop: end the prompt; ``active`` then raises ``self.error``."""
        app = self._app
        if app is not None and app.is_running:
            app.exit(exception=EOFError())

    def _schedule(self) -> None:
        """In the prompt's event loop: print the pending output above the prompt."""
        app = self._app
        if app is not None and app.is_running and self._pending:
            run_in_terminal(self.show_pending)

    def show_pending(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        for event in events:
            self.printer.show(event)
        if events:
            self.printer.line_break()  # the prompt is redrawn on a line of its own
