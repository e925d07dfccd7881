"""The ``remrepl`` command as a user runs it: which executable, and one run to its end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN_TIMEOUT = 60.0  # an upper bound for one CLI run, so a hang fails the test instead of blocking it


def remrepl_command() -> list[str]:
    """The installed ``remrepl`` console script of this interpreter, else the same entry point via ``-c``."""
    script = Path(sys.executable).with_name("remrepl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())"]


def run_cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``remrepl ARGS`` to the end (killed after ``timeout``), in ``cwd``; stdin is empty unless given."""
    return subprocess.run(
        [*remrepl_command(), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        cwd=cwd,
    )
