"""The kernel's environment for what it starts: its own interpreter first on PATH, its venv as VIRTUAL_ENV.

The kernel sets it once, at its start (``main``), so ``!pip``, ``!python`` and a ``subprocess.run(["pip",
...])`` in user code all reach the interpreter the code runs in, whichever python the server was started
with and whatever PATH the login shell had. Standard library only: the kernel imports it at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def interpreter_environment(
    environ: Mapping[str, str], executable: str, prefix: str, base_prefix: str
) -> dict[str, str]:
    """``environ`` as the kernel's children should see it: the directory of the kernel's interpreter
    first on ``PATH`` (``!pip`` and ``!python`` are the kernel's own), and ``VIRTUAL_ENV`` its venv when
    it runs in one (uv, and tools like it, install there), or unset when it does not."""
    env = dict(environ)
    if executable:
        bindir = os.path.dirname(executable)
        rest = [entry for entry in env.get("PATH", os.defpath).split(os.pathsep) if entry and entry != bindir]
        env["PATH"] = os.pathsep.join([bindir, *rest])
    if prefix != base_prefix:
        env["VIRTUAL_ENV"] = prefix
    else:
        env.pop("VIRTUAL_ENV", None)
    return env


def use_interpreter_environment() -> None:
    """Give this process's environment ``interpreter_environment``'s PATH and VIRTUAL_ENV (the kernel,
    at its start: so every process it starts, ``!CMD`` or user code's ``subprocess``, gets them)."""
    env = interpreter_environment(os.environ, sys.executable, sys.prefix, sys.base_prefix)
    os.environ["PATH"] = env["PATH"]
    if "VIRTUAL_ENV" in env:
        os.environ["VIRTUAL_ENV"] = env["VIRTUAL_ENV"]
    else:
        os.environ.pop("VIRTUAL_ENV", None)
