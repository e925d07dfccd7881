"""The supervisor's side of the kernel: its life cycle (start, restart, death) and what it sends.

An object ``Supervisor`` (``supervisor.py``) holds and delegates to; the supervisor owns the poll loop
and the sockets, the session core (``session_core.py``) owns the session's state (what runs, what waits
for input). This watches the kernel's pipes and control socket in the supervisor's poller, turns its
output and messages into numbered output events (``emit``), and replaces a kernel that died or that the
client restarted.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol

import zmq

from ..._exceptions import RemoteProtocolError
from ...protocol import (
    Display,
    Done,
    Error,
    Execute,
    InputRequest,
    Notice,
    OutputEvent,
    Progress,
    Restart,
    Result,
    Stream,
    Terminal,
)
from ...protocol.kernel_channel import (
    Ack,
    AskInput,
    InputText,
    KernelReady,
    ReportProgress,
    Results,
    RunCode,
    RunDone,
    ShowDisplay,
    decode_line,
)
from ...protocol.side import MAX_OBJECT_BYTES
from .bounds import FIELD_BUDGET, SMALL_BUDGET, batches, clip, fits_done, result_pieces
from .guard import guarded
from .kernel_process import KernelProcess
from .process_tree import become_subreaper, reap_orphans
from .side_requests import SideRequests

log = logging.getLogger("remrepl.server")
P = ParamSpec("P")


class Emit(Protocol):
    """Make the output event ``kind(next seq, *args)``, keep it for replay, deliver it; its seq."""

    def __call__(self, kind: Callable[Concatenate[int, P], OutputEvent], *args: P.args, **kwargs: P.kwargs) -> int: ...


class RunBook(Protocol):
    """What a KernelLink needs of the state it reports to: the session core (``SessionCore``), or a
    script run's own book (``script_runs.py``)."""

    running: str
    pending_execute: Execute | None
    terminal: Terminal | None  # the client's terminal (None: it has none): the kernel's pty follows it

    def kernel_started(self) -> None: ...

    def kernel_became_ready(self) -> Execute | None: ...

    def input_requested(self, seq: int) -> None: ...

    def start_run(self, req_id: str) -> None: ...

    def run_ended(self, now: float) -> None: ...


class KernelLink:
    """The kernel process of a session, its life cycle and its messages; its collaborators are given.

    ``core``: the session's state (the run in progress, the input it waits for); ``emit``: delivers an
    output event (the supervisor's); ``poller``: the supervisor's, which this keeps the kernel's
    descriptors in; ``side``: the side requests' book-keeping; ``clock``: monotonic seconds."""

    def __init__(
        self,
        *,
        python: str,
        fd_limit: int,
        core: RunBook,
        emit: Emit,
        poller: zmq.Poller,
        side: SideRequests,
        clock: Callable[[], float],
    ) -> None:
        self.python = python
        self.user_fd_limit = fd_limit  # the soft RLIMIT_NOFILE user code gets (the supervisor raised its own)
        self.core = core
        self._emit = emit
        self._poller = poller
        self.side = side
        self._clock = clock
        self.kernel: KernelProcess | None = None
        self._watching_output = False  # are the kernel's pipes in the poller (not while backlogged)
        self.children_exited = False  # SIGCHLD came: an adopted orphan may wait to be reaped
        self.done_cwd = ""  # Done.cwd: a script run's working directory (ScriptLink); "" for the session's

    @property
    def running(self) -> str:
        """req_id of the run in progress (the core's)."""
        return self.core.running

    def start(self) -> None:
        """Start the first kernel."""
        self._start_kernel()

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
            self.kernel = None

    def run(self, event: Execute) -> None:
        """Have the kernel run ``event`` (the core made it the run in progress)."""
        assert self.kernel is not None
        self.kernel.use_terminal(self.core.terminal)  # the attached client's, decided as each run starts
        self.kernel.send(RunCode(event.code, event.mode, event.filename, event.argv))

    def resize(self) -> None:
        """The attached client's terminal changed size (or it attached): the pty follows at once, so a
        run that draws (a progress bar, a full-screen program) gets its SIGWINCH while it goes on."""
        terminal = self.core.terminal
        if self.kernel is not None and terminal is not None:
            self.kernel.resize(terminal)

    @property
    def terminal(self) -> Terminal | None:
        """The attached client's terminal (None: it has none): what a kernel started now is given."""
        return self.core.terminal

    def send_input(self, text: str, eof: bool) -> None:
        """The answer to the kernel's pending ``input()``."""
        if self.kernel is not None:
            self.kernel.send(InputText(text, eof))

    def interrupt(self) -> None:
        if self.kernel is not None:
            self.kernel.interrupt()

    def cancel_pending_run(self) -> None:
        """An Interrupt for a run still waiting for the kernel to start ends it as Ctrl-C would."""
        self._emit(Error, self.running, "KeyboardInterrupt", "", "KeyboardInterrupt\n")
        self._finish_run("interrupted", 130)

    def on_ready(self, ready: dict[Any, int]) -> None:
        """Handle what the poll found ready on the kernel's descriptors (each dispatch point guarded)."""
        kernel = self.kernel
        if kernel is None:
            return
        output_ready = kernel.tty_fd in ready or kernel.stdout_fd in ready or kernel.stderr_fd in ready
        if kernel.side_fd in ready:
            with guarded("side replies from the interpreter"):
                self.side.on_kernel_ready(kernel, ready[kernel.side_fd])
        if kernel.control_fd in ready:
            self._on_kernel_messages(output_ready)  # guarded message by message
        elif output_ready:
            with guarded("the interpreter's output"):
                self._drain_output()

    def _start_kernel(self) -> None:
        become_subreaper()  # before the first kernel: its orphans come to us, to be ended with it
        self.kernel = self._new_process()
        self.core.kernel_started()
        self._watch_kernel_output(True)
        self._poller.register(self.kernel.control_fd, zmq.POLLIN)
        self.side.watch(self.kernel)
        log.info("kernel started, pid %d", self.kernel.pid)

    def _new_process(self) -> KernelProcess:
        """A new kernel process (a script run's link starts its own kind: ``script_runs.py``)."""
        return KernelProcess(self.python, fd_limit=self.user_fd_limit, terminal=self.core.terminal)

    def on_sigchld(self, signum: int, frame: object) -> None:
        self.children_exited = True  # the loop reaps (a signal handler must not walk /proc)

    def reap_orphans(self) -> None:
        """Reap the processes user code left behind that have exited since (the kernel is Popen's)."""
        self.children_exited = False
        reap_orphans(spare=(self.kernel.pid,) if self.kernel is not None else ())

    def _unwatch_kernel(self, kernel: KernelProcess) -> None:
        self._watch_kernel_output(False)
        self._poller.unregister(kernel.control_fd)
        self.side.unwatch(kernel)

    def restart(self, event: Restart) -> None:
        """``%restart``: a fresh interpreter, as a run that ends at once (Notice, then Done). Forced while a
        run goes on (``%restart -f``): that run's interpreter is killed with its whole process tree, and
        the run ends first, with Done(status="died")."""
        kernel = self.kernel
        assert kernel is not None
        killed = self.running
        self._drain_output()  # what the old interpreter wrote is the old run's
        self._unwatch_kernel(kernel)
        kernel.close(force=bool(killed))  # code that ignores SIGTERM too is not waited for
        if killed:
            log.info("kernel pid %d killed: forced restart during run %s", kernel.pid, killed[:8])
            self.core.pending_execute = None
            self._finish_run("died", kernel.exit_code() or 128 + 9)
            text = "The remote interpreter was killed and restarted, as asked: names defined before are gone."
        else:
            log.info("kernel pid %d stopped: restart asked by the client", kernel.pid)
            text = "The remote interpreter was restarted: names defined before are gone."
        self.core.start_run(event.req_id)
        self._start_kernel()
        self._emit(Notice, text)
        self._finish_run("ok", 0)

    def watch_output(self, on: bool) -> None:
        """Read the kernel's pipes (or, while the client's queue is full, leave them to fill and block it)."""
        if self.kernel is not None:
            self._watch_kernel_output(on)

    def _watch_kernel_output(self, on: bool) -> None:
        assert self.kernel is not None
        if on == self._watching_output:
            return
        self._watching_output = on
        for fd in self.kernel.output_fds:
            if on:
                self._poller.register(fd, zmq.POLLIN)
            else:
                self._poller.unregister(fd)

    def _drain_output(self) -> None:
        """Turn what waits in the kernel's pty and pipes into Stream events (the pty's as stdout, then the
        stdout pipe's, then the stderr pipe's: the kernel keeps the pipes' order, see kernel/main.py)."""
        assert self.kernel is not None
        kernel = self.kernel
        if kernel.tty_open:
            tty, still_open = kernel.read_tty()
            if tty:
                self._emit(Stream, self.running, "stdout", tty)
            if not still_open and self._watching_output:  # nobody holds its slave end any more
                self._poller.unregister(kernel.tty_fd)
        out = self.kernel.read_output(self.kernel.stdout_fd)
        if out:
            self._emit(Stream, self.running, "stdout", out)
        err = self.kernel.read_output(self.kernel.stderr_fd)
        if err:
            self._emit(Stream, self.running, "stderr", err)

    def _on_kernel_messages(self, output_ready: bool) -> None:
        """Handle what the kernel sent, each message after the output written before it.

        The kernel flushes its pipes before it writes a message, so output that precedes the first
        message was there when poll() returned: ``output_ready`` says whether there is any. Output
        before later messages of the batch may have arrived since: drain before each of those.
        Each message is handled under the guard: one that breaks something is logged and reported
        with a Notice, and the next one is handled as usual.
        """
        assert self.kernel is not None
        messages = self.kernel.read_messages()
        if messages is None:
            self._on_kernel_died()
            return
        for i, msg in enumerate(messages):
            if i or output_ready or not self._watching_output:
                with guarded("the interpreter's output"):
                    self._drain_output()
            with guarded("a message from the interpreter", self._notice):
                self._on_kernel_message(msg)

    def _notice(self, text: str) -> None:
        self._emit(Notice, f"[remrepl: {text}]")

    def _on_kernel_message(self, raw: bytes) -> None:
        assert self.kernel is not None
        try:
            msg = decode_line(raw)  # strict: the kernel is untrusted (protocol/kernel_channel.py)
        except RemoteProtocolError as exc:  # user code wrote to the control socket, most likely
            log.warning("ignored a malformed control message from the kernel (%s): %.200r", exc, raw)
            return
        if isinstance(msg, KernelReady):
            self.kernel.ready = True
            pending = self.core.kernel_became_ready()
            if pending is not None:
                self.run(pending)
        elif isinstance(msg, Results):
            self._emit_results(list(msg.texts))
            self.kernel.send(Ack())
        elif isinstance(msg, ShowDisplay):
            mime, data = clip(msg.mime, SMALL_BUDGET, "MIME type"), _b64(msg.data)
            if len(data) <= MAX_OBJECT_BYTES:
                self._emit(Display, self.running, mime, data)
            else:  # a frame over the sockets' message size would cost the client its connection
                self._emit(Notice, f"[remrepl: a {mime} of {len(data):,} bytes is too big to show]")
            if msg.ack:
                self.kernel.send(Ack())
        elif isinstance(msg, AskInput):
            prompt = clip(msg.prompt, FIELD_BUDGET, "prompt")
            self.core.input_requested(self._emit(InputRequest, self.running, prompt, msg.password))
        elif isinstance(msg, ReportProgress):
            task, label = clip(msg.task, SMALL_BUDGET, "task name"), clip(msg.label, SMALL_BUDGET, "label")
            self._emit(Progress, self.running, task, label, msg.done, msg.total, msg.elapsed, msg.final)
        elif isinstance(msg, RunDone):
            results = list(msg.results)
            if msg.ename is not None:
                self._emit(Error, self.running, *_bounded_error(msg.ename, msg.evalue, msg.traceback))
            if msg.ename is not None or not fits_done(results):  # before its traceback; or too many to ride
                self._emit_results(results)
                results = []
            self._finish_run(msg.status, msg.exit_code, tuple(results))
        # (the messages to the kernel, if it sends them back: ignored)

    def _emit_results(self, texts: list[str]) -> None:
        """The reprs as Result events, as many in each as fit (``Result.more``); one too big for a
        message goes as the stdout ``python`` would print."""
        for batch in batches(texts):
            if isinstance(batch, list):
                self._emit(Result, self.running, batch[0], tuple(batch[1:]))
            else:
                for piece in result_pieces(batch):
                    self._emit(Stream, self.running, "stdout", piece)

    def _finish_run(self, status: Any, exit_code: int, results: tuple[str, ...] = ()) -> None:
        self._emit(Done, self.running, status, exit_code, results, cwd=self.done_cwd)
        self.core.run_ended(self._clock())

    def _on_kernel_died(self) -> None:
        kernel = self.kernel
        assert kernel is not None
        self._drain_output()
        how = kernel.wait_status()
        code = kernel.exit_code()
        self._unwatch_kernel(kernel)
        kernel.close()
        log.warning("kernel pid %d died (%s); starting a new one", kernel.pid, how)
        self._start_kernel()
        text = f"The remote Python interpreter died ({how}). A new one was started: names defined before are gone."
        self._emit(Notice, text)
        if self.running:
            self._finish_run("died", code or 1)


def _bounded_error(ename: str, evalue: str, traceback: str) -> tuple[str, str, str]:
    """An exception's name, value and traceback, each cut to fit (the whole is kept in the kernel)."""
    rest = " (the whole exception is sys.last_value on the server; traceback.print_last() prints it)"
    return (
        clip(ename, SMALL_BUDGET, "exception name", rest),
        clip(evalue, FIELD_BUDGET, "exception message", rest),
        clip(traceback, FIELD_BUDGET, "traceback", rest),
    )


def _b64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return b""
