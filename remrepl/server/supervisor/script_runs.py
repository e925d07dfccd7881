"""Script runs (``remrepl exec``): each in a fresh one-off kernel of its own, for its own client.

A script connection (``Hello(script=True)``, same key and ZAP as any) never attaches: the attached
``remote>`` client and the session's namespace are not touched. Each ``Execute`` on it starts a new
kernel process (``KernelProcess``, the same constructor as the session's kernel) through a ``ScriptLink``
(a ``KernelLink`` that never restarts its kernel), sends it ``RunScript``, and streams what it produces
(stdout, stderr, plots, progress, input requests) to that connection alone, numbered per connection and
not kept for replay. When the run is over (python's end, in the kernel: ``server/kernel/script.py``) the
kernel exits; its process tree is ended and its temporary copy of the script removed.

Where the script is: when the file the client names (``Execute.origin``) exists here with the same
bytes (a local launch: one file system), the kernel runs that file, in the client's working directory;
otherwise the source is written to a private 0700 directory under the state directory, and that copy runs.

Results: the connection may download (and upload) files, after its run too, through its own transfers
(``script_transfers.py``); relative paths start in the run's working directory, which its ``Done.cwd`` names.

Standard input: with ``Execute.stdin`` the client streams its bytes (``StdinData``, bounded chunks); the
supervisor writes them to the kernel's fd 0 without blocking, and acknowledges what the pipe took
(``StdinAck``), so at most a window of them waits here (flow control: a script that does not read makes
its client stop reading). Without it, fd 0 is at EOF and reading ``sys.stdin`` asks the client for lines.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

import zmq

from ..._exceptions import LocalProtocolError
from ...protocol import (
    Connection,
    Detach,
    Done,
    Execute,
    InputReply,
    Interrupt,
    Notice,
    OutputEvent,
    Rejected,
    Restart,
    Role,
    encode,
)
from ...protocol.events import STDIN_WINDOW, Event, StdinAck, StdinData, Terminal
from ...protocol.kernel_channel import RunScript
from ...protocol.side import PutObject
from ...protocol.transfers import TRANSFER_CLIENT_EVENTS
from .guard import guarded
from .kernel_link import KernelLink
from .kernel_process import KernelProcess
from .script_place import place_script
from .script_transfers import ScriptTransfers
from .side_requests import SideRequests
from .transfers import DEFAULT_IDLE_TIMEOUT

log = logging.getLogger("remrepl.server")
P = ParamSpec("P")

MAX_RUNNING = 8  # script runs at once; more are refused ("busy")
RELEASE_AFTER = 2.0  # seconds after its Done for a kernel that has not exited by itself to be ended
KILLED = "The script's interpreter was killed, as asked."


@dataclass
class ScriptBook:
    """A script run's state, as a ``KernelLink`` reports it (the session core's part for a session)."""

    running: str = ""
    pending_execute: Execute | None = None
    pending_input: int = 0
    kernel_ready: bool = False
    ended_at: float | None = None
    # The script client's terminal (its Terminal event; None: it has none): the one-off kernel starts on
    # a pty of that size (KernelProcess), and later resizes follow (KernelLink.resize).
    terminal: Terminal | None = None

    def kernel_started(self) -> None:
        self.kernel_ready = False

    def kernel_became_ready(self) -> Execute | None:
        self.kernel_ready = True
        pending, self.pending_execute = self.pending_execute, None
        return pending

    def input_requested(self, seq: int) -> None:
        self.pending_input = seq

    def start_run(self, req_id: str) -> None:
        self.running = req_id

    def run_ended(self, now: float) -> None:
        self.running = ""
        self.pending_input = 0
        self.ended_at = now


class ScriptLink(KernelLink):
    """The one-off kernel of one script run: started once, never restarted; its death ends the run with
    the status python's would have (its exit code, or 128+N for signal N)."""

    def __init__(self, script: RunScript, cwd: str | None, **kwargs: Any) -> None:
        self.script = script
        self.cwd = cwd
        self.released = False
        self.lending = False  # AWS credentials are on their way to the kernel: the script waits for them
        self._deferred: Execute | None = None
        super().__init__(**kwargs)
        self.done_cwd = cwd or os.getcwd()  # where it runs (None: the supervisor's own cwd, inherited)

    def credentials_taken(self) -> None:
        """The kernel answered the lent credentials: the script may start."""
        self.lending = False
        deferred, self._deferred = self._deferred, None
        if deferred is not None and not self.released and self.kernel is not None:
            self.run(deferred)

    def _new_process(self) -> KernelProcess:
        # The same constructor as the session's kernel: options given to that one (a terminal) go here too.
        return KernelProcess(
            self.python, self.cwd, fd_limit=self.user_fd_limit, terminal=self.core.terminal, stdin_pipe=True
        )

    def run(self, event: Execute) -> None:
        assert self.kernel is not None
        if self.lending:  # the script's first lines may need them (a cluster on EC2)
            self._deferred = event
            return
        self.kernel.send(self.script)
        if not self.script.stdin:
            self.kernel.close_stdin()  # EOF at once: reading stdin asks the client for lines instead

    def _finish_run(self, status: Any, exit_code: int, results: tuple[str, ...] = ()) -> None:
        super()._finish_run(status, exit_code, results)
        if self.kernel is not None and not self.released:  # it exits by itself now; nothing more is read
            self.released = True
            self._unwatch_kernel(self.kernel)

    def _on_kernel_died(self) -> None:
        kernel = self.kernel
        assert kernel is not None
        self._drain_output()
        how = kernel.wait_status()
        returncode = kernel.process.returncode or 0
        self.released = True
        self._unwatch_kernel(kernel)
        if self.running:
            if returncode < 0:
                self._emit(Notice, f"{self.script.argv[0] if self.script.argv else 'the script'}: {how}")
                self._finish_run("died", 128 - returncode)
            else:  # os._exit(N): python's status too
                self._finish_run("exit", returncode)

    def kill(self, event: Restart) -> None:
        """A forced Restart on a script connection: end the run's kernel (its whole tree) now."""
        kernel = self.kernel
        if kernel is not None and not self.released:
            self._drain_output()
            self.released = True
            self._unwatch_kernel(kernel)
            kernel.close(force=True)
            if self.running:
                self.core.pending_execute = None
                self._finish_run("died", kernel.exit_code() or 128 + 9)
        self.core.start_run(event.req_id)
        self._emit(Notice, KILLED)
        self._finish_run("ok", 0)


@dataclass
class ScriptPeer:
    """One script connection: its state machine, its output queue, its run (if any)."""

    peer: bytes
    conn: Connection
    seq: int = 0
    backlog: deque[list[bytes]] = field(default_factory=deque)
    link: ScriptLink | None = None
    book: ScriptBook = field(default_factory=ScriptBook)
    tempdir: str | None = None
    stdin: bytearray = field(default_factory=bytearray)
    stdin_eof: bool = False
    stdin_written: int = 0
    stdin_closed: bool = False
    polling_stdin: int = -1  # the stdin fd registered for POLLOUT, or -1
    terminal: Terminal | None = None  # the client's, as it last said
    cwd: str = ""  # its last run's working directory (Done.cwd): where its transfers' relative paths start

    @property
    def running(self) -> bool:
        return bool(self.book.running)


class ScriptRuns:
    """Every script connection's run. The supervisor hands it the script connections' messages
    (``ScriptMessage``), the poll results, and a ``tick`` every turn of its loop."""

    def __init__(
        self,
        *,
        router: zmq.Socket[bytes],
        poller: zmq.Poller,
        python: str,
        fd_limit: int,
        clock: Callable[[], float],
        session_cwd: Callable[[], str | None],
        forget: Callable[[bytes], None],
        send_side: Callable[[bytes, Connection, Event], None],
        wake: Callable[[], None] | None = None,
        transfer_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.router = router
        self.poller = poller
        self.python = python
        self.fd_limit = fd_limit
        self.clock = clock
        self.session_cwd = session_cwd  # where a script that is not on this machine runs: the session's cwd
        self.forget = forget  # tell the session core a script connection is gone
        self.send_side = send_side
        self.peers: dict[bytes, ScriptPeer] = {}
        self.transfers = ScriptTransfers(wake=wake, idle_timeout=transfer_timeout)
        # The AWS credentials last lent to the session (the reserved PutObject, its payload never looked
        # into): each script kernel gets them too, as the session's kernel did (protocol/aws_credentials.py).
        self.credentials: PutObject | None = None

    @property
    def active(self) -> bool:
        """Some script runs now (for the idle timeout and the activity file)."""
        return any(p.running for p in self.peers.values())

    @property
    def transferring(self) -> bool:
        """A script connection's file transfer goes on (for the activity file)."""
        return self.transfers.active

    @property
    def backlogged(self) -> bool:
        """Output waits for a slow script client (the loop retries soon)."""
        return any(p.backlog for p in self.peers.values())

    # --- what the script connections ask -------------------------------------------------------

    def handle(self, peer: bytes, conn: Connection, event: Event) -> None:
        state = self.peers.get(peer)
        if state is None or state.conn is not conn:
            state = self.peers[peer] = ScriptPeer(peer, conn)
        if isinstance(event, Execute):
            self._start(state, event)
        elif isinstance(event, Interrupt):
            if state.link is not None and state.running:
                if state.book.pending_execute is not None:  # its kernel is still starting
                    state.book.pending_execute = None
                    state.link.cancel_pending_run()
                elif state.book.kernel_ready:
                    state.link.interrupt()
        elif isinstance(event, InputReply):
            if state.link is not None and event.seq == state.book.pending_input and state.book.pending_input:
                state.book.pending_input = 0
                state.link.send_input(event.text, event.eof)
        elif isinstance(event, StdinData):
            self._take_stdin(state, event)
        elif isinstance(event, Terminal):  # before its Execute (the kernel starts on it), or a resize
            state.terminal = event if event.present else None
            state.book.terminal = state.terminal
            if state.link is not None and not state.link.released:
                state.link.resize()
        elif isinstance(event, Restart):
            if state.link is None:
                state.book.start_run(event.req_id)
                self._emit(state, Notice, KILLED)
                self._emit(state, Done, event.req_id, "ok", 0)
                state.book.run_ended(self.clock())
            else:
                state.link.kill(event)
                self._release(state)
        elif isinstance(event, TRANSFER_CLIENT_EVENTS):
            self.transfers.handle(peer, event, lambda reply: self._send(state, reply), lambda: self._cwd_of(state))
        elif isinstance(event, Detach):
            self._end(state, "the client detached")

    def _cwd_of(self, state: ScriptPeer) -> Path:
        """Where the relative paths of a script connection's transfers start: its run's working directory
        (before any run: where one would run, the session's)."""
        return Path(state.cwd or self.session_cwd() or os.getcwd())

    def _start(self, state: ScriptPeer, event: Execute) -> None:
        if state.running:
            self._send(state, Rejected(req_id=event.req_id, code="busy", message="a run is in progress"))
            return
        if sum(p.running for p in self.peers.values()) >= MAX_RUNNING:
            message = f"{MAX_RUNNING} scripts run on this server already"
            self._send(state, Rejected(req_id=event.req_id, code="busy", message=message))
            return
        self._release(state)  # the previous run's kernel, if it is still there
        script, cwd, state.tempdir = place_script(event, self.session_cwd())
        state.cwd = cwd or os.getcwd()  # the one-off kernel inherits the supervisor's when None
        state.book = ScriptBook(terminal=state.terminal)
        state.stdin.clear()
        state.stdin_eof = state.stdin_closed = False
        state.stdin_written = 0
        state.book.start_run(event.req_id)
        state.book.pending_execute = event
        state.link = ScriptLink(
            script,
            cwd,
            python=self.python,
            fd_limit=self.fd_limit,
            core=state.book,
            emit=lambda kind, *args, **kwargs: self._emit(state, kind, *args, **kwargs),
            poller=self.poller,
            # No client's side request goes to a script kernel: every reply there answers the credentials.
            side=SideRequests(lambda peer, conn, reply: self._credentials_taken(state), self.poller),
            clock=self.clock,
        )
        state.link.start()
        if self.credentials is not None:
            self._lend_to(state.link)
        log.info("script run %s started in kernel pid %d", event.req_id[:8], state.link.kernel.pid)  # type: ignore[union-attr]

    def lend(self, credentials: PutObject) -> None:
        """AWS credentials lent to the session: for the script runs that go on, and those to come."""
        self.credentials = credentials
        for state in self.peers.values():
            if state.running and state.link is not None and not state.link.released:
                self._lend_to(state.link)

    def _lend_to(self, link: ScriptLink) -> None:
        kernel, request = link.kernel, self.credentials
        if kernel is None or request is None:
            return
        link.lending = True
        link.side.forward(kernel, b"", Connection(Role.SERVER), request)  # its answer: _credentials_taken

    def _credentials_taken(self, state: ScriptPeer) -> None:
        if state.link is not None:
            state.link.credentials_taken()

    # --- standard input ---------------------------------------------------------------------------

    def _take_stdin(self, state: ScriptPeer, event: StdinData) -> None:
        if event.req_id != state.book.running or state.stdin_closed:
            return  # a late chunk (the run ended, or the script closed its stdin): nobody reads it
        if len(state.stdin) + len(event.data) > 2 * STDIN_WINDOW:  # beyond the window: a broken client
            log.warning("a script client sent more standard input than its window: its stdin is closed")
            self._close_stdin(state, tell=True)
            return
        state.stdin += event.data
        state.stdin_eof = state.stdin_eof or event.eof
        self._pump_stdin(state)

    def _pump_stdin(self, state: ScriptPeer) -> None:
        """Write what the kernel's stdin pipe takes now; acknowledge it; POLLOUT for the rest."""
        kernel = state.link.kernel if state.link is not None and not state.link.released else None
        if kernel is None or kernel.stdin_fd < 0:
            state.stdin.clear()
            return
        before = state.stdin_written
        while state.stdin:
            try:
                written = os.write(kernel.stdin_fd, state.stdin[: 1 << 16])
            except BlockingIOError:
                break
            except OSError:  # EPIPE: the script closed its stdin (or ended)
                self._close_stdin(state, tell=True)
                return
            del state.stdin[:written]
            state.stdin_written += written
        self._poll_stdin(state, kernel.stdin_fd if state.stdin else -1)
        if not state.stdin and state.stdin_eof:
            self._close_stdin(state, tell=False)
        if state.stdin_written != before:
            self._send(state, StdinAck(state.book.running, state.stdin_written, closed=state.stdin_closed))

    def _poll_stdin(self, state: ScriptPeer, fd: int) -> None:
        if state.polling_stdin == fd:
            return
        if state.polling_stdin >= 0:
            self.poller.unregister(state.polling_stdin)
        if fd >= 0:
            self.poller.register(fd, zmq.POLLOUT)
        state.polling_stdin = fd

    def _close_stdin(self, state: ScriptPeer, *, tell: bool) -> None:
        self._poll_stdin(state, -1)
        state.stdin.clear()
        state.stdin_closed = True
        if state.link is not None and state.link.kernel is not None:
            state.link.kernel.close_stdin()
        if tell and state.book.running:
            self._send(state, StdinAck(state.book.running, state.stdin_written, closed=True))

    # --- the loop's part --------------------------------------------------------------------------

    def on_ready(self, ready: dict[Any, int]) -> None:
        for state in list(self.peers.values()):
            if state.link is None:
                continue
            if state.polling_stdin >= 0 and state.polling_stdin in ready:
                with guarded("a script's standard input"):
                    self._pump_stdin(state)
            state.link.on_ready(ready)

    def tick(self) -> None:
        """Send what waits for slow clients; end the kernels of finished runs."""
        now = self.clock()
        for state in list(self.peers.values()):
            with guarded("a script run"):
                if state.backlog:
                    self._flush(state)
                self.transfers.pump(state.peer, lambda: not state.backlog)  # noqa: B023 (called here, at once)
                link = state.link
                if link is None or state.running or state.book.ended_at is None:
                    continue
                kernel = link.kernel
                if kernel is None or kernel.process.poll() is not None or now - state.book.ended_at > RELEASE_AFTER:
                    self._release(state)

    def close(self) -> None:
        for state in list(self.peers.values()):
            self._end(state, "the server is shutting down")

    # --- sending ----------------------------------------------------------------------------------

    def _emit(
        self, state: ScriptPeer, kind: Callable[Concatenate[int, P], OutputEvent], *args: P.args, **kwargs: P.kwargs
    ) -> int:
        state.seq += 1
        event: OutputEvent = kind(state.seq, *args, **kwargs)
        try:
            frames = encode(event)
        except LocalProtocolError as exc:
            event = Notice(seq=event.seq, text=f"[remrepl: an output event could not be sent ({exc})]"[:4000])
            frames = encode(event)
        self._send(state, event, frames)
        return event.seq

    def _send(self, state: ScriptPeer, event: Event, frames: list[bytes] | None = None) -> None:
        try:
            frames = state.conn.send(event, frames)
        except LocalProtocolError as exc:
            log.debug("not sent to a script client: %s", exc)
            return
        state.backlog.append(frames)
        self._flush(state)

    def _flush(self, state: ScriptPeer) -> None:
        while state.backlog:
            try:
                self.router.send_multipart([state.peer, *state.backlog[0]], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break  # its queue is full: stop reading its kernel's output until it drains
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                self._end(state, "the script's client went away")
                return
            state.backlog.popleft()
        if state.link is not None and not state.link.released:
            state.link.watch_output(not state.backlog)

    # --- ending -----------------------------------------------------------------------------------

    def _release(self, state: ScriptPeer) -> None:
        """The run's kernel (and whatever it started) ends; its copy of the script goes."""
        link = state.link
        if link is not None:
            self._poll_stdin(state, -1)
            if not link.released and link.kernel is not None:
                link.released = True
                link._unwatch_kernel(link.kernel)
            if link.kernel is not None:
                link.kernel.close(force=True)
                link.kernel = None
        if state.tempdir is not None:
            shutil.rmtree(state.tempdir, ignore_errors=True)
            state.tempdir = None

    def _end(self, state: ScriptPeer, why: str) -> None:
        if state.running:
            log.info("script run %s ended: %s", state.book.running[:8], why)
        self._release(state)
        self.transfers.drop(state.peer, why)
        state.book.running = ""
        state.backlog.clear()
        self.peers.pop(state.peer, None)
        self.forget(state.peer)
