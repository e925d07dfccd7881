"""Every code block of README.md and docs/*.md runs here, so the docs cannot drift from the code.

Each page's blocks run in order, in a fresh directory of the page's own (with the suite's private state
directory), Python blocks sharing one namespace. What a block is decides what happens to it:

- ``python``: executed; ``sh``: run with ``bash -e`` (it must exit 0); ``toml``: loaded with the
  configuration loader (one with a ``[tool.remrepl]`` table: with the project's, as a pyproject.toml);
  ``json``: parsed;
- an HTML comment right before the fence changes that: ``<!-- docs-test: skip REASON -->`` (not run; the
  reason is required), ``<!-- docs-test: file NAME -->`` (written to NAME for later blocks),
  ``<!-- docs-test: serve -->`` (a ``remrepl serve`` runs in the page's directory, with ``password.txt``
  and ``server.json``), ``<!-- docs-test: transcript -->`` (a ``text`` block of ``remote>`` lines,
  replayed against a local server; ``...`` in an expected line matches anything), ``<!-- docs-test: prompt
  -->`` (a transcript typed into the real ``remrepl connect --launch`` prompt, in tmux: for magics).

Any other block fails the page: every example is run, or says why it is not. docs/development.md
describes the convention for whoever writes docs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from remrepl import Launcher, Session, launch
from remrepl.cli.config import load_config
from remrepl.cli.project_config import load_project_config
from remrepl.protocol import Error, Result, Stream
from tests.support.terminal import TmuxTerminal

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>\w+)\s*(?P<arg>.*?)\s*-->\s*$")
PROJECT_TABLE = re.compile(r"^\[tool\.remrepl[\].]", re.MULTILINE)  # a pyproject.toml's, not config.toml
KINDS = ("skip", "file", "serve", "transcript", "prompt")
RUNNABLE = ("python", "sh", "toml", "json")
SH_TIMEOUT = 120.0
PASSWORD = "correct horse battery staple"
BIN = Path(sys.executable).parent  # the venv's: `remrepl` and `python` as the examples name them


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    directive: str | None = None  # skip, file, serve, transcript
    arg: str = ""

    def where(self) -> str:
        return f"{_shown(self.page)}:{self.line}"


def _shown(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with the directive on the line before it (blank lines apart)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,{indent + 3}}}{re.escape(fence)}{fence[0]}*\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{_shown(page)}:{i + 1}: an unclosed code fence")
        block = Block(page, i + 1, opening["info"].strip().split(" ")[0].lower(), "\n".join(body) + "\n")
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        directive = DIRECTIVE.match(lines[k]) if k >= 0 else None
        if directive:
            block.directive, block.arg = directive["kind"], directive["arg"]
        found.append(block)
        i = j + 1
    return found


def problem(block: Block) -> str | None:
    """Why ``block`` breaks the convention (None if it does not)."""
    if block.directive is not None and block.directive not in KINDS:
        return f"unknown docs-test directive {block.directive!r} (known: {', '.join(KINDS)})"
    if block.directive == "skip":
        return None if block.arg else "a skipped block must say why: <!-- docs-test: skip REASON -->"
    if block.directive == "file":
        return None if block.arg else "<!-- docs-test: file NAME --> needs the NAME"
    if block.directive in ("transcript", "prompt"):
        return None if block.lang == "text" else "a transcript is a ```text block"
    if block.directive == "serve" and block.lang not in ("python", "sh"):
        return "<!-- docs-test: serve --> goes with a python or sh block"
    if block.lang not in RUNNABLE:
        return (
            f"a ```{block.lang or '(no language)'} block is neither run nor skipped: mark it "
            "<!-- docs-test: skip REASON --> (or transcript, file NAME)"
        )
    return None


# --- running a page --------------------------------------------------------------------------------


@dataclass
class PageRun:
    """One page's blocks, run in order in ``directory``."""

    directory: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__docs__"})
    server: subprocess.Popen[str] | None = None
    launcher: Launcher | None = None
    session: Session | None = None
    terminal: TmuxTerminal | None = None

    def __post_init__(self) -> None:
        # The directory stands in for a clone: `python scripts/bench.py ...` finds the repository's scripts.
        (self.directory / "scripts").symlink_to(ROOT / "scripts")

    def run(self, block: Block) -> None:
        if block.directive == "skip":
            return
        if block.directive == "file":
            (self.directory / block.arg).write_text(block.code, encoding="utf-8")
            return
        if block.directive == "serve":
            self.serve()
        if block.directive == "transcript":
            self.replay(block)
        elif block.directive == "prompt":
            self.type_in(block)
        elif block.lang == "python":
            exec(compile(block.code, block.where(), "exec"), self.namespace)
        elif block.lang == "sh":
            self.shell(block)
        elif block.lang == "toml" and PROJECT_TABLE.search(block.code):
            path = self.directory / ".pyproject-check" / "pyproject.toml"  # leaves the page's own files be
            path.parent.mkdir(exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
            assert load_project_config(path) is not None, f"{block.where()}: no [tool.remrepl] table"
        elif block.lang == "toml":
            path = self.directory / "config.toml"
            path.write_text(block.code, encoding="utf-8")
            load_config(path)  # a ConfigError names the key
        elif block.lang == "json":
            import json

            json.loads(block.code)

    def serve(self) -> None:
        """``remrepl serve --password-file password.txt --connection-file server.json``, once per page."""
        if self.server is not None:
            return
        password = self.directory / "password.txt"
        fd = os.open(password, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, PASSWORD.encode() + b"\n")
        os.close(fd)
        command = ["serve", "--password-file", "password.txt", "--connection-file", "server.json"]
        self.server = subprocess.Popen(
            [str(BIN / "remrepl"), *command],
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.server.stdout is not None
        ready = self.server.stdout.readline()  # the ready line: the connection file is written by now
        assert '"ready"' in ready, f"remrepl serve did not start (exit {self.server.poll()})"

    def shell(self, block: Block) -> None:
        bash = shutil.which("bash")
        assert bash is not None
        env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]])}
        done = subprocess.run(
            [bash, "-e", "-c", block.code],
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SH_TIMEOUT,
        )
        assert done.returncode == 0, f"{block.where()}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"

    def replay(self, block: Block) -> None:
        if self.session is None:
            self.launcher = launch(cwd=str(self.directory))
            self.session = self.launcher.connect()
        for code, expected in transcript(block):
            shown = output_of(self.session, code)
            if not matches(shown, expected):
                raise AssertionError(
                    f"{block.where()}: remote> {code!r}\nexpected:\n" + "\n".join([*expected, "got:", *shown])
                )

    def type_in(self, block: Block) -> None:
        """Type each input into the real prompt (a ``remrepl connect --launch`` in tmux) and compare the
        screen between it and the next prompt with the transcript."""
        if self.terminal is None:
            env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "REMREPL_PASSWORD")}
            self.terminal = TmuxTerminal(env)
            self.terminal.start([str(BIN / "remrepl"), "connect", "--launch"])
            self.terminal.wait_prompt(0)
        for code, expected in transcript(block):
            assert "\n" not in code, f"{block.where()}: the prompt transcripts type one line per input"
            shown = self.terminal.run(code)
            if not matches(shown, expected):
                raise AssertionError(
                    f"{block.where()}: remote> {code!r}\nexpected:\n" + "\n".join([*expected, "got:", *shown])
                )

    def close(self) -> None:
        if self.terminal is not None:
            self.terminal.send("C-d")  # leaving stops the server the prompt launched
            try:
                self.terminal.wait_exit()
            finally:
                self.terminal.kill()
        for value in list(self.namespace.values()):
            if isinstance(value, Session | Launcher):
                value.close()
        if self.session is not None:
            self.session.close()
        if self.launcher is not None:
            self.launcher.close()
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            assert self.server.stdout is not None
            self.server.stdout.close()


def transcript(block: Block) -> Iterator[tuple[str, list[str]]]:
    """(input, expected output lines) for each ``remote>`` input of a transcript."""
    code: list[str] | None = None
    expected: list[str] = []
    for line in block.code.splitlines():
        if line.startswith("remote> "):
            if code is not None:
                yield "\n".join(code), expected
            code, expected = [line[len("remote> ") :]], []
        elif code is not None and not expected and (line == "..." or line.startswith("... ")):
            code.append(line[4:])
        elif code is not None:
            expected.append(line)
        else:
            raise AssertionError(f"{block.where()}: a transcript starts with a remote> line, not {line!r}")
    if code is not None:
        yield "\n".join(code), expected


def output_of(session: Session, code: str) -> list[str]:
    """What the prompt shows for ``code``: streams, echoed reprs and the traceback, in order."""
    text = ""
    for event in session.execute(code):
        if isinstance(event, Stream):
            text += event.data.decode()
        elif isinstance(event, Result):
            text += "".join(f"{repr_text}\n" for repr_text in (event.text, *event.more))
        elif isinstance(event, Error):
            text += event.traceback
    return text.splitlines()


def matches(shown: list[str], expected: list[str]) -> bool:
    if len(shown) != len(expected):
        return False
    patterns = (".*".join(re.escape(part) for part in line.rstrip().split("...")) for line in expected)
    return all(re.fullmatch(pattern, line.rstrip()) for pattern, line in zip(patterns, shown, strict=True))


# --- the tests -----------------------------------------------------------------------------------------


def test_every_block_is_run_or_skipped_with_a_reason() -> None:
    problems = [f"{block.where()}: {why}" for page in PAGES for block in blocks(page) if (why := problem(block))]
    assert not problems, "\n".join(problems)


def test_the_collector_finds_the_examples() -> None:
    """A collector that found nothing would pass everything: the pages hold examples of every kind."""
    found = [block for page in PAGES for block in blocks(page)]
    assert len(found) > 40
    kinds = {block.directive or block.lang for block in found}
    assert {"python", "sh", "toml", "json", "skip", "file", "serve", "transcript", "prompt"} <= kinds


def test_an_unmarked_or_reasonless_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```text\nsome output\n```\n\n<!-- docs-test: skip -->\n```sh\nrm -rf /\n```\n\n"
        "<!-- docs-test: transcript -->\n```python\n1\n```\n\n<!-- docs-test: skip needs a GPU -->\n```text\nok\n```\n",
        encoding="utf-8",
    )
    assert [problem(block) is None for block in blocks(page)] == [False, False, False, True]


def test_a_failing_shell_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```sh\nremrepl --version\nfalse\n```\n", encoding="utf-8")
    runner = PageRun(tmp_path)
    try:
        with pytest.raises(AssertionError, match="exit 1"):
            runner.run(blocks(page)[0])
    finally:
        runner.close()


def test_a_wrong_transcript_fails(tmp_path: Path) -> None:
    """The transcript check compares for real: a wrong expected output is caught."""
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: transcript -->\n```text\nremote> 6 * 7\n41\n```\n", encoding="utf-8")
    runner = PageRun(tmp_path)
    try:
        with pytest.raises(AssertionError, match="expected:\n41\ngot:\n42"):
            runner.run(blocks(page)[0])
    finally:
        runner.close()


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths in the examples are the page's directory
    found = blocks(page)
    assert not [block for block in found if problem(block)], "see test_every_block_is_run_or_skipped_with_a_reason"
    runner = PageRun(tmp_path)
    try:
        for block in found:
            runner.run(block)
    finally:
        runner.close()
