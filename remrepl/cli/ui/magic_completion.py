"""Tab after ``%``: the magics' names, and their arguments by kind, from a table of magic -> kinds.

    MAGIC_ARGUMENTS["%download"] = MagicArguments(("remote-path", "local-path"))

says that the first argument of ``%download`` is a remote path (the server lists its directory: the side
request ``CompletePath``) and the second a local one. The kinds:

- ``remote-path`` / ``remote-dir``: paths on the server, relative to the remote working directory
  (``%download``, ``%cd``);
- ``local-path``: paths on this machine, relative to the local working directory (``%upload``, ``%run``);
- ``remote-name`` / ``local-name``: names in the remote / local namespace (``%get``, ``%put``);
- ``remote-code`` / ``local-code``: the rest of the line is Python, completed remotely / locally
  (``%timeit``, ``%local``);
- ``choice``: one of the magic's fixed words (``MagicArguments.choices``: ``%pip``'s subcommands).

A magic not in the table gets nothing after its name. Arguments are shell words (``split_args``): a path
with a space completes as ``my\\ file`` (or inside the quote it was begun with: ``'my file'``); a file in a
quote closes it. Hidden entries are offered when the typed name starts with ``.``; directories end in
``/``. The completer only shapes what its collaborators (``ArgumentSources``) give: it neither talks to
the server nor evaluates anything itself.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

ArgumentKind = Literal[
    "remote-path", "remote-dir", "local-path", "remote-name", "local-name", "remote-code", "local-code", "choice"
]


@dataclass(frozen=True)
class MagicArguments:
    """What Tab offers for a magic's arguments: ``positional[i]`` for the i-th, ``rest`` for any after
    those (None: nothing). A ``*-code`` kind takes the whole rest of the line (leading ``-x N`` options
    skipped), as ``%timeit -n 10 STMT`` does. ``choices``: the words a ``choice`` argument offers."""

    positional: tuple[ArgumentKind | None, ...] = ()
    rest: ArgumentKind | None = None
    choices: tuple[str, ...] = ()


# The magics whose arguments complete; a magic added elsewhere adds its line here.
MAGIC_ARGUMENTS: dict[str, MagicArguments] = {
    "%download": MagicArguments(("remote-path", "local-path")),
    "%upload": MagicArguments(("local-path", "remote-path")),
    "%get": MagicArguments(("remote-name",)),  # NAME [LOCAL]: LOCAL is a new name
    "%put": MagicArguments(("local-name", "remote-name")),
    "%local": MagicArguments(("local-code",)),
    "%timeit": MagicArguments(("remote-code",)),
    "%run": MagicArguments(("local-path",), rest="local-path"),
    "%cd": MagicArguments(("remote-dir",)),
    # %pip SUBCOMMAND ...: then remote paths (-r requirements.txt, a wheel file), as the kernel sees them
    "%pip": MagicArguments(
        ("choice",),
        rest="remote-path",
        choices=("install", "uninstall", "list", "show", "freeze", "check", "download", "wheel", "index"),
    ),
}

PathLister = Callable[[str, bool], list[tuple[str, bool]]]  # (typed, directories_only) -> (path, is_dir)
CodeCompleter = Callable[[str, CompleteEvent], Iterable[Completion]]  # code before the cursor -> completions


@dataclass(frozen=True)
class ArgumentSources:
    """Where each kind's candidates come from (the prompt wires the session and the local namespace)."""

    remote_paths: PathLister
    local_paths: PathLister
    remote_code: CodeCompleter
    local_code: CodeCompleter
    local_names: Callable[[], Iterable[str]] = tuple


_OPTIONS = re.compile(r"(?:-[A-Za-z]\w*(?:\s+[\d.]+)?\s+)*")  # %timeit -n 10 -r 3 STMT: the options


class MagicCompleter(Completer):
    """Completes a line that starts with ``%``: the magic's name, then its arguments (``MAGIC_ARGUMENTS``)."""

    def __init__(
        self,
        sources: ArgumentSources,
        magic_names: Callable[[], Iterable[str]] = tuple,
        table: dict[str, MagicArguments] | None = None,
    ) -> None:
        self.sources = sources
        self.magic_names = magic_names
        self.table = MAGIC_ARGUMENTS if table is None else table

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor.lstrip()
        if "\n" in before or not before.startswith("%"):
            return
        name, space, rest = _head(before)
        if not space:
            yield from _named(name, sorted(self.magic_names()), "magic")
            return
        arguments = self.table.get(name)
        if arguments is None:
            return
        if arguments.positional[:1] in (("remote-code",), ("local-code",)):
            code = rest[_OPTIONS.match(rest).end() :]  # type: ignore[union-attr]  # the pattern matches ""
            source = self.sources.remote_code if arguments.positional[0] == "remote-code" else self.sources.local_code
            yield from source(code, complete_event)
            return
        index, raw, value, quote = split_partial(rest)
        if not complete_event.completion_requested and not raw:
            return  # while typing, a space alone asks for nothing (a remote listing per keystroke otherwise)
        kind = arguments.positional[index] if index < len(arguments.positional) else arguments.rest
        if kind in ("remote-path", "remote-dir", "local-path"):
            lister = self.sources.local_paths if kind == "local-path" else self.sources.remote_paths
            yield from _paths(lister(value, kind == "remote-dir"), raw, value, quote)
        elif kind == "choice" and not quote:
            yield from _named(value, arguments.choices, "subcommand")
        elif kind == "local-name" and not quote:
            yield from _named(value, sorted(self.sources.local_names()), "local")
        elif kind == "remote-name" and not quote and (not value or value.isidentifier()):
            for completion in self.sources.remote_code(value, complete_event):
                text = completion.text
                if completion.start_position == -len(value) and text.isidentifier() and not keyword.iskeyword(text):
                    yield completion


def _head(before: str) -> tuple[str, str, str]:
    """``%name``, the white space after it, and the arguments."""
    match = re.match(r"(\S*)(\s*)(.*)\Z", before, re.S)
    assert match is not None  # the pattern matches any text
    name, space, rest = match.groups()
    return name, space, rest


def split_partial(text: str) -> tuple[int, str, str, str]:
    """The word the cursor (at the end of ``text``) is in, as shell words (``shlex`` in POSIX mode) split
    ``text``: (its index, its raw text, its value, the quote left open in it or "")."""
    index, raw, value, quote, in_word = 0, "", "", "", False
    i = 0
    while i < len(text):  # one pass, each step consumes at least one character
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and text[i + 1 : i + 2] in ('"', "\\"):
                raw, value, i = raw + text[i : i + 2], value + text[i + 1], i + 2
                continue
            else:
                value += ch
            raw += ch
        elif ch.isspace():
            if in_word:
                index, raw, value, in_word = index + 1, "", "", False
        elif ch in "'\"":
            quote, raw, in_word = ch, raw + ch, True
        elif ch == "\\" and i + 1 < len(text):
            raw, value, in_word, i = raw + text[i : i + 2], value + text[i + 1], True, i + 2
            continue
        else:
            raw, value, in_word = raw + ch, value + ch, True
        i += 1
    return index, raw, value, quote


def quote_for_shell(text: str, quote: str) -> str | None:
    """``text`` to go on a shell word inside ``quote`` (or outside any: backslashes); None when it cannot
    (a ``'`` inside single quotes)."""
    if quote == "'":
        return None if "'" in text else text
    if quote == '"':
        return re.sub(r'(["\\])', r"\\\1", text)
    return re.sub(r"""(\s|['"\\])""", r"\\\1", text)


def _paths(found: list[tuple[str, bool]], raw: str, value: str, quote: str) -> Iterable[Completion]:
    for path, is_dir in found:
        if not path.startswith(value):
            continue  # the lister's paths all go on from what was typed; anything else is not offered
        rest = quote_for_shell(path[len(value) :], quote)
        if rest is None:
            continue
        closing = quote if quote and not is_dir else ""  # a file ends the word, a directory goes on
        name = path.rstrip("/").rsplit("/", 1)[-1] + ("/" if is_dir else "")
        yield Completion(
            raw + rest + closing,
            start_position=-len(raw),
            display=name,
            display_meta="directory" if is_dir else "file",
        )


def _named(word: str, names: Iterable[str], meta: str) -> Iterable[Completion]:
    for name in names:
        if name.startswith(word) and (word.startswith("_") or not name.startswith("_")):
            yield Completion(name, start_position=-len(word), display_meta=meta)
