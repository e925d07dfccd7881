"""What ``%pip WORDS`` runs in the kernel (remrepl/server/kernel/pip.py)."""

import sys

import pytest

from remrepl.packages.install import installer_command
from remrepl.server.kernel import pip


def test_install_goes_to_the_installer_and_the_rest_to_pip() -> None:
    assert pip.command(sys.executable, ["install", "-U", "x"]) == installer_command(sys.executable, ["-U", "x"])
    assert pip.command(sys.executable, ["list"]) == [sys.executable, "-m", "pip", "list"]  # this venv has pip
    assert pip.command(sys.executable, ["uninstall", "-y", "x"])[-3:] == ["uninstall", "-y", "x"]


def test_no_words_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    pip.run([])
    assert "usage: %pip" in capsys.readouterr().err


def test_an_imported_name_is_noticed() -> None:
    assert pip._imported("pytest>=8") and pip._imported("PyTest[extra]; python_version > '3'")
    assert not pip._imported("remrepl-no-such-module==1")
