"""The supervisor: owns the sockets, authenticates, keeps the session, and never runs user code.

One thread, one poll loop over: the ROUTER socket (clients), the ZAP socket (authentication), the
kernel's control socket, side socket and output pipes, and a wake-up pipe for signals. One client is
attached at a time; a new Hello takes the session over (the old client gets Bye). Output is numbered and
kept in the replay buffer, so a client that attaches later sees what it missed. Starting, restarting
and replacing the kernel, and turning what it sends into output events, is ``KernelLink``'s (``kernel_link.py``).

What a client's message means (attach, takeover, replay, de-duplication, refusals) is decided by the
sans-I/O session core (``session_core.py``): this loop reads the message, hands it to the core, and
carries out the actions the core returns (``_carry_out``).

Side connections (``Hello(side=True)``, same client key, so just as authenticated) do not attach: they
carry only completion, help and object requests, which go to the kernel's side thread and are answered
while a run goes on (``side_requests.py``). The supervisor only forwards their bytes: it never unpickles.

It never dies because of one message: each is handled under one guard (``guard.py``), and what the
kernel sends is validated (``protocol/kernel_channel.py``) and bounded (``bounds.py``) before it becomes an event.

Back-pressure: when the attached client's queue is full (the ROUTER's high-water mark), the supervisor
stops reading the kernel's pipes until it drains, and the kernel's writes block: memory stays bounded
however fast the user's code prints.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec

import zmq
from zmq.utils import z85

from ..._exceptions import ConfigError, LocalProtocolError, RemoteProtocolError
from ..._files import state_dir
from ...protocol import (
    OUTPUT_EVENTS,
    PROTOCOL_VERSION,
    Bye,
    Connection,
    Notice,
    OutputEvent,
    Rejected,
    Welcome,
    decode,
    encode,
)
from ...protocol.aws_credentials import CREDENTIALS_NAME
from ...protocol.events import Event
from ...protocol.side import PutObject
from ...protocol.versions import installed_versions
from ...transport import KdfParams, KeyPair, ZapHandler, ZapPolicy, server_socket, tcp_endpoint
from ...transport.connection_info import ConnectionInfo
from ...transport.gate import AdmissionPolicy, ConnectionGate, raise_fd_limit, total_for
from .activity import ACTIVITY_INTERVAL, Activity
from .guard import guarded
from .kernel_link import KernelLink
from .replay import ReplayBuffer
from .script_runs import ScriptRuns
from .session_core import (
    Action,
    CancelRun,
    DropClient,
    ForwardInput,
    ForwardSide,
    HandleTransfer,
    InterruptKernel,
    Replay,
    ResizeTerminal,
    RestartKernel,
    ScriptMessage,
    Send,
    SendNow,
    SessionCore,
    StartRun,
    Stop,
)
from .side_requests import SideRequests
from .transfers import DEFAULT_IDLE_TIMEOUT, ServerTransfers, process_cwd

log = logging.getLogger("remrepl.server")
P = ParamSpec("P")

MAX_BATCH = 100  # client messages handled per loop turn, so the kernel's output keeps flowing
RETRY_SECONDS = 0.01  # how soon to retry sending to a client whose queue was full
FAILED_TURN_PAUSE = 0.05  # after a turn of the loop failed outside every handler's own guard
# Plain ints: arithmetic on zmq's IntFlag constants makes a new enum member each time (once a message).
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)


class Supervisor:
    """The server of one session: the sockets and the loop. The session's decisions are its ``core``'s
    (``SessionCore``); the kernel's life cycle and messages its ``link``'s (``KernelLink``)."""

    def __init__(
        self,
        *,
        client_public_keys: Iterable[bytes],
        keys: KeyPair | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float | None = None,
        kdf: KdfParams | None = None,
        python: str = sys.executable,
        overflow_path: str | os.PathLike[str] | None = None,
        tether_fd: int | None = None,
        transfer_timeout: float = DEFAULT_IDLE_TIMEOUT,
        activity_interval: float = ACTIVITY_INTERVAL,
    ) -> None:
        self.host, self.requested_port = host, port
        self.idle_timeout = idle_timeout
        self.kdf = kdf or KdfParams()
        self.python = python
        self.keys = keys or KeyPair.generate()
        self.started_at = time.time()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        # So a flood of connections cannot make libzmq's accept spin on EMFILE; the kernel (user code, and
        # whatever it starts) gets the user's own limit back.
        self.user_fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fd_limit = raise_fd_limit()
        self.zap = ZapHandler(self.ctx, ZapPolicy([z85.decode(k) for k in client_public_keys]))
        self.router = server_socket(self.ctx, self.keys)
        # The cap on unauthenticated connections; its monitor also feeds the activity file.
        self.gate = ConnectionGate(self.router, AdmissionPolicy(total=total_for(fd_limit)))
        self.zap.on_admitted = self.gate.authenticated
        self.activity = Activity(lambda: self.gate.connections, interval=activity_interval)
        self.port = 0
        path = Path(overflow_path) if overflow_path else state_dir() / f"overflow-{os.getpid()}.log"
        self.replay = ReplayBuffer(overflow_path=path)
        welcome = Welcome(
            protocol=PROTOCOL_VERSION,
            server_pid=os.getpid(),
            hostname=socket.gethostname(),
            python=sys.version.split()[0],
            started_at=self.started_at,
            acks=True,
            terminals=True,
            script_transfers=True,
        )
        self.core = SessionCore(welcome, self.replay)
        self.core.last_activity = time.monotonic()
        self.backlog: deque[tuple[int, list[bytes]]] = deque()  # (seq or 0, frames) not yet sent
        self.stopping = False
        # The launcher's end of our stdin: EOF means it is gone (crashed, killed, terminal closed) without
        # saying "detach", and a server it launched for one session must not outlive it.
        self.tether_fd = tether_fd
        self._wake_r, self._wake_w = socket.socketpair()
        self._poller = zmq.Poller()
        self.side = SideRequests(self._send_to, self._poller)
        self.link = KernelLink(
            python=python,
            fd_limit=self.user_fd_limit,
            core=self.core,
            emit=self._emit,
            poller=self._poller,
            side=self.side,
            clock=time.monotonic,
        )
        # Script runs (exec): each in a one-off kernel of its own, for a script connection (script_runs.py)
        self.scripts = ScriptRuns(
            router=self.router,
            poller=self._poller,
            python=python,
            fd_limit=self.user_fd_limit,
            clock=time.monotonic,
            session_cwd=lambda: str(process_cwd(self.link.kernel.pid if self.link.kernel else None)),
            forget=self.core.forget_script_peer,
            send_side=self._send_to,
            wake=self._wake_loop,
            transfer_timeout=transfer_timeout,
        )
        # File transfers: relative remote paths start in the kernel's current directory.
        self.transfers = ServerTransfers(
            self._send,
            lambda: process_cwd(self.link.kernel.pid if self.link.kernel else None),
            idle_timeout=transfer_timeout,
            wake=self._wake_loop,
        )

    # --- life cycle ---------------------------------------------------------------------------

    def bind(self) -> ConnectionInfo:
        """Bind the socket and start the kernel; what the ready line announces."""
        endpoint = tcp_endpoint(self.host, self.requested_port)
        if not self.requested_port:
            endpoint = endpoint.rsplit(":", 1)[0] + ":*"  # zmq's "any free port"
        try:
            self.router.bind(endpoint)
        except zmq.ZMQError as exc:
            raise ConfigError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.gate.listening(self.port)
        self.link.start()
        # Read once, while the kernel starts (~30 ms, most of it importing importlib.metadata): every
        # Welcome carries them at no cost to a connection (protocol/versions.py).
        self.core.welcome = dataclasses.replace(self.core.welcome, versions=installed_versions())
        return ConnectionInfo(
            host=self.host,
            port=self.port,
            server_public_key=self.keys.public,
            pid=os.getpid(),
            protocol=PROTOCOL_VERSION,
            python=sys.version.split()[0],
            kdf=self.kdf,
        )

    def serve_forever(self) -> None:
        """Run until Shutdown, SIGTERM/SIGINT or the idle timeout; then release everything."""
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGCHLD, self.link.on_sigchld)  # orphans user code left us (kernel_link.py)
        self._poller.register(self.router, zmq.POLLIN)
        self._poller.register(self.zap.socket, zmq.POLLIN)
        if self.gate.socket is not None:
            self._poller.register(self.gate.socket, zmq.POLLIN)
        self._poller.register(self._wake_r.fileno(), zmq.POLLIN)
        if self.tether_fd is not None:
            self._poller.register(self.tether_fd, zmq.POLLIN)
        try:
            while not self.stopping:
                turned = False
                with guarded("a turn of the loop"):  # the last line of defence: the loop keeps turning
                    self._turn()
                    turned = True
                if not turned:
                    time.sleep(FAILED_TURN_PAUSE)  # a failure that repeats every turn must not spin a core
        finally:
            self.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        log.info("%s received: shutting down", signal.Signals(signum).name)
        self.stopping = True

    def close(self) -> None:
        self.transfers.abort_all("the server is shutting down")
        if self.core.attached is not None:
            self._send_raw(self.core.attached, Bye(reason="the server is shutting down"))
        self.activity.close()
        self.gate.close()
        self.scripts.close()
        self.link.close()
        self.zap.close()
        self.router.close(linger=100)
        self.ctx.term()
        self.replay.discard_files()
        signal.set_wakeup_fd(-1)
        self._wake_r.close()
        self._wake_w.close()

    # --- the loop -----------------------------------------------------------------------------

    def _wake_loop(self) -> None:
        """Make the poll loop turn (callable from any thread)."""
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # full (the loop is awake anyway) or closed (it is shutting down)

    def _timeout_ms(self) -> int:
        timeout = RETRY_SECONDS if self.backlog or self.scripts.backlogged else 1.0
        zap_due = self.zap.timeout()
        if zap_due is not None:
            timeout = min(timeout, zap_due)
        if self.idle_timeout is not None and not self.core.running and not self.scripts.active:
            timeout = min(timeout, max(0.0, self.core.last_activity + self.idle_timeout - time.monotonic()))
        return int(timeout * 1000) + 1

    def _turn(self) -> None:
        ready = dict(self._poller.poll(self._timeout_ms()))
        if self._wake_r.fileno() in ready:
            self._wake_r.recv(4096)
        # Every dispatch point is guarded (guard.py): what one message breaks ends only its handling.
        if self.link.children_exited:
            with guarded("reaping orphaned processes"):
                self.link.reap_orphans()
        if self.tether_fd is not None and self.tether_fd in ready:
            with guarded("the launcher's tether"):
                self._on_tether()
        if self.gate.socket in ready:  # before ZAP: a connection is known before its key is
            with guarded("connection events"):
                self.gate.handle()
        if self.zap.socket in ready:
            with guarded("an authentication request"):
                self.zap.handle()
        if self.zap.pending:
            with guarded("authentication replies"):
                self.zap.send_due()
        self.link.on_ready(ready)  # guarded at each of its dispatch points
        self.scripts.on_ready(ready)  # so are the script runs' kernels
        if self.router in ready:
            self._on_client_messages()  # guarded message by message
        if self.backlog:
            with guarded("sending to the client"):
                self._flush_backlog()
        self.scripts.tick()  # guarded run by run
        if self.transfers.active:
            with guarded("file transfers"):
                self.transfers.pump(lambda: not self.backlog and self.core.attached is not None)
            with guarded("file transfer time-outs"):
                self.transfers.expire()
        core = self.core
        asking, transferring = bool(core.pending_input), self.transfers.active or self.scripts.transferring
        running = bool(core.running) or self.scripts.active
        self.activity.update(attached=core.attached, running=running, asking=asking, transferring=transferring)
        if self.idle_timeout is not None and not running and time.monotonic() - core.last_activity >= self.idle_timeout:
            log.info("no client activity for %s s: shutting down", self.idle_timeout)
            self.stopping = True

    def _on_tether(self) -> None:
        assert self.tether_fd is not None
        try:
            data = os.read(self.tether_fd, 4096)
        except OSError:
            data = b""
        if b"detach" in data:
            log.info("the launcher detached: the server lives on by itself")
        elif data:
            return
        else:
            log.info("the launcher went away without detaching: shutting down")
            self.stopping = True
        self._poller.unregister(self.tether_fd)
        self.tether_fd = None

    # --- client side --------------------------------------------------------------------------

    def _on_client_messages(self) -> None:
        router = self.router
        for i in range(MAX_BATCH):
            # The poll said the first is there; before the others, asking is cheaper than a recv that
            # raises zmq.Again.
            if i and not int(router.getsockopt(_EVENTS)) & _POLLIN:
                return
            try:
                frames = router.recv_multipart(_NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue
            identity, payload = frames[0], frames[1:]
            with guarded("a client's message", partial(self._reject, identity, payload)):
                self._carry_out(self.core.handle(identity, payload, time.monotonic()))

    def _carry_out(self, actions: list[Action]) -> None:
        """Do what the session core decided, in its order."""
        for action in actions:
            if isinstance(action, Send):
                self._send(action.event)
            elif isinstance(action, StartRun):
                self.link.run(action.execute)
            elif isinstance(action, SendNow):
                self._send_raw(action.peer, action.event)
            elif isinstance(action, Replay):
                for old, frames in zip(action.events, action.frames, strict=True):
                    self._send(old, frames)
                log.info("client attached (replayed %d events)", len(action.events))
            elif isinstance(action, DropClient):
                self.backlog.clear()
                self.transfers.abort_all(action.reason)
                log.info("%s", action.reason)
            elif isinstance(action, ForwardSide):
                self.side.forward(self.link.kernel, action.peer, action.conn, action.request)
                if isinstance(action.request, PutObject) and action.request.name == CREDENTIALS_NAME:
                    self.scripts.lend(action.request)  # script runs' kernels get the lent AWS credentials too
            elif isinstance(action, HandleTransfer):
                self.transfers.handle(action.event)
            elif isinstance(action, InterruptKernel):
                self.link.interrupt()
            elif isinstance(action, ForwardInput):
                self.link.send_input(action.text, action.eof)
            elif isinstance(action, CancelRun):
                self.link.cancel_pending_run()
            elif isinstance(action, RestartKernel):
                self.link.restart(action.event)
            elif isinstance(action, ScriptMessage):
                self.scripts.handle(action.peer, action.conn, action.event)
            elif isinstance(action, Stop):
                log.info("shutdown requested by the client")
                self.stopping = True
            elif isinstance(action, ResizeTerminal):
                self.link.resize()

    def _reject(self, identity: bytes, payload: list[bytes], text: str) -> None:
        """The guard's reply to a client message whose handling failed: Rejected, naming its request."""
        try:
            req_id = str(getattr(decode(payload), "req_id", ""))
        except RemoteProtocolError:
            req_id = ""
        rejected = Rejected(req_id=req_id, code="internal", message=text)
        if identity == self.core.attached:
            try:  # in order with its output, and through its state machine (it ends the run it names)
                self._send(rejected)
                return
            except LocalProtocolError:
                pass
        self._send_raw(identity, rejected)

    def _send_to(self, identity: bytes, conn: Connection, event: Event) -> None:
        """Send on a side connection (or, in order with its output, on the attached one)."""
        if identity == self.core.attached and conn is self.core.conn:
            self._send(event)
            return
        try:
            frames = conn.send(event)
        except LocalProtocolError as exc:  # it detached (closed) before the answer came: nobody waits
            log.debug("a reply for a closed side connection was dropped: %s", exc)
            return
        try:
            self.router.send_multipart([identity, *frames], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the side connection went away (or is flooded): its client gave up on the answer

    # --- sending ------------------------------------------------------------------------------

    def _emit(self, kind: Callable[Concatenate[int, P], OutputEvent], *args: P.args, **kwargs: P.kwargs) -> int:
        """Make the output event ``kind(next seq, *args)``, keep it for replay, deliver it; its seq.

        It is encoded first: an event the codec refuses (too big, malformed) is never kept for replay,
        where it would be refused again at every reattach. (Its fields are bounded where they are made,
        ``bounds.py``; this is the check that it worked.)"""
        event = kind(self.replay.next_seq(), *args, **kwargs)
        try:
            frames = encode(event)
        except LocalProtocolError as exc:
            log.error("an output event could not be encoded, so it was dropped: %s", exc)
            text = f"[remrepl: an output event could not be sent and was dropped ({exc})]"
            event = Notice(seq=event.seq, text=text[:4000])
            frames = encode(event)
        self.replay.add(event, frames)
        if self.core.attached is not None:
            self._send(event, frames)
        return event.seq

    def _send(self, event: Event, frames: list[bytes] | None = None) -> None:
        """Queue ``event`` for the attached client, in order, behind anything still waiting (``frames``:
        its encoding, if it was made already)."""
        frames = self.core.conn.send(event, frames)
        seq = event.seq if isinstance(event, OUTPUT_EVENTS) else 0
        attached = self.core.attached
        if not self.backlog and attached is not None:
            try:  # the common case: nothing queued, send straight away
                # copy=False: a transfer chunk's megabytes go to libzmq as they are (frames under
                # zmq.COPY_THRESHOLD are still copied, which is cheaper for them)
                self.router.send_multipart([attached, *frames], zmq.NOBLOCK, copy=False)
                self.replay.delivered(seq)
                return
            except zmq.ZMQError:
                pass  # full or gone: the backlog path sorts out which
        self.backlog.append((seq, frames))
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        while self.backlog and self.core.attached is not None:
            seq, frames = self.backlog[0]
            try:
                self.router.send_multipart([self.core.attached, *frames], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break  # the client's queue is full: stop reading the kernel until it drains
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                log.info("client went away without detaching")
                self.core.detached()
                self.transfers.abort_all("the client went away")
                break
            self.backlog.popleft()
            self.replay.delivered(seq)
        if self.core.attached is None:
            self.backlog.clear()
        self.link.watch_output(not self.backlog)

    def _send_raw(self, identity: bytes, event: Event) -> None:
        try:
            self.router.send_multipart([identity, *encode(event)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
