"""The kernel may run on any Python the project supports (``requires-python``), each of which prints some
things its own way (the C printer's hints before 3.12, its carets...): ``remrepl.server.kernel.tracebacks``
gives, on every one of them found on this machine, the text that version's ``python FILE`` prints."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import remrepl.server.kernel.tracebacks as tracebacks_module
from tests.server.kernel.test_tracebacks import CASES

QUICK = 20.0

# Loads the module from its file (it needs nothing but the standard library) and shows the exception of
# each FILE as the kernel shows it: the frame of this runner (a "-c" of its own) taken off, as the
# kernel's are; a NUL after each.
RUNNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("tracebacks", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for path in sys.argv[2:]:
    try:
        exec(compile(open(path, encoding="utf-8").read(), path, "exec"), {"__name__": "__main__"})
    except BaseException as exc:
        exc.__traceback__ = exc.__traceback__.tb_next
        sys.stderr.write(module.exception_text(exc))
    sys.stderr.write("\\0")
"""


def interpreters() -> list[object]:
    """One working interpreter per supported minor version found here (on PATH, or pyenv's)."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found: dict[str, str] = {}
    for minor in range(10, 20):
        candidates = [shutil.which(f"python3.{minor}") or ""]
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"3.{minor}.*", "bin", "python3")))
        for candidate in filter(None, candidates):
            try:
                done = subprocess.run(
                    [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, timeout=QUICK
                )
            except OSError:
                continue
            if done.returncode == 0 and done.stdout.strip() == f"(3, {minor})".encode():
                found[f"3.{minor}"] = candidate
                break
    found = found or {"this": sys.executable}
    return [pytest.param(found[key], id=key) for key in sorted(found)]


@pytest.mark.parametrize("python", interpreters())
def test_every_supported_python_gets_the_text_it_prints_itself(python: str, tmp_path: Path) -> None:
    paths = []
    for number, code in enumerate(CASES.values()):
        paths.append(tmp_path / f"case{number}.py")
        paths[-1].write_text(code, encoding="utf-8")
    run = [python, "-c", RUNNER, tracebacks_module.__file__, *map(str, paths)]
    shown = subprocess.run(run, capture_output=True, text=True, timeout=QUICK).stderr.split("\0")
    differing = []
    for name, path, text in zip(CASES, paths, shown, strict=False):
        expected = subprocess.run([python, str(path)], capture_output=True, text=True, timeout=QUICK).stderr
        if text != expected:
            differing.append(f"{name}:\n{expected}---\n{text}")
    assert len(shown) == len(CASES) + 1 and not differing, "\n\n".join(differing)
