"""The pieces of the ``remote>`` prompt, as factories that take their collaborators as arguments.

Whether Enter runs the input or opens a continuation line is decided here, locally, with ``codeop``
(the standard REPL's own rule, as ``code.InteractiveConsole`` applies it): no round trip to the server
for a keystroke. An empty line ends a block only where it would end it at ``>>>``: not inside an open
string, bracket or backslash continuation.
"""

from __future__ import annotations

import asyncio
import codeop
import os
import re
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.buffer import Buffer, CompletionState
from prompt_toolkit.completion import CompleteEvent, Completer, ThreadedCompleter, get_common_complete_suffix
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import Condition, is_searching
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.styles import style_from_pygments_cls
from pygments.lexers.python import PythonLexer
from pygments.styles import get_style_by_name

from ..config import Config

PROMPT = "remote> "
CONTINUATION = "...     "
INDENT = "    "


def is_complete(text: str) -> bool:
    """True when ``text`` should run now; False when Python needs more lines (as the REPL decides).

    A last line of nothing but spaces and tabs (the indentation the prompt put on a new line) counts as
    the empty line a user of ``>>>`` would type there: it ends a block, but not an open string or bracket.
    """
    if not text.strip() or text.lstrip().startswith("%"):
        return True
    if _python_complete(text):
        return True
    head, newline, last = text.rpartition("\n")
    return bool(newline) and bool(last) and not last.strip() and _python_complete(head + newline)


def _python_complete(text: str) -> bool:
    """``codeop.compile_command``'s answer: complete, or a syntax error (which runs at once, as at ``>>>``)."""
    try:
        return codeop.compile_command(text, "<input>", "single") is not None
    except (OverflowError, ValueError):  # what code.InteractiveConsole also reports at once (a null byte)
        return True
    except SyntaxError as exc:
        if "multiple statements" not in str(exc):
            return True  # a real error: run it, and the server reports it with a caret
    # A pasted block of several statements: complete once Python is, and not inside an indented block
    # unless that block was closed by an empty line.
    try:
        complete = codeop.compile_command(text, "<input>", "exec") is not None
    except (SyntaxError, OverflowError, ValueError):
        return True
    last_line = text.rstrip("\n").rsplit("\n", 1)[-1]
    return complete and (not last_line[:1].isspace() or text.endswith("\n"))


def _next_indent(line: str) -> str:
    indent = re.match(r"[ \t]*", line)
    current = indent.group(0) if indent else ""
    return current + INDENT if line.rstrip().endswith(":") else current


def make_key_bindings(completer: Completer | None = None) -> KeyBindings:
    kb = KeyBindings()
    editing = ~is_searching  # while Ctrl-R searches, Enter belongs to the search

    @kb.add("enter", filter=editing)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        document = buffer.document
        # One line runs wherever the cursor is (after a Ctrl-R search it sits at the match); in a block,
        # Enter away from the end edits, as in IPython.
        # An empty line ends a block only when Python says so (is_complete): inside an open string,
        # bracket or backslash continuation it is part of the input, as at ``>>>``.
        at_end = document.is_cursor_at_the_end or document.line_count == 1
        if at_end and is_complete(document.text):
            last = document.current_line
            if document.line_count > 1 and last and not last.strip():
                buffer.delete_before_cursor(len(last))  # the prompt's own indentation: python gets an empty line
            buffer.validate_and_handle()
        else:
            indent = _next_indent(document.current_line_before_cursor)
            line = document.current_line
            if line and not line.strip() and not document.current_line_after_cursor:
                # a line left with only the prompt's indentation on it is empty, as typed at >>> (in a
                # docstring or a string the spaces would otherwise become part of the text)
                buffer.delete_before_cursor(len(line))
            buffer.insert_text("\n" + indent)

    @kb.add("escape", "enter", filter=editing)
    def _run_now(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()  # Alt-Enter: run as it is

    @Condition
    def _at_indentation() -> bool:
        from prompt_toolkit.application import get_app

        before = get_app().current_buffer.document.current_line_before_cursor
        return not before.strip()

    @kb.add("tab", filter=editing & _at_indentation)
    def _indent(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(INDENT)  # Tab at the start of a line indents; elsewhere it completes

    @kb.add("tab", filter=editing & ~_at_indentation)
    def _complete(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.complete_index is not None:
            buffer.complete_next()  # walking the menu
        elif completer is not None:
            # prompt_toolkit drops a Tab that comes while a complete-while-typing request is out: ask
            # ourselves, in a worker thread, and apply the answer if the text is still the same.
            event.app.create_background_task(_tab_complete(buffer, completer))

    return kb


async def _tab_complete(buffer: Buffer, completer: Completer) -> None:
    """Tab: insert what all candidates share, else open the menu on the first one."""
    document = buffer.document
    event = CompleteEvent(completion_requested=True)
    loop = asyncio.get_running_loop()
    completions = await loop.run_in_executor(None, lambda: list(completer.get_completions(document, event)))
    if buffer.document != document or not completions:
        return  # the user typed on meanwhile (a stale answer), or there is nothing to offer
    common = get_common_complete_suffix(document, completions)
    if common:
        buffer.insert_text(common)
    else:
        buffer.complete_state = CompletionState(original_document=document, completions=completions)
        buffer.go_to_completion(0)


def private_history(path: Path, max_entries: int | None = None) -> History:
    """A history file created 0600 (what users type can hold secrets), trimmed to its ``max_entries``
    most recent entries (``config.history_size``; 0: nothing is kept)."""
    if max_entries == 0:
        return InMemoryHistory()
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError:
        return InMemoryHistory()
    if max_entries is not None:
        trim_history(path, max_entries)
    return FileHistory(str(path))


def trim_history(path: Path, max_entries: int) -> None:
    """Keep the last ``max_entries`` entries of a prompt_toolkit history file (a blank line and a
    ``# timestamp`` line start each entry); rewritten only when it holds more."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    entries = re.split(r"\n(?=\n# )", "\n" + text)
    entries = [e for e in entries if e.strip()]
    if len(entries) <= max_entries:
        return
    from ..._files import write_private

    kept = ("\n" + e.lstrip("\n") + ("" if e.endswith("\n") else "\n") for e in entries[-max_entries:])
    write_private(path, "".join(kept))


def make_prompt_session(
    history: History, *, completer: Completer | None = None, config: Config | None = None
) -> PromptSession[str]:
    config = config or Config()
    return PromptSession(
        PROMPT,
        multiline=True,
        prompt_continuation=lambda width, line_number, wrap_count: CONTINUATION,
        lexer=PygmentsLexer(PythonLexer),
        style=style_from_pygments_cls(get_style_by_name(config.color_scheme)),
        include_default_pygments_style=False,
        editing_mode=EditingMode.VI if config.editing_mode == "vi" else EditingMode.EMACS,
        # completion runs in a worker thread: a slow answer never holds up a key press
        completer=ThreadedCompleter(completer) if completer is not None else None,
        complete_while_typing=config.complete_while_typing,
        history=history,
        key_bindings=make_key_bindings(completer),
        enable_history_search=False,  # Up walks history; Ctrl-R searches it
        mouse_support=False,
    )
