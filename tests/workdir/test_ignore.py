"""The gitignore pattern language, case by case: what each pattern says of one path itself (the table),
and that git says the same (each case made as a real tree and listed by git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from remrepl.workdir import ignore

# (pattern line, path, is a directory, decide(): True excluded, False taken back, None not spoken of)
CASES = [
    ("*.log", "a/x.log", False, True),
    ("/a", "a", False, True),
    ("/a", "x/a", False, None),  # anchored at the ignore file's directory
    ("a/", "a", False, None),  # a directory pattern says nothing of a file
    ("a/", "a", True, True),
    ("x/a", "x/a", True, True),  # a slash inside anchors too
    ("!keep.log", "keep.log", False, False),
    ("b/**", "b", True, None),  # what is inside b, not b
    ("b/**", "b/x", False, True),
    ("b/**/", "b/x.py", False, None),  # directories inside b only
    ("b/**/", "b/sub", True, True),
    ("a/**/b", "a/b", False, True),  # zero directories
    ("a/**/b", "a/x/y/b", False, True),
    ("**/b", "x/y/b", False, True),
    ("a**/b", "ax/y/b", False, True),  # git compares the literal prefix apart: its ** then starts a pattern
    ("a*/b", "ax/y/b", False, None),
    ("**\\/b", "b", False, None),  # an escaped slash after **: no shortcut for zero directories
    ("**\\/b", "x/b", False, True),
    ("?", "é", False, None),  # bytes, as git: é is two
    ("??", "é", False, True),
    ("[]a]", "]", False, True),  # a first ] is literal
    ("[!a]", "b", False, True),
    ("[z-a]", "a", False, None),  # an empty range
    ("[[:alpha:]]", "q", False, True),
    ("[[:bad:]]", "a", False, None),  # an unknown class: the pattern never matches
    ("[a", "[a", False, None),  # an unclosed class too
    ("\\#x", "#x", False, True),
    ("#x", "#x", False, None),  # a comment
    ("\\!odd", "!odd", False, True),
    ("a ", "a", False, True),  # trailing spaces go...
    ("a\\ ", "a ", False, True),  # ...unless escaped
    ("b\r", "b", False, True),  # CRLF files
    ("a\\*", "a*", False, True),
    ("a\\*", "ab", False, None),
]


@pytest.mark.parametrize(("line", "path", "is_dir", "expected"), CASES)
def test_a_pattern_speaks_of_a_path_itself(line: str, path: str, is_dir: bool, expected: bool | None) -> None:
    assert ignore.decide(ignore.parse([line]), path, is_dir) is expected


def test_the_last_matching_pattern_decides() -> None:
    rules = ignore.parse(["*.log", "!keep.log", "", "# comment", "keep.log"])
    assert ignore.decide(rules, "keep.log", False) is True
    assert ignore.decide(ignore.parse(["keep.log", "!*.log"]), "keep.log", False) is False


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_says_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``git check-ignore -v -n`` names the pattern that decides for each case's path (made for real, so
    git knows a directory from a file), or none."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for number, (line, path, is_dir, expected) in enumerate(CASES):
        repo = tmp_path / str(number)
        target = repo / path
        target.parent.mkdir(parents=True)
        target.mkdir() if is_dir else target.write_text("")
        (repo / ".gitignore").write_bytes(line.encode() + b"\n")
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        answer = subprocess.run(
            ["git", "-C", str(repo), "check-ignore", "--stdin", "-z", "-v", "-n", "--no-index"],
            input=path.encode() + b"\0",
            capture_output=True,
            check=False,
        ).stdout.split(b"\0")  # source, line number, pattern, path; an empty source: no pattern matched
        source, pattern = answer[0], answer[2]
        git_says = None if not source else not pattern.startswith(b"!")
        assert git_says is expected, (line, path)


@pytest.mark.parametrize("path", ["a.txt", "dir/x[1]*?.py", "#odd", "!bang", "trail  ", "back\\slash"])
def test_the_line_quoted_as_a_fix_means_that_path_and_nothing_else(path: str) -> None:
    rules = ignore.parse([ignore.anchored_line(path)])
    assert ignore.decide(rules, path, False) is True
    assert ignore.decide(rules, f"sub/{path}", False) is None
    assert ignore.decide(ignore.parse([ignore.anchored_line(path, directory=True)]), path, True) is True
