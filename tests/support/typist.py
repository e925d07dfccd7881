"""Typing Python into a real ``remote>`` prompt in tmux line by line, as a user copying lines from a page
would: type a line, press Enter, look at the screen. The prompt indents a continuation line by itself
(IPython-style), so before typing a line the typist erases that indentation and types the line as it is
written; a blank line ends a block. The typist reads the screen only; it never asks the client's code how
it decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.support.terminal import PROMPT, TmuxTerminal

CONTINUATION = "...     "  # the prompt's continuation prefix, as rendered (8 columns)
STEP_WAIT = 10.0  # seconds for the screen to answer one Enter: an upper bound, never a sleep


@dataclass
class Typed:
    output: list[str]  # the screen lines of the example that are not the echo of a typed line
    in_step: bool  # after every line, the prompt did what the local console did (ran it, or waited for more)
    note: str = ""  # where it went out of step


class Typist:
    def __init__(self, terminal: TmuxTerminal) -> None:
        self.terminal = terminal

    def _state(self) -> tuple[list[str], int]:
        lines = self.terminal.lines()
        cursor_x = int(self.terminal.tmux("display-message", "-p", "-t", self.terminal.pane, "#{cursor_x}").strip())
        return lines, cursor_x

    def _after_enter(self, before: int) -> tuple[str, int, list[str]]:
        """Wait for the screen to answer Enter: ``("prompt", 0, lines)`` for a fresh empty prompt, or
        ``("continuation", indent, lines)`` for a continuation line the prompt opened (its indentation),
        ``("stuck", ...)`` for neither within STEP_WAIT."""
        deadline = time.monotonic() + STEP_WAIT
        while True:
            lines, cursor_x = self._state()
            if len(lines) > before:
                if lines[-1] == PROMPT:
                    return "prompt", 0, lines
                if lines[-1] == CONTINUATION.rstrip() and cursor_x >= len(CONTINUATION):
                    return "continuation", cursor_x - len(CONTINUATION), lines
            if time.monotonic() > deadline:
                return "stuck", 0, lines
            time.sleep(0.02)

    def example(self, typed: list[tuple[str, bool]]) -> Typed:
        """Type each line of ``typed`` (a line, and whether the local console then wanted more), Enter
        after each; the example's output on the screen, and whether the prompt kept in step."""
        start = len(self.terminal.lines()) - 1  # the current, empty remote> line
        echo: dict[int, str] = {}  # screen row -> what it must show: the prompt and the typed line
        indent, continuing, in_step, note = 0, False, True, ""
        lines: list[str] = []
        for number, (line, more) in enumerate(typed, 1):
            row = len(self.terminal.lines()) - 1
            if indent:
                self.terminal.send(*["BSpace"] * indent)
            if line:
                self.terminal.type(line)
            echo[row] = ((CONTINUATION if continuing else PROMPT + " ") + line).rstrip()
            self.terminal.send("Enter")
            state, indent, lines = self._after_enter(row + 1)
            continuing = state == "continuation"
            if state == "stuck":
                self._recover()
                return Typed(lines[start:], False, f"neither a prompt nor a continuation after line {number}")
            if (state == "continuation") != more and in_step:
                in_step, note = False, f"after line {number} the console {'waited for more' if more else 'ran it'}"
                if state == "continuation" and number == len(typed):
                    self._recover()
                    lines = self.terminal.lines()
        output = []
        for row in range(start, len(lines) - 1):
            if row in echo:
                if lines[row] != echo[row] and in_step:
                    in_step, note = False, f"the screen shows {lines[row]!r} for the typed {echo[row]!r}"
            else:
                output.append(lines[row])
        return Typed(output, in_step, note)

    def _recover(self) -> None:
        """Ctrl-C until a fresh prompt: the next example starts clean even after one that hung."""
        for _ in range(3):
            self.terminal.send("C-c")
            deadline = time.monotonic() + STEP_WAIT
            while time.monotonic() < deadline:
                lines = self.terminal.lines()
                if lines and lines[-1] == PROMPT:
                    return
                time.sleep(0.05)
        raise AssertionError(f"the prompt did not come back after Ctrl-C:\n{self.terminal.screen()}")
