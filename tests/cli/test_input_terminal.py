"""Remote ``getpass()`` asks at the user's terminal with hidden input (``input()`` is covered in
test_repl_terminal.py: answered from the keyboard, and Ctrl-C at it)."""

from __future__ import annotations

from tests.support.terminal import TmuxTerminal


def test_remote_getpass_reads_the_keyboard_without_echo(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type('import getpass; pw = getpass.getpass("secret? ")')
    launched.send("Enter")
    launched.wait_for("secret?", since=start)
    launched.type("hunter2")
    launched.send("Enter")
    shown = launched.wait_prompt(start)
    assert shown == ["secret?"], shown  # the typed password never appeared
    assert launched.run('len(pw), pw == "hunter2"') == ["(7, True)"]
    assert "hunter2" not in launched.screen().replace('pw == "hunter2"', "")
