"""Where remrepl keeps its state, and how it writes private files.

Private files are created 0600 with ``os.open`` (never chmod afterwards: that leaves a window) in
directories created 0700. ``REMREPL_STATE_DIR`` moves the state directory (tests use it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._exceptions import ConfigError


def state_dir(*parts: str) -> Path:
    """``$REMREPL_STATE_DIR`` or ``$XDG_STATE_HOME/remrepl`` (``~/.local/state/remrepl``), made 0700."""
    base = os.environ.get("REMREPL_STATE_DIR")
    if not base:
        xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
        base = os.path.join(xdg, "remrepl")
    path = Path(base, *parts)
    private_dir(path)
    for level in [Path(base), *(Path(base, *parts[: i + 1]) for i in range(len(parts)))]:
        _tighten(level)
    return path


def activity_dir() -> Path:
    """Where servers keep their activity files (0700): the supervisor touches ``<pid>`` while in use
    (``server/supervisor/activity.py``), the reaper reads their times (``reaper/state.py``)."""
    return state_dir("activity")


def _tighten(path: Path) -> None:
    """Make one of remrepl's own directories 0700 if it is ours and open to others: ``mkdir`` keeps the
    mode of one that already existed (made by hand, or by an older version), and the keeper's relink
    socket, records and logs count on nobody else getting in."""
    st = path.stat()
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
        os.chmod(path, 0o700)


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private(path: str | os.PathLike[str], data: str) -> None:
    """Write ``data`` to ``path``, which ends up mode 0600 whether or not it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def open_private_log(path: Path) -> int:
    """A 0600 file descriptor for appending, for a server's stderr."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)


def read_secret(path: Path | str, what: str = "password") -> str:
    """The first line of ``path`` without its newline; ``ConfigError`` if unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    secret = line.rstrip("\r\n")
    if not secret:
        raise ConfigError(f"the {what} file {path} is empty")
    return secret


PASSWORD_ENV = "REMREPL_PASSWORD"  # the client's password, when no --password-file is given


def environment_without_secrets() -> dict[str, str]:
    """This process's environment minus remrepl's own secrets: for the processes remrepl starts (a local
    server, the kernel that runs user code), which must never inherit the client's password."""
    return {name: value for name, value in os.environ.items() if name != PASSWORD_ENV}
