"""Install the user's packages into an interpreter: uv when it is there, pip otherwise, once per content.

    requirements = detect_requirements(Path("."))          # requirements.txt, uv.lock or pyproject.toml
    if requirements is not None:
        install(python, requirements, stamp_dir=state, output=print)

``install`` skips everything when the stamp it left last time (one file per interpreter under
``stamp_dir``) holds the same digest: the text of each requirements file, the specs, the options and
the interpreter's version. So a second launch with nothing changed runs no installer at all.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import PackageInstallError
from .._files import write_private

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

INSTALL_TIMEOUT = 3600.0  # one installer run at most (a big scientific stack from source can be slow)
PROBE_TIMEOUT = 30.0  # asking an interpreter its version, or whether it has uv
TAIL_LINES = 20  # the installer's last lines that a PackageInstallError carries
MAX_INCLUDES = 64  # requirements files reached through -r / -c, at most (a cycle ends here too)
MAX_LINE_CHARS = 4000  # one line of installer output, at most (a progress bar without newlines)

# scheme://user:password@host or scheme://token@host: the credentials part, shown as ****
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]+)(?::[^/@\s]*)?@")
_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(?P<path>\S+)")


def redact(text: str) -> str:
    """``text`` with the password (or the lone token) of every ``scheme://...@`` URL replaced by ``****``."""

    def hide(match: re.Match[str]) -> str:
        if ":" in match.group(0)[len(match.group("scheme")) :].rstrip("@"):
            return f"{match.group('scheme')}{match.group('user')}:****@"
        return f"{match.group('scheme')}****@"

    return _CREDENTIALS.sub(hide, text)


@dataclass(frozen=True)
class Requirements:
    """What to install: requirement ``specs`` (``"numpy>=2"``), requirements ``files`` (``-r``), and the
    installer's options: ``index_url`` (``--index-url``), ``find_links`` (``--find-links``, each),
    ``no_index`` and any other installer ``options`` (``--pre``, ``-U``), passed as they are.
    ``source`` says where they came from (``requirements.txt``, ``uv.lock``, ``%pip install``)."""

    specs: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    options: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:  # sequences given as lists still make a hashable, frozen value
        object.__setattr__(self, "specs", tuple(self.specs))
        object.__setattr__(self, "files", tuple(Path(f) for f in self.files))
        object.__setattr__(self, "find_links", tuple(self.find_links))
        object.__setattr__(self, "options", tuple(self.options))

    @property
    def empty(self) -> bool:
        """Nothing to install: no spec and no file."""
        return not self.specs and not self.files

    def installer_args(self) -> list[str]:
        """The arguments after ``pip install`` (the same for ``uv pip install``)."""
        args: list[str] = []
        for path in self.files:
            args += ["-r", str(path)]
        args += self.specs
        if self.index_url is not None:
            args += ["--index-url", self.index_url]
        for link in self.find_links:
            args += ["--find-links", link]
        if self.no_index:
            args.append("--no-index")
        return [*args, *self.options]

    def digest(self, python: str) -> str:
        """SHA-256 (hex) of what an install of these into ``python`` depends on: the text of each
        requirements file (and of those it includes with ``-r``/``-c``), the specs, the options and the
        interpreter's version and prefix. A file that cannot be read makes the digest differ each time."""
        hasher = hashlib.sha256()

        def part(label: str, value: str) -> None:
            data = value.encode("utf-8", "surrogateescape")
            hasher.update(f"{label}:{len(data)}:".encode() + data)

        part("python", interpreter_identity(python))
        for path in _with_includes(self.files):
            part("file", str(path))
            try:
                part("text", path.read_text(encoding="utf-8", errors="surrogateescape"))
            except OSError as exc:  # the installer will say what is wrong; never a stale match
                part("unreadable", f"{exc} {time.time_ns()}")
        for spec in self.specs:
            part("spec", spec)
        part("index_url", self.index_url or "")
        for link in self.find_links:
            part("find_links", link)
        part("no_index", str(self.no_index))
        for option in self.options:
            part("option", option)
        return hasher.hexdigest()

    @classmethod
    def from_args(cls, args: Sequence[str], *, source: str = "pip install", cwd: Path | None = None) -> Requirements:
        """The requirements of a ``pip install ARGS`` command line (``%pip install``): ``-r FILE`` (made
        absolute against ``cwd``), ``-i``/``--index-url``, ``-f``/``--find-links``, ``--no-index``, specs;
        every other word is kept in ``options``, in order."""
        specs: list[str] = []
        files: list[Path] = []
        links: list[str] = []
        options: list[str] = []
        index_url: str | None = None
        no_index = False
        words = list(args)
        base = cwd if cwd is not None else Path.cwd()
        i = 0
        while i < len(words):
            word = words[i]
            name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
            takes = {"-r": "r", "--requirement": "r", "-i": "i", "--index-url": "i", "-f": "f", "--find-links": "f"}
            kind = takes.get(name)
            if kind is not None:
                if eq:
                    value = inline
                elif i + 1 < len(words):
                    i += 1
                    value = words[i]
                else:
                    options.append(word)
                    break
                if kind == "r":
                    files.append(base / value)
                elif kind == "i":
                    index_url = value
                else:
                    links.append(value)
            elif word == "--no-index":
                no_index = True
            elif word.startswith("-"):
                options.append(word)
            else:
                specs.append(word)
            i += 1
        return cls(tuple(specs), tuple(files), index_url, tuple(links), no_index, tuple(options), source)


@dataclass(frozen=True)
class InstallResult:
    """What ``install`` did: ``skipped`` (the stamp matched, or nothing was asked: no installer ran),
    the ``digest`` it installed (or found), the ``command`` it ran (credentials redacted), how long."""

    skipped: bool
    digest: str = ""
    command: tuple[str, ...] = ()
    seconds: float = 0.0


# --- which installer --------------------------------------------------------------------------------


def installer_command(python: str, args: Sequence[str]) -> list[str]:
    """``uv pip install --python PYTHON ARGS`` when uv is there (an executable next to ``python`` or on
    PATH, or the ``uv`` package that interpreter imports: ``python -m uv``), else
    ``PYTHON -m pip install ARGS``."""
    uv = find_uv(python)
    if uv is not None:
        return [*uv, "pip", "install", "--python", python, *args]
    return [python, "-m", "pip", "install", *args]


@functools.lru_cache(maxsize=32)
def find_uv(python: str) -> tuple[str, ...] | None:
    """The command that runs uv for ``python``, or None: ``uv`` next to it (a venv's ``bin``, where the
    ``uv`` package puts it), ``python -m uv`` if it imports uv, else ``uv`` on PATH."""
    resolved = shutil.which(python) or python
    beside = Path(resolved).parent / "uv"  # not resolved further: a venv's python is a link out of it
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside),)
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('uv') is None)"
    try:
        found = subprocess.run([python, "-c", probe], capture_output=True, timeout=PROBE_TIMEOUT, check=False)
        if found.returncode == 0:
            return (python, "-m", "uv")
    except (OSError, subprocess.TimeoutExpired):
        pass
    on_path = shutil.which("uv")
    return (on_path,) if on_path else None


@functools.lru_cache(maxsize=32)
def interpreter_identity(python: str) -> str:
    """``python``'s version and prefix (one line), the part of the digest that says which interpreter."""
    if python == sys.executable:
        return f"{sys.version} {sys.prefix}"
    try:
        asked = subprocess.run(
            [python, "-c", "import sys; print(sys.version, sys.prefix)"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackageInstallError(
            f"cannot run {python} to install packages into it: {exc}; check the interpreter's path",
            command=(python,),
            output=(),
            returncode=None,
        ) from None
    if asked.returncode != 0:
        raise PackageInstallError(
            f"{python} does not run (exit status {asked.returncode}); check the interpreter's path",
            command=(python,),
            output=tuple(asked.stderr.splitlines()[-TAIL_LINES:]),
            returncode=asked.returncode,
        )
    return asked.stdout.strip()


# --- what a project declares ------------------------------------------------------------------------


def detect_requirements(workdir: Path) -> Requirements | None:
    """What ``workdir`` declares, first found: ``requirements.txt`` (unless it has only comments);
    ``uv.lock`` (its packages as
    ``uv export`` writes them, without the project itself and its dev group; only when uv is here, else
    the next); ``pyproject.toml``'s ``[project].dependencies`` (the project itself is not installed).
    None when none of them declares anything."""
    requirements_txt = workdir / "requirements.txt"
    if requirements_txt.is_file() and _declares_something(requirements_txt):
        return Requirements(files=(requirements_txt,), source="requirements.txt")
    if (workdir / "uv.lock").is_file():
        locked = _from_uv_lock(workdir)
        if locked is not None:
            return locked if not locked.empty else None
    pyproject = workdir / "pyproject.toml"
    if pyproject.is_file():
        specs = _project_dependencies(pyproject)
        return Requirements(specs=specs, source="pyproject.toml") if specs else None
    return None


def _declares_something(path: Path) -> bool:
    """Whether a requirements file has a line other than blanks and comments (an unreadable one: yes,
    so that the installer says what is wrong with it)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return True
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


def _from_uv_lock(workdir: Path) -> Requirements | None:
    """uv.lock's packages (``uv export --frozen``), or None if there is no uv or it cannot export."""
    uv = find_uv(sys.executable)
    if uv is None:
        return None
    command = [
        *uv,
        *("export", "--frozen", "--no-hashes", "--format", "requirements-txt"),
        *("--no-emit-project", "--no-dev", "--no-header", "--quiet"),
    ]
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, timeout=PROBE_TIMEOUT * 4, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    specs = []
    for line in done.stdout.splitlines():
        line = line.split(" #", 1)[0].strip()
        # comments, and `-e ./member` lines (the project's own workspace members), are not packages to get
        if line and not line.startswith(("#", "-")):
            specs.append(line)
    return Requirements(specs=tuple(specs), source="uv.lock")


def _project_dependencies(pyproject: Path) -> tuple[str, ...]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()  # not ours to judge: a project that does not parse declares nothing we can install
    project = data.get("project")
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if not isinstance(dependencies, list):
        return ()
    return tuple(d.strip() for d in dependencies if isinstance(d, str) and d.strip())


def _with_includes(files: Sequence[Path]) -> list[Path]:
    """``files`` and the files they include (``-r other.txt``, ``-c constraints.txt``), each once."""
    seen: list[Path] = []
    queue = collections.deque(files)
    while queue and len(seen) < MAX_INCLUDES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.append(path)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            found = _INCLUDE.match(line)
            if found is not None:
                queue.append(path.parent / found.group("path"))
    return seen


def _summary(tail: Sequence[str]) -> str:
    """The installer's error in one line: from its last ``error:`` line (pip's ``ERROR:``, uv's ``error:``
    and the ``cause:`` lines under it), without hints; else its last line."""
    lines = [line.strip() for line in tail if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.lower().startswith("error")]
    if not starts:
        return lines[-1] if lines else ""
    picked = [line for line in lines[starts[-1] : starts[-1] + 3] if not line.lower().startswith("hint")]
    return " ".join(picked)


# --- installing -------------------------------------------------------------------------------------


def stamp_path(stamp_dir: Path, python: str) -> Path:
    """Where ``install`` keeps the digest of the last install into ``python`` (one file per interpreter)."""
    name = hashlib.sha256(os.path.abspath(python).encode()).hexdigest()[:24]
    return stamp_dir / f"installed-{name}"


def install(
    python: str,
    requirements: Requirements,
    *,
    stamp_dir: Path,
    output: Callable[[str], None] | None = None,
    timeout: float = INSTALL_TIMEOUT,
) -> InstallResult:
    """Install ``requirements`` into ``python`` with uv (pip if there is none), each line of the
    installer's output (credentials redacted) given to ``output`` as it comes. Skipped when the stamp
    under ``stamp_dir`` holds the same digest; the stamp is written only after a successful install.
    ``PackageInstallError`` if the installer fails, with its last lines and its command."""
    if requirements.empty:
        return InstallResult(skipped=True)
    started = time.monotonic()
    digest = requirements.digest(python)
    stamp = stamp_path(stamp_dir, python)
    try:
        if stamp.read_text(encoding="ascii").strip() == digest:
            return InstallResult(skipped=True, digest=digest, seconds=time.monotonic() - started)
    except (OSError, UnicodeDecodeError):
        pass  # no stamp (or an unreadable one): install
    command = installer_command(python, requirements.installer_args())
    shown = tuple(redact(word) for word in command)
    _run_installer(command, shown, output, timeout)
    stamp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(stamp, digest + "\n")
    return InstallResult(skipped=False, digest=digest, command=shown, seconds=time.monotonic() - started)


def installer_environment() -> dict[str, str]:
    """The installer's environment: ours, without pip's version nag or colour codes in captured output."""
    env = dict(os.environ)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env.setdefault("PIP_NO_INPUT", "1")  # never wait for a password at a prompt nobody sees
    env.setdefault("NO_COLOR", "1")
    return env


def _run_installer(
    command: list[str], shown: tuple[str, ...], output: Callable[[str], None] | None, timeout: float
) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=installer_environment(),
            start_new_session=True,  # a Ctrl-C at our terminal is ours to pass on (below), not a half-install
        )
    except OSError as exc:
        raise PackageInstallError(
            f"cannot run the package installer {shown[0]}: {exc.strerror}; install uv or pip for it",
            command=shown,
            output=(),
            returncode=None,
        ) from None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, expire)  # the deadline: the read loop below ends at its EOF
    timer.daemon = True
    timer.start()
    try:
        assert process.stdout is not None
        for raw in process.stdout:  # bounded: it ends when the installer exits (or is killed at the deadline)
            line = redact(raw.decode("utf-8", "replace").rstrip("\r\n")[:MAX_LINE_CHARS])
            tail.append(line)
            if output is not None:
                output(line)
        returncode = process.wait()
    except BaseException:  # Ctrl-C, or the output callback raised: no installer left running behind us
        process.kill()
        process.wait()
        raise
    finally:
        timer.cancel()
        if process.stdout is not None:
            process.stdout.close()
    if returncode != 0:
        why = f"it ran past its {timeout:g} s deadline and was stopped" if expired.is_set() else _summary(tail)
        raise PackageInstallError(
            f"installing packages failed (exit status {returncode}): {why or 'no output'}; "
            f"the command was: {' '.join(shown)}",
            command=shown,
            output=tuple(tail),
            returncode=returncode,
        )
