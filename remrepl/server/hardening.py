"""What keeps the supervisor's secrets from the user code it serves (the kernel runs as the same user).

Kernel code is untrusted from here: it may read ``/proc/<supervisor>/...`` or attach a debugger to it.
- ``make_undumpable``: ``prctl(PR_SET_DUMPABLE, 0)``. A process of the same (non-root) uid can then
  neither ptrace it nor read its ``/proc/PID/mem`` or ``environ`` (those files become root's), and no
  core file holds its memory. A child's ``execve`` (the kernel) is dumpable again, as usual.
- ``exec_without_password_env``: ``/proc/PID/environ`` shows the environment block the process was
  exec'd with, whatever ``os.environ`` later says, so removing ``REMREPL_PASSWORD`` (the client's
  variable, inherited from the user's shell) from ``os.environ`` is not enough: the server re-execs
  itself, same pid and arguments, without it, before reading any secret.
- ``read_password_file`` / ``read_password_stdin`` read the password into a ``bytearray`` that ``wipe``
  zeroes once the key is derived. That is best effort: Python and the KDF may keep copies we cannot
  reach (freed buffers, getpass's ``str``), which is why the process is also made undumpable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from pathlib import Path

from .._exceptions import ConfigError
from .._files import PASSWORD_ENV

log = logging.getLogger("remrepl.server")

PR_SET_DUMPABLE = 4  # <linux/prctl.h>
MAX_SECRET = 64 * 1024  # bytes of a password line we read at most


def prctl(option: int, arg: int = 0) -> int | None:
    """Linux's ``prctl(option, arg)``: its result (-1 on failure, ``ctypes.get_errno()`` says why), or
    None where there is no prctl (not Linux: no /proc/PID/environ or mem to guard there either)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        result: int = libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        return None
    return result


def make_undumpable() -> bool:
    """Make this process non-dumpable (Linux); whether it is now."""
    result = prctl(PR_SET_DUMPABLE, 0)
    if result is None:
        return False
    if result != 0:
        log.warning("could not make the server non-dumpable: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def exec_without_password_env() -> None:
    """If ``REMREPL_PASSWORD`` is in this process's environment, re-exec without it (returns only when
    it was not there, or where a re-exec is impossible: then it is at least gone from ``os.environ``)."""
    if PASSWORD_ENV not in os.environ:
        return
    env = {name: value for name, value in os.environ.items() if name != PASSWORD_ENV}
    os.environ.pop(PASSWORD_ENV)
    if sys.platform == "win32" or not sys.orig_argv:
        return  # Windows' execve starts another process; the variable is gone from os.environ at least
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        # sys.orig_argv keeps the interpreter's own options (-m, -X, -c CODE) and the script's arguments
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError as exc:
        log.warning("could not restart the server without %s in its environment: %s", PASSWORD_ENV, exc)


def read_password_file(path: str) -> bytearray:
    """The first line of ``path`` (without its line end), read straight into a buffer ``wipe`` clears."""
    buffer = bytearray(MAX_SECRET)
    try:
        with open(Path(path), "rb", buffering=0) as f:  # unbuffered: the bytes land in ``buffer`` only
            size = 0
            while size < len(buffer) and buffer.find(b"\n", 0, size) < 0:  # find: no copy of the bytes
                got = f.readinto(memoryview(buffer)[size:])
                if not got:
                    break
                size += got
    except OSError as exc:
        wipe(buffer)
        raise ConfigError(f"cannot read the password file {path}: {exc.strerror}") from None
    return _first_line(buffer, size, f"the password file {path} is empty")


def read_password_stdin() -> bytearray:
    """One line of standard input, a byte at a time (with --tether what follows it is the launcher's)."""
    buffer = bytearray(MAX_SECRET)
    size = 0
    while size < len(buffer) and (size == 0 or buffer[size - 1] != ord("\n")):
        got = os.readv(0, [memoryview(buffer)[size : size + 1]])
        if not got:
            break
        size += got
    return _first_line(buffer, size, "no password on standard input")


def _first_line(buffer: bytearray, size: int, empty: str) -> bytearray:
    """The first line of ``buffer[:size]`` in a buffer of its own; ``buffer`` is wiped."""
    end = buffer.find(b"\n", 0, size)
    end = size if end < 0 else end
    while end > 0 and buffer[end - 1] in b"\r\n":
        end -= 1
    # Copied through a memoryview: no intermediate object; resizing ``buffer`` could leave a copy behind
    line = bytearray(memoryview(buffer)[:end])
    wipe(buffer)
    if not line:
        raise ConfigError(empty)
    return line


def wipe(buffer: bytearray) -> None:
    """Zero ``buffer`` in place (best effort: see the module docstring)."""
    buffer[:] = bytes(len(buffer))  # same length: written in place, never reallocated
