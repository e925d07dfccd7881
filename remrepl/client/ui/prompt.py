"""The pieces of the ``remote>`` prompt, as factories that take their collaborators as arguments.

Whether Enter runs the input or opens a continuation line is decided here, locally, with ``codeop``
(the standard REPL's own rule): no round trip to the server for a keystroke.
"""

from __future__ import annotations

import codeop
import os
import re
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.filters import is_searching
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from pygments.lexers.python import PythonLexer

PROMPT = "remote> "
CONTINUATION = "...     "
INDENT = "    "


def is_complete(text: str) -> bool:
    """True when ``text`` should run now; False when Python needs more lines (as the REPL decides)."""
    if not text.strip() or text.lstrip().startswith("%"):
        return True
    try:
        return codeop.compile_command(text, "<input>", "single") is not None
    except SyntaxError as exc:
        if "multiple statements" not in str(exc):
            return True  # a real error: run it, and the server reports it with a caret
    # A pasted block of several statements: complete once Python is, and not inside an indented block
    # unless that block was closed by an empty line.
    try:
        complete = codeop.compile_command(text, "<input>", "exec") is not None
    except SyntaxError:
        return True
    last_line = text.rstrip("\n").rsplit("\n", 1)[-1]
    return complete and (not last_line[:1].isspace() or text.endswith("\n"))


def _next_indent(line: str) -> str:
    indent = re.match(r"[ \t]*", line)
    current = indent.group(0) if indent else ""
    return current + INDENT if line.rstrip().endswith(":") else current


def make_key_bindings() -> KeyBindings:
    kb = KeyBindings()
    editing = ~is_searching  # while Ctrl-R searches, Enter belongs to the search

    @kb.add("enter", filter=editing)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        document = buffer.document
        # One line runs wherever the cursor is (after a Ctrl-R search it sits at the match); in a block,
        # Enter away from the end edits, as in IPython.
        at_end = document.is_cursor_at_the_end or document.line_count == 1
        if at_end and is_complete(document.text):
            buffer.validate_and_handle()
        elif document.is_cursor_at_the_end and not document.current_line.strip() and document.line_count > 1:
            buffer.validate_and_handle()  # an empty line ends a block, as in the standard REPL
        else:
            buffer.insert_text("\n" + _next_indent(document.current_line_before_cursor))

    @kb.add("escape", "enter", filter=editing)
    def _run_now(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()  # Alt-Enter: run as it is

    return kb


def private_history(path: Path) -> History:
    """A history file created 0600 (what users type can hold secrets)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))


def make_prompt_session(history: History) -> PromptSession[str]:
    return PromptSession(
        PROMPT,
        multiline=True,
        prompt_continuation=lambda width, line_number, wrap_count: CONTINUATION,
        lexer=PygmentsLexer(PythonLexer),
        history=history,
        key_bindings=make_key_bindings(),
        enable_history_search=False,  # Up walks history; Ctrl-R searches it
        mouse_support=False,
    )
