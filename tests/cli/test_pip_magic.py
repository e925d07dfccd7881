"""``%pip`` and ``!pip`` / ``!python`` at the prompt reach the kernel's own interpreter.

The server (and so its kernel) runs in a throwaway venv made here, which sees the project's packages
through a ``.pth`` (remrepl itself, uv): what ``%pip install`` puts there never touches the project's venv.
"""

from __future__ import annotations

import select
import socket
from pathlib import Path

import pytest

from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse, throwaway_venv


@pytest.fixture
def kernel_venv(tmp_path: Path) -> Path:
    """A fresh venv (with pip) whose python also imports the project's packages, after its own."""
    venv = tmp_path / "kernel-venv"
    throwaway_venv(venv)
    return venv


def test_pip_magic_installs_into_the_kernels_interpreter_and_it_imports_at_once(
    terminal: TmuxTerminal, kernel_venv: Path, wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    terminal.env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # not the machine's shared cache
    python = kernel_venv / "bin" / "python"
    terminal.start(
        [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())", "connect", "--launch"]
    )
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    assert terminal.run('!python -c "import sys; print(sys.prefix)"') == [str(kernel_venv)]
    assert str(kernel_venv) in "\n".join(terminal.run("!pip --version"))
    assert terminal.run(f"__import__('importlib.util').util.find_spec({TEST_PACKAGE!r}) is None") == ["True"]
    terminal.run(f"%pip install --no-index --find-links {wheelhouse.directory} {TEST_PACKAGE}", timeout=120)
    assert terminal.run(f"import {TEST_PACKAGE}; {TEST_PACKAGE}.answer()") == ["42"]
    assert terminal.run(f"import sys; {TEST_PACKAGE}.__file__.startswith(sys.prefix)") == ["True"]  # short lines:
    assert terminal.run("print(sys.prefix)") == [str(kernel_venv)]  # a typed line past 120 columns wraps
    listed = "\n".join(terminal.run("%pip list")).replace("-", "_")
    assert TEST_PACKAGE in listed
    assert terminal.run("%pip") == ["usage: %pip ARGS"]


def test_ctrl_c_stops_a_pip_that_waits_on_its_index(terminal: TmuxTerminal, kernel_venv: Path, tmp_path: Path) -> None:
    terminal.env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
    python = kernel_venv / "bin" / "python"
    terminal.start(
        [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())", "connect", "--launch"]
    )
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    with socket.socket() as index:  # an index on 127.0.0.1 that never answers: the installer waits on it
        index.bind(("127.0.0.1", 0))
        index.listen(8)
        start = terminal.mark()
        terminal.type(f"%pip install --index-url http://127.0.0.1:{index.getsockname()[1]}/simple nosuchpkg")
        terminal.send("Enter")
        readable, _, _ = select.select([index], [], [], 60)  # its connection waits in the backlog
        assert readable, "the installer never asked its index"
        terminal.send("C-c")
        shown = terminal.wait_prompt(start)
    assert "^C" in "\n".join(shown) and "Traceback (most recent call last):" not in shown
    assert terminal.run("1 + 1") == ["2"]
