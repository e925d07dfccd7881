"""The kernel: the child process that holds the user's namespace and runs their code.

The supervisor starts it as ``python -c "from remrepl.server.kernel.main import main; main(FD, SIDE)"``
(after a prologue that makes the import path safe: ``imports.py``) with stdout and stderr on pipes to the
supervisor, FD a socket for control messages (internal to the server, not the wire protocol:
``protocol/kernel_channel.py`` lists them, one a line), and SIDE a socket for side requests (``kernel_side``).

Ordering: output goes through the pipes, everything else through the control socket, and the two must
not overtake each other. The kernel flushes its stdout and stderr before every control message, and the
supervisor drains the pipes before handling one. An expression's repr is held back until the run ends
(then it rides in ``RunDone``: a single message for ``1+1``) or until the code writes anything more; then the
kernel sends ``Results`` and waits for the ``Ack``, so no later output can reach the pipes before it.

Stream order without a terminal: stdout and stderr are two pipes, which the supervisor reads one after
the other, so what reached both between two reads would come out stdout first whatever the order it was
written in. So a write to one stream after the other waits (bounded) until the supervisor has read what
the other stream's pipe holds (``FIONREAD``): a warning and the ``print`` after it come out in the order
written. Only a switch of stream pays: print-heavy code writes to stdout at C speed (``_PlainStream``).
With a terminal (the client's, ``UseTerminal``) both are one pty and nothing waits.

This module imports only the standard library (and ``mpl_hook`` and ``protocol.kernel_channel``, which do
too): it is the first thing a new interpreter loads.
"""

from __future__ import annotations

import ast
import base64
import builtins
import getpass
import importlib.machinery
import io
import os
import signal
import socket
import sys
import threading
import time
import types
from typing import Any, NoReturn, TypeVar

from ..._exceptions import LocalProtocolError, RemoteProtocolError
from ...protocol.kernel_channel import (
    Ack,
    AskInput,
    ControlMessage,
    InputText,
    KernelReady,
    ReportProgress,
    Results,
    RunCode,
    RunDone,
    RunScript,
    RunStatus,
    ShowDisplay,
    UseTerminal,
    decode_line,
    encode_line,
)
from . import debugger
from . import environment as kernel_environment
from . import imports as kernel_imports
from . import plots as mpl_hook
from .outputs import Outputs
from .tracebacks import hands_over, remember_source
from .tracebacks import report as report_exception

_T = TypeVar("_T")

# Held-back reprs go out once they add up to this many characters, so no control message (and no event
# made of one) grows with the number of results of a run (``for i in range(10**6): i``); a bigger repr
# goes at once, alone, and the supervisor sends it as stdout (server/bounds.py).
RESULTS_BATCH = 1 << 17
STDOUT_BUFFER = 1 << 20  # big buffers: an unbuffered pipe is ~8x slower for print-heavy code...
FLUSH_INTERVAL = 0.02  # ...and a timed flush keeps a slow loop's prints live (< 50 ms behind)
# Flush Python's buffers before anything that writes to fds 1/2 behind its back, to keep the order.
_MAIN_THREAD = threading.main_thread()
BUILTIN_INPUT = builtins.input  # before the kernel replaces it: a script run (``script.py``) puts it back
_FLUSH_BEFORE = frozenset({"os.system", "subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.spawn"})
# What python's interactive mode sets (code that asks ``hasattr(sys, "ps1")`` takes the kernel for a REPL);
# a script run (``python FILE`` has none) does not see them.
_PROMPTS = {"ps1": ">>> ", "ps2": "... "}
# Files whose frames pdb leaves out (debugger.py): the kernel's own, and helpers that run user code for a
# magic (ipython_magics.py adds itself); the one-line calls the prompt generates for magics are
# "<remrepl-...>". Tracebacks leave out every file of remrepl's, and those calls (tracebacks.py).
HIDDEN_FILES = {__file__}


class _PlainStream(io.TextIOWrapper):
    """stdout while no result is held back: C-speed ``write``, as print-heavy code needs."""

    kernel: Kernel | None = None
    flush_first: io.TextIOWrapper | None = None


class _OutputStream(_PlainStream):
    """stderr always; stdout while a result is held back or its first write after stderr's: delivers
    held-back results first; keeps the two streams in the order they were written (see the module's
    docstring): stderr flushes stdout and waits for its pipe to be read, stdout does so with stderr."""

    def write(self, s: str) -> int:
        kernel = self.kernel
        if kernel is not None and kernel.must_deliver_results():
            kernel.send_results()  # may turn this very object back into a _PlainStream...
        if kernel is not None:
            if self.flush_first is not None:  # stderr
                self.flush_first.flush()
                kernel.wait_drained(1)
                written = io.TextIOWrapper.write(self, s)
                kernel.stderr_written()
                return written
            kernel.after_stderr()  # stdout
        return io.TextIOWrapper.write(self, s)  # ...so no super() here


class _RemoteStdin(io.TextIOBase):
    """``sys.stdin`` of the kernel: every read becomes an input request to the client."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        text = self._kernel.request_input("", password=False, eof_ok=True)
        return "" if text is None else text + "\n"

    def read(self, size: int | None = -1) -> str:
        return "".join(iter(self.readline, ""))

    def close(self) -> None:
        pass  # site's exit() closes stdin before raising SystemExit; the kernel lives on


class Kernel:
    def __init__(self, control: socket.socket, pty_fd: int | None = None) -> None:
        self.control = control
        self.outputs = Outputs(pty_fd)  # fds 1 and 2: the pipes, or the client's terminal (``outputs.py``)
        self.wait_drained = self.outputs.wait_drained
        self._stderr_pending = False  # stderr was written since stdout last waited for its pipe
        self.reader = control.makefile("rb")
        self.running = False
        self.counter = 0
        self.pending_results: list[str] = []
        self.pending_chars = 0  # characters in pending_results
        global _active
        _active = self
        self.main = types.ModuleType("__main__")
        # The namespace of python's own ``>>>``: what the interpreter puts in __main__ at start-up.
        self.main.__dict__.update(
            __builtins__=builtins, __annotations__={}, __loader__=importlib.machinery.BuiltinImporter
        )
        sys.argv = [""]  # as at ``>>>`` (the kernel runs as ``python -c``: ['-c']); a script sets its own
        sys.modules["__main__"] = self.main  # so pickling and cloudpickle see prompt-defined names
        self.stdout = _PlainStream(
            io.BufferedWriter(io.FileIO(1, "w", closefd=False), STDOUT_BUFFER),
            encoding="utf-8",
            errors="backslashreplace",
        )
        self.stderr = _OutputStream(
            io.BufferedWriter(io.FileIO(2, "w", closefd=False), 1 << 16),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        self.stdout.kernel = self.stderr.kernel = self
        self.stderr.flush_first = self.stdout
        sys.stdout, sys.stderr, sys.stdin = self.stdout, self.stderr, _RemoteStdin(self)
        builtins.input = self.input
        getpass.getpass = self.getpass
        sys.displayhook = self.displayhook
        for name, value in _PROMPTS.items():
            setattr(sys, name, getattr(sys, name, value))
        sys.breakpointhook = debugger.breakpointhook  # pdb sees the user's frames only, as at >>>
        sys.addaudithook(self._audit)
        signal.signal(signal.SIGINT, self._on_sigint)
        self._send_lock = threading.Lock()  # plt.show() may come from a user's thread
        mpl_hook.install(self.display)  # matplotlib is hooked when imported, never imported here
        self._wake = threading.Event()  # set when a run starts while the flusher idles
        self._flusher_idle = False
        threading.Thread(target=self._flush_loop, name="remrepl-flush", daemon=True).start()

    # --- plumbing -----------------------------------------------------------------------------

    def flush(self) -> None:
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # the supervisor is gone or the user closed the stream
        if _libc is not None:
            _libc.fflush(None)  # C code's printf buffers (C extensions, ctypes)

    def _flush_loop(self) -> None:
        while True:
            # Idle: a slow tick, cut short when a run starts, so the run's first print is not late.
            self._flusher_idle = True
            self._wake.wait(0.1)
            self._flusher_idle = False
            self._wake.clear()
            # Busy: flush every FLUSH_INTERVAL until the runs stop. Staying here across back-to-back
            # runs means a run start rarely has to wake this thread (a thread switch each time).
            while True:
                time.sleep(FLUSH_INTERVAL)
                self.flush()
                if not self.running:
                    break

    def _audit(self, event: str, args: Any) -> None:
        if event in _FLUSH_BEFORE:
            if self.must_deliver_results():
                self.send_results()
            self.flush()
            # What we wrote is read before the child writes (it uses fds 1 and 2 behind our back), and
            # the next print waits for what it wrote to stderr.
            self.wait_drained(1)
            self.wait_drained(2)
            self.stderr_written()

    # --- stream order without a terminal (the module's docstring) -------------------------------

    def stderr_written(self) -> None:
        """stderr (or a child) wrote: stdout's next write waits for the stderr pipe first."""
        if not self._stderr_pending:
            self._stderr_pending = True
            if type(self.stdout) is _PlainStream:
                self.stdout.__class__ = _OutputStream

    def after_stderr(self) -> None:
        """stdout is about to write: what stderr wrote before goes first."""
        if self._stderr_pending:
            self._stderr_pending = False
            self.stderr.flush()
            self.wait_drained(2)
        if not self.pending_results:
            self.stdout.__class__ = _PlainStream  # back to C speed until stderr writes again

    # --- the terminal ---------------------------------------------------------------------------

    def use_terminal(self, msg: UseTerminal) -> None:
        """Between runs: fds 1 and 2 become the client's terminal or the pipes again (``outputs.py``)."""
        self.flush()
        self.outputs.use(msg)

    def _on_sigint(self, signum: int, frame: types.FrameType | None) -> None:
        if self.running:  # a late interrupt after the run must not hit the kernel's own loop
            raise KeyboardInterrupt

    def send(self, message: ControlMessage) -> bool:
        """Send ``message`` after the output written before it; False (and a note on stderr) if it
        cannot travel (a value too big for a control line, an exit code beyond 64 bits)."""
        try:
            # The leading newline ends whatever user code may have written to this socket without one:
            # that becomes a line of its own, which the supervisor drops, instead of hiding this message.
            line = encode_line(message)
        except LocalProtocolError as exc:
            self.stderr.write(f"[remrepl: not sent: {exc}]\n")
            line = b""
        self.flush()
        if not line:
            return False
        with self._send_lock:
            self.control.sendall(line)
        return True

    def receive(self, kind: type[_T]) -> _T:
        """The next control message of type ``kind``, skipping strays (a late ack or reply)."""
        while True:
            message = self._next_message()
            if isinstance(message, kind):
                return message

    def _next_message(self) -> ControlMessage:
        while True:
            line = self.reader.readline()
            if not line:
                os._exit(0)  # the supervisor closed the channel: it is gone or done with us
            try:
                return decode_line(line.rstrip(b"\n"))
            except RemoteProtocolError:
                continue  # an empty line (each message starts with a newline)

    def must_deliver_results(self) -> bool:
        """Results are held back and this is the thread that owns the control channel (the main one:
        a user's background thread printing meanwhile just writes, in no defined order anyway)."""
        return bool(self.pending_results) and threading.current_thread() is _MAIN_THREAD

    def send_results(self) -> None:
        texts, self.pending_results, self.pending_chars = self.pending_results, [], 0
        self.stdout.__class__ = _OutputStream if self._stderr_pending else _PlainStream
        if self.send(Results(tuple(texts))):
            self.receive(Ack)

    # --- what user code calls -----------------------------------------------------------------

    def request_input(self, prompt: str, *, password: bool, eof_ok: bool = False) -> str | None:
        if self.pending_results:
            self.send_results()
        self.send(AskInput(prompt, password))
        reply = self.receive(InputText)
        if reply.eof:
            if eof_ok:
                return None
            raise EOFError
        return reply.text

    def input(self, prompt: object = "") -> str:
        text = self.request_input(str(prompt), password=False)
        assert text is not None
        return text

    def getpass(self, prompt: str = "Password: ", stream: object = None) -> str:
        text = self.request_input(prompt, password=True)
        assert text is not None
        return text

    def display(self, mime: str, data: bytes) -> None:
        """Rich output (a plot) of the running code, in order with its text output."""
        main = threading.current_thread() is _MAIN_THREAD
        if main and self.pending_results:
            self.send_results()
        # From the main thread, wait for the ack (as for "results"): no later print may overtake the plot.
        if self.send(ShowDisplay(mime, base64.b64encode(data).decode("ascii"), ack=main)) and main:
            self.receive(Ack)

    def progress(self, **fields: Any) -> bool:
        """Send a progress update of the running code (``remrepl.cluster``'s map); False if it cannot."""
        if not self.running or threading.current_thread() is not _MAIN_THREAD:
            return False  # the control channel is the main thread's; a progress report is never worth a race
        if self.pending_results:
            self.send_results()  # what the run echoed before goes first
        try:
            report = ReportProgress(**fields)
        except TypeError:  # fields this kernel does not know (a newer caller): no report, not a failed map
            return False
        return self.send(report)

    @hands_over  # the repr is the user's (a __repr__ that raises shows its frames)
    def displayhook(self, value: object) -> None:
        if value is None:
            return
        if mpl_hook.is_figure(value) and getattr(value, "axes", None):  # a figure with something in it: shown
            # (an empty one, as ``plt.figure()`` echoes before anything is drawn, keeps its repr)
            mpl_hook.display_figure(value)
            return
        builtins._ = None  # type: ignore[attr-defined]  # as sys.__displayhook__ does
        text = repr(value)
        builtins._ = value  # type: ignore[attr-defined]
        self.stdout.flush()  # what was printed before the value goes first
        self.pending_results.append(text)
        self.pending_chars += len(text) + 4
        if self.pending_chars > RESULTS_BATCH and threading.current_thread() is _MAIN_THREAD:
            self.send_results()  # a batch is full: it goes now (and nothing is held back any more)
            return
        self.stdout.__class__ = _OutputStream  # the next write must deliver it first

    # --- running code -------------------------------------------------------------------------

    def execute(self, msg: RunCode) -> None:
        code, mode = msg.code, msg.mode
        self.counter += 1
        filename = msg.filename or f"<remote-{self.counter}>"
        if mode == "interactive" and filename == "<remote>":
            filename = f"<remote-{self.counter}>"
        remember_source(filename, code)  # so tracebacks show the user's lines, as for a file
        status: RunStatus = "ok"
        exit_code, error = 0, None
        try:
            self._run_user_code(code, mode, filename, list(msg.argv or [filename]))
        except SystemExit as exc:
            status, exit_code = "exit", self._exit_code(exc)
        except KeyboardInterrupt as exc:
            status, exit_code, error = "interrupted", 130, report_exception(exc)
        except BaseException as exc:
            status, exit_code, error = "error", 1, report_exception(exc)
        results, self.pending_results, self.pending_chars = self.pending_results, [], 0
        self.stdout.__class__ = _OutputStream if self._stderr_pending else _PlainStream
        done = RunDone(status, exit_code, tuple(results), *(error or (None,)))
        if not self.send(done):  # what did not fit was said on stderr; the run must end all the same
            self.send(RunDone(status, exit_code if -(2**63) <= exit_code < 2**63 else 1, ename=done.ename))

    @hands_over  # what it runs is the user's: their frames show from here on
    def _run_user_code(self, code: str, mode: str, filename: str, argv: list[str]) -> None:
        """Run the code; Ctrl-C raises KeyboardInterrupt only while this runs, never in the kernel's
        own bookkeeping after it (a second Ctrl-C while a traceback is formatted must not kill us)."""
        saved_argv, saved_main = sys.argv, sys.modules["__main__"]
        hidden = {name: vars(sys).pop(name) for name in _PROMPTS if name in vars(sys)} if mode == "script" else {}
        try:
            kernel_imports.before_user_code()  # what the kernel loaded for itself is not the user's json
            self.running = True
            if self._flusher_idle:  # waking the flusher costs a thread switch: only when it sleeps long
                self._wake.set()
            if mode == "script":
                script = types.ModuleType("__main__")
                script.__dict__.update(__file__=filename, __builtins__=builtins)
                # A spec named __main__ tells multiprocessing's spawn (Dask workers) not to re-run this
                # script in the child: the file is the client's and may not even exist here.
                script.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
                sys.argv = argv
                sys.modules["__main__"] = script
                exec(compile(code, filename, "exec", dont_inherit=True), script.__dict__)
            else:
                for compiled in _interactive_code(code, filename):
                    exec(compiled, self.main.__dict__)
        finally:
            self.running = False
            sys.argv = saved_argv
            sys.modules["__main__"] = saved_main
            vars(sys).update(hidden)

    def _exit_code(self, exc: SystemExit) -> int:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return int(exc.code)  # a bool or an int subclass: its int value
        print(exc.code, file=sys.stderr)  # as the interpreter does for sys.exit("message")
        return 1

    def serve(self) -> NoReturn:
        self.send(KernelReady(os.getpid(), sys.version.split()[0]))
        while True:
            try:
                msg = self._next_message()
            except KeyboardInterrupt:
                continue
            if isinstance(msg, UseTerminal):
                self.use_terminal(msg)
            elif isinstance(msg, RunScript):  # a one-off kernel: python FILE, then this process ends
                from . import script

                script.run(self, msg)
            elif isinstance(msg, RunCode):
                self.execute(msg)
            # (strays: a late ack or input reply)


def _interactive_code(code: str, filename: str) -> list[types.CodeType]:
    """``code`` compiled as the REPL would, one top-level statement at a time, so each expression echoes.

    A SyntaxError anywhere means none of it runs, as for a pasted block or a file.
    """
    try:
        return [compile(code, filename, "single", dont_inherit=True)]  # the common one-statement case
    except SyntaxError:
        pass  # several statements (or a real error, which ast.parse reports properly below)
    tree = ast.parse(code, filename, "exec")
    return [compile(ast.Interactive(body=[stmt]), filename, "single", dont_inherit=True) for stmt in tree.body]


def _load_libc() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None)
    except OSError:
        return None


_libc = _load_libc()
_active: Kernel | None = None  # the kernel of this process, for report_progress


def report_progress(**fields: Any) -> bool:
    """Show progress on the client's terminal (a Progress event); False outside a running kernel."""
    return _active is not None and _active.progress(**fields)


def main(
    control_fd: int, side_fd: int | None = None, fd_limit: int | None = None, pty_fd: int | None = None
) -> NoReturn:
    if fd_limit is not None:  # the user's own soft limit (the supervisor raised its own against floods)
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        except (ValueError, OSError):
            pass
    if sys.platform.startswith("linux") and _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the supervisor, leave no orphan
        if os.getppid() == 1:
            os._exit(0)  # it died before we asked
    kernel_environment.use_interpreter_environment()  # !pip, !python and subprocesses: this interpreter's
    if pty_fd is not None:
        os.set_inheritable(pty_fd, False)  # user code's children get it as their fds 1 and 2, if at all
    kernel = Kernel(socket.socket(fileno=control_fd), pty_fd)
    if side_fd is not None:  # completion, help, objects: answered by a thread while code runs
        from . import side as kernel_side

        kernel_side.start(side_fd, kernel.main.__dict__)
    # Last: everything above came from the safe start-up path; user code gets the working directory.
    kernel_imports.open_for_user(lambda: not kernel.running)
    kernel.serve()
