"""The prompt's pieces without a terminal: when Enter runs, and the private history file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from prompt_toolkit.history import FileHistory

from remrepl.client.ui import is_complete, private_history


@pytest.mark.parametrize(
    "text, complete",
    [
        ("", True),
        ("x = 1", True),
        ("%exit", True),
        ("if x:", False),
        ("if x:\n    pass", False),
        ("if x:\n    pass\n", True),  # an empty line ends the block
        ("for i in range(3): i", False),  # as in the standard REPL
        ("x = (1,", False),
        ("'''docstring", False),
        ("@decorator", False),
        ("x = 1\ny = 2", True),  # a pasted block of statements
        ("x = 1\nif x:\n    y = 2", False),  # ...still inside its last block
        ("def f(:", True),  # a syntax error runs, and the server shows the caret
    ],
)
def test_enter_runs_what_python_considers_complete(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


def test_history_is_private(tmp_path: Path) -> None:
    path = tmp_path / "history"
    history = private_history(path)
    assert isinstance(history, FileHistory)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    history.store_string("password = 'hunter2'")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
