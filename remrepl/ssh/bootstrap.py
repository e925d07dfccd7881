"""``--bootstrap``: ship this machine's remrepl to an SSH host as a wheel and install it into a venv there.

The wheel is built from the installed package itself (its files, its version and its dependencies from
the installed metadata), so it works from a source checkout and from an installed release alike, and
the remote runs exactly the code (and protocol) this client speaks. It goes over SFTP to ``~/.remrepl``
(0700), and the remote's own pip installs it with its dependencies from the remote's package index.
The venv's stamp (``remrepl-bootstrap.sha256``: the digest of the wheel and the extra requirements) makes
a bootstrap of the same code a no-op; the install runs under ``flock`` on ``VENV.remrepl-lock`` where the
host has it, so hosts sharing a home (a cluster's, on NFS) take turns.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import re
import shlex
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
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


STAMP = "remrepl-bootstrap.sha256"  # in the venv: the digest of what the last bootstrap installed there


def bootstrap(
    link: SSHLink,
    base_python: str,
    venv: str,
    extras: Sequence[str] = (),
    requirements: Sequence[str] = (),
    announce: Callable[[], None] | None = None,
) -> bool:
    """Install this remrepl (with the dependencies of ``extras``, and ``requirements`` such as
    ``distributed==2026.8.0``) into ``venv`` on the host (made with ``base_python`` if missing);
    ``announce`` is called first when there is something to install.

    False when nothing was to do: the venv holds what the same wheel and requirements installed before
    (its stamp says so, and remrepl imports there), so an unchanged install costs one round trip."""
    with tempfile.TemporaryDirectory(prefix="remrepl-wheel-") as tmp:
        wheel = build_wheel(Path(tmp), extras)
        # The wheel is deterministic (fixed dates, sorted files): same code and extras, same digest.
        digest = hashlib.sha256(wheel.read_bytes() + "\n".join(requirements).encode()).hexdigest()
        py, stamp = shell_path(venv_python(venv)), shell_path(venv.rstrip("/") + "/" + STAMP)
        imports = shlex.join(python_words(code="import remrepl"))
        same = f'[ -x {py} ] && [ "$(cat {stamp} 2>/dev/null)" = {digest} ] && {py} {imports}'
        if run_remote(link, f"sh -c {shlex.quote(same)}", 60.0)[0] == 0:
            return False
        if announce is not None:
            announce()
        remote_dir = _copy(link, wheel)
    wheel_arg = shlex.quote(f"{remote_dir}/{wheel.name}")
    # venv and pip with a safe import path too: they run in the login's directory, which may hold a user's
    # logging.py (pip drops that directory itself, but only once its own first imports are done)
    pip = f"{py} {shlex.join(python_words(module='pip'))} install --disable-pip-version-check -q"
    base = shell_path(base_python) if "/" in base_python else shlex.quote(base_python)
    missing = shlex.quote(
        f"no Python at {base_python!r} on the host to make the venv with: install Python 3 there, or name one "
        "(--remote-python; a cluster's python=)"
    )
    also = f" {shlex.join(requirements)}" if requirements else ""
    import importlib.metadata

    optional = shlex.join(r for r in importlib.metadata.requires("remrepl") or [] if _best_effort(r))
    # uv after the wheel, if the host's index has it: without it pip installs the user's packages
    best_effort = f"; {pip} {optional} 2>/dev/null || echo 'remrepl: no uv for this host; pip installs packages'"
    # Checked again under the lock: another bootstrap of the same venv (a shared home: the hosts of one
    # cluster on NFS) may have installed the same meanwhile. flock(1) where the host has it.
    script = (
        f"set -e; if {same}; then exit 0; fi; rm -f {stamp}; [ -x {py} ] || command -v {base} >/dev/null || "
        f"{{ echo {missing}; exit 127; }}; [ -x {py} ] || {base} "
        f"{shlex.join(python_words(module='venv'))} {shell_path(venv)}; {pip} {wheel_arg}{also}; "
        f"{pip} --force-reinstall --no-deps {wheel_arg}{best_effort if optional else ''}; echo {digest} > {stamp}"
    )
    lock = shell_path(venv.rstrip("/") + ".remrepl-lock")
    parent = shell_path(posixpath.dirname(venv.rstrip("/")) or ".")
    command = (
        f"rc=0; mkdir -p {parent}; if command -v flock >/dev/null 2>&1; then flock {lock} sh -c "
        f"{shlex.quote(script)} || rc=$?; else sh -c {shlex.quote(script)} || rc=$?; fi; "
        f"rm -rf {shlex.quote(remote_dir)}; exit $rc"
    )
    # sh for all of it: the login shell may be csh or fish
    status, output = run_remote(link, f"sh -c {shlex.quote(command)}", INSTALL_TIMEOUT)
    if status != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise RemoteEnvironmentError(f"--bootstrap failed on {link} (exit status {status}):\n{tail}")
    return True


def _copy(link: SSHLink, wheel: Path) -> str:
    """``wheel`` copied into a new directory under ``~/.remrepl`` (both 0700) on the host over SFTP; that
    directory's path there (the wheel keeps its name: pip reads the name)."""
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
            # a directory of its own: parallel bootstraps (a cluster's hosts, a launch) never share a file
            own = f"{remote_dir}/wheel-{os.getpid()}-{threading.get_ident()}"
            try:
                sftp.mkdir(own, 0o700)
            except OSError:
                pass  # left by an earlier run of this very thread id and pid: reused
            sftp.put(str(wheel), f"{own}/{wheel.name}")
            sftp.chmod(f"{own}/{wheel.name}", 0o600)
    finally:
        sftp.close()
    return own
