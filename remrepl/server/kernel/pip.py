"""``%pip ARGS`` at the prompt: pip (uv for ``install``, when it is there) for the kernel's own interpreter.

Run like ``!CMD`` (``shell.run_process``): its output streams as it comes, Ctrl-C stops it. ``install``
goes through ``packages.install.installer_command`` (``uv pip install --python sys.executable``, else
``python -m pip install``); the other subcommands are ``python -m pip``, or ``uv pip`` in a venv that
has no pip (one that uv made). After a successful install the import system forgets what it cached of
the path's directories, so the new package imports in this session, and ``packages.active`` tells its
listeners (a running cluster installs the same on its workers).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from ...packages import active
from ...packages.install import Requirements, find_uv, installer_command

USAGE = "usage: %pip SUBCOMMAND [ARGS...]   (install, uninstall, list, show, freeze, ...)"


def run(args: Sequence[str]) -> None:
    """``pip ARGS`` for ``sys.executable``; its failure shows as the installer's own output."""
    words = list(args)
    if not words:
        print(USAGE, file=sys.stderr)
        return
    from .shell import run_process  # subprocess: only when %pip is used

    status = run_process(command(sys.executable, words))  # at your terminal: pip's colours and all
    importlib.invalidate_caches()  # after an uninstall too: no finder keeps a stale directory listing
    if status == 0 and words[0] == "install":
        requirements = Requirements.from_args(words[1:], source="%pip install", cwd=Path.cwd())
        try:
            active.installed(requirements)
        except Exception as exc:  # a listener's failure is not the install's: say so, keep the session
            print(f"remrepl: installed here, but passing it on failed: {exc}", file=sys.stderr)
        if any(_imported(spec) for spec in requirements.specs):
            print(
                "remrepl: a module already imported keeps its old version until %restart",
                file=sys.stderr,
            )


def command(python: str, words: Sequence[str]) -> list[str]:
    """The command line ``%pip WORDS`` runs for ``python``."""
    subcommand, *rest = words
    if subcommand == "install":
        return installer_command(python, rest)
    uv = find_uv(python)
    if uv is not None and python == sys.executable and importlib.util.find_spec("pip") is None:
        if subcommand == "uninstall":  # uv asks no question: pip's -y means nothing to it
            rest = [word for word in rest if word not in ("-y", "--yes")]
        return [*uv, "pip", subcommand, "--python", python, *rest]
    return [python, "-m", "pip", *words]


def _imported(spec: str) -> bool:
    """Whether the distribution ``spec`` names is (probably: its name as a module) imported already."""
    name = spec.split(";")[0].split("[")[0]
    for mark in "<>=!~ @":
        name = name.split(mark)[0]
    module = name.strip().lower().replace("-", "_")
    return bool(module) and module in sys.modules
