"""How much a project directory may hold before remrepl refuses to sync it, checked before any hashing.

``stat_sizes`` takes the sizes from the file system alone, so ``check_limits`` fails in a moment on a
directory that was never meant to travel (a home directory, a data lake): its message names the
largest top-level entries and the ways out. ``parse_size`` reads the sizes users give (``500MB``, ``2G``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._exceptions import ConfigError, WorkdirTooLarge
from .manifest import Manifest
from .select import IGNORE_FILE

DEFAULT_MAX_BYTES = 500 * 10**6
DEFAULT_MAX_FILES = 20_000
SHOWN = 5  # top-level entries the message names

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``123``, ``500MB``, ``2G``, ``1.5 GB``, ``64KiB``: K, M, G, T (with or without a B)
    are powers of 1000, KiB, MiB, GiB, TiB powers of 1024; any case. Anything else is a ``ConfigError``."""
    match = _SIZE.fullmatch(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ConfigError(f"not a size: {text!r} (say 500MB, 2G, 1.5GB, 64KiB or a number of bytes)")
    number = match.group(1)
    whole, _, fraction = number.partition(".")
    # exact arithmetic: "0.1GB" is 100,000,000 bytes, not what a float makes of it
    scale: int = 10 ** len(fraction)
    return (int(whole or "0") * scale + int(fraction or "0")) * unit // scale


def format_size(size: int) -> str:
    """``412 MB``, ``1.2 GB``, ``900 B``: powers of 1000, as ``parse_size`` reads them back."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


def stat_sizes(root: Path, paths: Sequence[str]) -> dict[str, int]:
    """Each file's size from ``os.stat`` (links followed), without reading it; files gone are left out."""
    sizes: dict[str, int] = {}
    for path in paths:
        try:
            sizes[path] = os.stat(os.path.join(root, path)).st_size
        except OSError:  # gone since the selection, or unreadable: build_manifest names the latter
            continue
    return sizes


def check_limits(root: Path, sizes: Mapping[str, int] | Manifest, max_bytes: int, max_files: int) -> None:
    """Raise ``WorkdirTooLarge`` if the files ``sizes`` (path -> bytes, or a manifest) hold more than
    ``max_bytes`` or are more than ``max_files``."""
    if not isinstance(sizes, Mapping):  # a manifest (or anything with entries that have path and size)
        sizes = {entry.path: entry.size for entry in sizes.entries}
    total = sum(sizes.values())
    if total <= max_bytes and len(sizes) <= max_files:
        return
    over = []
    if total > max_bytes:
        over.append(f"{format_size(total)} (limit {format_size(max_bytes)})")
    if len(sizes) > max_files:
        over.append(f"{len(sizes):,} files (limit {max_files:,})")
    lines = [f"the project directory {root} is too large to sync: {', '.join(over)}; its largest entries:"]
    lines += [f"  {line}" for line in _largest(sizes)]
    lines.append(f"leave out what need not travel with a {IGNORE_FILE} file in {root} (.gitignore syntax),")
    lines.append("raise the limits with --workdir-max-size SIZE / --workdir-max-files N, or pass --no-workdir")
    raise WorkdirTooLarge("\n".join(lines))


def _largest(sizes: Mapping[str, int]) -> list[str]:
    """The ``SHOWN`` largest top-level entries, a directory with what it holds: ``data/  412 MB, 9,870
    files``; columns aligned."""
    totals: dict[str, list[int]] = {}  # name ("data/" for a directory) -> [bytes, files]
    for path, size in sizes.items():
        top, slash, _ = path.partition("/")
        counts = totals.setdefault(top + slash, [0, 0])
        counts[0] += size
        counts[1] += 1
    largest = sorted(totals.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:SHOWN]
    width = max((len(name) for name, _ in largest), default=0)
    rows = []
    for name, (size, files) in largest:
        count = (f", {files:,} files" if files != 1 else ", 1 file") if name.endswith("/") else ""
        rows.append(f"{name:<{width}}  {format_size(size)}{count}")
    return rows
