"""A one-off kernel being ``python FILE``: the script's ``__main__``, its ``sys`` as python sets it, and
python's end (non-daemon threads joined, ``atexit`` handlers run, output flushed), then ``RunDone`` and exit.

The supervisor starts a fresh kernel for every script run (``server/supervisor/script_runs.py``) and sends
it ``RunScript`` as its first and only run; the interactive kernel's namespace is never touched. What the
interactive kernel changed for the prompt is put back as python has it: ``sys.displayhook``,
``builtins.input`` and ``sys.stdin`` (fd 0, the client's standard input, when it is streamed), the
SIGINT handler. What stays: stdout/stderr go to the supervisor's pipes (with a timed flush, so output
is live), plots and cluster progress become events, and ``getpass`` asks the client's terminal.

Standard library only, as the rest of the kernel.
"""

from __future__ import annotations

import atexit
import builtins
import importlib.machinery
import io
import os
import signal
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, NoReturn

from ...protocol.kernel_channel import RunDone, RunScript, RunStatus
from . import imports as kernel_imports

if TYPE_CHECKING:
    from .main import Kernel


class _AskedLines(io.RawIOBase):
    """fd 0 in spirit when the client's stdin is a terminal: each read asks the client for one line
    (``AskInput``), so nothing is read from the user's terminal unless the script reads."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._left = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._left and not self._eof:
            text = self._kernel.request_input("", password=False, eof_ok=True)
            if text is None:
                self._eof = True
            else:
                self._left = (text + "\n").encode("utf-8", "surrogateescape")
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        pass  # site's exit() closes stdin before raising SystemExit


def _exit_status(exc: SystemExit) -> int:
    """What python exits with for ``exc`` (printing a message to stderr, as python does)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        code = int(code)  # a bool or an int subclass (unittest, pytest exit with one) is its int value
        return code if -(2**63) <= code < 2**63 else 1
    try:
        print(code, file=sys.stderr)
    except BaseException:  # an object whose __str__ raises
        pass
    return 1


def _print_exception(exc: BaseException, path: str) -> None:
    """Show ``exc`` as python does (``sys.excepthook``), minus the kernel's own frames above the script's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException:
        traceback.print_exception(exc)


def _prepare(kernel: Kernel, msg: RunScript) -> types.ModuleType:
    """``sys`` and ``__main__`` as ``python FILE`` has them."""
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=msg.path, __cached__=None, __builtins__=builtins, __spec__=None)
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", msg.path)
    sys.modules["__main__"] = main  # multiprocessing's spawn and forkserver re-import it from __file__
    sys.argv = list(msg.argv)
    sys.orig_argv = [sys.orig_argv[0] if sys.orig_argv else sys.executable, *msg.argv]
    kernel_imports.move_entry(msg.path0)  # the script's directory, where ``>>>`` has the working directory
    sys.displayhook = sys.__displayhook__
    if msg.stdin and sys.__stdin__ is not None:  # fd 0: the client's standard input, streamed
        sys.stdin = sys.__stdin__
        from .main import BUILTIN_INPUT

        builtins.input = BUILTIN_INPUT  # prompt to stdout, a line from sys.stdin, as python does
    else:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_AskedLines(kernel)), encoding="utf-8", errors="strict")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return main


def run(kernel: Kernel, msg: RunScript) -> NoReturn:
    """Run the script to python's end, tell the supervisor how it ended, and exit."""
    from .main import HIDDEN_FILES

    HIDDEN_FILES.add(__file__)  # pdb (debugger.py) and tracebacks never walk into this frame
    main = _prepare(kernel, msg)
    status: RunStatus = "ok"
    exit_code = 0
    kernel.running = True  # for report_progress; and the timed flush
    kernel_imports.before_user_code()
    try:
        code = compile(msg.code, msg.path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit as exc:
        status, exit_code = "exit", _exit_status(exc)
    except KeyboardInterrupt as exc:
        _print_exception(exc, msg.path)
        status, exit_code = "interrupted", 130
    except BaseException as exc:
        _print_exception(exc, msg.path)
        status, exit_code = "error", 1
    del main
    try:  # python's end: non-daemon threads first, then atexit handlers (Py_FinalizeEx's order)
        threading._shutdown()  # type: ignore[attr-defined]
    except KeyboardInterrupt as exc:
        _print_exception(exc, msg.path)
        if status == "ok":
            status, exit_code = "interrupted", 130
    try:
        atexit._run_exitfuncs()
    except KeyboardInterrupt:
        pass  # atexit prints what an interrupted handler raised; python goes on to exit
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel's last steps are not the script's
    kernel.running = False
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    kernel.send(RunDone(status, exit_code))
    os._exit(0)
