"""The path listing behind path completion (remote ``%download`` arguments, string literals, local paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remrepl.server.kernel import paths
from remrepl.server.kernel.paths import list_paths


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "file 1.txt").write_text("x")
    (tmp_path / "data" / "sub").mkdir()
    (tmp_path / "data" / ".hidden").write_text("x")
    (tmp_path / "dat.csv").write_text("x")
    (tmp_path / "other").write_text("x")
    monkeypatch.chdir(tmp_path)  # relative paths are relative to the working directory
    return tmp_path


def test_relative_paths_directories_with_a_slash(tree: Path) -> None:
    assert list_paths("dat") == [("dat.csv", False), ("data/", True)]
    assert list_paths("data/") == [("data/file 1.txt", False), ("data/sub/", True)]
    assert list_paths("data/f") == [("data/file 1.txt", False)]
    assert list_paths("") == [("dat.csv", False), ("data/", True), ("other", False)]


def test_hidden_entries_only_when_the_typed_name_starts_with_a_dot(tree: Path) -> None:
    assert [p for p, _ in list_paths("data/.")] == ["data/.hidden"]
    assert "data/.hidden" not in [p for p, _ in list_paths("data/")]


def test_directories_only(tree: Path) -> None:
    assert list_paths("data/", directories_only=True) == [("data/sub/", True)]


def test_absolute_and_home_paths_keep_what_was_typed(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree / "data"))
    assert list_paths("~/s") == [("~/sub/", True)]
    assert list_paths(f"{tree}/oth") == [(f"{tree}/other", False)]


def test_a_missing_directory_is_nothing_to_offer(tree: Path) -> None:
    assert list_paths("no/such/dir/") == []
    assert list_paths("other/") == []  # a file is no directory


def test_bounded_in_entries(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(10):
        (tree / f"many{i}").write_text("")
    monkeypatch.setattr(paths, "MAX_ENTRIES", 3)
    assert list_paths("many") == [("many0", False), ("many1", False), ("many2", False)]
    monkeypatch.setattr(paths, "MAX_SCANNED", 2)  # a huge directory: what the first entries gave
    assert len(list_paths("")) <= 2
