"""Tracebacks at a real ``remote>`` prompt in a terminal: the user's frames and python's own hints; what
remrepl itself has to say (the interpreter died) stays one line of its own, not a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.terminal import PROMPT, TmuxTerminal

pytestmark = pytest.mark.server

REMOTE_NAME = re.compile(r"<remote-\d+>")


def test_a_typo_shows_the_users_line_and_pythons_hint(launched: TmuxTerminal) -> None:
    local = subprocess.run([sys.executable, "-c", "pritn('x')"], capture_output=True, text=True, timeout=20)
    shown = launched.run("pritn('x')")
    assert shown[0] == "Traceback (most recent call last):", shown
    assert REMOTE_NAME.fullmatch(re.search(r'File "([^"]+)"', shown[1]).group(1)), shown  # type: ignore[union-attr]
    assert (
        shown[-1] == local.stderr.splitlines()[-1] == "NameError: name 'pritn' is not defined. Did you mean: 'print'?"
    )
    assert shown[2] == "    pritn('x')", shown
    if sys.version_info >= (3, 11):  # and its carets, as 3.11+ draws them
        assert shown[3] == "    ^^^^^", shown
    assert len(shown) == (5 if sys.version_info >= (3, 11) else 4), shown  # and nothing of remrepl's


def test_ctrl_c_in_input_shows_keyboardinterrupt_at_the_users_line(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type("answer = input('name? ')")
    launched.send("Enter")
    launched.wait_for("name?", since=start)  # (the screen's lines come without trailing blanks)
    launched.send("C-c")
    shown = launched.wait_prompt(start)
    assert shown[-1] == "KeyboardInterrupt", shown
    frames = [line for line in shown if line.lstrip().startswith("File ")]
    assert len(frames) == 1 and REMOTE_NAME.search(frames[0]) and "in <module>" in frames[0], shown
    assert launched.run("1 + 1") == ["2"]


def test_a_killed_interpreter_is_one_remrepl_line_not_a_traceback(launched: TmuxTerminal) -> None:
    launched.run("x = 1")
    shown = launched.run("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    text = "\n".join(shown)
    assert "Traceback" not in text and "File " not in text, text
    said = [line for line in shown if line.strip()]
    assert len(said) == 1 and "interpreter died" in said[0], shown
    assert launched.lines()[-1] == PROMPT
    assert launched.run("2 * 21") == ["42"]
