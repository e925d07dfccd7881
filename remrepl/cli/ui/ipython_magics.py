"""The magics IPython users reach for first: ``%timeit``, ``%run``, ``%cd``, ``%pwd``, ``%env``,
``%history`` and ``%debug``, registered with the others (``magics.py``).

Evaluation stays remote: each handler parses its arguments here (a wrong one is a usage error, nothing
runs) and hands the session one line of code that calls the kernel's half
(``server/kernel/ipython_magics.py``), followed like any run: output streams, Ctrl-C interrupts, remote
``input()`` (pdb's ``(Pdb)`` prompt for ``%debug`` and ``breakpoint()``) asks at this terminal.
``%history`` alone is local: it lists what was typed at this prompt.
"""

from __future__ import annotations

import os
import re
import sys
import tokenize
from pathlib import Path

from .magics import MagicHost, Outcome, UsageError, magic, split_args

KERNEL_MODULE = "remrepl.server.kernel.ipython_magics"
_TIMEIT_OPTION = re.compile(r"-([nrp])\s*(\d+)\s*|-([nrp])\b")
_HISTORY_RANGE = re.compile(r"(\d+)(?:-(\d+))?\Z")


def _run_remote(host: MagicHost, name: str, function: str, *args: object, globals_: bool = False) -> None:
    """Run ``function(*args)`` of the kernel's half in the remote namespace (``globals()`` last, if asked)."""
    arguments = ", ".join([*map(repr, args), *(["globals()"] if globals_ else [])])
    call = f'__import__({KERNEL_MODULE!r}, fromlist=["_"]).{function}({arguments})'
    # "<remrepl-...>": the kernel leaves this line's frame out of tracebacks
    host.follow(host.session.execute(call, filename=f"<remrepl-{name}>"))


def _error(message: str) -> None:
    print(f"remrepl: {message}", file=sys.stderr)


@magic("%timeit [-n N -r R] STMT", "time STMT remotely as IPython does (-p P: digits shown; Ctrl-C stops it)")
def _timeit(host: MagicHost, args: str) -> Outcome | None:
    options = {"n": 0, "r": 7, "p": 3}  # 0 loops: auto-ranged, as python -m timeit does
    rest = args
    while rest.startswith("-"):
        match = _TIMEIT_OPTION.match(rest)
        if match is None or match.group(3):
            raise UsageError(f"unknown option, or no number after it: {rest.split()[0]!r}")
        options[match.group(1)] = int(match.group(2))
        if options[match.group(1)] < 1:
            raise UsageError(f"-{match.group(1)} takes a number of at least 1")
        rest = rest[match.end() :]
    if not rest.strip():
        raise UsageError()
    _run_remote(host, "timeit", "timeit", rest.strip(), options["n"], options["r"], options["p"], globals_=True)
    return None


def _read_source(path: Path) -> str:
    """A Python file's text, decoded as Python decodes it (its coding cookie or UTF-8)."""
    with open(path, "rb") as f:
        encoding, _ = tokenize.detect_encoding(f.readline)
        f.seek(0)
        return f.read().decode(encoding)


@magic("%run FILE [ARGS...]", "run the local Python file FILE in the remote session, as __main__")
def _run(host: MagicHost, args: str) -> Outcome | None:
    file, *rest = split_args(args, 1, sys.maxsize)
    path = Path(os.path.expanduser(file))
    if not path.is_file() and path.suffix != ".py" and path.with_name(path.name + ".py").is_file():
        path, file = path.with_name(path.name + ".py"), file + ".py"  # as IPython: "%run script" finds script.py
    try:
        source = _read_source(path)
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as exc:
        _error(f"%run: cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
        return None
    # The traceback names the file as python does for a script: by its absolute path.
    _run_remote(host, "run", "run_file", source, str(path.absolute()), [file, *rest], globals_=True)
    return None


@magic("%cd [DIR | -]", "change the remote working directory (no DIR: home; -: the previous one)")
def _cd(host: MagicHost, args: str) -> Outcome | None:
    words = split_args(args, 0, 1)
    _run_remote(host, "cd", "cd", words[0] if words else None)
    return None


@magic("%pwd", "the remote working directory")
def _pwd(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    host.follow(host.session.execute('__import__("os").getcwd()', filename="<remrepl-pwd>"))
    return None


@magic("%env [NAME[=VALUE]]", "list, show or set remote environment variables (also: %env NAME VALUE)")
def _env(host: MagicHost, args: str) -> Outcome | None:
    if not args:
        _run_remote(host, "env", "env")
        return None
    # As IPython splits it: at the first "=" if there is one, else at the first space.
    name, _, value = args.partition("=") if "=" in args else args.partition(" ")
    name, value = name.strip(), value.strip()
    if not name or re.search(r"\s", name):
        raise UsageError(f"not a variable name: {name!r}")
    if _ or value:
        _run_remote(host, "env", "env", name, value)
    else:
        _run_remote(host, "env", "env", name)
    return None


def _history_numbers(words: list[str], last: int) -> list[int]:
    """The entries that ranges such as ``4``, ``2-5`` name (1-based, in the order given)."""
    numbers: list[int] = []
    for word in words:
        match = _HISTORY_RANGE.match(word)
        if match is None:
            raise UsageError(f"not a line number or range: {word!r}")
        first = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else first
        numbers.extend(n for n in range(first, end + 1) if 1 <= n <= last)
    return numbers


@magic("%history [-n -p] [N-M...]", "what was typed in this session (-n: numbered; -p: >>> prompts)")
def _history(host: MagicHost, args: str) -> Outcome | None:
    words = split_args(args, 0, sys.maxsize)
    flags = {w for w in words if w.startswith("-")}
    if flags - {"-n", "-p", "-np", "-pn"}:
        raise UsageError(f"unknown option {sorted(flags - {'-n', '-p'})[0]!r}")
    numbered = any("n" in f for f in flags)
    prompts = any("p" in f for f in flags)
    inputs: list[str] = getattr(host, "inputs", [])
    ranges = [w for w in words if not w.startswith("-")]
    chosen = _history_numbers(ranges, len(inputs)) if ranges else range(1, len(inputs) + 1)
    for number in chosen:
        text = inputs[number - 1].expandtabs(4).rstrip()
        multiline = "\n" in text
        if prompts:
            text = ">>> " + ("\n... ".join(text.splitlines()) + "\n..." if multiline else text)
        prefix = f"{number:>4}:{chr(10) if multiline else ' '}" if numbered else ""
        print(prefix + text)
    return None


@magic("%debug", "pdb on the last remote error, at this prompt (q or Ctrl-D leaves it)")
def _debug(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    _run_remote(host, "debug", "debug")
    return None
