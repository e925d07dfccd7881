"""The protocol's state machine: which event may be sent in which state, as a table.

One ``Connection`` per end of a client/server pair. It turns events into frames (``send``) and frames
into events (``receive``), refusing anything out of order: ``LocalProtocolError`` for what we were about
to send, ``RemoteProtocolError`` for what the peer sent. It does no I/O, so tests wire two of them
together in memory.

States, from the point of view of one client attachment::

    START --Hello--> AWAIT_WELCOME --Welcome--> IDLE <--Done(req)-- RUNNING
                          |                       |  --Execute(req)-->   |
                          +--Rejected/Bye--> CLOSED <--Detach/Shutdown/Bye-+

Output events (Stream, Result, ...) may arrive in IDLE too: replayed output of an earlier run, or prints
from a thread the user left running; and in CLOSED: output the server sent before it saw our Detach or
Shutdown is still on its way (as Bye may come after we left). ``Restart`` is a run too (IDLE to RUNNING,
until its Done); a forced one may also come while RUNNING: it becomes the run waited on, and the Done of
the run it killed arrives before its own. ``Ack`` leaves the state as it is, and so do side requests and
their replies (``side.py``): they may come while a run goes on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from .._exceptions import LocalProtocolError, ProtocolError, RemoteProtocolError, VersionMismatch
from . import codec
from .events import (
    CLIENT_EVENTS,
    PROTOCOL_VERSION,
    Ack,
    Bye,
    Detach,
    Display,
    Done,
    Error,
    Event,
    Execute,
    Hello,
    InputReply,
    InputRequest,
    Interrupt,
    Notice,
    Progress,
    Rejected,
    Restart,
    Result,
    Shutdown,
    StdinAck,
    StdinData,
    Stream,
    Terminal,
    Welcome,
)
from .side import Complete, CompletePath, Completions, GetObject, Inspect, Inspection, ObjectReply, PutObject
from .transfers import TRANSFER_CLIENT_EVENTS, TRANSFER_SERVER_EVENTS


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    START = "start"
    AWAIT_WELCOME = "await-welcome"
    IDLE = "idle"
    RUNNING = "running"
    CLOSED = "closed"


S = State
_SAME = None  # the event leaves the state as it is
_ATTACHED = (S.IDLE, S.RUNNING)

_OUTPUT = dict.fromkeys((*_ATTACHED, S.CLOSED), _SAME)  # output may still arrive after we left

# event type -> {state in which it is allowed: state after it}. Who may send it follows from the type.
TRANSITIONS: dict[type, dict[State, State | None]] = {
    Hello: {S.START: S.AWAIT_WELCOME},
    Execute: {S.IDLE: S.RUNNING},
    Interrupt: dict.fromkeys(_ATTACHED, _SAME),
    # IDLE too: an answer may cross the run's end (Ctrl-C while answering); the server drops a stale one.
    InputReply: dict.fromkeys(_ATTACHED, _SAME),
    Detach: dict.fromkeys(_ATTACHED, S.CLOSED),
    Shutdown: dict.fromkeys(_ATTACHED, S.CLOSED),
    Welcome: {S.AWAIT_WELCOME: S.IDLE},  # RUNNING when Welcome.running names a run in progress
    Rejected: {S.AWAIT_WELCOME: S.CLOSED, S.IDLE: _SAME, S.RUNNING: _SAME},  # ends the run it names
    Bye: {S.AWAIT_WELCOME: S.CLOSED, S.IDLE: S.CLOSED, S.RUNNING: S.CLOSED, S.CLOSED: _SAME},
    Done: _OUTPUT,  # ends the run it names; others are replays
    Stream: _OUTPUT,
    Result: _OUTPUT,
    Error: _OUTPUT,
    InputRequest: _OUTPUT,
    Notice: _OUTPUT,
    Restart: {S.IDLE: S.RUNNING, S.RUNNING: _SAME},  # in RUNNING only with force=True (see _advance)
    Ack: dict.fromkeys(_ATTACHED, _SAME),
    **{kind: dict.fromkeys(_ATTACHED, _SAME) for kind in (Complete, Inspect, GetObject, PutObject, CompletePath)},
    **{kind: dict.fromkeys(_ATTACHED, _SAME) for kind in (Completions, Inspection, ObjectReply)},
    Display: _OUTPUT,
    # File transfers are the supervisor's, not the kernel's: they may run while code runs, and vice versa.
    **{kind: dict.fromkeys(_ATTACHED, _SAME) for kind in (*TRANSFER_CLIENT_EVENTS, *TRANSFER_SERVER_EVENTS)},
    Progress: _OUTPUT,
    Terminal: dict.fromkeys(_ATTACHED, _SAME),  # a resize may come at any time
    # A script run's standard input and its acknowledgements: they may cross the run's end (then dropped).
    StdinData: dict.fromkeys(_ATTACHED, _SAME),
    StdinAck: _OUTPUT,
}


_FROM_CLIENT = frozenset(CLIENT_EVENTS)


class Connection:
    """One end of a client attachment. ``role`` is the end we are."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = State.START
        self.running = ""  # req_id of the run this attachment waits on

    def send(self, event: Event, frames: list[bytes] | None = None) -> list[bytes]:
        """Frames to send for ``event``; ``LocalProtocolError`` if it may not be sent now (or at all).
        ``frames``: its encoding, when the caller made it already (``codec.encode(event)``)."""
        if frames is None:
            frames = codec.encode(event)  # first: an event that cannot be encoded leaves the state as it is
        try:
            self._advance(event, sent=True)
        except ProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        return frames

    def receive(self, frames: Sequence[bytes]) -> Event:
        """The event in ``frames``; ``RemoteProtocolError`` if it is malformed or may not arrive now."""
        event = codec.decode(frames)
        try:
            self._advance(event, sent=False)
        except VersionMismatch:
            raise
        except ProtocolError as exc:
            raise RemoteProtocolError(str(exc)) from None
        return event

    def _advance(self, event: Event, *, sent: bool) -> None:
        from_client = type(event) in _FROM_CLIENT
        if from_client != ((self.role is Role.CLIENT) == sent):
            sender = "client" if from_client else "server"
            raise ProtocolError(f"{type(event).__name__} is a {sender} message; the {self.role.value} got it")
        allowed = TRANSITIONS[type(event)]
        if self.state not in allowed:
            raise ProtocolError(f"{type(event).__name__} is not allowed in state {self.state.value}")
        if isinstance(event, Restart) and self.state is State.RUNNING and not event.force:
            raise ProtocolError("Restart is not allowed while a run is in progress, unless forced")
        if not sent and isinstance(event, (Hello, Welcome)) and event.protocol != PROTOCOL_VERSION:
            self.state = State.CLOSED
            raise VersionMismatch(PROTOCOL_VERSION, event.protocol)
        new = allowed[self.state]
        if isinstance(event, (Execute, Restart)):
            self.running = event.req_id
        elif isinstance(event, Welcome) and event.running:
            self.running, new = event.running, State.RUNNING
        elif isinstance(event, (Done, Rejected)) and event.req_id and event.req_id == self.running:
            self.running = ""
            if self.state is State.RUNNING:
                new = State.IDLE
        if new is not None:
            self.state = new
