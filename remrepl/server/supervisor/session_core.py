"""The supervisor's session core: who is attached, what runs, and what each client message asks for.

Sans-I/O, in h11's shape: ``SessionCore.handle(peer, frames, now)`` takes one message a client sent and
returns the actions it calls for (frozen dataclasses below); it opens no socket, reads no clock (``now`` is
passed in) and touches no kernel. The supervisor's poll loop (``supervisor.py``) carries the actions out,
each message under the one guard (``guard.py``), and tells the core what the kernel did
(``kernel_ready``, ``run_ended``, ...), so tests drive the whole session logic in memory.

What the core decides:

- **attach and takeover**: a ``Hello`` from a new peer attaches it; the one attached before is told
  ``Bye`` and dropped. ``Hello(side=True)`` opens a side connection instead, which never attaches.
- **replay**: the attached client gets the output it has not seen (``Hello.resume_from``, else what was
  acknowledged), after its ``Welcome``.
- **de-duplication**: a retried ``Execute`` whose ``req_id`` ran already is refused, never run twice.
- **busy refusals**: an ``Execute``, or an unforced ``Restart``, while a run goes on.
- **routing**: side requests to the kernel's side thread, transfers to the supervisor's own work, input
  replies and interrupts to the kernel, only when they still mean something.

One ``protocol.Connection`` per peer checks every message against the protocol's state machine.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from ..._exceptions import RemoteProtocolError, VersionMismatch
from ...protocol import (
    Ack,
    Bye,
    Connection,
    Detach,
    Execute,
    Hello,
    InputReply,
    Interrupt,
    OutputEvent,
    Rejected,
    Restart,
    Role,
    Shutdown,
    Terminal,
    Welcome,
    decode,
)
from ...protocol.events import Event, StdinData
from ...protocol.side import SIDE_REQUESTS, Complete, CompletePath, GetObject, Inspect, PutObject
from ...protocol.transfers import TRANSFER_CLIENT_EVENTS, TransferClientEvent
from .replay import ReplayBuffer

RECENT_REQUESTS = 1000  # req_ids remembered, so a retried Execute never runs twice
MAX_SIDE_PEERS = 16  # side connections remembered (a client that vanished without Detach ages out)
MAX_SCRIPT_PEERS = 64  # script connections remembered (the oldest is ended beyond that)
# What the replaced client is told when another one attaches with the key: the session is not lost
TAKEN_OVER = (
    "another client attached to this session and took it over "
    "(the namespace and any run go on; connect again to take it back)"
)
SIDE_ONLY = "a side connection carries only completion, help and object requests"

SideRequest = Complete | Inspect | GetObject | PutObject | CompletePath


# --- actions: what the supervisor is to do ------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Queue ``event`` for the attached client, in order with its output (through its Connection)."""

    event: Event


@dataclass(frozen=True)
class SendNow:
    """Send ``event`` to ``peer`` at once, outside any order, best effort (refusals, Bye)."""

    peer: bytes
    event: Event


@dataclass(frozen=True)
class Replay:
    """Send the attached client these kept output events, in order (they follow its Welcome); ``frames``:
    the encoding kept with each (None: encode it), so a replay does not encode them again."""

    events: tuple[OutputEvent, ...]
    frames: tuple[list[bytes] | None, ...] = ()


@dataclass(frozen=True)
class DropClient:
    """The attached client left or was replaced: what was queued for it and its transfers go."""

    reason: str


@dataclass(frozen=True)
class StartRun:
    """Have the kernel run ``execute`` (the core has made it the run in progress)."""

    execute: Execute


@dataclass(frozen=True)
class CancelRun:
    """The run waiting for the kernel to start was interrupted: end it as Ctrl-C would (Error, Done)."""

    req_id: str


@dataclass(frozen=True)
class InterruptKernel:
    """Raise KeyboardInterrupt in the running code."""


@dataclass(frozen=True)
class ForwardInput:
    """The answer to the kernel's pending ``input()``."""

    text: str
    eof: bool


@dataclass(frozen=True)
class ForwardSide:
    """A side request for the kernel's side thread; its answer goes back on ``conn``."""

    peer: bytes
    conn: Connection
    request: SideRequest


@dataclass(frozen=True)
class HandleTransfer:
    """A file-transfer message: the supervisor's own work, never the kernel's."""

    event: TransferClientEvent


@dataclass(frozen=True)
class RestartKernel:
    """Replace the interpreter (``Restart``; forced, it kills the run in progress)."""

    event: Restart


@dataclass(frozen=True)
class Stop:
    """The client asked the server to shut down."""


@dataclass(frozen=True)
class ResizeTerminal:
    """The attached client's terminal (``SessionCore.terminal``) changed: the kernel's pty follows."""


@dataclass(frozen=True)
class ScriptMessage:
    """A message of a script connection (``Hello(script=True)``), which its state machine allowed: the
    script runs' work (``script_runs.py``), never the session's kernel. ``Detach``: the peer is gone."""

    peer: bytes
    conn: Connection
    event: Event


Action = (
    Send
    | SendNow
    | Replay
    | DropClient
    | StartRun
    | CancelRun
    | InterruptKernel
    | ForwardInput
    | ForwardSide
    | HandleTransfer
    | RestartKernel
    | Stop
    | ResizeTerminal
    | ScriptMessage
)


# What a script connection may ask: its run's, and file transfers (the results a run wrote, ``exec --get``).
_SCRIPT_REQUESTS = (Execute, Interrupt, InputReply, StdinData, Terminal, Restart, Detach, *TRANSFER_CLIENT_EVENTS)


class SessionCore:
    """The session's state and the decisions about client messages; no I/O (see the module docstring).

    ``welcome``: the Welcome every client gets, with the fields that change (``running``, ``last_seq``,
    ``replay``) filled in at each attachment. ``replay``: the session's output history (read and
    acknowledged here; the supervisor adds to it)."""

    def __init__(self, welcome: Welcome, replay: ReplayBuffer) -> None:
        self.welcome = welcome
        self.replay = replay
        self.attached: bytes | None = None  # the client attached now
        self.conn = Connection(Role.SERVER)  # its state machine
        self.side_peers: OrderedDict[bytes, Connection] = OrderedDict()
        self.script_peers: OrderedDict[bytes, Connection] = OrderedDict()  # exec clients: never attached
        self.running = ""  # req_id of the run in progress
        self.pending_execute: Execute | None = None  # the run waiting for the kernel to start
        self.pending_input = 0  # seq of the InputRequest the kernel waits on
        self.kernel_ready = False  # the kernel said "ready": it can run code and take SIGINT
        self.recent_ids: dict[str, None] = {}  # an ordered set: oldest first
        self.last_activity = 0.0  # when a client last sent anything, or a run ended (the idle timeout)
        # The attached client's terminal (its Terminal event), None: it has none (or has not said). The
        # kernel's output is a pty like it while there is one, pipes otherwise; decided as each run starts.
        self.terminal: Terminal | None = None

    # --- client messages --------------------------------------------------------------------------

    def handle(self, peer: bytes, frames: list[bytes], now: float) -> list[Action]:
        """The actions one message of ``peer`` calls for. Raises only on a bug (the caller's guard
        answers it); a malformed or out-of-order message is answered with a refusal action."""
        self.last_activity = now
        script_conn = self.script_peers.get(peer)
        if script_conn is not None and not _is_hello(frames):
            return self._on_script_message(peer, script_conn, frames)
        side_conn = self.side_peers.get(peer)
        if side_conn is not None and not _is_hello(frames):
            return self._on_side_message(peer, side_conn, frames)
        if peer != self.attached:
            return self._on_stranger(peer, frames)
        try:
            event = self.conn.receive(frames)
        except RemoteProtocolError as exc:
            if _is_hello(frames):  # the attached client starts over: attach it afresh
                return self._on_stranger(peer, frames)
            return [SendNow(peer, Rejected(req_id="", code="protocol", message=str(exc)))]
        return self._on_event(peer, event)

    def _on_stranger(self, peer: bytes, frames: list[bytes]) -> list[Action]:
        """A message from a peer that is not attached: only Hello is welcome."""
        conn = Connection(Role.SERVER)
        try:
            event = conn.receive(frames)
        except VersionMismatch as exc:
            return [SendNow(peer, Rejected(req_id="", code="version", message=str(exc)))]
        except RemoteProtocolError as exc:
            return [SendNow(peer, Rejected(req_id="", code="protocol", message=f"{exc} (send Hello first)"))]
        assert isinstance(event, Hello)  # the state machine lets nothing else start a connection
        if event.side:  # not an attachment: the attached client stays, and nothing is replayed
            self._add_side_peer(peer, conn)
            return [SendNow(peer, self._welcome_for(conn, running="", replay=0))]
        if event.script:  # not an attachment either: the attached client stays, and nothing is replayed
            return [*self._add_script_peer(peer, conn), SendNow(peer, self._welcome_for(conn, running="", replay=0))]
        self.side_peers.pop(peer, None)
        actions: list[Action] = []
        if self.attached is not None and self.attached != peer:
            actions += [SendNow(self.attached, Bye(reason=TAKEN_OVER)), DropClient("another client attached")]
        self.attached, self.conn = peer, conn
        self.terminal = None  # until it says it has one
        resume = event.resume_from if event.resume_from is not None else self.replay.acked
        kept = self.replay.since_encoded(resume)
        replay = Replay(tuple(event for event, _ in kept), tuple(frames for _, frames in kept))
        actions += [Send(self._welcome(running=self.running, replay=len(kept))), replay]
        return actions

    def _on_event(self, peer: bytes, event: Event) -> list[Action]:
        """An event of the attached client, which its state machine allowed."""
        if isinstance(event, Execute):
            self.replay.ack(event.ack)
            if event.req_id in self.recent_ids:
                message = f"request {event.req_id} already ran here; its output is replayed on reattach"
                return [Send(Rejected(req_id=event.req_id, code="duplicate", message=message))]
            if self.running:  # cannot happen with a well-behaved client; the state machine stops it
                return [Send(Rejected(req_id=event.req_id, code="busy", message="a run is in progress"))]
            self.start_run(event.req_id)
            if not self.kernel_ready:  # it runs once the kernel says it is ready
                self.pending_execute = event
                return []
            return [StartRun(event)]
        if isinstance(event, Terminal):
            self.terminal = event if event.present else None
            return [ResizeTerminal()]
        if isinstance(event, Ack):  # what the client has seen: a later attachment is not replayed it
            self.replay.ack(event.seq)
            return []
        if isinstance(event, TRANSFER_CLIENT_EVENTS):
            return [HandleTransfer(event)]
        if isinstance(event, Interrupt):
            if self.pending_execute is not None:  # the kernel is still starting: the run never begins
                self.pending_execute = None
                return [CancelRun(self.running)]
            if self.running and self.kernel_ready:  # no SIGINT handler before it is ready
                return [InterruptKernel()]
            return []
        if isinstance(event, InputReply):
            if event.seq == self.pending_input and self.pending_input:
                self.pending_input = 0
                return [ForwardInput(event.text, event.eof)]
            return []  # a stale answer (the run ended, or was interrupted, meanwhile)
        if isinstance(event, Detach):
            self.replay.ack(event.ack)
            self.attached = None
            return [DropClient("the client detached")]
        if isinstance(event, Shutdown):
            self.attached = None
            return [SendNow(peer, Bye(reason="the server is shutting down, as asked")), Stop()]
        if isinstance(event, SIDE_REQUESTS):  # usually on a side connection; allowed here too
            return [ForwardSide(peer, self.conn, event)]
        if isinstance(event, Restart):
            if self.running and not event.force:  # a well-behaved client does not ask; the state machine stops it
                return [Send(Rejected(req_id=event.req_id, code="busy", message="a run is in progress"))]
            return [RestartKernel(event)]
        return []  # nothing else reaches a server's state machine (Hello is handled above)

    def _on_side_message(self, peer: bytes, conn: Connection, frames: list[bytes]) -> list[Action]:
        """A message on a side connection: a side request (to forward), Detach, nothing else."""
        try:
            event = conn.receive(frames)
        except RemoteProtocolError as exc:
            return [SendNow(peer, Rejected(req_id="", code="protocol", message=str(exc)))]
        if isinstance(event, SIDE_REQUESTS):
            return [ForwardSide(peer, conn, event)]
        if isinstance(event, Detach):
            self.side_peers.pop(peer, None)
            return []
        return [SendNow(peer, Rejected(req_id=getattr(event, "req_id", ""), code="protocol", message=SIDE_ONLY))]

    def _on_script_message(self, peer: bytes, conn: Connection, frames: list[bytes]) -> list[Action]:
        """A message on a script connection: a script run's requests and file transfers (to the script runs), Detach."""
        try:
            event = conn.receive(frames)
        except RemoteProtocolError as exc:
            return [SendNow(peer, Rejected(req_id="", code="protocol", message=str(exc)))]
        if isinstance(event, Execute) and event.mode != "script":
            message = "a script connection runs scripts only"
            return [SendNow(peer, Rejected(req_id=event.req_id, code="protocol", message=message))]
        if isinstance(event, _SCRIPT_REQUESTS):
            if isinstance(event, Detach):
                self.script_peers.pop(peer, None)
            return [ScriptMessage(peer, conn, event)]
        if isinstance(event, Ack):
            return []  # a script run's output is not kept for replay
        message = "a script connection carries only a script run's requests and file transfers"
        return [SendNow(peer, Rejected(req_id=getattr(event, "req_id", ""), code="protocol", message=message))]

    def _add_script_peer(self, peer: bytes, conn: Connection) -> list[Action]:
        """Remember a script connection; the oldest beyond MAX_SCRIPT_PEERS is ended (its run killed)."""
        actions: list[Action] = []
        self.script_peers[peer] = conn
        self.script_peers.move_to_end(peer)
        while len(self.script_peers) > MAX_SCRIPT_PEERS:
            old, old_conn = self.script_peers.popitem(last=False)
            actions.append(ScriptMessage(old, old_conn, Detach()))
        return actions

    def forget_script_peer(self, peer: bytes) -> None:
        """The script connection ``peer`` is gone (unreachable)."""
        self.script_peers.pop(peer, None)

    def _add_side_peer(self, peer: bytes, conn: Connection) -> None:
        self.side_peers[peer] = conn
        self.side_peers.move_to_end(peer)
        while len(self.side_peers) > MAX_SIDE_PEERS:
            self.side_peers.popitem(last=False)

    def _welcome(self, *, running: str, replay: int) -> Welcome:
        return replace(self.welcome, running=running, last_seq=self.replay.last_seq, replay=replay)

    def _welcome_for(self, conn: Connection, *, running: str, replay: int) -> Welcome:
        """A Welcome sent on ``conn`` outside the attached client's queue: its state machine sees it too."""
        welcome = self._welcome(running=running, replay=replay)
        conn.send(welcome)
        return welcome

    # --- what the supervisor tells it ---------------------------------------------------------------

    def detached(self) -> None:
        """The attached client is gone (unreachable) without a word."""
        self.attached = None

    def start_run(self, req_id: str) -> None:
        """``req_id`` is the run in progress now (an Execute, or a Restart), never to run again."""
        self.running = req_id
        self.recent_ids[req_id] = None
        if len(self.recent_ids) > RECENT_REQUESTS:
            del self.recent_ids[next(iter(self.recent_ids))]

    def kernel_started(self) -> None:
        """A new kernel process: not ready for code until it says so."""
        self.kernel_ready = False

    def kernel_became_ready(self) -> Execute | None:
        """The kernel said "ready": the run that waited for it, to start now (or None)."""
        self.kernel_ready = True
        pending, self.pending_execute = self.pending_execute, None
        return pending

    def input_requested(self, seq: int) -> None:
        """The running code waits in ``input()`` for the answer to the InputRequest ``seq``."""
        self.pending_input = seq

    def run_ended(self, now: float) -> None:
        """The run in progress is over (its Done was sent)."""
        self.running = ""
        self.pending_input = 0
        self.last_activity = now


def _is_hello(frames: list[bytes]) -> bool:
    try:
        return isinstance(decode(frames), Hello)
    except RemoteProtocolError:
        return False
