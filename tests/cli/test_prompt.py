"""The prompt's pieces without a terminal: when Enter runs, and the private history file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from prompt_toolkit.history import FileHistory

from remrepl.cli.ui import is_complete, private_history


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


def test_history_keeps_its_most_recent_entries(tmp_path: Path) -> None:
    path = tmp_path / "history"
    history = private_history(path, max_entries=100)
    for i in range(5):
        history.store_string(f"x = {i}\nprint(x)")
    history = private_history(path, max_entries=2)
    assert list(history.load_history_strings()) == ["x = 4\nprint(x)", "x = 3\nprint(x)"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not isinstance(private_history(tmp_path / "none", max_entries=0), FileHistory)


@pytest.mark.parametrize(
    "line, is_one",
    [("%get x", True), ("!ls", True), ("obj?", True), ("os.path.join??", True), ("?len", True), ("x = 1", False)],
)
def test_what_the_prompt_keeps_for_itself(line: str, is_one: bool) -> None:
    from remrepl.cli.ui.magics import is_magic

    assert is_magic(line) is is_one


def test_magic_names_complete_locally() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from remrepl.cli.ui.completion import RemoteCompleter
    from remrepl.cli.ui.magics import MAGICS

    completer = RemoteCompleter(
        session=None,  # type: ignore[arg-type]  # nothing here goes to the server
        magic_names=lambda: [n for n in MAGICS if n.startswith("%")],
        local_names=lambda: ["__name__", "data", "dump", "other"],
    )
    tab = CompleteEvent(completion_requested=True)
    assert [c.text for c in completer.get_completions(Document("%wh"), tab)] == ["%who", "%who_local"]
    assert [c.text for c in completer.get_completions(Document("%put d"), tab)] == ["data", "dump"]
    assert [c.text for c in completer.get_completions(Document("%put "), tab)] == ["data", "dump", "other"]
    assert list(completer.get_completions(Document("%put data x "), tab)) == []  # no third argument
    assert list(completer.get_completions(Document("!ls /e"), tab)) == []


def test_local_code_and_local_paths_complete_on_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from remrepl.cli.ui.completion import RemoteCompleter

    (tmp_path / "script one.py").write_text("")
    monkeypatch.chdir(tmp_path)
    completer = RemoteCompleter(
        session=None,  # type: ignore[arg-type]  # nothing here goes to the server
        local_namespace=lambda: {"local_thing": [1]},
    )
    tab = CompleteEvent(completion_requested=True)
    assert [c.text for c in completer.get_completions(Document("%local local_th"), tab)] == ["local_thing"]
    assert [c.text for c in completer.get_completions(Document("%local local_thing.ap"), tab)] == ["append"]
    assert [c.text for c in completer.get_completions(Document("%run scr"), tab)] == [r"script\ one.py"]
