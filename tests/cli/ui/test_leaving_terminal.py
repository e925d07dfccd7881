"""Leaving the prompt in a real terminal: ``exit()``, ``quit()``, ``sys.exit(n)`` and Ctrl-D do what the
banner says for this launch (the server's processes gone, or still there), and a block typed with blank
lines inside its docstring runs only when python's ``>>>`` would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.cli import remrepl_command
from tests.support.processes import alive, server_processes, terminate
from tests.support.terminal import CONTINUATION, PROMPT, TmuxTerminal
from tests.support.waiting import wait_until

STOPS = "Ctrl-D or exit() leaves and stops the server (it was launched for this session without --keep)."


def _banner(terminal: TmuxTerminal) -> list[str]:
    lines = terminal.lines()
    first = next(i for i, line in enumerate(lines) if line.startswith("remrepl: connected to"))
    return lines[first : first + 3]


def _stopped(terminal: TmuxTerminal, state_dir: Path, servers: list[int]) -> None:
    assert "the server launched for this session was stopped" in terminal.screen()
    wait_until(lambda: not any(alive(pid) for pid in servers), 10, "the launched server to end")
    assert server_processes(state_dir) == []


def test_exit_leaves_and_stops_a_launched_server_as_the_banner_says(launched: TmuxTerminal, state_dir: Path) -> None:
    assert _banner(launched)[1] == STOPS
    servers = server_processes(state_dir)
    assert len(servers) == 2, servers  # the supervisor and its kernel
    assert launched.run("exit") == ["Use exit() or Ctrl-D (i.e. EOF) to exit"]  # python's words, bare
    launched.type("exit()")
    launched.send("Enter")
    assert launched.wait_exit() == 0
    _stopped(launched, state_dir, servers)


def test_sys_exit_leaves_with_its_status(launched: TmuxTerminal, state_dir: Path) -> None:
    servers = server_processes(state_dir)
    launched.type("import sys; sys.exit(3)")
    launched.send("Enter")
    assert launched.wait_exit() == 3  # as `python` exits after sys.exit(3) at >>>
    assert "SystemExit" not in launched.screen()
    _stopped(launched, state_dir, servers)


def test_raise_system_exit_with_a_message_prints_it_and_exits_1(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type("raise SystemExit('goodbye')")
    launched.send("Enter")
    assert launched.wait_exit() == 1
    assert "goodbye" in launched.lines()[start:]


def test_a_kept_server_stays_after_quit_and_ctrl_d(terminal: TmuxTerminal, state_dir: Path) -> None:
    terminal.start([*remrepl_command(), "connect", "--launch", "--keep", "--name", "work"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    kept = "Ctrl-D or exit() detaches: the server keeps running as session work (`remrepl connect work` comes back)."
    assert _banner(terminal)[1] == kept
    server_pid = 0
    try:
        terminal.run("kept = 'still here'")
        terminal.type("quit()")
        terminal.send("Enter")
        assert terminal.wait_exit() == 0
        record = state_dir / "sessions" / "work.json"
        server_pid = int(json.loads(record.read_text())["pid"])
        assert alive(server_pid)

        terminal.start([*remrepl_command(), "connect", "work"])
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reconnecting", timeout=30)
        assert _banner(terminal)[1] == kept
        assert terminal.run("kept") == ["'still here'"]
        help_text = terminal.run("%help")
        assert re.fullmatch(
            r"\s*Ctrl-D or exit\(\), %exit\s+detaches: the server keeps running as session work.*", help_text[-1]
        )
        terminal.send("C-d")
        assert terminal.wait_exit() == 0
        assert alive(server_pid)
    finally:
        if server_pid:
            terminate([server_pid])


def test_a_docstring_with_a_blank_line_is_typed_as_at_python(launched: TmuxTerminal) -> None:
    start = launched.mark()
    for line in ["def f():", '"""Sum up.', "", "Details.", '"""', "return 42"]:
        launched.type(line)
        launched.send("Enter")
    # every Enter so far opened a continuation line (the blank one inside the docstring too): nothing ran
    launched.wait_for_line(
        lambda line: line.startswith(CONTINUATION) and line.endswith("return 42"), "the body", since=start
    )
    assert launched.lines()[-1].startswith(CONTINUATION)
    launched.send("Enter")  # the empty line after the body ends the block
    assert launched.wait_prompt(start)[-1].strip() == CONTINUATION
    assert launched.run("f(), f.__doc__.split()") == ["(42, ['Sum', 'up.', 'Details.'])"]
