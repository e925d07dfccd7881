"""The kernel's half of the IPython-style magics (``%timeit``, ``%run``, ``%cd``, ``%env``, ``%debug``).

The prompt (``cli/ui/ipython_magics.py``) turns a magic into one call of a function here, run as ordinary
interactive code in the user's namespace (``globals()`` is passed in), so Ctrl-C, output and errors go
the way of any run. Each function does what IPython's magic of the same name does, with the standard
library alone (the kernel imports nothing else at start-up, and this module only when a magic is used).

Frames of this module, and of the one-line call the prompt generated (named ``<remrepl-...>``), are
left out of tracebacks (``main.HIDDEN_FILES``): an error in a ``%run`` file shows the file's frames only.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import linecache
import math
import os
import sys
import timeit as _timeit
import types
from typing import Any

from . import debugger
from . import main as kernel_main

kernel_main.HIDDEN_FILES.add(__file__)

# IPython hides values of variables that look like secrets when it lists the whole environment.
SECRET_WORDS = ("key", "token", "secret")
_previous_dir: str | None = None  # %cd -: the directory before the last %cd


# --- %timeit ----------------------------------------------------------------------------------------


def format_time(seconds: float, precision: int = 3) -> str:
    """A duration as IPython prints it: ``1.23 µs``, ``45.6 ms``, ``1min 3s``."""
    if seconds >= 60.0:
        parts, leftover = [], seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(leftover / length)
            if value > 0:
                leftover = leftover % length
                parts.append(f"{value}{suffix}")
            if leftover < 1:
                break
        return " ".join(parts)
    units = ["s", "ms", _encodable("\xb5s", "us"), "ns"]
    order = min(-(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0.0 else 3
    return f"{seconds * 1000**order:.{precision}g} {units[order]}"


def _encodable(text: str, fallback: str) -> str:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return fallback
    return text


def timeit(stmt: str, number: int, repeat: int, precision: int, namespace: dict[str, Any]) -> None:
    """Time ``stmt`` as ``%timeit`` does: in ``namespace`` (the user's names are visible), ``number``
    loops per run (0: auto-ranged as ``python -m timeit`` does, to at least 0.2 s), ``repeat`` runs."""
    try:
        timer = _timeit.Timer(stmt, globals=namespace)
    except SyntaxError as exc:
        print(f"remrepl: %timeit: {exc}", file=sys.stderr)
        return
    # The generated template is where the statement's frame lives: its lines for a traceback.
    linecache.cache["<timeit-src>"] = (len(timer.src), None, timer.src.splitlines(True), "<timeit-src>")  # type: ignore[attr-defined]
    try:
        if number == 0:
            number, _ = timer.autorange()
        runs = timer.repeat(repeat, number)
    except BaseException as exc:  # the statement's own error, without timeit's machinery around it
        raise exc.with_traceback(_without(exc.__traceback__, {_timeit.__file__}))  # noqa: B904 (the same one)
    timings = [run / number for run in runs]
    best, worst = min(timings), max(timings)
    if worst > 4 * best and best > 0 and worst > 1e-6:
        print(
            f"The slowest run took {worst / best:0.2f} times longer than the fastest. "
            "This could mean that an intermediate result is being cached."
        )
    mean = math.fsum(timings) / len(timings)
    stdev = (math.fsum((t - mean) ** 2 for t in timings) / len(timings)) ** 0.5
    pm = _encodable("\xb1", "+-")
    print(
        f"{format_time(mean, precision)} {pm} {format_time(stdev, precision)} per loop (mean {pm} std. dev. of "
        f"{repeat} run{'' if repeat == 1 else 's'}, {number:,} loop{'' if number == 1 else 's'} each)"
    )


def _without(tb: types.TracebackType | None, files: set[str]) -> types.TracebackType | None:
    kept = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename not in files:
            kept.append(tb)
        tb = tb.tb_next
    result = None
    for t in reversed(kept):
        result = types.TracebackType(result, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return result


# --- %run -------------------------------------------------------------------------------------------


def run_file(source: str, path: str, argv: list[str], namespace: dict[str, Any]) -> None:
    """Run a file's ``source`` as IPython's ``%run`` does: as ``__main__`` in a fresh namespace, with
    ``sys.argv`` = ``argv`` and ``__file__`` = ``path`` meanwhile; its names then join ``namespace`` (also
    when it raised, so that ``%debug`` and the prompt see what it had defined)."""
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)  # its lines in tracebacks
    script = types.ModuleType("__main__")
    script.__dict__.update(__file__=path, __builtins__=builtins)
    # As for `remrepl exec`: a spec named __main__ tells multiprocessing's spawn not to re-run the file
    # in the child (it is the client's and may not exist here).
    script.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    saved_argv, saved_main = sys.argv, sys.modules["__main__"]
    sys.argv, sys.modules["__main__"] = list(argv), script
    try:
        code = compile(source, path, "exec", dont_inherit=True)
        exec(code, script.__dict__)
    finally:
        sys.argv, sys.modules["__main__"] = saved_argv, saved_main
        namespace.update({k: v for k, v in script.__dict__.items() if k not in ("__name__", "__spec__")})


# --- %cd, %env ---------------------------------------------------------------------------------------


def cd(target: str | None) -> None:
    """``%cd DIR`` (``~`` expanded here), ``%cd`` (home), ``%cd -`` (back); prints the new directory."""
    global _previous_dir
    if target == "-":
        if _previous_dir is None:
            print("remrepl: %cd -: no previous directory", file=sys.stderr)
            return
        target = _previous_dir
    before = os.getcwd()
    try:
        os.chdir(os.path.expanduser(target if target is not None else "~"))
    except OSError as exc:
        print(f"remrepl: %cd: {exc}", file=sys.stderr)
        return
    _previous_dir = before
    print(os.getcwd())


def env(name: str | None = None, value: str | None = None) -> object:
    """``%env``: the environment as a dict (values of names that look secret hidden); ``%env NAME``: its
    value; ``%env NAME VALUE``: set it (and say so). What is returned is echoed like an expression."""
    if name is None:
        shown = dict(os.environ)
        for key in shown:
            if any(word in key.lower() for word in SECRET_WORDS):
                shown[key] = "<hidden>"
        return shown
    if value is None:
        if name not in os.environ:
            print(f"remrepl: %env: the environment has no variable {name}", file=sys.stderr)
            return None
        return os.environ[name]
    os.environ[name] = value
    print(f"env: {name}={value}")
    return None


# --- %debug -----------------------------------------------------------------------------------------


def debug() -> None:
    """Post-mortem pdb on the last error's traceback (the user's frames, as the traceback showed them)."""
    value = getattr(sys, "last_value", None)
    tb = getattr(value, "__traceback__", None) or getattr(sys, "last_traceback", None)
    if tb is None:
        print("No traceback has been produced, nothing to debug.", file=sys.stderr)
        return
    debugger.post_mortem(tb)
