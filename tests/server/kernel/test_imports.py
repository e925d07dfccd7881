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

# What both interpreters print for these must be the same.
PROBES = [
    "import helper; print(helper.WHERE)",
    "import json; print(json.WHERE)",  # the kernel loaded json for itself: user code gets the user's
    "import os; print(os.__file__.startswith(sys.base_prefix))",  # loaded at start-up: python's own wins
    "print(repr(sys.path[0]), sys.flags.safe_path)",
    "import importlib; print(importlib.import_module('inspect').WHERE)",
    # a spawn child of user code: the interpreter flags and path python's own children get (-P is not one)
    "import multiprocessing; pool = multiprocessing.get_context('spawn').Pool(1); print(pool.apply(helper.child))",
    "pool.terminate()",
]


def local_prompt(directory: Path) -> str:
    """What ``python -i`` prints for the probes, started in ``directory``."""
    source = "import sys\n" + "\n".join(PROBES) + "\n"
    result = subprocess.run(
        [sys.executable, "-i", "-q"], input=source, capture_output=True, text=True, cwd=directory, timeout=60
    )
    return result.stdout


def test_user_code_imports_from_the_directory_as_at_the_prompt(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text(
        "WHERE = 'the helper next to me'\n"
        "def child():\n    import sys\n    return sys.flags.safe_path, sys.path[0], __import__('json').WHERE\n"
    )
    (tmp_path / "json.py").write_text("WHERE = 'my own json'\n")
    (tmp_path / "inspect.py").write_text("WHERE = 'my own inspect'\n")
    expected = local_prompt(tmp_path)
    assert expected.startswith("the helper next to me\nmy own json\n")
    with LocalLauncher(cwd=str(tmp_path)) as launcher, launcher.connect() as session:
        session.run("import sys")
        assert "path" in session.complete("sys.pa").matches  # the side thread loaded its own inspect...
        got = "".join(session.run(probe).stdout for probe in PROBES)
        assert session.run("import inspect; inspect.signature").error is not None  # ...not the user's one
    assert got == expected
