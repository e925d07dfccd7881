"""Tab after a magic, without a terminal: names, and arguments by kind (paths quoted as shell words)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document

from remrepl.cli.ui.magic_completion import (
    MAGIC_ARGUMENTS,
    ArgumentSources,
    MagicArguments,
    MagicCompleter,
    quote_for_shell,
    split_partial,
)
from remrepl.server.kernel.paths import list_paths

TAB = CompleteEvent(completion_requested=True)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """The "remote" directory: the server's paths as its kernel lists them (here: list_paths in a directory)."""
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "results").mkdir()
    (tmp_path / "remote" / "results" / "run 1.csv").write_text("x")
    (tmp_path / "remote" / "report.txt").write_text("x")
    (tmp_path / "remote" / ".cache").mkdir()
    return tmp_path / "remote"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "notes.md").write_text("x")
    (tmp_path / "local" / "scripts").mkdir()
    monkeypatch.chdir(tmp_path / "local")
    return tmp_path / "local"


@pytest.fixture
def completer(remote: Path, local: Path) -> MagicCompleter:
    def remote_paths(typed: str, directories_only: bool) -> list[tuple[str, bool]]:
        found = list_paths(f"{remote}/{typed}", directories_only=directories_only)
        return [(path[len(str(remote)) + 1 :], is_dir) for path, is_dir in found]

    def remote_code(code: str, event: CompleteEvent) -> Iterable[Completion]:
        names = ["remote_df", "remote_model", "while", "remote_df.shape"]  # what a kernel might answer
        word = code.rsplit(" ", 1)[-1]
        return [Completion(n, start_position=-len(word)) for n in names if n.startswith(word)]

    sources = ArgumentSources(
        remote_paths=remote_paths,
        local_paths=lambda typed, dirs: list_paths(typed, directories_only=dirs),
        remote_code=remote_code,
        local_code=lambda code, event: [Completion("local_code")],
        local_names=lambda: ["data", "dump", "_private"],
    )
    return MagicCompleter(sources, magic_names=lambda: ["%download", "%debug", "%get", "%upload"])


def texts(completer: MagicCompleter, line: str) -> list[str]:
    """The line as it reads after each completion."""
    out = []
    for c in completer.get_completions(Document(line), TAB):
        assert c.start_position <= 0
        out.append(line[: len(line) + c.start_position] + c.text)
    return out


def test_magic_names(completer: MagicCompleter) -> None:
    assert texts(completer, "%d") == ["%debug", "%download"]
    assert texts(completer, "%nothing ") == []


def test_download_completes_remote_paths_then_a_local_one(completer: MagicCompleter) -> None:
    assert texts(completer, "%download re") == ["%download report.txt", "%download results/"]
    assert texts(completer, "%download results/") == [r"%download results/run\ 1.csv"]  # a shell word
    assert texts(completer, "%download 'results/r") == ["%download 'results/run 1.csv'"]  # a file closes it
    assert texts(completer, '%download "res') == ['%download "results/']  # a directory goes on
    assert texts(completer, "%download report.txt no") == ["%download report.txt notes.md"]


def test_hidden_entries_only_after_a_dot(completer: MagicCompleter) -> None:
    assert texts(completer, "%download .") == ["%download .cache/"]
    assert ".cache" not in " ".join(texts(completer, "%download "))


def test_upload_completes_a_local_path_then_a_remote_one(completer: MagicCompleter) -> None:
    assert texts(completer, "%upload sc") == ["%upload scripts/"]
    assert texts(completer, "%upload notes.md res") == ["%upload notes.md results/"]
    assert texts(completer, "%upload notes.md results/ x") == []  # no third argument


def test_cd_completes_remote_directories_only(completer: MagicCompleter) -> None:
    assert texts(completer, "%cd re") == ["%cd results/"]


def test_the_table_is_open_to_new_magics(completer: MagicCompleter) -> None:
    completer.table = {**MAGIC_ARGUMENTS, "%newmagic": MagicArguments(rest="remote-path")}
    assert texts(completer, "%newmagic a report.t") == ["%newmagic a report.txt"]


def test_pip_completes_its_subcommands_then_remote_paths(completer: MagicCompleter) -> None:
    assert texts(completer, "%pip ins") == ["%pip install"]
    assert texts(completer, "%pip in") == ["%pip install", "%pip index"]
    assert texts(completer, "%pip u") == ["%pip uninstall"]
    assert texts(completer, "%pip install -r rep") == ["%pip install -r report.txt"]  # -r FILE, on the server


def test_names_for_get_and_put(completer: MagicCompleter) -> None:
    assert texts(completer, "%get remote_") == ["%get remote_df", "%get remote_model"]  # no attribute, no keyword
    assert texts(completer, "%get wh") == []
    assert texts(completer, "%get remote_df ") == []  # LOCAL: a new name
    assert texts(completer, "%put d") == ["%put data", "%put dump"]
    assert texts(completer, "%put data remote_m") == ["%put data remote_model"]


def test_code_arguments_complete_as_code_after_the_options(completer: MagicCompleter) -> None:
    assert texts(completer, "%timeit -n 10 -r 3 remote_d") == [
        "%timeit -n 10 -r 3 remote_df",
        "%timeit -n 10 -r 3 remote_df.shape",
    ]
    assert [c.text for c in completer.get_completions(Document("%local x"), TAB)] == ["local_code"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", (0, "", "", "")),
        ("a b", (1, "b", "b", "")),
        ("a ", (1, "", "", "")),
        (r"my\ fi", (0, r"my\ fi", "my fi", "")),
        ("'my fi", (0, "'my fi", "my fi", "'")),
        ('x "a\\"b', (1, '"a\\"b', 'a"b', '"')),
        ("'a b'c", (0, "'a b'c", "a bc", "")),
    ],
)
def test_split_partial_splits_as_the_magics_do(text: str, expected: tuple[int, str, str, str]) -> None:
    assert split_partial(text) == expected


def test_quoting_round_trips_through_shlex() -> None:
    import shlex

    for name in ["plain", "with space", "it's", 'say "hi"', "back\\slash"]:
        for quote in ("", '"', "'"):
            quoted = quote_for_shell(name, quote)
            if quoted is not None:
                assert shlex.split(quote + quoted + quote) == [name]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab '\"\\\t", max_size=20))
def test_split_partial_agrees_with_shlex(text: str) -> None:
    """The word being typed is the one shlex (as the magics split their arguments) would end up with."""
    import shlex

    if text.endswith("\\"):
        return  # half an escape: what it escapes is not typed yet
    index, raw, value, quote = split_partial(text)
    words = shlex.split(text + "x" + quote)  # the word typed on, and its quote closed
    assert (index, words[-1]) == (len(words) - 1, value + "x")
    assert text.endswith(raw)
