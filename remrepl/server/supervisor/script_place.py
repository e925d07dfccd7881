"""Where a script run's file is, and where it runs (``script_runs.py``): the client's own file when this
machine holds it byte for byte (a local launch: one file system), in the client's working directory;
otherwise a private 0700 copy under the state directory, in the session's working directory.
"""

from __future__ import annotations

import os
import stat
import tempfile

from ..._files import state_dir
from ...protocol import Execute
from ...protocol.kernel_channel import RunScript


def place_script(event: Execute, session_cwd: str | None) -> tuple[RunScript, str | None, str | None]:
    """(the kernel's RunScript, its working directory, a temporary directory to remove afterwards).

    The client's own file when this machine has it, byte for byte; otherwise a private copy."""
    argv = list(event.argv) or [event.filename]
    origin, source = event.origin, event.code.encode("utf-8", "surrogateescape")
    if origin and os.path.isabs(origin) and _holds(origin, source):
        cwd = event.cwd if event.cwd and os.path.isdir(event.cwd) else session_cwd
        given = os.path.join(cwd or os.getcwd(), argv[0])
        if os.path.abspath(given) != origin:  # argv[0] as given only where it names the same file
            argv[0] = origin
        run = RunScript(event.code, origin, tuple(argv), os.path.dirname(origin), event.stdin)
        return run, cwd, None
    tempdir = tempfile.mkdtemp(prefix="run-", dir=state_dir("scripts"))  # 0700
    name = os.path.basename(event.filename) or "script.py"
    if name in (".", ".."):
        name = "script.py"
    path = os.path.join(tempdir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(source)
    argv[0] = path
    return RunScript(event.code, path, tuple(argv), tempdir, event.stdin), session_cwd, tempdir


def _holds(path: str, source: bytes) -> bool:
    """Is ``path`` a regular file here with exactly ``source`` in it (never opening a FIFO or a device)?"""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(source):
            return False
        with open(path, "rb") as f:
            return f.read(len(source) + 1) == source
    except OSError:
        return False
