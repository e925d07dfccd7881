"""``!cmd`` at the prompt: a shell command run by the kernel, its output streamed like any other.

The command runs in its own process group with the kernel's stdout and stderr (the pipes to the
supervisor), so its output streams as it comes. Ctrl-C (KeyboardInterrupt in the kernel) is passed on
to the whole group — a pipeline and whatever it started — and the prompt comes back without a
traceback, as in a local shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

GRACE_SECONDS = 2.0  # after Ctrl-C, how long the command may take to stop before it is killed


def run(command: str) -> None:
    run_process(command)


def run_process(command: str | Sequence[str], env: Mapping[str, str] | None = None) -> int | None:
    """Run ``command`` (a string: through the shell; a list: as it is) in its own process group with the
    kernel's stdout and stderr; its exit status, or None if Ctrl-C stopped it (``^C`` is printed)."""
    process = subprocess.Popen(command, shell=isinstance(command, str), start_new_session=True, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        _signal_group(process.pid, signal.SIGINT)
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        print("^C", file=sys.stderr)
        return None


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
