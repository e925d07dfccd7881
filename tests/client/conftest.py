"""Fixtures of the client tests: the private state directory and a real terminal (tmux) running remrepl."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.processes import leftover_servers, remrepl_command, terminate
from tests.client.terminal import PROMPT, TmuxTerminal


@pytest.fixture
def state_dir() -> Path:
    """This test's private REMREPL_STATE_DIR (set by the suite's autouse ``private_state``)."""
    return Path(os.environ["REMREPL_STATE_DIR"])


@pytest.fixture
def terminal(state_dir: Path) -> Iterator[TmuxTerminal]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "REMREPL_PASSWORD")}
    env["REMREPL_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # the network guard reaches every process started
    term = TmuxTerminal(env)
    try:
        yield term
    finally:
        term.kill()
        # Servers our commands started and left behind (a failed test, or --keep): stop them. Processes
        # whose parent is this test process belong to fixtures that stop them themselves.
        terminate(leftover_servers(state_dir))


@pytest.fixture
def launched(terminal: TmuxTerminal) -> TmuxTerminal:
    """``remrepl connect --launch`` at its first prompt."""
    terminal.start([*remrepl_command(), "connect", "--launch"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    return terminal
