"""Remote ``getpass()`` asks at the user's terminal with hidden input (``input()`` is covered in
test_repl_terminal.py: answered from the keyboard, and Ctrl-C at it)."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cli import remrepl_command
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


def test_exec_with_a_terminal_asks_input_and_getpass_at_the_keyboard(terminal: TmuxTerminal, tmp_path: Path) -> None:
    """With a terminal as stdin, an exec's script reads lines at the keyboard when it reads (nothing is
    taken from the terminal before), and getpass hides what is typed."""
    script = tmp_path / "ask.py"
    script.write_text(
        "import getpass, sys\n"
        "name = input('name? ')\n"
        "pw = getpass.getpass('secret? ')\n"
        "print('got', name, len(pw), sys.stdin.isatty())\n"
    )
    terminal.start([*remrepl_command(), "exec", "--launch", str(script)])
    terminal.wait_for("name?")
    terminal.type("Ada")
    terminal.send("Enter")
    terminal.wait_for("secret?")
    terminal.type("hunter2")
    terminal.send("Enter")
    assert terminal.wait_exit() == 0
    assert any(line.startswith("got Ada 7 False") for line in terminal.lines()), terminal.screen()
    assert "hunter2" not in terminal.screen()


def test_exec_with_piped_stdin_still_asks_getpass_at_the_terminal(terminal: TmuxTerminal, tmp_path: Path) -> None:
    """stdin is the script's data; the password is typed at the terminal, hidden, as python does."""
    script = tmp_path / "pw.py"
    script.write_text("import getpass, sys\npw = getpass.getpass('secret? ')\nprint('got', len(pw), sys.stdin.read())")
    data = tmp_path / "data.txt"
    data.write_text("the piped data")
    command = [*remrepl_command(), "exec", "--launch", str(script)]
    terminal.start(["bash", "-c", f"{' '.join(map(shlex.quote, command))} < {shlex.quote(str(data))}"])
    terminal.wait_for("secret?")
    terminal.type("hunter2")
    terminal.send("Enter")
    assert terminal.wait_exit() == 0
    assert any(line.startswith("got 7 the piped data") for line in terminal.lines()), terminal.screen()
    assert "hunter2" not in terminal.screen()
