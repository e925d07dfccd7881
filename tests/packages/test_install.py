"""Installing the user's packages (remrepl/packages/install.py) into fresh venvs, from the tests' own
wheelhouse (``--find-links`` and ``--no-index``: no network), with uv and with pip; the stamp that makes
a second install of the same thing free; the errors; what a project declares."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl import PackageInstallError
from remrepl.packages import install as packages
from remrepl.packages.install import Requirements, detect_requirements, install, installer_command, redact
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse

pytestmark = pytest.mark.e2e  # venvs and installs: seconds each

IMPORT_CHECK = f"import {TEST_PACKAGE} as p; print(p.answer(), p.__version__)"
PROJECT_BIN = str(Path(sys.executable).parent)  # where the test extra's uv is


@pytest.fixture(autouse=True)
def fresh_lookups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test finds uv (or not) anew, and uv keeps its cache here, not in the machine's."""
    packages.find_uv.cache_clear()
    packages.interpreter_identity.cache_clear()
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    yield
    packages.find_uv.cache_clear()
    packages.interpreter_identity.cache_clear()


def make_venv(path: Path, *, pip: bool) -> str:
    command = [sys.executable, "-m", "venv", str(path)] + ([] if pip else ["--without-pip"])
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    return str(path / "bin" / "python")


def imports_the_package(python: str) -> str:
    done = subprocess.run([python, "-c", IMPORT_CHECK], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip()


def with_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([PROJECT_BIN, os.defpath]))


def without_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.defpath)  # the fresh venv has no uv beside its python, nor imports one


def offline(wheelhouse: Wheelhouse, *specs: str, **fields: object) -> Requirements:
    return Requirements(specs=specs, find_links=(str(wheelhouse.directory),), no_index=True, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_installs_into_a_fresh_venv_then_the_stamp_skips_it(
    installer: str, wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (with_uv if installer == "uv" else without_uv)(monkeypatch)
    python = make_venv(tmp_path / "venv", pip=installer == "pip")  # uv needs no pip in the venv
    assert installer_command(python, ["x"])[:3] == (
        [str(Path(PROJECT_BIN) / "uv"), "pip", "install"] if installer == "uv" else [python, "-m", "pip"]
    )
    lines: list[str] = []
    first = install(python, offline(wheelhouse, TEST_PACKAGE), stamp_dir=tmp_path / "stamps", output=lines.append)
    assert not first.skipped and first.command
    assert imports_the_package(python) == "42 1.0"
    assert lines  # the installer's output came through, line by line
    started = time.monotonic()
    again = install(python, offline(wheelhouse, TEST_PACKAGE), stamp_dir=tmp_path / "stamps", output=lines.append)
    assert again.skipped and again.digest == first.digest and time.monotonic() - started < 1.0


def test_a_changed_requirements_file_installs_again(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_uv(monkeypatch)
    python = make_venv(tmp_path / "venv", pip=False)
    listed = tmp_path / "requirements.txt"
    listed.write_text(f"{TEST_PACKAGE}\n")
    requirements = offline(wheelhouse, files=(listed,))
    assert not install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    assert install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    listed.write_text(f"{TEST_PACKAGE}==1.0\n")
    assert not install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    included = tmp_path / "more.txt"  # a file the requirements file includes counts as part of it
    included.write_text(f"{TEST_PACKAGE}>=1\n")
    listed.write_text(f"-r {included.name}\n")
    assert not install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    included.write_text(f"{TEST_PACKAGE}>=0.5\n")
    assert not install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    assert install(python, requirements, stamp_dir=tmp_path / "stamps").skipped
    assert install(python, Requirements(), stamp_dir=tmp_path / "stamps").skipped  # nothing asked


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_requirement_that_does_not_resolve_raises_with_the_installers_words(
    installer: str, wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (with_uv if installer == "uv" else without_uv)(monkeypatch)
    python = make_venv(tmp_path / "venv", pip=installer == "pip")
    secret_index = "https://alice:hunter2@127.0.0.1:9/simple"  # never reached: --no-index
    asked = offline(wheelhouse, "remrepl-no-such-package", index_url=secret_index)
    with pytest.raises(PackageInstallError) as caught:
        install(python, asked, stamp_dir=tmp_path / "stamps")
    error = caught.value
    assert error.returncode not in (0, None)
    assert "remrepl-no-such-package" in "\n".join(error.output).replace("_", "-").lower()
    assert "the command was:" in str(error) and error.command[-1] != ""
    shown = " ".join([str(error), *error.command, *error.output])
    assert "hunter2" not in shown and "alice:****@127.0.0.1" in shown
    assert not (tmp_path / "stamps").exists() or not any((tmp_path / "stamps").iterdir())  # no stamp on failure


def test_an_interpreter_that_does_not_exist_is_a_package_install_error(tmp_path: Path) -> None:
    with pytest.raises(PackageInstallError, match="cannot run"):
        install(str(tmp_path / "no-python"), Requirements(specs=("x",)), stamp_dir=tmp_path)


def test_redact_hides_passwords_and_tokens() -> None:
    assert redact("--index-url https://u:p%40ss@host/simple") == "--index-url https://u:****@host/simple"
    assert redact("https://TOKEN@host/simple") == "https://****@host/simple"
    assert redact("https://host/simple and /a/b@c") == "https://host/simple and /a/b@c"


def test_requirements_from_a_pip_command_line(tmp_path: Path) -> None:
    parsed = Requirements.from_args(
        ["-U", "numpy>=2", "-r", "req.txt", "--index-url=https://i/simple", "-f", "/w", "--no-index", "pandas"],
        cwd=tmp_path,
    )
    assert parsed.specs == ("numpy>=2", "pandas") and parsed.files == (tmp_path / "req.txt",)
    assert parsed.index_url == "https://i/simple" and parsed.find_links == ("/w",) and parsed.no_index
    assert parsed.options == ("-U",)
    again = Requirements.from_args(parsed.installer_args(), cwd=tmp_path)
    assert (again.specs, again.files, again.index_url, again.find_links) == (
        parsed.specs,
        parsed.files,
        parsed.index_url,
        parsed.find_links,
    )


# --- what a project declares --------------------------------------------------------------------------


def test_requirements_txt_comes_first(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\ndependencies = ["pandas"]\n')
    found = detect_requirements(tmp_path)
    assert found is not None and found.files == (tmp_path / "requirements.txt",) and found.specs == ()
    assert found.source == "requirements.txt"


def test_a_requirements_txt_of_comments_only_declares_nothing(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# nothing yet\n\n")
    assert detect_requirements(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\ndependencies = ["pandas"]\n')
    found = detect_requirements(tmp_path)
    assert found is not None and found.source == "pyproject.toml"


def test_pyproject_dependencies_without_the_project_itself(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "myproject"\nversion = "1"\ndependencies = ["numpy>=2", "pandas; python_version > \'3\'"]\n'
    )
    found = detect_requirements(tmp_path)
    assert found is not None and found.specs == ("numpy>=2", "pandas; python_version > '3'")
    assert found.files == () and found.source == "pyproject.toml"


@pytest.mark.parametrize(
    "pyproject",
    [None, '[project]\nname = "p"\n', '[project]\nname = "p"\ndependencies = []\n', "[tool.x]\n", "not = toml = ["],
)
def test_nothing_declared_is_none(tmp_path: Path, pyproject: str | None) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    assert detect_requirements(tmp_path) is None


def test_uv_lock_is_exported_as_its_locked_packages(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_uv(monkeypatch)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "myproject"\nversion = "1"\nrequires-python = ">=3.10"\ndependencies = ["{TEST_PACKAGE}"]\n'
    )
    links = ["--offline", "--no-index", "--find-links", str(wheelhouse.directory)]
    locked = subprocess.run(
        [str(Path(PROJECT_BIN) / "uv"), "lock", *links], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert locked.returncode == 0, locked.stderr
    found = detect_requirements(project)
    assert found is not None and found.source == "uv.lock"
    assert found.specs == ("remrepl-testpkg==1.0",)  # pinned as locked; the project itself is not there
    python = make_venv(tmp_path / "venv", pip=False)
    install(python, offline(wheelhouse, *found.specs), stamp_dir=tmp_path / "stamps")
    assert imports_the_package(python) == "42 1.0"


def test_without_uv_a_lock_falls_back_to_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_uv(monkeypatch)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python-without-uv"))  # nothing beside it, nor -m uv
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\ndependencies = ["numpy"]\n')
    found = detect_requirements(tmp_path)
    assert found is not None and found.source == "pyproject.toml" and found.specs == ("numpy",)
