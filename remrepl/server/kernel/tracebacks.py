"""Tracebacks as ``python`` prints them, of the user's frames only.

Both the prompt's runs and ``exec``'s scripts end here when the user's code raises (``report``), and so do
the cluster's workers for a failing task (``exception_text``): one place decides which frames are the
user's and what the text looks like.

Which frames: remrepl's own (the kernel's plumbing, the cluster layer) never show, nor what they call on
their own behalf (Dask waiting for a batch, the socket an ``input()`` reads): the user did not write that
code and ``python`` has none of it (its ``input()`` and displayhook are C). Frames show again where remrepl
hands over to the user (the code typed or the script: ``hands_over`` marks the functions that do), or where
the user's own code is called back (a file outside the standard library and site-packages, or code typed at
the prompt).

What text: the interpreter's own. From 3.13 on, ``sys.__excepthook__`` prints with the traceback module.
Before, it is C code (``PyErr_Display``), which says some things the module does not (the "Did you mean
...?" hints of 3.10 and 3.11 are C-only) or says differently: there each exception's own lines are taken
from the C printer itself (``_c_exception_only``) rather than guessed again here. The frames are the
traceback module's in every version: it reads the source from ``linecache``, where the C printer reads
files from disk only (code typed at the prompt, and a script sent by the client, are not there).

Standard library only: the kernel imports this at start.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

MAX_EXCEPTIONS = 1000  # exceptions visited in one chain or group tree (a bound, as the printer has)
_OURS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep  # remrepl/
_HANDS_OVER: set[types.CodeType] = set()
_library_dirs: tuple[str, ...] | None = None
_CAPTURING = threading.Lock()


def hands_over(function: _F) -> _F:
    """Mark a function of remrepl's that calls the user's code (or their objects): what it calls shows
    in tracebacks, as it would had python called it."""
    _HANDS_OVER.add(function.__code__)
    return function


def remember_source(filename: str, code: str) -> None:
    """Keep the source of ``filename`` for tracebacks, as ``linecache`` keeps a file's: every line
    ending with a newline (the traceback module's caret offsets count on it)."""
    lines = code.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(code), None, lines, filename)


# --- which frames ------------------------------------------------------------------------------


def _is_ours(filename: str) -> bool:
    """remrepl's files, and the one-line calls the prompt generates for magics (``<remrepl-who>``)."""
    return filename.startswith((_OURS, "<remrepl-"))


def _is_library(filename: str) -> bool:
    global _library_dirs
    if _library_dirs is None:  # only once something raised: sysconfig is not for the kernel's start
        import sysconfig

        paths = sysconfig.get_paths()
        found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
        found.update(entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages")))
        found.add(os.path.dirname(os.__file__))
        _library_dirs = tuple(os.path.join(os.path.abspath(d), "") for d in found if d)
    return filename.startswith("<frozen ") or filename.startswith(_library_dirs)


def user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """A new traceback of the frames of ``tb`` the user should see (the objects of ``tb`` are kept)."""
    kept: list[types.TracebackType] = []
    showing = True  # the code before any remrepl frame (a chained exception caught in the user's code)
    while tb is not None:
        code = tb.tb_frame.f_code
        if _is_ours(code.co_filename):
            showing = code in _HANDS_OVER
        elif showing or not _is_library(code.co_filename):
            kept.append(tb)
            showing = True
        tb = tb.tb_next
    result = None
    for entry in reversed(kept):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result


def _tree(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions it was chained to and the members of groups, each once (bounded)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < MAX_EXCEPTIONS:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(e for e in getattr(current, "exceptions", ()) if isinstance(e, BaseException))


def hide_our_frames(exc: BaseException) -> None:
    """Keep only the user's frames in the tracebacks of ``exc`` and of everything chained to it: the
    exceptions themselves change, so a ``sys.excepthook`` of the user's (rich, IPython's), ``%debug`` and
    ``traceback.print_last()`` see the same frames as the printed traceback."""
    for current in _tree(exc):
        current.__traceback__ = user_frames(current.__traceback__)


# --- what text -------------------------------------------------------------------------------------


class _Capture:
    """``sys.stderr`` while the C printer writes an exception for us: this thread's writes are kept, every
    other thread's (a user's background thread printing meanwhile) go on to the real stream."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._owner = threading.get_ident()
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        if threading.get_ident() == self._owner:
            self.parts.append(text)
            return len(text)
        return int(self._real.write(text))

    def flush(self) -> None:
        if threading.get_ident() != self._owner:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _c_printed(exc: BaseException) -> list[str]:
    """The lines the C printer (``sys.__excepthook__``) writes for ``exc``, caught instead of printed."""
    with _CAPTURING:  # one capture at a time (a worker's threads fail together): none is left in place
        real = sys.stderr
        capture = _Capture(real)
        sys.stderr = capture
        try:
            sys.__excepthook__(type(exc), exc, exc.__traceback__)
        except Exception:
            return []
        finally:
            if sys.stderr is capture:
                sys.stderr = real
    return "".join(capture.parts).splitlines(True)


def _c_exception_only(exc: BaseException) -> list[str] | None:
    """The lines the C printer writes for ``exc`` itself, after its frames (its message with the hints,
    a SyntaxError's source and caret lines, its notes); None if it wrote nothing of the kind. ``exc`` is
    printed alone for a moment: without its chain, and with no frames but the last (a NameError's hint
    looks for names in the frame where it was raised)."""
    saved = exc.__cause__, exc.__context__, exc.__suppress_context__, exc.__traceback__
    last = None
    if isinstance(exc, NameError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        last = None if tb is None else types.TracebackType(None, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    try:
        exc.__cause__ = exc.__context__ = None
        exc.__suppress_context__ = False
        exc.__traceback__ = last
        lines = _c_printed(exc)
    finally:
        exc.__cause__, exc.__context__, exc.__suppress_context__, exc.__traceback__ = saved
    if last is not None:  # drop the frame: "Traceback ...", then its lines (indented)
        lines = lines[1:]
        while lines and lines[0].startswith("  "):
            lines.pop(0)
    return lines or None


def _as_the_c_printer_says(te: traceback.TracebackException, exc: BaseException) -> None:
    """Make ``te`` (of ``exc``) and the exceptions chained in it end as the C printer ends them: before
    3.13 that is what python prints, and the traceback module says some of it differently (no hints
    before 3.12, 3.12.1's "Did you forget to import 'sys'" without its "?", one caret for an
    IndentationError where the module draws several). Frames stay the module's: it reads the source of
    code typed at the prompt from ``linecache``, where the C printer reads files only."""
    todo = [(te, exc)]
    count = 0
    while todo and count < MAX_EXCEPTIONS:
        count += 1
        current, value = todo.pop()
        members = getattr(current, "exceptions", None)
        if not members:  # a group's own line is the module's (it draws the group's box around it)
            lines = _c_exception_only(value)
            if lines is not None:
                current.format_exception_only = lambda lines=lines, **_: iter(lines)  # type: ignore[method-assign]
        if current.__cause__ is not None and value.__cause__ is not None:
            todo.append((current.__cause__, value.__cause__))
        if current.__context__ is not None and value.__context__ is not None:
            todo.append((current.__context__, value.__context__))
        todo.extend(zip(members or [], getattr(value, "exceptions", ()), strict=False))


def traceback_exception(exc: BaseException) -> traceback.TracebackException:
    """``exc`` as the interpreter would print it, hints included (of the frames it has now)."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    if sys.version_info < (3, 13):  # from 3.13 on, the C printer is the traceback module
        _as_the_c_printer_says(te, exc)
    return te


def exception_text(exc: BaseException) -> str:
    """What ``sys.__excepthook__`` would print for ``exc`` (never raises)."""
    try:
        return "".join(traceback_exception(exc).format())
    except Exception:  # a broken exception object the module cannot format: its name at least
        return f"{type(exc).__qualname__} (remrepl could not format its traceback)\n"


@hands_over
def _call_hook(hook: Any, exc: BaseException) -> None:
    hook(type(exc), exc, exc.__traceback__)


def _not_in_handling_of(failure: BaseException, exc: BaseException) -> None:
    """Python calls the hook after the user's code is over, with no exception being handled: ``exc``,
    which the kernel is still handling, is not the context of what the hook raised."""
    current: BaseException | None = failure
    for _ in range(MAX_EXCEPTIONS):
        if current is None:
            return
        if current.__context__ is exc:
            current.__context__ = None
            return
        current = current.__context__


def _through_hook(exc: BaseException) -> str:
    """Call the user's ``sys.excepthook`` as python does for an uncaught exception; the text to show
    besides what it printed itself (python's, when the hook itself raised)."""
    hook = getattr(sys, "excepthook", None)
    if hook is None:
        return "sys.excepthook is missing\n" + exception_text(exc)
    try:
        _call_hook(hook, exc)
    except BaseException as failure:
        _not_in_handling_of(failure, exc)
        hide_our_frames(failure)
        return f"Error in sys.excepthook:\n{exception_text(failure)}\nOriginal exception was:\n{exception_text(exc)}"
    return ""


def report(exc: BaseException) -> tuple[str, str, str]:
    """An exception that ended the user's code: name, message, and the text to show (empty when the
    user's own ``sys.excepthook`` printed it). Sets ``sys.last_*`` as python does after printing it."""
    hide_our_frames(exc)
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    own_hook = getattr(sys, "excepthook", None) is not sys.__excepthook__  # the user's (rich's, IPython's)
    text = _through_hook(exc) if own_hook else exception_text(exc)
    try:
        evalue = str(exc)
    except BaseException:  # a user exception whose __str__ raises
        evalue = "<exception str() failed>"
    return type(exc).__name__, evalue, text
