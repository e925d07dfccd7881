"""The remote code's output in a real terminal (tmux): a pseudo-terminal of the pane's size, resized with
it, with the pane's TERM; colours that libraries draw only on a terminal reach the screen; ``exec`` gets
a terminal when its stdout is one. Every wait polls the screen against a deadline."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.cli import remrepl_command
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.waiting import wait_until


def pane_size(terminal: TmuxTerminal) -> tuple[int, int]:
    """(columns, lines) of the pane, as tmux gives them to what runs in it."""
    width, height = terminal.tmux("display-message", "-p", "-t", terminal.pane, "#{pane_width} #{pane_height}").split()
    return int(width), int(height)


def pane_term(terminal: TmuxTerminal) -> str:
    return terminal.tmux("show-options", "-gv", "default-terminal").strip()


def coloured_lines(terminal: TmuxTerminal) -> list[str]:
    """The pane with its colours as escape sequences (``capture-pane -e``)."""
    return terminal.tmux("capture-pane", "-p", "-e", "-J", "-S", "-", "-t", terminal.pane).splitlines()


def resize(terminal: TmuxTerminal, columns: int, lines: int) -> None:
    terminal.tmux("resize-window", "-t", "main", "-x", str(columns), "-y", str(lines))
    wait_until(lambda: pane_size(terminal)[0] == columns, 10.0, "the pane to take the new width")


def test_at_the_prompt_the_remote_output_is_a_terminal_of_the_panes_size(launched: TmuxTerminal) -> None:
    columns, lines = pane_size(launched)
    shown = launched.run(
        "import os, sys; print(sys.stdout.isatty(), sys.stderr.isatty(), tuple(os.get_terminal_size()))"
    )
    assert shown == [f"True True ({columns}, {lines})"]
    assert launched.run("import shutil; tuple(shutil.get_terminal_size())") == [f"({columns}, {lines})"]
    assert launched.run("os.environ['TERM']") == [repr(pane_term(launched))]
    launched.run("import rich.console; console = rich.console.Console()")
    assert launched.run("console.is_terminal, console.width") == [f"(True, {columns})"]


def test_a_resized_window_resizes_the_remote_terminal(launched: TmuxTerminal) -> None:
    launched.run("import os")
    resize(launched, 90, 30)
    columns, lines = pane_size(launched)
    assert launched.run("tuple(os.get_terminal_size())") == [f"({columns}, {lines})"]
    assert launched.run("_ = os.system('tput cols')") == [str(columns)]  # a subprocess sees it too


def test_colours_of_programs_that_check_for_a_terminal_reach_the_screen(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.run("import os, click")
    launched.run("_ = os.system('ls --color=auto -d /')")  # ls colours a directory only on a terminal
    launched.run("click.echo(click.style('in red', fg='red'))")  # click strips colours off a pipe
    lines = coloured_lines(launched)[start:]
    slash = next(line for line in lines if line.rstrip().endswith("/") and PROMPT not in line)
    assert "\x1b[" in slash, lines
    red = next(line for line in lines if "in red" in line and PROMPT not in line)
    assert "\x1b[31m" in red, lines


def test_exec_to_a_terminal_runs_on_a_terminal_and_follows_its_resizes(terminal: TmuxTerminal, tmp_path: Path) -> None:
    script = tmp_path / "winch.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGWINCH, lambda *a: got.append(tuple(os.get_terminal_size())))\n"
        "print('ready', sys.stdout.isatty(), tuple(os.get_terminal_size()), flush=True)\n"
        "end = time.monotonic() + 30\n"
        "while not got and time.monotonic() < end:\n"
        "    time.sleep(0.01)\n"
        "print('resized to', got[-1] if got else None)\n"
    )
    terminal.start([*remrepl_command(), "exec", "--launch", str(script)])
    terminal.wait_for("ready", timeout=30)
    columns, lines = pane_size(terminal)
    assert f"ready True ({columns}, {lines})" in terminal.screen()
    resize(terminal, 100, 33)
    columns, lines = pane_size(terminal)
    terminal.wait_for(f"resized to ({columns}, {lines})")
    assert terminal.wait_exit() == 0


def test_exec_with_stderr_redirected_keeps_pipes(terminal: TmuxTerminal, tmp_path: Path) -> None:
    """A ``2>errors.log`` at a terminal: the script's stderr goes to that file, not merged into a pty."""
    script = tmp_path / "split.py"
    script.write_text("import sys\nprint('out', sys.stdout.isatty())\nprint('err', file=sys.stderr)\n")
    errors = tmp_path / "errors.log"
    command = f"{shlex.join([*remrepl_command(), 'exec', '--launch', str(script)])} 2>{shlex.quote(str(errors))}"
    terminal.start(["bash", "-c", command])
    assert terminal.wait_exit(timeout=30) == 0
    assert "out False" in terminal.screen()
    assert errors.read_text() == "err\n"
