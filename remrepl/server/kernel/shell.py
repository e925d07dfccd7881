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

GRACE_SECONDS = 2.0  # after Ctrl-C, how long the command may take to stop before it is killed


def run(command: str) -> None:
    process = subprocess.Popen(command, shell=True, start_new_session=True)
    try:
        process.wait()
    except KeyboardInterrupt:
        _signal_group(process.pid, signal.SIGINT)
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        print("^C", file=sys.stderr)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
