"""``%pip`` and ``!pip`` / ``!python`` at the prompt reach the kernel's own interpreter.

The server (and so its kernel) runs in a throwaway venv made here, which sees the project's packages
through a ``.pth`` (remrepl itself, uv): what ``%pip install`` puts there never touches the project's venv.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse


@pytest.fixture
def kernel_venv(tmp_path: Path) -> Path:
    """A fresh venv (with pip) whose python also imports the project's packages, after its own."""
    venv = tmp_path / "kernel-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=180)
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    project = sysconfig.get_paths()["purelib"]  # addsitedir: its .pth files too (the editable remrepl)
    (site_packages / "zz-remrepl-project.pth").write_text(f"import site; site.addsitedir({project!r})\n")
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
