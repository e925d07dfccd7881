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

What text: the interpreter's own. ``traceback.TracebackException`` formats what ``sys.__excepthook__``
prints, with one exception: before 3.12 the "Did you mean ...?" hints of NameError and AttributeError
came from the C printer only (``PyErr_Display``), so for those versions the hint is taken from the C
printer itself (``_c_hint``) rather than guessed again here. The formatting uses ``linecache`` (the C
printer of 3.10/3.11 reads source files from disk, where code typed at the prompt, and a script sent by the
client, do not exist).

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
    return filename.startswith(_OURS)


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
    """``sys.stderr`` while the C printer writes a probe: this thread's writes are kept, every other
    thread's (a user's background thread printing meanwhile) go on to the real stream."""

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


def _c_printed(probe: BaseException) -> list[str]:
    """The lines the C printer writes for ``probe`` (an exception of no chain)."""
    real = sys.stderr
    capture = _Capture(real)
    sys.stderr = capture
    try:
        sys.__excepthook__(type(probe), probe, probe.__traceback__)
    except Exception:
        return []
    finally:
        if sys.stderr is capture:
            sys.stderr = real
    return "".join(capture.parts).splitlines(True)


def _c_hint(exc: BaseException) -> str:
    """What the C printer of this Python (3.10, 3.11) adds to the message of ``exc``: ". Did you mean:
    'print'?" or nothing. It is asked with a probe of the same name (and object, and the frame it was
    raised in, where a NameError's hint looks for names), printed into a capture."""
    probe: BaseException
    if isinstance(exc, NameError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        last = None if tb is None else types.TracebackType(None, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
        probe = NameError("m", name=exc.name).with_traceback(last)
    elif isinstance(exc, AttributeError):
        probe = AttributeError("m", name=exc.name, obj=exc.obj)
    else:
        return ""
    lines = [line.rstrip("\n") for line in _c_printed(probe)]
    start = f"{type(probe).__name__}: m"
    if not lines or not lines[-1].startswith(start):
        return ""
    return lines[-1][len(start) :]


def _c_syntax_error(te: traceback.TracebackException, exc: SyntaxError) -> list[str]:
    """``te.format_exception_only()`` with the source and caret lines the C printer of 3.10/3.11 writes
    for ``exc`` (they differ from the traceback module's: one caret for an IndentationError)."""
    own = list(traceback.TracebackException.format_exception_only(te))
    base = next(k for k in (TabError, IndentationError, SyntaxError) if isinstance(exc, k))
    details = (exc.filename, exc.lineno, exc.offset, exc.text, exc.end_lineno, exc.end_offset)
    try:
        printed = _c_printed(base(exc.msg, details))
    except Exception:  # attributes a probe cannot take (a user's subclass): the traceback module's lines
        return own
    message = next((i for i, line in enumerate(own) if not line.startswith(" ")), None)
    if message is None or not printed or printed[-1].startswith(" "):
        return own
    return printed[:-1] + own[message:]  # its own message line (the subclass's name) and notes


def _add_c_hints(te: traceback.TracebackException, exc: BaseException) -> None:
    """Put what the C printer says differently into ``te`` (of ``exc``) and the exceptions chained in
    it: the hints, as 3.12's TracebackException does itself (``_str``: unchanged in 3.10 and 3.11, the only
    versions this runs on), and a SyntaxError's caret line."""
    todo = [(te, exc)]
    count = 0
    while todo and count < MAX_EXCEPTIONS:
        count += 1
        current, value = todo.pop()
        hint = _c_hint(value)
        if hint:
            current._str += hint  # type: ignore[attr-defined]
        if isinstance(value, SyntaxError):
            lines = _c_syntax_error(current, value)
            current.format_exception_only = lambda lines=lines: iter(lines)  # type: ignore[method-assign,misc]
        if current.__cause__ is not None and value.__cause__ is not None:
            todo.append((current.__cause__, value.__cause__))
        if current.__context__ is not None and value.__context__ is not None:
            todo.append((current.__context__, value.__context__))
        members = getattr(current, "exceptions", None) or []
        todo.extend(zip(members, getattr(value, "exceptions", ()), strict=False))


def traceback_exception(exc: BaseException) -> traceback.TracebackException:
    """``exc`` as the interpreter would print it, hints included (of the frames it has now)."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    if sys.version_info < (3, 12):
        _add_c_hints(te, exc)
    return te


def exception_text(exc: BaseException) -> str:
    """What ``sys.__excepthook__`` would print for ``exc`` (never raises)."""
    try:
        return "".join(traceback_exception(exc).format())
    except Exception:  # a broken exception object (a __notes__ that is no list...): its name at least
        return f"{type(exc).__qualname__}: <exception str() failed>\n"


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
