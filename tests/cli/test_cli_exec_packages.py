"""``remrepl exec`` installs the project's packages before the script runs (``--pip``, ``--requirements``,
``--find-links``, what the workdir declares), once: a second run with nothing changed installs nothing.

The CLI runs in a throwaway venv (``throwaway_venv``), so the local server's interpreter is that venv's:
what is installed never reaches the project's own venv. Packages come from the run's local wheelhouse.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import leftover_servers, terminate
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse, throwaway_venv

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


@pytest.fixture
def python(tmp_path: Path) -> Path:
    return throwaway_venv(tmp_path / "venv")


def remrepl(python: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_cache = {"UV_CACHE_DIR": str(tmp_path / "uv-cache")}  # not the machine's shared cache
    return subprocess.run(
        [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env_cache},
        check=False,
    )


def project(root: Path, requirements: str) -> Path:
    root.mkdir()
    (root / "requirements.txt").write_text(requirements)
    (root / "job.py").write_text(f"import {TEST_PACKAGE}\nprint('answer', {TEST_PACKAGE}.answer())\n")
    return root


def test_the_workdirs_requirements_are_installed_once(python: Path, wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    root = project(tmp_path / "proj", f"--no-index\n{TEST_PACKAGE}\n")
    args = ("exec", "--launch", "--workdir", str(root), "--find-links", str(wheelhouse.directory), str(root / "job.py"))
    first = remrepl(python, *args, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "answer 42\n"  # the installer's words went to stderr
    assert "packages of requirements.txt installed" in first.stderr
    again = remrepl(python, *args, tmp_path=tmp_path)
    assert again.returncode == 0 and again.stdout == "answer 42\n", again.stderr
    assert "unchanged, nothing to install" in again.stderr


def test_pip_flag_without_a_workdir(python: Path, wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(f"import {TEST_PACKAGE}\nprint({TEST_PACKAGE}.answer())\n")
    result = remrepl(
        python,
        "exec",
        "--launch",
        "--pip",
        TEST_PACKAGE,
        "--find-links",
        str(wheelhouse.directory),
        "--index-url",
        wheelhouse.directory.as_uri(),  # an index that has nothing: only the wheelhouse answers
        str(script),
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"


def test_a_requirement_that_does_not_resolve_stops_before_the_script(python: Path, tmp_path: Path) -> None:
    root = project(tmp_path / "proj", "--no-index\nremrepl-no-such-package-anywhere\n")
    result = remrepl(python, "exec", "--launch", "--workdir", str(root), str(root / "job.py"), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""  # the script did not run
    assert "installing the packages of requirements.txt failed" in result.stderr
    assert "remrepl-no-such-package-anywhere" in result.stderr and "Traceback" not in result.stderr
