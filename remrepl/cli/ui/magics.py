"""The prompt's magics: a registry of name -> handler, each with the usage that ``%help`` shows.

    @magic("%name ARG [OPTIONAL]", "what it does")
    def _name(host: MagicHost, args: str) -> Outcome | None:
        first, *rest = split_args(args, 1, 2)  # UsageError: the usage is printed, nothing runs
        ...

A handler gets the prompt (``MagicHost``: the session, the printer, the local namespace) and the text
after the magic's name; raising ``UsageError`` prints the magic's usage. ``!CMD`` (a shell command on the
remote host) and ``NAME?`` / ``NAME??`` (help) are dispatched from here too.
"""

from __future__ import annotations

import code
import keyword
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..._exceptions import ObjectError, ServerError
from ...client.execution import Execution
from ...client.session import Session
from ..config import Config
from ..output import OutputPrinter, sigint_raises
from .leaving import KEYS, Leaving

Outcome = Literal["detach", "shutdown"]
_HELP = re.compile(r"(?:(?P<pre>\?{1,2})(?P<name1>[^\W\d][\w.]*)|(?P<name2>[^\W\d][\w.]*)(?P<post>\?{1,2}))\Z")


class MagicHost(Protocol):
    """What a magic may use of the prompt."""

    session: Session
    printer: OutputPrinter
    config: Config  # plots_dir, open_plots, ...
    local_ns: dict[str, Any]
    timing: bool
    leaving: Leaving  # what leaving does to the server for this launch (%help says it)

    def follow(self, execution: Execution) -> None: ...


Handler = Callable[[MagicHost, str], "Outcome | None"]


class UsageError(Exception):
    """Wrong arguments: the magic's usage is printed (with this message, if any)."""


@dataclass(frozen=True)
class Magic:
    name: str
    usage: str
    summary: str
    handler: Handler


MAGICS: dict[str, Magic] = {}


def magic(usage: str, summary: str) -> Callable[[Handler], Handler]:
    """Register the decorated handler under the first word of ``usage``."""

    def register(handler: Handler) -> Handler:
        name = "!" if usage.startswith("!") else usage.split()[0]
        MAGICS[name] = Magic(name, usage, summary, handler)
        return handler

    return register


def split_args(args: str, least: int, most: int) -> list[str]:
    """Shell-like words of ``args``, between ``least`` and ``most`` of them (else ``UsageError``)."""
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not least <= len(words) <= most:
        raise UsageError()
    return words


def python_name(word: str) -> str:
    if not word.isidentifier() or keyword.iskeyword(word):
        raise UsageError(f"{word!r} is not a Python name")
    return word


def is_magic(line: str) -> bool:
    """Whether the prompt should hand ``line`` to ``run_magic`` rather than run it remotely."""
    stripped = line.strip()
    return stripped.startswith(("%", "!")) or _HELP.match(stripped) is not None


def run_magic(host: MagicHost, line: str) -> Outcome | None:
    stripped = line.strip()
    help_match = _HELP.match(stripped)
    if help_match is not None:
        name = help_match.group("name1") or help_match.group("name2")
        marks = help_match.group("pre") or help_match.group("post")
        _show_help(host, name, len(marks) - 1)
        return None
    if stripped.startswith("!"):
        name, args = "!", stripped[1:].strip()
    else:
        name, _, args = stripped.partition(" ")
        args = args.strip()
    entry = MAGICS.get(name)
    if entry is None:
        _error(f"unknown magic {name}; %help lists them")
        return None
    try:
        return entry.handler(host, args)
    except UsageError as exc:
        print(f"usage: {entry.usage}" + (f"\n  ({exc})" if str(exc) else ""), file=sys.stderr)
        return None


def _error(message: str) -> None:
    print(f"remrepl: {message}", file=sys.stderr)


def _show_help(host: MagicHost, name: str, detail: int) -> None:
    try:
        reply = host.session.inspect(name, detail=detail)
    except ServerError as exc:
        _error(str(exc))
        return
    if reply.found:
        print(reply.text)
    else:
        _error(reply.text)


# --- the magics ---------------------------------------------------------------------------------


@magic("%help", "this list")
def _help(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    width = max(len(m.usage) for m in MAGICS.values())
    for entry in MAGICS.values():
        print(f"  {entry.usage:<{width}}  {entry.summary}")
    print(f"  {'NAME? / NAME??':<{width}}  the remote object's signature and docstring / its source too")
    print(f"  {KEYS + ', %exit':<{width}}  {host.leaving.describe()}")
    return None


@magic("%exit", "leave the prompt, as Ctrl-D and exit() do (what that does to the server: the last line)")
def _exit(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    return "detach"


@magic("%shutdown", "stop the server and its interpreter")
def _shutdown(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    return "shutdown"


@magic(
    "%restart [-f]",
    "restart the remote interpreter: a fresh namespace, the server and session stay; -f: kill it even if busy",
)
def _restart(host: MagicHost, args: str) -> Outcome | None:
    words = split_args(args, 0, 1)
    if words not in ([], ["-f"]):
        raise UsageError()
    host.follow(host.session.restart(force=words == ["-f"]))
    return None


@magic("%get NAME [LOCAL]", "copy the remote object NAME into the local namespace (as LOCAL)")
def _get(host: MagicHost, args: str) -> Outcome | None:
    name, *local = (python_name(w) for w in split_args(args, 1, 2))
    target = local[0] if local else name
    try:
        value = host.session.get(name)
    except ObjectError as exc:
        _error(f"%get: {exc}; nothing was changed")
        return None
    host.local_ns[target] = value
    print(f"remrepl: local {target} = remote {name} ({type(value).__name__})")
    return None


@magic("%put LOCAL [NAME]", "copy the local object LOCAL into the remote namespace (as NAME)")
def _put(host: MagicHost, args: str) -> Outcome | None:
    local, *remote = (python_name(w) for w in split_args(args, 1, 2))
    target = remote[0] if remote else local
    if local not in host.local_ns:
        _error(f"%put: there is no local name {local!r} (%who_local lists them); nothing was changed")
        return None
    try:
        host.session.put(target, host.local_ns[local])
    except ObjectError as exc:
        _error(f"%put: {exc}; nothing was changed")
        return None
    print(f"remrepl: remote {target} = local {local} ({type(host.local_ns[local]).__name__})")
    return None


@magic("%local CODE", "run CODE in the local namespace (where %get puts objects and %put takes them)")
def _local(host: MagicHost, args: str) -> Outcome | None:
    if not args:
        raise UsageError()
    interpreter = code.InteractiveInterpreter(host.local_ns)
    with sigint_raises():  # Ctrl-C stops local code with a KeyboardInterrupt, as in a local REPL
        incomplete = interpreter.runsource(args, "<local>", "exec" if "\n" in args else "single")
    if incomplete:
        _error("%local: the code is incomplete")
    return None


@magic("%who", "list the names defined in the remote namespace")
def _who(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    listing = 'print(*sorted(k for k in globals() if not k.startswith("_")) or ["(no names)"], sep="  ")'
    host.follow(host.session.execute(listing, filename="<remrepl-who>"))
    return None


@magic("%who_local", "list the names defined in the local namespace")
def _who_local(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    print("  ".join(sorted(k for k in host.local_ns if not k.startswith("_"))) or "(no names)")
    return None


@magic("%time", "toggle printing the wall time of each command")
def _time(host: MagicHost, args: str) -> Outcome | None:
    split_args(args, 0, 0)
    host.timing = not host.timing
    print(f"remrepl: timing is {'on' if host.timing else 'off'}")
    return None


@magic("!CMD", "run the shell command CMD on the remote host, its output streamed (Ctrl-C stops it)")
def _shell(host: MagicHost, args: str) -> Outcome | None:
    if not args:
        raise UsageError()
    call = f'__import__("remrepl.server.kernel.shell", fromlist=["run"]).run({args!r})'
    host.follow(host.session.execute(call, filename="<shell>"))
    return None


@magic(
    "%pip ARGS",
    "pip for the remote interpreter (install, uninstall -y, list, ...; install uses uv when it is there), "
    "streamed; Ctrl-C stops it",
)
def _pip(host: MagicHost, args: str) -> Outcome | None:
    words = split_args(args, 1, 10_000)
    call = f'__import__("remrepl.server.kernel.pip", fromlist=["run"]).run({words!r})'
    host.follow(host.session.execute(call, filename="<pip>"))
    return None
