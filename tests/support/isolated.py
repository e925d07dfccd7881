"""What the isolated SSH hosts need on top of scripts/testhosts.py: the socket guard and remrepl where the
unprivileged test user (``testhosts.TEST_USER``) can reach them, since it cannot read root's files.

The remote side of an isolated host runs as that user, so it reaches this machine's files only as any
other user would. The project's interpreter is of no use to it (here the venv's python is a link into
/root/.pyenv, 0700), and neither are the tests' directories (pytest's tmp_path, root's and 0700), which
is the point. So remrepl gets there the way a real host gets it: ``--bootstrap`` (remrepl/ssh/bootstrap.py)
ships this remrepl as a wheel over SFTP into a venv in the user's HOME, made with the host's own
``/usr/bin/python3.X`` (our minor version where it exists), its dependencies from the machine's local
package index (``LOCAL_INDEX``, with the socket guard on). The venv is named by the digest of the wheel
and that interpreter: a run with the same code reuses it (seconds), changed code gets a new one (about
20 s, once per run), and venvs unused for a day are removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testhosts import RemoteUser, SSHHosts, chown_tree

from remrepl.launchers.ssh.launcher import SSHLauncher
from remrepl.ssh.bootstrap import build_wheel
from tests.support import guard

LOCAL_INDEX = Path("/opt/pypi/simple")  # the package mirror this kind of machine has (no network needed)
# The "host's" own interpreter, which every user may run: of our minor version when the system has it (a
# by-value pickle, e.g. a lambda sent with %put, needs the same minor version on both sides).
_SAME_MINOR = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
BASE_PYTHON = str(_SAME_MINOR) if _SAME_MINOR.exists() else "/usr/bin/python3"
BOOTSTRAP_TIMEOUT = 600.0
STALE_SECONDS = 24 * 3600.0


class NoRemotePython(LookupError):
    """remrepl cannot be installed for the test user here (the reason says why)."""


def guard_copy(directory: Path, user: RemoteUser) -> Path:
    """The socket guard (tests/_netguard) copied into ``directory``, readable by ``user``: the remote side's
    ``PYTHONPATH``, so its Python processes reach only loopback as ours do."""
    target = directory / "netguard"
    shutil.copytree(guard.GUARD_DIR, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    chown_tree(target, user)
    return target


def remote_environment(scratch: Path, user: RemoteUser) -> dict[str, str]:
    """The sshd ``SetEnv`` of an isolated host whose per-test directory is ``scratch``."""
    return {
        "PYTHONPATH": str(guard_copy(scratch, user)),
        "REMREPL_STATE_DIR": str(scratch / "state"),
        "PIP_INDEX_URL": LOCAL_INDEX.as_uri(),
        "PIP_FIND_LINKS": str(remote_wheels(user)),
        **guard.REAPER_GUARD,
    }


def scratch_directory(user: RemoteUser, prefix: str = "t-") -> Path:
    """A new directory of ``user``'s own under its HOME (``~/tests/PREFIX...``, 0700), with ``state/``."""
    base = user.home / "tests"
    base.mkdir(mode=0o700, exist_ok=True)
    os.chown(base, user.uid, user.gid)
    own = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    (own / "state").mkdir(mode=0o700)
    chown_tree(own, user)
    return own


HARNESS = "3"  # how these venvs and wheels are made (3: uv's binary kept executable): a change makes new ones


def code_digest() -> str:
    """The digest of the bootstrap wheel of this remrepl (deterministic: same code, same digest) and of the
    interpreter its venv is made with."""
    with tempfile.TemporaryDirectory(prefix="remrepl-wheel-") as tmp:
        wheel = build_wheel(Path(tmp)).read_bytes()
    return hashlib.sha256(wheel + BASE_PYTHON.encode() + HARNESS.encode()).hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One test run at a time makes a given venv (parallel runs on this machine share the user)."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def bootstrapped_python(user: RemoteUser, root: Path) -> str:
    """The python of a venv in ``user``'s HOME with this remrepl installed by ``--bootstrap`` (made now,
    through an isolated sshd whose client side lives in ``root``, unless a venv of the same code exists);
    with the ``cluster`` extra (Dask), as ``--bootstrap`` installs it."""
    if not LOCAL_INDEX.is_dir():
        raise NoRemotePython(f"no local package index at {LOCAL_INDEX}: bootstrapping would need the network")
    venvs = user.home / "venvs"
    venvs.mkdir(mode=0o700, exist_ok=True)
    chown_tree(venvs, user)
    venv = venvs / code_digest()
    python = venv / "bin" / "python"
    with _locked(venvs / f"{venv.name}.lock"):
        if not (venv / "remrepl-ready").exists():
            scratch = scratch_directory(user, prefix="bootstrap-")
            environment = remote_environment(scratch, user)
            try:
                # the client's memory of bootstrapped hosts goes with the scratch (a session fixture may run
                # before the test's own private state directory is set)
                with (
                    _environment("REMREPL_STATE_DIR", str(root / "state")),
                    SSHHosts(root, user=user.name, user_dir=scratch / "sshd") as hosts,
                ):
                    hosts.start("bootstrap", set_env=environment)
                    launcher = SSHLauncher(
                        "bootstrap",
                        ssh_config=str(hosts.ssh_config),
                        remote_python=BASE_PYTHON,
                        bootstrap=True,
                        remote_venv=str(venv),
                        notify=lambda text: None,
                    )
                    try:
                        launcher.start(BOOTSTRAP_TIMEOUT)
                        launcher.close()
                    except Exception as exc:
                        raise NoRemotePython(f"--bootstrap for {user.name} failed: {exc}") from exc
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            (venv / "remrepl-ready").touch()
        venv.touch()  # in use: not stale
    _prune(venvs, keep=venv)
    return str(python)


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


# What the local index lacks: uv (a dependency of remrepl), and distributed and zict (of its cluster extra).
LOCAL_WHEELS = ("uv", "distributed", "zict")


def local_wheels(directory: Path, names: tuple[str, ...] = LOCAL_WHEELS) -> Path:
    """A directory under ``directory`` with wheels of this machine's installed ``names``, packed from their
    installed files (offline): a host's ``PIP_FIND_LINKS``, next to the local index."""
    import importlib.metadata

    versions = [HARNESS, *(f"{name}-{importlib.metadata.version(name)}" for name in names)]
    own = directory / hashlib.sha256(" ".join(versions).encode()).hexdigest()[:16]
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory / "wheels.lock"):
        if not (own / "ready").exists():
            own.mkdir(exist_ok=True)
            for name in names:
                wheel_of_installed(name, own)
            (own / "ready").touch()
    return own


def remote_wheels(user: RemoteUser) -> Path:
    """``local_wheels`` in ``user``'s HOME, where its pip can read them (its ``PIP_FIND_LINKS``)."""
    own = local_wheels(user.home / "wheels")
    chown_tree(user.home / "wheels", user)
    return own


def wheel_of_installed(name: str, directory: Path) -> Path:
    """A wheel of the installed distribution ``name``, from its RECORD: its files, its scripts (``bin/``:
    uv's binary) as the wheel's ``.data/scripts``, tagged as its WHEEL file says."""
    import base64
    import importlib.metadata
    import zipfile

    dist = importlib.metadata.distribution(name)
    files = [f for f in dist.files or [] if "__pycache__" not in f.parts]
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    stem = info.removesuffix(".dist-info")
    wheel_file = (dist.read_text("WHEEL") or "").splitlines()
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_file if line.startswith("Tag:")]
    tags = [t for t in tags if len(t) == 3] or [["py3", "none", "any"]]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))  # compressed: py2.py3-none-any
    wheel = directory / f"{stem}-{tag}.whl"
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            if f.name in ("RECORD", "INSTALLER", "direct_url.json", "REQUESTED"):
                continue
            script = f.parts[0] == ".."
            arcname = f"{stem}.data/scripts/{f.name}" if script else f.as_posix()
            data = Path(str(f.locate())).read_bytes()
            entry = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = (0o100755 if script else 0o100644) << 16  # a regular file: pip keeps +x
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def _prune(venvs: Path, keep: Path) -> None:
    """Remove the venvs of other code that no run used for a day (each is tens of MB)."""
    now = time.time()
    for old in venvs.iterdir():
        if old.is_dir() and old != keep and now - old.stat().st_mtime > STALE_SECONDS:
            with _locked(venvs / f"{old.name}.lock"):
                shutil.rmtree(old, ignore_errors=True)
            (venvs / f"{old.name}.lock").unlink(missing_ok=True)
