"""The supervisor: owns the sockets, authenticates, keeps the session, and never runs user code.

One thread, one poll loop over: the ROUTER socket (clients), the ZAP socket (authentication), the
kernel's control socket, side socket and output pipes, and a wake-up pipe for signals. One client is
attached at a time; a new Hello takes the session over (the old client gets Bye). Output is numbered and
kept in the replay buffer, so a client that attaches later sees what it missed. Starting, restarting
and replacing the kernel, and turning what it sends into output events, is ``KernelLink``'s (``kernel_link.py``).

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

from .._exceptions import ConfigError, LocalProtocolError, RemoteProtocolError, VersionMismatch
from .._files import state_dir
from .._info import ConnectionInfo
from ..protocol import (
    OUTPUT_EVENTS,
    PROTOCOL_VERSION,
    Ack,
    Bye,
    Connection,
    Detach,
    Error,
    Execute,
    Hello,
    InputReply,
    Interrupt,
    Notice,
    OutputEvent,
    Rejected,
    Restart,
    Role,
    Shutdown,
    Welcome,
    decode,
    encode,
)
from ..protocol.events import Event
from ..protocol.kernel_channel import InputText, RunCode
from ..protocol.side import SIDE_REQUESTS
from ..protocol.transfers import TRANSFER_CLIENT_EVENTS
from ..transport import KdfParams, KeyPair, ZapHandler, ZapPolicy, server_socket, tcp_endpoint
from ..transport.gate import AdmissionPolicy, ConnectionGate, raise_fd_limit, total_for
from .activity import ACTIVITY_INTERVAL, Activity
from .guard import guarded
from .kernel_link import KernelLink
from .kernel_process import KernelProcess
from .replay import ReplayBuffer
from .side_requests import SideRequests
from .transfers import DEFAULT_IDLE_TIMEOUT, ServerTransfers, process_cwd

log = logging.getLogger("remrepl.server")
P = ParamSpec("P")

RECENT_REQUESTS = 1000  # req_ids remembered, so a retried Execute never runs twice
MAX_BATCH = 100  # client messages handled per loop turn, so the kernel's output keeps flowing
RETRY_SECONDS = 0.01  # how soon to retry sending to a client whose queue was full
# What the replaced client is told when another one attaches with the key: the session is not lost
TAKEN_OVER = (
    "another client attached to this session and took it over "
    "(the namespace and any run go on; connect again to take it back)"
)
FAILED_TURN_PAUSE = 0.05  # after a turn of the loop failed outside every handler's own guard


class Supervisor(KernelLink):
    """The server of one session; kernel life cycle and kernel messages come from ``KernelLink``."""

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
        self.attached: bytes | None = None
        self.conn = Connection(Role.SERVER)
        self.backlog: deque[tuple[int, list[bytes]]] = deque()  # (seq or 0, frames) not yet sent
        self.running = ""  # req_id of the run in progress
        self.pending_execute: Execute | None = None
        self.recent_ids: dict[str, None] = {}  # an ordered set: oldest first
        self.pending_input = 0  # seq of the InputRequest the kernel waits on
        self.last_activity = time.monotonic()
        self.stopping = False
        self.kernel: KernelProcess | None = None
        self._watching_output = False  # are the kernel's pipes in the poller (not while backlogged)
        # The launcher's end of our stdin: EOF means it is gone (crashed, killed, terminal closed) without
        # saying "detach", and a server it launched for one session must not outlive it.
        self.tether_fd = tether_fd
        self._wake_r, self._wake_w = socket.socketpair()
        self._poller = zmq.Poller()
        self.side = SideRequests(self._send_to, self._send_raw, self._poller)
        # File transfers: relative remote paths start in the kernel's current directory.
        self.transfers = ServerTransfers(
            self._send,
            lambda: process_cwd(self.kernel.pid if self.kernel else None),
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
        self._start_kernel()
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
        signal.signal(signal.SIGCHLD, self._on_sigchld)  # orphans user code left us (kernel_link.py)
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
        if self.attached is not None:
            self._send_now(Bye(reason="the server is shutting down"))
        self.activity.close()
        self.gate.close()
        if self.kernel is not None:
            self.kernel.close()
            self.kernel = None
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
        timeouts = [1.0]
        zap_due = self.zap.timeout()
        if zap_due is not None:
            timeouts.append(zap_due)
        if self.backlog:
            timeouts.append(RETRY_SECONDS)
        if self.idle_timeout is not None and not self.running:
            timeouts.append(max(0.0, self.last_activity + self.idle_timeout - time.monotonic()))
        return int(min(timeouts) * 1000) + 1

    def _turn(self) -> None:
        ready = dict(self._poller.poll(self._timeout_ms()))
        if self._wake_r.fileno() in ready:
            self._wake_r.recv(4096)
        # Every dispatch point is guarded (guard.py): what one message breaks ends only its handling.
        if self._children_exited:
            with guarded("reaping orphaned processes"):
                self._reap_orphans()
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
        kernel = self.kernel
        if kernel is not None:
            output_ready = kernel.stdout_fd in ready or kernel.stderr_fd in ready
            if kernel.side_fd in ready:
                with guarded("side replies from the interpreter"):
                    self.side.on_kernel_ready(kernel, ready[kernel.side_fd])
            if kernel.control_fd in ready:
                self._on_kernel_messages(output_ready)  # guarded message by message
            elif output_ready:
                with guarded("the interpreter's output"):
                    self._drain_output()
        if self.router in ready:
            self._on_client_messages()  # guarded message by message
        if self.backlog:
            with guarded("sending to the client"):
                self._flush_backlog()
        if self.transfers.active:
            with guarded("file transfers"):
                self.transfers.pump(lambda: not self.backlog and self.attached is not None)
            with guarded("file transfer time-outs"):
                self.transfers.expire()
        asking, transferring = bool(self.pending_input), self.transfers.active
        self.activity.update(
            attached=self.attached, running=bool(self.running), asking=asking, transferring=transferring
        )
        if (
            self.idle_timeout is not None
            and not self.running
            and time.monotonic() - self.last_activity >= self.idle_timeout
        ):
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
        for _ in range(MAX_BATCH):
            if not int(self.router.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                return  # cheaper than a recv that raises zmq.Again
            frames = self.router.recv_multipart(zmq.NOBLOCK)
            if len(frames) < 2:
                continue
            identity, payload = frames[0], frames[1:]
            self.last_activity = time.monotonic()
            with guarded("a client's message", partial(self._reject, identity, payload)):
                self._on_client_message(identity, payload)

    def _on_client_message(self, identity: bytes, payload: list[bytes]) -> None:
        side_conn = self.side.peers.get(identity)
        if side_conn is not None and not _is_hello(payload):
            request = self.side.on_message(identity, side_conn, payload)
            if request is not None:
                self.side.forward(self.kernel, identity, side_conn, request)
            return
        if identity != self.attached:
            self._on_stranger(identity, payload)
            return
        try:
            event = self.conn.receive(payload)
        except RemoteProtocolError as exc:
            if _is_hello(payload):  # the attached client starts over: attach it afresh
                self._on_stranger(identity, payload)
                return
            log.info("bad message from the client: %s", exc)
            self._send_now(Rejected(req_id="", code="protocol", message=str(exc)))
            return
        self._dispatch(event)

    def _reject(self, identity: bytes, payload: list[bytes], text: str) -> None:
        """The guard's reply to a client message whose handling failed: Rejected, naming its request."""
        try:
            req_id = str(getattr(decode(payload), "req_id", ""))
        except RemoteProtocolError:
            req_id = ""
        rejected = Rejected(req_id=req_id, code="internal", message=text)
        if identity == self.attached:
            try:  # in order with its output, and through its state machine (it ends the run it names)
                self._send(rejected)
                return
            except LocalProtocolError:
                pass
        self._send_raw(identity, rejected)

    def _on_stranger(self, identity: bytes, payload: list[bytes]) -> None:
        """A message from a client that is not attached: only Hello is welcome."""
        conn = Connection(Role.SERVER)
        try:
            event = conn.receive(payload)
        except VersionMismatch as exc:
            self._send_raw(identity, Rejected(req_id="", code="version", message=str(exc)))
            return
        except RemoteProtocolError as exc:
            self._send_raw(identity, Rejected(req_id="", code="protocol", message=f"{exc} (send Hello first)"))
            return
        assert isinstance(event, Hello)
        if event.side:  # not an attachment: the attached client stays, and nothing is replayed
            self.side.add_peer(identity, conn)
            self._send_to(identity, conn, self._welcome(running="", replay=0))
            return
        self.side.peers.pop(identity, None)
        if self.attached is not None and self.attached != identity:
            self._send_now(Bye(reason=TAKEN_OVER))
            self.backlog.clear()
            self.transfers.abort_all("another client attached")
            log.info("client replaced by a new one")
        self.attached, self.conn = identity, conn
        resume = event.resume_from if event.resume_from is not None else self.replay.acked
        replay = self.replay.since(resume)
        self._send(self._welcome(running=self.running, replay=len(replay)))
        for old in replay:
            self._send(old)
        log.info("client attached (replayed %d events)", len(replay))

    def _welcome(self, *, running: str, replay: int) -> Welcome:
        return Welcome(
            protocol=PROTOCOL_VERSION,
            server_pid=os.getpid(),
            hostname=socket.gethostname(),
            python=sys.version.split()[0],
            started_at=self.started_at,
            running=running,
            last_seq=self.replay.last_seq,
            replay=replay,
            acks=True,
        )

    def _send_to(self, identity: bytes, conn: Connection, event: Event) -> None:
        """Send on a side connection (or, in order with its output, on the attached one)."""
        if identity == self.attached and conn is self.conn:
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

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Execute):
            self.replay.ack(event.ack)
            if event.req_id in self.recent_ids:
                message = f"request {event.req_id} already ran here; its output is replayed on reattach"
                self._send(Rejected(req_id=event.req_id, code="duplicate", message=message))
            elif self.running:  # cannot happen with a well-behaved client; the state machine stops it
                self._send(Rejected(req_id=event.req_id, code="busy", message="a run is in progress"))
            elif self.kernel is None or not self.kernel.ready:
                self.running, self.pending_execute = event.req_id, event
                self._remember(event.req_id)
            else:
                self._run(event)
        elif isinstance(event, Ack):  # what the client has seen: a later attachment is not replayed it
            self.replay.ack(event.seq)
        elif isinstance(event, TRANSFER_CLIENT_EVENTS):  # the supervisor's own work, never the kernel's
            self.transfers.handle(event)
        elif isinstance(event, Interrupt):
            if self.pending_execute is not None:  # the kernel is still starting: the run never begins
                self._cancel_pending_execute()
            elif self.running and self.kernel is not None and self.kernel.ready:  # no SIGINT handler before
                self.kernel.interrupt()
        elif isinstance(event, InputReply):
            if self.kernel is not None and event.seq == self.pending_input:
                self.pending_input = 0
                self.kernel.send(InputText(event.text, event.eof))
        elif isinstance(event, Detach):
            self.replay.ack(event.ack)
            self.attached = None
            self.backlog.clear()
            self.transfers.abort_all("the client detached")
            log.info("client detached")
        elif isinstance(event, Shutdown):
            log.info("shutdown requested by the client")
            self._send_now(Bye(reason="the server is shutting down, as asked"))
            self.attached = None
            self.stopping = True
        elif isinstance(event, SIDE_REQUESTS):  # usually on a side connection; allowed here too
            assert self.attached is not None
            self.side.forward(self.kernel, self.attached, self.conn, event)
        elif isinstance(event, Restart):
            if self.running and not event.force:  # a well-behaved client does not ask; the state machine stops it
                self._send(Rejected(req_id=event.req_id, code="busy", message="a run is in progress"))
            else:
                self._restart_kernel(event)

    def _cancel_pending_execute(self) -> None:
        """An Interrupt for a run still waiting for the kernel to start ends it as Ctrl-C would."""
        self.pending_execute = None
        self._emit(Error, self.running, "KeyboardInterrupt", "", "KeyboardInterrupt\n")
        self._finish_run("interrupted", 130)

    def _remember(self, req_id: str) -> None:
        self.recent_ids[req_id] = None
        if len(self.recent_ids) > RECENT_REQUESTS:
            del self.recent_ids[next(iter(self.recent_ids))]

    def _run(self, event: Execute) -> None:
        assert self.kernel is not None
        self.running = event.req_id
        self._remember(event.req_id)
        self.kernel.send(RunCode(event.code, event.mode, event.filename, event.argv))

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
        self.replay.add(event)
        if self.attached is not None:
            self._send(event, frames)
        return event.seq

    def _send(self, event: Event, frames: list[bytes] | None = None) -> None:
        """Queue ``event`` for the attached client, in order, behind anything still waiting (``frames``:
        its encoding, if it was made already)."""
        frames = self.conn.send(event, frames)
        seq = event.seq if isinstance(event, OUTPUT_EVENTS) else 0
        if not self.backlog and self.attached is not None:
            try:  # the common case: nothing queued, send straight away
                # copy=False: a transfer chunk's megabytes go to libzmq as they are (frames under
                # zmq.COPY_THRESHOLD are still copied, which is cheaper for them)
                self.router.send_multipart([self.attached, *frames], zmq.NOBLOCK, copy=False)
                self.replay.delivered(seq)
                return
            except zmq.ZMQError:
                pass  # full or gone: the backlog path sorts out which
        self.backlog.append((seq, frames))
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        while self.backlog and self.attached is not None:
            seq, frames = self.backlog[0]
            try:
                self.router.send_multipart([self.attached, *frames], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break  # the client's queue is full: stop reading the kernel until it drains
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                log.info("client went away without detaching")
                self.attached = None
                self.transfers.abort_all("the client went away")
                break
            self.backlog.popleft()
            self.replay.delivered(seq)
        if self.attached is None:
            self.backlog.clear()
        if self.kernel is not None:
            self._watch_kernel_output(not self.backlog)

    def _send_now(self, event: Event) -> None:
        """Best-effort immediate send to the attached client, outside the ordered queue."""
        if self.attached is not None:
            self._send_raw(self.attached, event)

    def _send_raw(self, identity: bytes, event: Event) -> None:
        try:
            self.router.send_multipart([identity, *encode(event)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass


def _is_hello(payload: list[bytes]) -> bool:
    try:
        return isinstance(decode(payload), Hello)
    except RemoteProtocolError:
        return False
