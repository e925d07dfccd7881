"""``--bootstrap``: ship this machine's remrepl to an SSH host as a wheel and install it into a venv there.

The wheel is built from the installed package itself (its files, its version and its dependencies from
the installed metadata), so it works from a source checkout and from an installed release alike, and
the remote runs exactly the code (and protocol) this client speaks. It goes over SFTP to ``~/.remrepl``
(0700), and the remote's own pip installs it with its dependencies from the remote's package index.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import tempfile
import zipfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import ConfigError, RemoteEnvironmentError
from .._files import python_words
from .errors import sftp_errors, ssh_errors
from .remote import run_remote

if TYPE_CHECKING:
    from .link import SSHLink

DEFAULT_VENV = "~/.remrepl/venv"
INSTALL_TIMEOUT = 600.0
_EXTRA_CLAUSE = re.compile(r"""extra\s*==\s*["'](?P<name>[^"']+)["']""")


def shell_path(path: str) -> str:
    """``path`` for a POSIX shell, with a leading ``~/`` meaning the remote's home."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def venv_python(venv: str) -> str:
    return venv.rstrip("/") + "/bin/python"


# Dependencies the bootstrap installs apart from the wheel, and only if it can: a host whose package index
# lacks uv (a mirror) still gets remrepl, and installs the user's packages with pip.
BEST_EFFORT = ("uv",)


def _best_effort(requirement: str) -> bool:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower() in BEST_EFFORT


def build_wheel(directory: Path, extras: Sequence[str] = ()) -> Path:
    """A pure-Python wheel of the installed remrepl, in ``directory``, requiring the runtime dependencies
    and those of ``extras`` (an EC2 head needs ``cluster`` and ``ec2``)."""
    import importlib.metadata  # 70 ms: only when a wheel is built

    try:
        installed = importlib.metadata.metadata("remrepl")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError("--bootstrap needs remrepl installed here (pip install remrepl)") from None
    version = installed["Version"]
    declared = [r for r in installed.get_all("Requires-Dist") or [] if not _best_effort(r)]
    # The asked extras' dependencies become unconditional (installed with the wheel, no extra named);
    # every extra is also kept as declared, so ``pip install 'remrepl[cluster]'`` on the host works later.
    requires = [r for r in map(partial(_for_extras, extras=extras), declared) if r]
    requires += [r for r in declared if _EXTRA_CLAUSE.search(r) is not None]
    provides = installed.get_all("Provides-Extra") or []
    package = Path(__file__).resolve().parent.parent  # remrepl/, this module being remrepl/ssh/bootstrap.py
    dist_info = f"remrepl-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed", ".json"):
            files[f"remrepl/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    metadata = [f"Metadata-Version: 2.1\nName: remrepl\nVersion: {version}\n"]
    metadata += [f"Provides-Extra: {extra}\n" for extra in provides]
    files[f"{dist_info}/METADATA"] = "".join([*metadata, *(f"Requires-Dist: {r}\n" for r in requires)]).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: remrepl-bootstrap\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = b"[console_scripts]\nremrepl = remrepl.cli.main:main\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"remrepl-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


def _for_extras(requirement: str, extras: Sequence[str]) -> str | None:
    """``requirement`` without its ``extra == "x"`` clause when x is in ``extras``; None for another extra's.

    What the bootstrap installs is decided here; the wheel also keeps every extra as declared.
    """
    found = _EXTRA_CLAUSE.search(requirement)
    if found is None:
        return requirement
    if found.group("name") not in extras:
        return None
    name, _, marker = requirement.partition(";")
    rest = _EXTRA_CLAUSE.sub("", marker).strip()
    rest = re.sub(r"^(and\s+)+|(\s+and)+$", "", rest).strip()
    return f"{name.strip()}; {rest}" if rest else name.strip()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def bootstrap(link: SSHLink, base_python: str, venv: str, extras: Sequence[str] = ()) -> None:
    """Install this remrepl (with the dependencies of ``extras``) into ``venv`` on the host (made with
    ``base_python`` if missing)."""
    with tempfile.TemporaryDirectory(prefix="remrepl-wheel-") as tmp:
        wheel = build_wheel(Path(tmp), extras)
        with sftp_errors(str(link), link.transport, "to copy remrepl's files", RemoteEnvironmentError):
            sftp = link.transport.open_sftp_client()
        if sftp is None:
            raise RemoteEnvironmentError(f"{link} refused an SFTP session: cannot ship remrepl there")
        try:
            with ssh_errors(f"cannot copy remrepl to {link} over SFTP", RemoteEnvironmentError):
                home = sftp.normalize(".")
                remote_dir = f"{home}/.remrepl"
                try:
                    sftp.stat(remote_dir)
                except OSError:
                    sftp.mkdir(remote_dir, 0o700)
                remote_wheel = f"{remote_dir}/{wheel.name}"
                sftp.put(str(wheel), remote_wheel)
                sftp.chmod(remote_wheel, 0o600)
        finally:
            sftp.close()
    py, wheel_arg = shell_path(venv_python(venv)), shlex.quote(remote_wheel)
    # venv and pip with a safe import path too: they run in the login's directory, which may hold a user's
    # logging.py (pip drops that directory itself, but only once its own first imports are done)
    pip = f"{py} {shlex.join(python_words(module='pip'))} install --disable-pip-version-check -q"
    base = shell_path(base_python) if "/" in base_python else base_python
    import importlib.metadata

    optional = shlex.join(r for r in importlib.metadata.requires("remrepl") or [] if _best_effort(r))
    command = (
        f"set -e; [ -x {py} ] || {base} {shlex.join(python_words(module='venv'))} "
        f"{shell_path(venv)}; {pip} {wheel_arg}; {pip} --force-reinstall --no-deps {wheel_arg}; rm -f {wheel_arg}"
        + (
            f"; {pip} {optional} 2>/dev/null || echo 'remrepl: uv is not installable here; pip installs packages'"
            if optional
            else ""
        )
    )
    status, output = run_remote(link, command, INSTALL_TIMEOUT)
    if status != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise RemoteEnvironmentError(f"--bootstrap failed on {link} (exit status {status}):\n{tail}")
