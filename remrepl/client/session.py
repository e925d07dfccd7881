"""The programmatic client: ``Session`` (one attachment to a server) and ``Execution`` (one run).

    with remrepl.connect(connection_file="server.json", password="...") as session:
        print(session.run("1 + 1").value)            # '2'
        for event in session.execute("for i in range(3): print(i)"):
            ...                                      # Stream, Result, Error, Notice events as they come

The CLI (prompt and batch) is built on this API alone. ZeroMQ's own failures are translated here into
remrepl's exception tree; a socket monitor tells a refused key (``AuthenticationFailed``) from a server
refusing this address for now (``TooManyAttempts``, retried until the connect timeout), from a server
that is not there (``ConnectTimeout``) and from a link that died (``ConnectionLost``).
"""

from __future__ import annotations

import datetime
import getpass
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import zmq

from .._exceptions import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    ExecutionTimeout,
    RemoteProtocolError,
    ServerError,
    SessionClosed,
    VersionMismatch,
    WorkdirError,
)
from ..protocol import (
    OUTPUT_EVENTS,
    TRANSFER_SERVER_EVENTS,
    Ack,
    Bye,
    Connection,
    Detach,
    Display,
    Done,
    Error,
    Event,
    ExecMode,
    Execute,
    Hello,
    Notice,
    OutputEvent,
    Rejected,
    Restart,
    Result,
    Role,
    Shutdown,
    State,
    Stream,
    Terminal,
    Welcome,
)
from ..protocol.events import StdinAck
from ..protocol.side import Completions, Inspection
from ..transport import KeyPair, client_socket, derive_client_keys, tcp_endpoint
from ..transport.connection_info import ConnectionInfo
from . import aws_credentials
from .execution import Execution, RunResult
from .handshake import MONITOR_EVENTS, await_handshake
from .handshake import monitor_event as _monitor_event
from .results import Fetched, fetch
from .session_transfers import SessionTransfers
from .side import SideChannel, SideRequests
from .transfer import Progress, TransferResult

if TYPE_CHECKING:
    from .sync import SyncResult

ACK_INTERVAL = 0.05  # seconds: output seen is acknowledged at most this often while it streams
# seconds: in a burst of runs, how long the end of a run waits for the next Execute to carry its ack
ACK_DELAY = 0.5

# input handler: (prompt, password) -> the line typed, or None for end of input
InputHandler = Callable[[str, bool], "str | None"]


def terminal_input(prompt: str, password: bool) -> str | None:
    """The default input handler: the local terminal (hidden for ``getpass``)."""
    try:
        return getpass.getpass(prompt) if password else input(prompt)
    except EOFError:
        return None


class Session:
    """One client attachment to a server. Make it with ``remrepl.connect``.

    It holds and delegates to: ``SideRequests`` (``side.py``: ``complete``, ``inspect``, ``get``, ``put``
    on a side connection), ``SessionTransfers`` (``session_transfers.py``: ``upload``, ``download`` and
    the output held meanwhile) and ``aws_credentials.py`` (``forward_aws_credentials``)."""

    def __init__(
        self,
        info: ConnectionInfo,
        keys: KeyPair,
        *,
        connect_timeout: float = 10.0,
        input_handler: InputHandler = terminal_input,
        script: bool = False,
    ) -> None:
        self.info = info
        # A script connection (``remrepl exec``): it does not attach (an attached prompt stays attached);
        # each run on it is a script in a fresh interpreter (``run_script``).
        self.script = script
        self.on_stdin_ack: Callable[[StdinAck], None] | None = None  # a script run's stdin pump (script.py)
        # The server's directory the last script run on this connection ran in (its Done.cwd; "" before
        # one ended, or from an older server): relative paths of ``fetch_results`` start there.
        self.run_cwd = ""
        self._keys = keys
        self.input_handler = input_handler
        self.welcome: Welcome | None = None
        self.last_seq = 0
        # A dropped link: this hook may bring it back (``reattach``) and return True (client/reconnect.py).
        self.on_link_lost: Callable[[Session], bool] | None = None
        self.on_close: list[Callable[[], None]] = []  # e.g. a tunnel to close with the session
        self._unfinished: Execute | None = None  # the last run sent whose Done we have not seen
        self._resent: set[str] = set()  # runs sent again after a reattach
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        # wake(): another thread cuts a blocking next_event() short (the prompt's output receiver)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)  # a full pair means a wake-up is pending already: never block for it
        self._side = SideRequests(lambda timeout: SideChannel(self._ctx, self.info, self._keys, timeout))
        self._open_socket()
        self._closed = False
        self._replay_left = 0
        self._seen = 0  # the highest seq handed to the caller (what a killed client has shown)
        self._acked, self._acked_at = 0, 0.0  # the highest seq acknowledged, and when
        self._run_over_at = -ACK_DELAY  # when the caller last had a whole run (Execution.events ended)
        self._ack_deferred = False  # that run's ack waits for the next Execute (``run_over``)
        self._in_burst = False  # the last run started within ACK_DELAY s of the previous one's end
        self._expanded: deque[OutputEvent] = deque()  # Result events unpacked from a Done, then the Done
        self._transfers = SessionTransfers(self.send, self._receive_all)
        self.last_sync: SyncResult | None = None  # the last workdir sync (sync_workdir)
        # The local terminal the remote output is to look like (``use_terminal``): what tells it, what
        # the server was told last, and whether a resize is to be told.
        self._terminal_source: Callable[[], Terminal | None] | None = None
        self._terminal_sent: Terminal | None = None
        self._terminal_stale = False
        self.where = f"{info.host}:{info.port}"
        try:
            self._attach(connect_timeout)
        except BaseException:
            self._teardown()
            raise

    # --- connecting ---------------------------------------------------------------------------

    def _open_socket(self) -> None:
        self._conn = Connection(Role.CLIENT)
        self._socket = client_socket(self._ctx, self.info.server_public_key, self._keys, uuid.uuid4().bytes)
        self._monitor = self._socket.get_monitor_socket(MONITOR_EVENTS)
        self._poller = zmq.Poller()
        self._poller.register(self._socket, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        # By fd number: pyzmq's Poller reports a plain socket by its fileno(), never as the object given
        self._poller.register(self._wake_r.fileno(), zmq.POLLIN)

    def reattach(self, timeout: float) -> None:
        """After a dropped link: a fresh socket attaches again; the server replays what we missed."""
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        self._socket.close(linger=0)
        self._open_socket()
        self._attach(timeout, resume_from=self.last_seq)
        self.sync_terminal()  # before a run is sent again: it starts on a terminal like ours
        pending = self._unfinished
        if pending is not None and self.script:  # a new script connection: the old run ended with the link
            self._unfinished = None
            raise ConnectionLost(f"lost the connection to the server at {self.where} during a script run")
        if pending is not None and self.welcome is not None and self.welcome.running != pending.req_id:
            # It may have been lost with the link, or have run to the end meanwhile: the server runs a
            # request id only once (a "duplicate" refusal, ignored below; its output is in the replay).
            self._resent.add(pending.req_id)
            self.send(pending)

    def _attach(self, timeout: float, resume_from: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        endpoint = tcp_endpoint(self.info.host, self.info.port)
        self._socket.connect(endpoint)

        def reconnect() -> None:  # the server refused this address for now: try again, libzmq will not
            self._socket.disconnect(endpoint)
            self._socket.connect(endpoint)

        await_handshake(self._monitor, deadline, timeout, self.where, reconnect)
        self.welcome = None
        self.send(Hello(resume_from=resume_from, script=self.script))
        while self.welcome is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectTimeout(f"the server at {self.where} did not answer Hello within {timeout:g} s")
            self.next_event(remaining)

    # --- the local terminal -------------------------------------------------------------------

    def use_terminal(self, source: Callable[[], Terminal | None] | None) -> None:
        """Make the remote code's stdout and stderr a pseudo-terminal like the local one: ``source()``
        says what it is now (``cli/terminal.py``'s ``local_terminal``; None: no terminal, pipes). Asked
        again before each run and after ``terminal_resized``; a server without terminals ignores it."""
        self._terminal_source = source
        self.sync_terminal()

    def terminal_resized(self) -> None:
        """The local window changed size: tell the server soon (safe in a signal handler: it only notes
        it and wakes a waiting ``next_event``, which sends it)."""
        self._terminal_stale = True
        self.wake()

    def sync_terminal(self) -> None:
        """Tell the server the local terminal's size and names if they changed since it was told."""
        self._terminal_stale = False
        welcome = self.welcome
        if self._terminal_source is None or welcome is None or not welcome.terminals or self._closed:
            return
        terminal = self._terminal_source() or Terminal()
        if terminal == (self._terminal_sent or Terminal()):
            return
        if self._conn.state in (State.IDLE, State.RUNNING):
            self.send(terminal)
            self._terminal_sent = terminal

    # --- the event stream ---------------------------------------------------------------------

    def send(self, event: Event) -> None:
        if self._closed:
            raise SessionClosed("the session is closed")
        frames = self._conn.send(event)
        if isinstance(event, Execute):
            self._unfinished = event
        try:
            self._socket.send_multipart(frames, zmq.NOBLOCK, copy=False)  # chunks: no copy (see supervisor)
        except zmq.Again:
            if not isinstance(event, Hello) and self.on_link_lost is not None and self.on_link_lost(self):
                if event is not self._unfinished:  # reattach() already sent it again
                    self.send(event)
                return
            raise ConnectionLost(f"cannot send to the server at {self.where}: the link is down") from None

    def next_event(self, timeout: float | None = None) -> OutputEvent | None:
        """The next output event, or None if ``timeout`` passed (or a non-output event was handled)."""
        if self._transfers.held:  # output that arrived during a file transfer comes first
            event: OutputEvent | None = self._transfers.held.popleft()
        elif self._expanded:
            event = self._expanded.popleft()
        else:
            event = self._receive(timeout)
        if event is not None:
            self._seen = max(self._seen, event.seq)
        return event

    def acknowledge(self) -> None:
        """Tell the server which output we have seen, so that a later attachment (after this client
        was killed, or by another one) is not replayed it. Done as we go: whenever we wait for more
        (at most every ACK_INTERVAL s), at the end of a run (``run_over``), and with each Execute and
        Detach (their ``ack``)."""
        welcome = self.welcome
        if self._seen <= self._acked or welcome is None or not welcome.acks or self._closed:
            return
        if self._conn.state not in (State.IDLE, State.RUNNING):
            return
        try:
            self._socket.send_multipart(self._conn.send(Ack(self._seen)), zmq.NOBLOCK)
        except zmq.ZMQError:
            return  # the link is down or full: the next receive finds out, and a later ack covers this one
        self._acked, self._acked_at = self._seen, time.monotonic()
        self._ack_deferred = False

    def run_over(self) -> None:
        """The caller has had a whole run (its Done): acknowledge it, at once or with the next Execute.

        A run that starts within ACK_DELAY s of the previous one's end makes a burst (a script's loop of
        runs): in a burst the end of a run sends no Ack of its own, the next Execute carries it (its
        ``ack``), so each run is one message each way and one turn of the server's loop instead of two.
        The last run of a burst is acknowledged by whatever the session does next: waiting for output
        (ACK_DELAY s after the run's end at the latest: the prompt waits so while it is idle), a run,
        ``close`` (Detach carries it). What that costs: until then, the server still counts that last
        run as unseen, so a client killed (or taken over by another one) in that window has it replayed
        to the next attachment, as a run it did not see; nothing is lost. A run after a pause (the
        first one, each one typed at the prompt) is acknowledged at once, as before."""
        self._run_over_at = time.monotonic()
        if self._seen <= self._acked:
            return
        if self._in_burst:
            self._ack_deferred = True
        else:
            self.acknowledge()

    def _ack_before_waiting(self, timeout: float | None) -> float | None:
        """Acknowledge what the caller has seen if it is time; the poll timeout to use (shortened to
        when the next ack is due, so the last output of a burst is acknowledged too)."""
        if self._seen <= self._acked:
            return timeout
        due_at = self._acked_at + ACK_INTERVAL
        if self._ack_deferred:  # a burst's last run: give the next Execute the time to carry it
            due_at = max(due_at, self._run_over_at + ACK_DELAY)
        due = due_at - time.monotonic()
        if due <= 0:
            self.acknowledge()
            return timeout
        return due if timeout is None else min(timeout, due)

    def _receive(self, timeout: float | None) -> OutputEvent | None:
        if self._closed:
            raise SessionClosed("the session is closed")
        if self._terminal_stale:
            self.sync_terminal()
        timeout = self._ack_before_waiting(timeout)
        ready = dict(self._poller.poll(None if timeout is None else int(timeout * 1000) + 1))
        if self._wake_r.fileno() in ready:  # drained, or every later poll returns at once (a busy loop)
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
            if self._socket not in ready:
                return None
        if self._monitor in ready:
            event = _monitor_event(self._monitor.recv_multipart())
            if event == zmq.EVENT_DISCONNECTED and self._socket not in ready:
                if self.on_link_lost is not None and self.on_link_lost(self):
                    return None
                self._teardown()
                raise ConnectionLost(
                    f"lost the connection to the server at {self.where}; the session (namespace and any run) "
                    "goes on there; connect again to reattach"
                )
        if self._socket not in ready:
            return None
        try:
            received = self._conn.receive(self._socket.recv_multipart())
        except VersionMismatch:
            self._teardown()
            raise
        except RemoteProtocolError as exc:  # one bad message (a server bug): say so, and go on with the next
            text = f"[remrepl: a message from the server could not be read and was skipped: {exc}]"
            return Notice(seq=self.last_seq, text=text)
        return self._on_event(received)

    def _on_event(self, event: Event) -> OutputEvent | None:
        if isinstance(event, Welcome):
            self.welcome = event
            self._replay_left = event.replay
            # A new attachment has no terminal until it says so: said before the next run or wait.
            self._terminal_sent, self._terminal_stale = None, self._terminal_source is not None
            # Reattached after a lost link (client/reconnect.py): the server has dropped our transfers.
            self._transfers.fail_all("the link was lost; the transfer was stopped")
            return None
        if isinstance(event, Rejected):
            if event.code == "duplicate" and event.req_id in self._resent:
                return None
            if event.code == "version":
                self._teardown()
                raise ConnectError(f"the server refused this client: {event.message}")
            raise ServerError(event.code, f"the server refused the request: {event.message}")
        if isinstance(event, Bye):
            self._teardown()
            raise SessionClosed(f"the server detached this client: {event.reason}")
        if isinstance(event, TRANSFER_SERVER_EVENTS):
            self._transfers.deliver(event)
            return None
        if isinstance(event, StdinAck):
            if self.on_stdin_ack is not None:
                self.on_stdin_ack(event)
            return None
        if isinstance(event, Done) and self._unfinished is not None and event.req_id == self._unfinished.req_id:
            self._unfinished = None
        if isinstance(event, Done) and event.cwd and self.script:
            self.run_cwd = event.cwd
        assert isinstance(event, OUTPUT_EVENTS)
        self.last_seq = max(self.last_seq, event.seq)
        if self._replay_left:
            self._replay_left -= 1
        if isinstance(event, Result) and event.more:  # a batch: each repr a Result of its own
            self._expanded.extend(Result(event.seq, event.req_id, text) for text in event.more)
            return Result(event.seq, event.req_id, event.text)
        if isinstance(event, Done) and event.results:
            self._expanded.extend(Result(event.seq, event.req_id, text) for text in event.results[1:])
            self._expanded.append(event)
            return Result(event.seq, event.req_id, event.results[0])
        return event

    def _receive_all(self, timeout: float) -> list[OutputEvent]:
        """Output events read from the stream within ``timeout`` (during a transfer): the one received,
        then the Results unpacked from it, in their order."""
        event = self._receive(timeout)
        if event is None:
            return []
        received = [event, *self._expanded]
        self._expanded.clear()
        return received

    def wake(self) -> None:
        """Make a ``next_event`` blocked in another thread return None now (thread-safe)."""
        try:
            self._wake_w.send(b"w")
        except OSError:
            pass

    @property
    def replaying(self) -> bool:
        """True while output missed earlier is still arriving after the Welcome."""
        return self._replay_left > 0

    # --- running code -------------------------------------------------------------------------

    def execute(
        self,
        code: str,
        *,
        mode: ExecMode = "interactive",
        filename: str = "<remote>",
        argv: tuple[str, ...] = (),
        origin: str = "",
        cwd: str = "",
        stdin: bool = False,
    ) -> Execution:
        """Start running ``code``; iterate the returned Execution for its output. (``origin``, ``cwd``,
        ``stdin``: a script run's, see ``run_script``.)"""
        req_id = uuid.uuid4().hex
        self.sync_terminal()  # a resize while idle at the prompt (its SIGWINCH was the prompt's)
        now, ack = time.monotonic(), self.last_seq
        self.send(Execute(req_id, code, mode, filename, tuple(argv), ack=ack, origin=origin, cwd=cwd, stdin=stdin))
        self._in_burst = now - self._run_over_at < ACK_DELAY
        if ack > self._acked:  # the Execute carried it: no Ack of its own is due
            self._acked, self._acked_at, self._ack_deferred = ack, now, False
        return Execution(self, req_id)

    def running(self) -> Execution | None:
        """The run that was in progress when we attached (its output follows), if any."""
        if self._conn.running and self.welcome is not None and self.welcome.running == self._conn.running:
            return Execution(self, self._conn.running)
        return None

    def current_run(self) -> Execution | None:
        """The run in progress now (started by this session, or found running when it attached), if any."""
        return Execution(self, self._conn.running) if self._conn.running else None

    def run(
        self,
        code: str,
        *,
        timeout: float | None = None,
        mode: ExecMode = "interactive",
        filename: str = "<remote>",
        argv: tuple[str, ...] = (),
    ) -> RunResult:
        """Run ``code`` to the end and collect its output; ``ExecutionTimeout`` interrupts it."""
        return self.collect(self.execute(code, mode=mode, filename=filename, argv=argv), timeout)

    def run_script(
        self,
        path: str | os.PathLike[str],
        args: tuple[str, ...] | list[str] = (),
        *,
        source: str | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        get: Iterable[str] = (),
        get_to: str | os.PathLike[str] | None = None,
    ) -> RunResult:
        """Run the local file ``path`` (or ``source`` under that name) as ``python FILE ARGS`` does, in a
        fresh remote interpreter of its own: the session's namespace is not touched. ``stdin``: the bytes
        of its standard input (None: reading it asks ``input_handler``). ``exit_code`` is its exit status.

        ``get``: remote files or directories (relative: to the directory the script ran in, ``cwd`` of the
        result) downloaded after the run, whatever its end, into ``get_to`` (None: the current directory)
        under their names (``fetch_results``); ``downloads`` and ``download_errors`` of the result say how
        it went. After a ``timeout`` they are downloaded too, before ``ExecutionTimeout`` is raised.

        The same path as ``remrepl exec`` (``script.py``). On a session that is attached (not made with
        ``script=True``) the run goes over a second, script connection, so this session stays attached."""
        import io

        from .script import start_script

        path = os.fspath(path)
        if source is None:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        if not self.script:
            with self.script_connection() as runner:
                return runner.run_script(
                    path, args, source=source, stdin=stdin, timeout=timeout, get=get, get_to=get_to
                )
        reader = io.BytesIO(stdin).read if stdin is not None else None
        gets = list(get)
        try:
            result = self.collect(start_script(self, path, source, list(args), stdin=reader), timeout)
        except ExecutionTimeout:
            if gets:
                self.fetch_results(gets, get_to)
            raise
        result.cwd = self.run_cwd
        for fetched in self.fetch_results(gets, get_to):
            if fetched.result is not None:
                result.downloads.append(fetched.result)
            else:
                result.download_errors[fetched.path] = fetched.error
        return result

    def fetch_results(
        self,
        paths: Iterable[str],
        to: str | os.PathLike[str] | None = None,
        *,
        progress: Callable[[str], Progress | None] | None = None,
    ) -> list[Fetched]:
        """Download the remote files or directories ``paths`` of the last script run on this script
        connection (relative ones: from the directory it ran in, ``run_cwd``) into the local directory
        ``to`` (None: the current one; made if missing), each under its own name, replacing what had that
        name there; one ``Fetched`` each (``.result``, or ``.error``: ``.missing`` when it does not exist
        there), in order. ``progress(path)``: a progress callback for that download, or None."""
        welcome = self.welcome
        supported = welcome is not None and (welcome.script_transfers or not self.script)
        return fetch(self._transfers, paths, to or "", base=self.run_cwd, supported=supported, progress=progress)

    def script_connection(self) -> Session:
        """A new script connection to the same server (``run_script`` on an attached session uses one)."""
        return Session(self.info, self._keys, input_handler=self.input_handler, script=True)

    def collect(self, execution: Execution, timeout: float | None = None) -> RunResult:
        """Follow ``execution`` to its end and collect its output; ``ExecutionTimeout`` interrupts it."""
        out, err = bytearray(), bytearray()
        result = RunResult(status="ok", exit_code=0)
        try:
            for event in execution.events(timeout):
                if isinstance(event, Stream) and event.req_id == execution.req_id:
                    (out if event.name == "stdout" else err).extend(event.data)
                elif isinstance(event, Result) and event.req_id == execution.req_id:
                    result.results.append(event.text)
                elif isinstance(event, Error) and event.req_id == execution.req_id:
                    result.error = event
                elif isinstance(event, Notice):
                    result.notices.append(event.text)
                elif isinstance(event, Display) and event.req_id == execution.req_id:
                    result.displays.append(event)
        except ExecutionTimeout:
            execution.interrupt()
            execution.wait(5.0)
            raise
        assert execution.done is not None
        result.status, result.exit_code = execution.done.status, execution.done.exit_code
        result.stdout = out.decode(errors="replace")
        result.stderr = err.decode(errors="replace")
        return result

    def restart(self, *, force: bool = False) -> Execution:
        """Replace the remote interpreter by a fresh one; the returned Execution ends when it is ready
        to run code (its Notice says so). The namespace is gone.

        ``force``: also while a run is in progress (code that ignores KeyboardInterrupt or is stuck in
        C): the interpreter and every process it started are killed, and that run ends first with
        ``Done(status="died")``. Without it, restarting during a run raises ``LocalProtocolError``."""
        req_id = uuid.uuid4().hex
        self.send(Restart(req_id, force=force))
        return Execution(self, req_id)

    # --- side requests: answered while code runs, from any thread (side.py) ---------------------

    def complete(self, code: str, cursor: int | None = None, *, timeout: float = 5.0) -> Completions:
        """Completions computed remotely for ``code`` with the cursor at ``cursor`` (default: the end).

        Each of ``.matches`` replaces ``code[.start:cursor]``; ``.kinds`` says what each one is. Safe to
        call from any thread, also while a run keeps the remote interpreter busy.
        """
        return self._side.complete(code, cursor, timeout)

    def complete_path(self, typed: str, *, directories_only: bool = False, timeout: float = 5.0) -> Completions:
        """The remote paths that start with ``typed`` (relative to the remote interpreter's working
        directory; ``~`` is the remote home), as ``.matches``: whole paths, directories ending in ``/``,
        hidden entries only when the typed name starts with ``.``, a bounded number; ``.kinds`` says
        ``directory`` or ``file``. With ``directories_only`` no files."""
        return self._side.complete_path(typed, directories_only, timeout)

    def inspect(self, name: str, *, detail: int = 0, timeout: float = 10.0) -> Inspection:
        """Help on the remote object ``name`` (a dotted name): type, signature and docstring as ``.text``;
        with ``detail=1`` its source too. ``.found`` is False (and ``.text`` says why) if there is none."""
        return self._side.inspect(name, detail, timeout)

    def get(self, name: str, *, timeout: float = 60.0) -> object:
        """A copy of the remote object bound to ``name`` (pickled remotely with cloudpickle).

        ``ObjectError`` if there is no such name, or the object cannot be pickled there or unpickled here.
        """
        return self._side.get(name, timeout)

    def put(self, name: str, value: object, *, timeout: float = 60.0) -> None:
        """Bind ``name`` in the remote namespace to a copy of ``value`` (cloudpickle: functions and
        lambdas defined interactively travel by value). ``ObjectError`` if it cannot be pickled here or
        unpickled there; the remote namespace is then unchanged."""
        self._side.put(name, value, timeout)

    def forward_aws_credentials(
        self, session: Any = None, *, duration: int = aws_credentials.DEFAULT_DURATION, timeout: float = 30.0
    ) -> datetime.datetime | None:
        """Lend the remote kernel temporary AWS credentials from ``session`` (a ``boto3.Session``; default:
        boto3's standard chain here). Long-term keys are exchanged for STS session credentials valid
        ``duration`` seconds (900 to 129600); temporary ones are forwarded as they are. Returns when they
        expire (UTC; None if unknown). Forward again (e.g. after reconnecting) before then: a running
        cluster picks up the fresh ones."""
        return aws_credentials.forward(self._side, session, duration=duration, timeout=timeout)

    # --- file transfers (session_transfers.py, transfer.py) ------------------------------------

    def upload(
        self, local: str | os.PathLike[str], remote: str | None = None, progress: Progress | None = None
    ) -> TransferResult:
        """Copy the local file or directory ``local`` to the server, as ``cp`` would: to ``remote`` (None:
        the kernel's current directory; an existing directory: inside it). ``progress(done, total)`` is
        called as bytes are acknowledged. ``TransferError`` if it fails; then nothing is left at the target."""
        return self._transfers.upload(local, remote or "", progress)

    def download(
        self, remote: str, local: str | os.PathLike[str] | None = None, progress: Progress | None = None
    ) -> TransferResult:
        """Copy the remote file or directory ``remote`` (relative: to the kernel's current directory) here,
        to ``local`` (None: the current directory; an existing directory: inside it)."""
        return self._transfers.download(remote, local or "", progress)

    def sync_workdir(
        self,
        local: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        max_files: int | None = None,
        progress: Progress | None = None,
        enter: bool = True,
    ) -> SyncResult:
        """Make the server's copy of the project directory ``local`` match it (only what changed crosses;
        see ``sync.py``); ``last_sync`` keeps the result. ``enter``: the remote interpreter then works
        there (its cwd the first time, on ``sys.path``; not on a script connection, which has none).
        ``WorkdirTooLarge`` over a limit (defaults in ``remrepl.workdir.limits``), ``WorkdirError`` for a
        file it cannot read, ``TransferError`` if the server refuses or the link fails."""
        from .sync import ENTER_SECONDS, enter_code, sync_workdir  # imported only by who syncs

        limits = {k: v for k, v in (("max_bytes", max_bytes), ("max_files", max_files)) if v is not None}
        result = sync_workdir(self._transfers, local, progress=progress, **limits)
        self.last_sync = result
        if enter and not self.script:
            run = self.run(enter_code(result.remote), timeout=ENTER_SECONDS, filename="<workdir>")
            if run.error is not None:
                why = f"{run.error.ename}: {run.error.evalue}"
                raise WorkdirError(f"the remote interpreter could not enter {result.remote}: {why}")
        return result

    def drain_held(self) -> list[OutputEvent]:
        """Output events that arrived during a transfer and were not read yet (to show them now)."""
        held = self._transfers.drain_held()
        self._seen = max([self._seen, *(event.seq for event in held)])
        return held

    # --- leaving ------------------------------------------------------------------------------

    def close(self) -> None:
        """Detach: the server, its namespace and any run go on. Idempotent."""
        if self._closed:
            return
        if self._conn.state.value in ("idle", "running"):
            try:
                self.send(Detach(ack=self.last_seq))
            except (ConnectionLost, SessionClosed):
                pass
        self._teardown(linger_ms=500)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the server (its interpreter and namespace go with it), then close."""
        if self._closed:
            return
        self.on_link_lost = None  # the server is going away on purpose: no reconnecting to it
        self.send(Shutdown())
        deadline = time.monotonic() + timeout
        try:
            while not self._closed and time.monotonic() < deadline:
                self.next_event(deadline - time.monotonic())
        except (SessionClosed, ConnectionLost):
            pass
        self._teardown()

    def _teardown(self, linger_ms: int = 0) -> None:
        if self._closed:
            return
        self._closed = True
        self._side.close()
        self._wake_r.close()
        self._wake_w.close()
        for callback in self.on_close:
            callback()
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        self._socket.close(linger=linger_ms)
        self._ctx.term()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Session:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def connect(
    connection_file: str | os.PathLike[str] | None = None,
    *,
    info: ConnectionInfo | None = None,
    password: str | None = None,
    connect_timeout: float = 10.0,
    input_handler: InputHandler = terminal_input,
    script: bool = False,
) -> Session:
    """Attach to a server, described by a connection file or a ``ConnectionInfo``.

    The client key comes from the record's ``client_secret_key`` (launcher records) or is derived from
    ``password`` (Argon2id, salted with the server's public key).
    """
    if info is None:
        if connection_file is None:
            raise TypeError("connect() needs connection_file or info")
        info = ConnectionInfo.read(connection_file)
    if info.client_secret_key:
        keys = KeyPair.from_secret(info.client_secret_key)
    elif password is not None:
        keys = derive_client_keys(password, info.server_public_key, info.kdf)
    else:
        raise TypeError("connect() needs a password for a server that was not started by a launcher")
    return Session(info, keys, connect_timeout=connect_timeout, input_handler=input_handler, script=script)
