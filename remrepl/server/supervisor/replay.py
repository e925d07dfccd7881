"""The session's output history: numbered events kept for a client that attaches later.

Every output event gets the next ``seq``. Events a client has acknowledged, or that were handed to an
attached client's socket, may go whenever the buffer is over its byte limit; the others (made while no
client listened) go too if they must, but their text is first appended to a 0600 overflow file, and the
next replay starts with a Notice that says where that file is.

Each event is kept with its encoding when the supervisor made one (it encodes every event once, before
it is sent): a replay sends those frames again instead of encoding the events anew, and what an event
weighs against the limit is its size on the wire, counted once.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from ...protocol import Display, Done, Error, Notice, OutputEvent, Result, Stream

DEFAULT_LIMIT = 8 << 20


def _text(event: OutputEvent) -> bytes:
    # backslashreplace: text is made valid where it enters (bounds.valid_text); this is the belt to
    # those braces, as a lone surrogate here would fail every add() from now on
    if isinstance(event, Stream):
        return event.data
    if isinstance(event, Error):
        return event.traceback.encode("utf-8", "backslashreplace")
    if isinstance(event, Result):
        return "".join(r + "\n" for r in (event.text, *event.more)).encode("utf-8", "backslashreplace")
    if isinstance(event, Notice):
        return event.text.encode("utf-8", "backslashreplace") + b"\n"
    if isinstance(event, Done):
        return "".join(r + "\n" for r in event.results).encode("utf-8", "backslashreplace")
    if isinstance(event, Display):
        return f"[remrepl: a {event.mime} of {len(event.data)} bytes (a plot) could not be kept]\n".encode()
    return b""


def _size(event: OutputEvent, frames: list[bytes] | None) -> int:
    if frames is not None:
        return sum(map(len, frames)) + 64  # what it takes on the wire, and a little for the objects
    data = len(event.data) if isinstance(event, Display) else 0
    return len(_text(event)) + data + 64  # the text, and a little for the event itself


Frames = list[bytes] | None  # an event's encoding (``codec.encode``), None if it was not made


class ReplayBuffer:
    def __init__(self, overflow_path: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.overflow_path = overflow_path
        self.limit = limit
        self.last_seq = 0
        self.acked = 0  # the highest seq a client said it has seen
        self.sent = 0  # the highest seq handed to an attached client's socket
        self._events: deque[tuple[OutputEvent, Frames, int]] = deque()  # (event, its frames, its size)
        self._bytes = 0
        self._overflowed = 0  # unacknowledged bytes moved to the overflow file, not yet announced

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq

    def add(self, event: OutputEvent, frames: Frames = None) -> None:
        """Keep ``event`` (and ``frames``, its encoding, to send it again as it is)."""
        size = _size(event, frames)
        self._events.append((event, frames, size))
        self._bytes += size
        while self._bytes > self.limit and len(self._events) > 1:
            old, _, old_size = self._events.popleft()
            self._bytes -= old_size
            if old.seq > max(self.acked, self.sent):
                self._spill(old)

    def delivered(self, seq: int) -> None:
        self.sent = max(self.sent, seq)

    def ack(self, seq: int) -> None:
        self.acked = max(self.acked, min(seq, self.last_seq))

    def _spill(self, event: OutputEvent) -> None:
        data = _text(event)
        if not data:
            return
        fd = os.open(self.overflow_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._overflowed += len(data)

    def since(self, seq: int) -> list[OutputEvent]:
        """The kept events after ``seq``, led by a Notice if some of them had to go to the file."""
        return [event for event, _ in self.since_encoded(seq)]

    def since_encoded(self, seq: int) -> list[tuple[OutputEvent, Frames]]:
        """``since(seq)``, each event with its kept encoding (None: encode it to send it)."""
        events: list[tuple[OutputEvent, Frames]] = [(e, f) for e, f, _ in self._events if e.seq > seq]
        if self._overflowed:
            text = (
                f"[remrepl: {self._overflowed} bytes of output produced while no client was attached "
                f"did not fit the replay buffer; they are in {self.overflow_path} on the server]"
            )
            self._overflowed = 0
            events.insert(0, (Notice(seq=events[0][0].seq - 1 if events else self.last_seq, text=text), None))
        return events

    def discard_files(self) -> None:
        try:
            os.unlink(self.overflow_path)
        except OSError:
            pass
