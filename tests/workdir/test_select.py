"""Which files travel: git's own answer inside a work tree, the same rules applied by hand outside one
(checked against git on copies of the same trees), ``.remreplignore`` on top, links kept inside the tree."""

from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from remrepl._exceptions import WorkdirError
from remrepl.workdir.select import project_root, select_files

requires_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def quiet_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git as a fresh user's: no global or system configuration (no global excludes file), an identity
    for commits, and no repository above tmp_path taken for the tests' own."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "t")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "t@example.invalid")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def git_listing(repo: Path) -> list[str]:
    """What git itself lists (the reference the walk outside git must agree with)."""
    out = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(path for path in out.split("\0") if path)


def make(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


PROJECT = {
    ".gitignore": "build/\n*.log\n!keep.log\n/notes.txt\n",
    "train.py": "print('train')\n",
    "notes.txt": "ignored at the top only\n",
    "pkg/notes.txt": "not the top one: kept\n",
    "pkg/__init__.py": "",
    "pkg/.gitignore": "*.tmp\n!wanted.tmp\n",
    "pkg/x.tmp": "",
    "pkg/wanted.tmp": "",
    "run.log": "",
    "keep.log": "",
    "logs/keep.log": "",
    "logs/other.log": "",
    "build/out.bin": "",
    "deep/build/out.bin": "",
    "data/big.csv": "1,2\n",
    "data/small.csv": "1\n",
    ".remreplignore": "data/big.csv\nscratch/\n",
    "scratch/a.txt": "",
    "pkg/__pycache__/mod.cpython-311.pyc": "",
    "stray.pyc": "",
}
EXPECTED = [
    ".gitignore",
    ".remreplignore",
    "data/small.csv",
    "keep.log",
    "logs/keep.log",
    "pkg/.gitignore",
    "pkg/__init__.py",
    "pkg/notes.txt",
    "pkg/wanted.tmp",
    "train.py",
]


def test_outside_git_the_ignore_files_apply_as_git_applies_them(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make(root, PROJECT)
    assert select_files(root) == EXPECTED


@requires_git
def test_inside_git_git_decides_and_remreplignore_leaves_out_more(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make(root, {**PROJECT, "old.py": "deleted later\n", "tracked.log": "tracked despite *.log\n"})
    git(root, "init", "-q")
    git(root, "add", "train.py", "old.py", ".gitignore")
    git(root, "add", "-f", "tracked.log")
    git(root, "commit", "-qm", "first")
    (root / "old.py").unlink()  # tracked but deleted from disk: nothing to send
    (root / "untracked.py").write_text("")  # untracked and not ignored: it travels
    selected = select_files(root)
    assert selected == sorted([*EXPECTED, "tracked.log", "untracked.py"])
    assert ".git/HEAD" not in selected


@requires_git
def test_a_subdirectory_of_a_work_tree_gets_its_part_relative_to_itself(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make(repo, {".gitignore": "*.bin\n", "top.py": "", "sub/a.py": "", "sub/b.bin": "", "sub/.remreplignore": "c*\n"})
    make(repo, {"sub/c.py": "", "sub/deeper/d.py": ""})
    git(repo, "init", "-q")
    assert select_files(repo / "sub") == [".remreplignore", "a.py", "deeper/d.py"]


@requires_git
def test_links_travel_only_to_files_inside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the server\n")
    for in_git in (False, True):
        root = tmp_path / f"proj-{in_git}"
        make(root, {"real.txt": "content\n", "dir/inner.txt": "", "..dots": ""})
        (root / "to-outside").symlink_to(outside)
        (root / "to-real").symlink_to("real.txt")
        (root / "to-dots").symlink_to("..dots")  # a name that starts with "..", still inside
        (root / "to-dir").symlink_to("dir")
        (root / "dangling").symlink_to("nowhere")
        (root / "loop").symlink_to("loop")
        os.mkfifo(root / "fifo")
        if in_git:
            git(root, "init", "-q")
            git(root, "add", "-A")  # tracked links (a FIFO cannot be added)
        assert select_files(root) == ["..dots", "dir/inner.txt", "real.txt", "to-dots", "to-real"], in_git


def test_the_executable_bit_is_no_reason_to_leave_a_file_out(tmp_path: Path) -> None:
    make(tmp_path / "proj", {"run.sh": "#!/bin/sh\n"})
    (tmp_path / "proj" / "run.sh").chmod(0o755)
    assert select_files(tmp_path / "proj") == ["run.sh"]


def test_a_dot_git_directory_is_never_entered(tmp_path: Path) -> None:
    # Not a valid repository (git says so), so the tree is walked: its .git must still stay home.
    make(tmp_path / "proj", {".git/config": "[broken", ".git/objects/x": "", "a.py": "", "sub/.git": "gitdir: x"})
    assert select_files(tmp_path / "proj") == ["a.py"]


def test_the_walk_stops_past_its_bound(tmp_path: Path) -> None:
    make(tmp_path / "proj", {f"f{i}.txt": "" for i in range(30)})
    with pytest.raises(WorkdirError, match=r"more than 20 entries under .*proj.*\.remreplignore.*--no-workdir"):
        select_files(tmp_path / "proj", max_entries=20)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_an_unreadable_directory_outside_git_is_named_with_the_fix(tmp_path: Path) -> None:
    make(tmp_path / "proj", {"locked/a.txt": "", "b.txt": ""})
    (tmp_path / "proj" / "locked").chmod(0)
    try:
        with pytest.raises(WorkdirError, match=r"locked.*'/locked/' in .*\.remreplignore"):
            select_files(tmp_path / "proj")
        (tmp_path / "proj" / ".remreplignore").write_text("/locked/\n")
        assert select_files(tmp_path / "proj") == [".remreplignore", "b.txt"]
    finally:
        (tmp_path / "proj" / "locked").chmod(stat.S_IRWXU)


# The same rules by hand as by git, on random trees and ignore files made of the tricky cases: negation,
# directory-only patterns, anchoring, "**" (and git's quirks with it), whitelists ("*" then "!*/"),
# re-inclusion inside an excluded directory (which git refuses), deeper files overriding shallower ones,
# bracket classes, escapes, trailing spaces, CRLF, patterns git can never match.
NAMES = ["a", "b", "ab", "ba", "x.py", "keep.log", "x.log", "sub", "build", "é", "[a]", "a b", "#x", "!odd", "A", "]"]
PATTERNS = [
    *["*.log", "!keep.log", "build/", "/a", "a/", "ba/", "sub/*", "!sub/x.py", "sub/**", "x.py/", "!/build"],
    *["**/b", "a/**/x.py", "b/**", "b/**/", "!b/**/x.py", "**/", "/**/b", "**/b/", "a/**/**/b", "***/x.py"],
    *["a**/b", "a/b**", "**\\/b", "*", "!*/", "!*.py", "!a*", "?", "??", "a?b", "?/*", "*/*", "a/*/"],
    *["[ab]", "[!a]", "[^a]*", "[]a]", "[a-]", "[-a]", "[z-a]", "[a-c]b", "[!]]", "[\\]]", "[a\\-c]"],
    *["[[:alpha:]]", "[[:upper:]]*", "[[:digit:][:alpha:]]", "[[:punct:]]", "[[:bad:]]", "[[:alpha]", "[", "a["],
    *["\\[a]", "\\#x", "#x", "\\!odd", "!odd", "a\\ b", "a ", "a\\ ", "a\\*", "*\\", "b\r", "é", "", "# c"],
]


def random_tree(root: Path, rng: random.Random) -> None:
    root.mkdir()
    for _ in range(rng.randint(10, 40)):
        path = "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 4)))
        try:  # a name already taken by a file (as a parent) or a directory (as the file) is skipped
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("")
        except OSError:
            continue
    directories = [root, *(path for path in root.rglob("*") if path.is_dir())]
    for directory in rng.sample(directories, min(len(directories), rng.randint(1, 6))):
        lines = [rng.choice(PATTERNS) for _ in range(rng.randint(1, 8))]
        (directory / ".gitignore").write_text("\n".join(lines) + "\n")


@requires_git
@pytest.mark.parametrize("seed", range(60))
def test_outside_git_the_selection_is_gits(tmp_path: Path, seed: int) -> None:
    plain = tmp_path / "plain"
    random_tree(plain, random.Random(seed))
    repo = tmp_path / "repo"
    shutil.copytree(plain, repo, symlinks=True)
    git(repo, "init", "-q")
    assert select_files(plain) == git_listing(repo) == select_files(repo)


@requires_git
def test_remreplignore_removes_the_same_files_in_git_and_outside(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    make(plain, PROJECT)
    make(plain, {"scratch/.remreplignore": "!x\n", "pkg/.remreplignore": "/notes.txt\n!/x.tmp\n"})
    repo = tmp_path / "repo"
    shutil.copytree(plain, repo, symlinks=True)
    git(repo, "init", "-q")
    expected = sorted({*EXPECTED, "pkg/.remreplignore"} - {"pkg/notes.txt"})
    assert select_files(plain) == select_files(repo) == expected


@requires_git
def test_the_project_root_is_the_top_of_the_work_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make(repo, {"pyproject.toml": "", "src/pkg/pyproject.toml": "", "src/pkg/train.py": ""})
    git(repo, "init", "-q")
    assert project_root(repo / "src" / "pkg" / "train.py") == repo.resolve()
    assert project_root(repo / "src" / "pkg") == repo.resolve()  # a directory counts as itself


def test_without_git_the_nearest_marker_wins_and_home_is_never_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    make(home, {"pyproject.toml": "", "proj/requirements.txt": "", "proj/src/deep/train.py": "", "loose/x.py": ""})
    assert project_root(home / "proj" / "src" / "deep" / "train.py") == (home / "proj").resolve()
    assert project_root(home / "loose" / "x.py") == (home / "loose").resolve()  # not home, for its marker
    make(tmp_path / "elsewhere", {".remreplignore": "", "a/b.py": ""})
    assert project_root(tmp_path / "elsewhere" / "a" / "b.py") == (tmp_path / "elsewhere").resolve()


@requires_git
def test_a_home_directory_kept_in_git_is_no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    make(home, {".bashrc": "", "proj/train.py": ""})
    git(home, "init", "-q")
    monkeypatch.setenv("HOME", str(home))
    assert project_root(home / "proj" / "train.py") == (home / "proj").resolve()


def test_without_git_installed_the_markers_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    make(repo, {"sub/setup.cfg": "", "sub/train.py": "", ".gitignore": "*.txt\n", "sub/a.txt": ""})
    if shutil.which("git"):
        git(repo, "init", "-q")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git on the path: as if not installed
    assert project_root(repo / "sub" / "train.py") == (repo / "sub").resolve()
    assert select_files(repo / "sub") == ["a.txt", "setup.cfg", "train.py"]  # walked: the .gitignore above is not read


@requires_git
def test_submodules_and_nested_clones_travel_by_their_own_rules(tmp_path: Path) -> None:
    library = tmp_path / "library"
    make(library, {"lib.py": "", ".gitignore": "*.so\n", "ext.so": ""})
    git(library, "init", "-q")
    git(library, "add", "-A")
    git(library, "commit", "-qm", "lib")
    root = tmp_path / "proj"
    make(root, {"train.py": "", ".remreplignore": "vendor/clone/skip.py\n"})
    git(root, "init", "-q")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "libs/library")
    make(root, {"libs/library/untracked.py": "", "libs/library/ext.so": ""})
    clone = root / "vendor" / "clone"  # an untracked repository inside: git lists it as "vendor/clone/"
    make(clone, {"mod.py": "", "skip.py": "", "build/out.o": ""})
    (clone / ".gitignore").write_text("build/\n")
    git(clone, "init", "-q")
    (root / "empty-submodule").mkdir()  # a directory, no repository: nothing in it to send
    assert select_files(root) == [
        ".gitmodules",
        ".remreplignore",
        "libs/library/.gitignore",
        "libs/library/lib.py",
        "libs/library/untracked.py",
        "train.py",
        "vendor/clone/.gitignore",
        "vendor/clone/mod.py",
    ]
