"""The tests' own wheelhouse (tests/support/wheelhouse.py, fixture ``wheelhouse``): built offline, its
wheels install into a fresh venv with pip and with uv through ``--find-links``, no index, the socket guard on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse

pytestmark = pytest.mark.e2e  # venvs and installs: seconds each

IMPORT_CHECK = f"import {TEST_PACKAGE} as p; print(p.answer(), p.__version__)"


def run(*command: str | Path) -> str:
    result = subprocess.run(
        [str(c) for c in command], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def uv() -> str:
    found = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.defpath]))
    if found is None:
        pytest.fail("uv is not installed (it is in the test extra: pip install -e '.[test]')")
    return found


def test_the_wheel_installs_with_pip_into_a_fresh_venv_offline(wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0].endswith("_netguard")  # children are guarded too
    assert [w.name for w in wheelhouse.directory.iterdir()] == [f"{TEST_PACKAGE}-1.0-py3-none-any.whl"]
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheelhouse.directory, TEST_PACKAGE)
    assert run(python, "-c", IMPORT_CHECK) == "42 1.0\n"


def test_uv_installs_a_package_and_its_dependency_from_a_wheelhouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = Wheelhouse(tmp_path / "wheels")
    house.build(TEST_PACKAGE, "2.0", "__version__ = '2.0'\n\n\ndef answer():\n    return 2\n")
    house.build("remrepl_testapp", "0.1", f"from {TEST_PACKAGE} import answer\n", requires=(f"{TEST_PACKAGE}>=2",))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # not the machine's shared cache
    monkeypatch.setenv("UV_OFFLINE", "1")
    run(uv(), "venv", "-q", "--python", sys.executable, tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    links = ("--no-index", "--find-links", house.directory)
    run(uv(), "pip", "install", "-q", "--python", python, *links, "remrepl_testapp")
    check = "import remrepl_testapp, remrepl_testpkg as p; print(remrepl_testapp.answer(), p.__version__)"
    assert run(python, "-c", check) == "2 2.0\n"


def test_a_bad_package_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain lower-case identifier"):
        Wheelhouse(tmp_path).build("Not-A-Name", "1", "")
