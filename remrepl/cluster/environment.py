"""The head against its workers, when a cluster starts: one short table of what differs, or nothing.

Dask collects the versions (``Client.get_versions(check=False, packages=...)``: the head's and each
worker's Python and Dask's own packages, plus the ones asked for: remrepl and the packages the synced
project declares). ``compare_workers`` groups identical workers ("20 workers: 2026.8.0") and gives each
mismatch its severity and fix (``remrepl.client.environment``'s ``Environment``). Dask's own
``VersionMismatchWarning`` compares the same packages in a table of its own; ``quiet_dask`` drops it
while a cluster starts, since ours says the same with the fix.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..client.environment import BY_VALUE, Environment, Row, Severity, minor, release, same_minor
from ..packages.install import detect_requirements
from ..protocol.versions import Versions
from ..workdir import active as workdirs

if TYPE_CHECKING:
    from distributed import Client

# What Dask's own check compares (distributed.versions: required and optional packages), besides python.
DASK_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz", "lz4", "numpy", "pandas")
MAX_DECLARED = 200  # names: a project declaring more is compared on its first 200
MAX_FILES = 20  # requirements files followed through -r includes
SAME_DASK = "the scheduler and the workers must run the same Dask"
DECLARED = "the project declares it: its code imports it on the workers"
_NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:$|[\[<>=!~;@(\s,])")
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement)(?:\s+|=)(\S+)")


@dataclass(frozen=True)
class _Rule:
    same: Callable[[str, str], bool]
    severity: Severity
    why: str = ""


def _equal(a: str, b: str) -> bool:
    return a == b


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares them: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The distribution a requirement line names (``numpy>=2 ; python_version>'3'`` -> ``numpy``), or None
    for comments, options (``-r``, ``--index-url``) and bare URLs or paths."""
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-", ".", "/")) or "://" in line.split("@", 1)[0]:
        return None
    match = _NAME.match(line)
    return normalize(match.group(1)) if match is not None else None


def declared_names(workdir: Path | None) -> tuple[str, ...]:
    """The distributions the project in ``workdir`` declares (``detect_requirements``), in order, each once."""
    if workdir is None:
        return ()
    requirements = detect_requirements(workdir)
    if requirements is None:
        return ()
    lines = list(requirements.specs)
    queue, seen = list(requirements.files), set[Path]()
    while queue and len(seen) < MAX_FILES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            included = _INCLUDE.match(line)
            if included is not None:
                queue.append(path.parent / included.group(1))
            else:
                lines.append(line)
    names = (requirement_name(line) for line in lines)
    return tuple(dict.fromkeys(n for n in names if n))[:MAX_DECLARED]


def _rule(name: str, declared: Sequence[str]) -> _Rule:
    if name == "python":
        return _Rule(same_minor, "error", BY_VALUE)
    if name == "cloudpickle":
        return _Rule(same_minor, "error", BY_VALUE)
    if name in ("dask", "distributed"):
        return _Rule(_equal, "error", SAME_DASK)
    if name in declared:
        return _Rule(_equal, "error", DECLARED)
    return _Rule(_equal, "warning")  # remrepl, and Dask's other packages


def _fix(name: str, head: str, worker: str) -> str:
    if name == "python":
        return f"start the workers with Python {minor(head)} (their python=)"
    if name == "remrepl":
        return f"install remrepl {head or worker} on the workers"
    return f"%pip install '{name}=={head}'" if head else f"%pip install '{name}=={worker}'"


def _shown(name: str, version: str) -> str:
    if name == "python":  # Dask's is "3.11.7.final.0"
        return ".".join(map(str, release(version)[:3])) or version
    return version


def _host(address: str) -> str:
    """``tls://10.0.0.5:38211`` -> ``10.0.0.5``."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


def _groups(name: str, head: str, workers: Mapping[str, Versions], same: Callable[[str, str], bool]) -> str:
    """Each group of identical workers, the biggest first; the odd ones out name their hosts (up to 3)."""
    counts = Counter(workers[w].get(name, "") for w in workers)
    parts = []
    for version, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        text = f"{count} worker{'s' * (count != 1)}: {_shown(name, version) or 'missing'}"
        if not same(head, version) and len(counts) > 1:
            hosts = sorted({_host(w) for w in workers if workers[w].get(name, "") == version})
            text += f" ({', '.join(hosts[:3])}{', ...' * (len(hosts) > 3)})"
        parts.append(text)
    return "; ".join(parts)


def compare_workers(
    head: Mapping[str, str], workers: Mapping[str, Versions], declared: Sequence[str] = ()
) -> Environment:
    """The head's versions against each worker's (address -> versions). Compared: python (up to the
    minor version), remrepl, Dask's packages, and the ``declared`` ones; a name the head does not
    report is not compared. Errors first, then warnings, each in the order above."""
    count = len(workers)
    names = dict.fromkeys(["python", "remrepl", *DASK_PACKAGES, *declared])
    rows: list[Row] = []
    for name in names:
        if name not in head:
            continue
        rule = _rule(name, declared)
        reference = head[name] or ""
        odd = [w for w in workers if not rule.same(reference, workers[w].get(name, "") or "")]
        if not odd:
            continue
        worker_version = workers[odd[0]].get(name, "") or ""
        rows.append(
            Row(
                name,
                _shown(name, reference),
                _groups(name, reference, workers, rule.same),
                rule.severity,
                _fix(name, _shown(name, reference), worker_version),
                rule.why,
            )
        )
    rows.sort(key=lambda row: row.severity != "error")
    return Environment("head", f"{count} worker{'s' * (count != 1)}", tuple(rows))


# --- collecting, through Dask ---------------------------------------------------------------------


def _packages(entry: Any) -> Versions | None:
    """One process's entry of ``Client.get_versions``: its packages, None/"" made "" (not installed)."""
    packages = entry.get("packages") if isinstance(entry, dict) else None
    if not isinstance(packages, dict):
        return None
    return {normalize(str(k)) if k != "python" else "python": str(v or "") for k, v in packages.items()}


def collect(client: Client, names: Sequence[str]) -> tuple[Versions, dict[str, Versions]]:
    """(the head's versions, each worker's) as Dask collects them, with ``names`` besides Dask's own.
    The head is this process (it runs the scheduler and the client)."""
    versions: Any = client.get_versions(check=False, packages=list(names))  # a dict (a coroutine if async)
    head = _packages(versions.get("client")) or {}
    workers: dict[str, Versions] = {}
    for address, entry in dict(versions.get("workers") or {}).items():
        packages = _packages(entry)
        if packages is not None:  # a worker that did not answer (gone meanwhile) is not compared
            workers[str(address)] = packages
    return head, workers


def forget_cached_versions() -> None:
    """Dask keeps each package's version once read, per process; after an install it must read again."""
    from distributed import versions

    cached = getattr(versions, "_version_cached", None)
    clear = getattr(cached, "cache_clear", None)
    if callable(clear):
        clear()


def check(client: Client, *, workdir: Path | None = None, fresh: bool = False) -> Environment:
    """The head against the cluster's workers now. ``workdir``: the synced project (default: the
    session's); ``fresh``: read versions again (after an install) rather than Dask's remembered ones."""
    declared = declared_names(workdir if workdir is not None else workdirs.current())
    if fresh:
        forget_cached_versions()
        client.run(forget_cached_versions)
    head, workers = collect(client, ["remrepl", *declared])
    if not workers:
        return Environment("head", "0 workers")
    return compare_workers(head, workers, declared)


def report(environment: Environment, stream: IO[str]) -> Environment:
    """The table on ``stream`` when something differs; nothing when all match."""
    if not environment.ok:
        print(environment.table(), file=stream, flush=True)
    return environment


@contextmanager
def quiet_dask() -> Iterator[None]:
    """Without Dask's ``VersionMismatchWarning`` (its client warns as it connects): ours replaces it."""
    with warnings.catch_warnings():
        try:
            from distributed.versions import VersionMismatchWarning
        except ImportError:  # no Dask: starting the pool says so
            pass
        else:
            warnings.filterwarnings("ignore", category=VersionMismatchWarning)
        yield
