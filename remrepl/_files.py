"""Where remrepl keeps its state, how it writes private files, and how it starts its own Pythons.

Private files are created 0600 with ``os.open`` (never chmod afterwards: that leaves a window) in
directories created 0700. ``REMREPL_STATE_DIR`` moves the state directory (tests use it).

``python_command`` / ``python_words``: every Python process remrepl starts (server, kernel, keeper, reaper,
workers, the remote checks) runs with a safe import path, so a user's ``random.py`` or ``json.py`` in the
working directory can neither break it nor run inside it.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Sequence
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


# ``python -c CODE`` puts '' (the working directory) at sys.path[0] before CODE runs (as ``-m`` puts the
# directory's path; nothing at all in safe-path mode: -P, -I, PYTHONSAFEPATH). Dropped first, before
# anything else is imported, so no module of remrepl's (or the standard library's) can come from a user's
# file there; what the interpreter imported at start-up (site, encodings) came before the entry existed.
# One line without quotes, backslashes, "!" or "$": it goes on remote command lines for any login shell.
SAFE_PATH_PROLOGUE = "import sys; sys.path[:1] = [entry for entry in sys.path[:1] if entry]"
_MODULE_NAME = re.compile(r"[A-Za-z_][\w.]*")


def python_words(*, module: str | None = None, code: str | None = None, safe_path_flag: bool = False) -> list[str]:
    """The interpreter's arguments that run ``module`` (as ``-m`` does) or ``code`` (as ``-c`` does) with a
    safe import path, for an interpreter of any version (3.10 has no -P): ``-c`` with
    ``SAFE_PATH_PROLOGUE`` first. ``safe_path_flag``: the interpreter is known to be 3.11 or newer, so
    ``-P`` does it (a cleaner command line; it also shows as ``sys.flags.safe_path``)."""
    if (module is None) == (code is None):
        raise ValueError("give a module or code")
    if module is not None and not _MODULE_NAME.fullmatch(module):
        raise ValueError(f"not a module name: {module!r}")
    if safe_path_flag:
        return ["-P", "-m", module] if module is not None else ["-P", "-c", code or ""]
    if module is not None:  # runpy is what -m runs: same sys.argv[0], __spec__ and exit status
        code = f'import runpy; runpy.run_module("{module}", run_name="__main__", alter_sys=True)'
    return ["-c", f"{SAFE_PATH_PROLOGUE}; {code}"]


def python_command(
    python: str,
    *,
    module: str | None = None,
    code: str | None = None,
    args: Sequence[str] = (),
    allow_flag: bool = True,
) -> list[str]:
    """``[python, ..., *args]`` running ``module`` or ``code`` with a safe import path (``python_words``):
    ``-P`` when ``python`` is this very interpreter and 3.11 or newer (its version is known), the prologue
    otherwise. ``allow_flag=False``: the prologue always, so ``sys.flags`` stay what the user's own
    ``python`` would have (the kernel, where user code runs)."""
    this = python == sys.executable or os.path.realpath(python) == os.path.realpath(sys.executable)
    flag = allow_flag and this and sys.version_info >= (3, 11)
    return [python, *python_words(module=module, code=code, safe_path_flag=flag), *args]
