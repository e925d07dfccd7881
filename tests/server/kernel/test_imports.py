"""User code imports from the working directory as at python's ``>>>`` prompt (sys.path[0] is ''), and a
user's ``json.py`` there is what ``import json`` gives it, as python's prompt does (only what python loads
at start-up wins over the directory): compared with the local ``python -i`` in the same directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from remrepl.launchers import LocalLauncher

pytestmark = pytest.mark.server  # starts real servers without the fixtures

# One line of output per probe; each line is what both interpreters print.
PROBES = [
    "import helper; print(helper.WHERE)",
    "import json; print(json.WHERE)",  # the kernel loaded json for itself: user code gets the user's
    "import os; print(os.__file__.startswith(sys.base_prefix))",  # loaded at start-up: python's own wins
    "print(repr(sys.path[0]), sys.flags.safe_path)",
    "import importlib; print(importlib.import_module('inspect').WHERE)",
]


def local_prompt(directory: Path) -> list[str]:
    """What ``python -i`` prints for the probes, started in ``directory``."""
    source = "import sys\n" + "\n".join(PROBES) + "\n"
    result = subprocess.run(
        [sys.executable, "-i", "-q"], input=source, capture_output=True, text=True, cwd=directory, timeout=60
    )
    return result.stdout.splitlines()


def test_user_code_imports_from_the_directory_as_at_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("WHERE = 'the helper next to me'\n")
    (tmp_path / "json.py").write_text("WHERE = 'my own json'\n")
    (tmp_path / "inspect.py").write_text("WHERE = 'my own inspect'\n")
    expected = local_prompt(tmp_path)
    assert expected[:2] == ["the helper next to me", "my own json"]
    with LocalLauncher(cwd=str(tmp_path)) as launcher, launcher.connect() as session:
        session.run("import sys")
        assert "path" in session.complete("sys.pa").matches  # the side thread loaded its own inspect...
        got = [session.run(probe).stdout.rstrip("\n") for probe in PROBES]
        assert session.run("import inspect; inspect.signature").error is not None  # ...not the user's one
    assert got == expected
