"""The IPython-style magics where the terminal matters (tmux): pdb's ``(Pdb)`` prompt at the keyboard for
``%debug`` and ``breakpoint()`` (Ctrl-C and Ctrl-D in it), Ctrl-C during ``%timeit``, and ``%history`` of
what was typed. Every wait polls the screen against a deadline.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.terminal import PROMPT, TmuxTerminal, kernel_pid, wait_busy

PDB = "(Pdb)"


def pdb_command(terminal: TmuxTerminal, command: str) -> list[str]:
    """Type a pdb command at a ``(Pdb)`` prompt; the lines up to and including the next one."""
    start = terminal.mark()
    terminal.type(command)
    terminal.send("Enter")
    index = terminal.wait_for_line(lambda line: line == PDB, "the next (Pdb) prompt", since=start)
    return terminal.lines()[start - 1 : index + 1]


def start_pdb(terminal: TmuxTerminal, code: str) -> list[str]:
    start = terminal.mark()
    terminal.type(code)
    terminal.send("Enter")
    index = terminal.wait_for_line(lambda line: line == PDB, "a (Pdb) prompt", since=start)
    return terminal.lines()[start:index]


def define(terminal: TmuxTerminal, *lines: str) -> None:
    """Type a block line by line (the prompt indents), then the empty line that ends it."""
    start = terminal.mark()
    for line in (*lines, ""):
        terminal.type(line)
        terminal.send("Enter")
    assert terminal.wait_prompt(start)[-1] == "..."


def test_debug_is_post_mortem_pdb_at_the_local_prompt(launched: TmuxTerminal, tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def halve(n):\n    half = n / 2\n    return 1 / (half - half)\n\nhalve(8)\n")
    shown = launched.run(f"%run {script}")
    assert shown[-1] == "ZeroDivisionError: float division by zero", shown
    assert start_pdb(launched, "%debug") == [f"> {script}(3)halve()", "-> return 1 / (half - half)"]
    assert pdb_command(launched, "p half, n")[1:] == ["(4.0, 8)", PDB]
    assert pdb_command(launched, "up")[1:] == [f"> {script}(5)<module>()", "-> halve(8)", PDB]
    assert pdb_command(launched, "up")[1:] == ["*** Oldest frame", PDB]  # the kernel's frames are not there
    listing = pdb_command(launched, "l")
    assert "  5  -> halve(8)" in listing, listing
    start = launched.mark()
    launched.send("C-c")  # as in a local pdb: the command line is dropped, pdb goes on
    launched.wait_for("--KeyboardInterrupt--", since=start - 1)
    assert pdb_command(launched, "down")[1:] == [f"> {script}(3)halve()", "-> return 1 / (half - half)", PDB]
    assert pdb_command(launched, "p n")[1:] == ["8", PDB]
    start = launched.mark()
    launched.send("C-d")  # leaves pdb, back at the remote> prompt
    launched.wait_prompt(start)
    assert launched.run("half = 'the session goes on'; half") == ["'the session goes on'"]
    start_pdb(launched, "%debug")
    start = launched.mark()
    launched.type("q")
    launched.send("Enter")
    assert launched.wait_prompt(start) == []


def test_breakpoint_stops_in_the_users_code_with_a_local_pdb_prompt(launched: TmuxTerminal) -> None:
    define(launched, "def double(a):", "b = a * 2", "breakpoint()", "return b")
    assert start_pdb(launched, "double(21)") == ["> <remote-1>(4)double()", "-> return b"]
    assert pdb_command(launched, "p a, b")[1:] == ["(21, 42)", PDB]
    assert pdb_command(launched, "up")[1:] == ["> <remote-2>(1)<module>()", "-> double(21)", PDB]
    assert pdb_command(launched, "up")[1:] == ["*** Oldest frame", PDB]
    start = launched.mark()
    launched.type("c")
    launched.send("Enter")
    assert launched.wait_prompt(start) == ["42"]
    # Stepping off the end of the code ends the debugging, as at >>>: no kernel frame is ever shown.
    start_pdb(launched, "double(1)")
    assert pdb_command(launched, "n")[1:] == ["--Return--", "> <remote-1>(4)double()->2", "-> return b", PDB]
    assert pdb_command(launched, "n")[1:] == ["2", "--Return--", "> <remote-3>(1)<module>()->None", "-> double(1)", PDB]
    start = launched.mark()
    launched.type("n")
    launched.send("Enter")
    assert launched.wait_prompt(start) == []
    assert launched.run("3 * 3") == ["9"]  # nothing is traced any more


def test_ctrl_c_stops_timeit(launched: TmuxTerminal, state_dir: Path) -> None:
    launched.run("kept = 'still here'")
    start = launched.mark()
    launched.type("%timeit -n 1 -r 1 while True: pass")
    launched.send("Enter")
    wait_busy(kernel_pid(state_dir))
    launched.send("C-c")
    shown = launched.wait_prompt(start)
    assert shown[-1] == "KeyboardInterrupt", shown
    assert launched.run("kept") == ["'still here'"]


def test_history_numbers_what_was_typed_this_session(launched: TmuxTerminal) -> None:
    launched.run("a = 1")
    define(launched, "for i in range(2):", "a += i")
    launched.run("%pwd")
    assert launched.run("%history -n") == [
        "   1: a = 1",
        "   2:",
        "for i in range(2):",
        "    a += i",
        "   3: %pwd",
        "   4: %history -n",
    ]
    assert launched.run("%history 3 1") == ["%pwd", "a = 1"]
    assert launched.run("%history -p -n 2-3") == [
        "   2:",
        ">>> for i in range(2):",
        "...     a += i",
        "...",
        "   3: >>> %pwd",
    ]
    shown = launched.run("%history -n x")
    assert shown == ["usage: %history [-n -p] [N-M...]", "  (not a line number or range: 'x')"]
    assert PROMPT not in shown
