"""A script run (``remrepl exec``, ``Session.run_script``): ``python FILE`` in a fresh remote interpreter.

``start_script`` sends the script on a script connection (``Session(script=True)``: it does not attach,
so a ``remote>`` prompt attached to the same server stays attached) and returns a ``ScriptExecution``.
With a ``stdin`` reader, the local standard input streams to the script's fd 0: a thread reads it, at
most ``STDIN_WINDOW`` bytes beyond what the server acknowledged (``StdinAck``), and the run's own poll
sends what was read (the session's socket is the calling thread's), ending with ``eof``.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol import OutputEvent
from ..protocol.events import STDIN_CHUNK, STDIN_WINDOW, StdinAck, StdinData
from .execution import Execution, RunLink

if TYPE_CHECKING:
    from .session import Session

Reader = Callable[[int], bytes]  # read(n): up to n bytes, b"" at the end


class StdinPump:
    """Reads ``read`` in a daemon thread while the window allows; ``outgoing`` hands over what it read."""

    def __init__(self, read: Reader, wake: Callable[[], None]) -> None:
        self._read = read
        self._wake = wake
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._taken = 0  # bytes read so far
        self._acked = 0  # bytes the server has written to the script's stdin
        self._eof = False  # the reader ended (its EOF not sent yet while _eof_sent is False)
        self._eof_sent = False
        self._closed = False  # the run is over, or the script closed its stdin: read no more
        threading.Thread(target=self._run, name="remrepl-stdin", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._taken - self._acked >= STDIN_WINDOW:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                data = self._read(STDIN_CHUNK)
            except (OSError, ValueError):  # a closed or unreadable stdin reads as empty, as python's would
                data = b""
            with self._cond:
                if data:
                    self._chunks.append(data)
                    self._taken += len(data)
                else:
                    self._eof = True
            self._wake()
            if not data:
                return

    def outgoing(self) -> list[tuple[bytes, bool]]:
        """(data, eof) messages to send now (the calling thread's job)."""
        with self._cond:
            if self._closed:
                return []
            messages = [(chunk, False) for chunk in self._chunks]
            self._chunks.clear()
            if self._eof and not self._eof_sent:
                self._eof_sent = True
                messages.append((b"", True))
        return messages

    def acked(self, ack: StdinAck) -> None:
        with self._cond:
            self._acked = max(self._acked, ack.received)
            self._closed = self._closed or ack.closed
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class ScriptExecution(Execution):
    """An Execution whose polls also send the local stdin the pump has read."""

    def __init__(self, session: RunLink, req_id: str, pump: StdinPump | None) -> None:
        super().__init__(session, req_id)
        self.pump = pump

    def poll(self, timeout: float | None = None) -> OutputEvent | None:
        self._send_stdin()
        event = super().poll(timeout)
        if self.done is not None and self.pump is not None:
            self.pump.close()
        else:
            self._send_stdin()
        return event

    def _send_stdin(self) -> None:
        if self.pump is None or self.done is not None:
            return
        for data, eof in self.pump.outgoing():
            self.session.send(StdinData(self.req_id, data, eof))


def start_script(
    session: Session,
    path: str,
    source: str,
    args: list[str] | tuple[str, ...] = (),
    *,
    stdin: Reader | None = None,
    origin: str | None = None,
    cwd: str | None = None,
) -> ScriptExecution:
    """Start ``source`` as the script ``path`` (as given: it becomes ``sys.argv[0]``) with ``args`` on the
    script connection ``session``; ``stdin``: a reader of the script's standard input (None: reading it
    asks the session's ``input_handler`` for lines). ``origin``/``cwd``: the script's path and the
    working directory on the server (default: this machine's, which a local server shares; a synced
    workdir's copy otherwise)."""
    if not session.script:
        raise TypeError("start_script needs a script connection: Session(..., script=True)")
    execution = session.execute(
        source,
        mode="script",
        filename=path,
        argv=(path, *args),
        origin=origin or os.path.abspath(path),
        cwd=cwd or os.getcwd(),
        stdin=stdin is not None,
    )
    pump = StdinPump(stdin, session.wake) if stdin is not None else None
    session.on_stdin_ack = pump.acked if pump is not None else None
    return ScriptExecution(session, execution.req_id, pump)
