"""The packages a synced project needs, decided once on the head and kept beside its copy.

``for_project`` says what to install for a project tree: what the command line asked (``--pip``,
``--requirements``, ``--index-url``, ``--find-links``) and, unless told not to, what the tree declares
(``detect_requirements``: requirements.txt, uv.lock, pyproject.toml). The head installs it, then
``save`` keeps it beside the copy (``<copy>.packages.json``) with every path inside the tree written
relative to it, so a worker that unpacked the same tree elsewhere installs exactly the same
(``load`` + ``within``), and a cluster started later in any interpreter on the head finds it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._files import write_private
from .install import Requirements, detect_requirements


def for_project(
    tree: Path | None,
    *,
    specs: Sequence[str] = (),
    files: Sequence[str] = (),
    index_url: str | None = None,
    find_links: Sequence[str] = (),
    detect: bool = True,
) -> Requirements:
    """What to install for the project ``tree`` (None: no tree; only what was asked). Relative ``files``
    and ``find_links`` paths are the tree's (or the working directory's)."""
    base = tree if tree is not None else Path.cwd()
    detected = detect_requirements(tree) if detect and tree is not None else None
    links = tuple(_local(base, link) for link in find_links)
    asked = Requirements(
        specs=tuple(specs),
        files=tuple(base / f for f in files),
        index_url=index_url,
        find_links=links,
        source="the command line" if specs or files else "",
    )
    if detected is None:
        return asked
    return Requirements(
        specs=(*detected.specs, *asked.specs),
        files=(*detected.files, *asked.files),
        index_url=index_url or detected.index_url,
        find_links=(*detected.find_links, *links),
        no_index=detected.no_index,
        options=detected.options,
        source=" and ".join(s for s in (detected.source, asked.source) if s),
    )


def _local(base: Path, link: str) -> str:
    """A --find-links value: a URL as it is, a relative path as the tree's."""
    if "://" in link or os.path.isabs(link):
        return link
    return str(base / link)


def record_path(copy: Path) -> Path:
    return copy.with_name(copy.name + ".packages.json")


def to_record(requirements: Requirements, tree: Path | None) -> dict[str, Any]:
    """``requirements`` as JSON-able data, its paths inside ``tree`` relative to it (``within`` reverses)."""
    return {
        "specs": list(requirements.specs),
        "files": [_relative(tree, str(f)) for f in requirements.files],
        "index_url": requirements.index_url,
        "find_links": [_relative(tree, link) for link in requirements.find_links],
        "no_index": requirements.no_index,
        "options": list(requirements.options),
        "source": requirements.source,
    }


def save(copy: Path, requirements: Requirements) -> None:
    """Keep ``requirements`` beside the copy, its paths inside the copy made relative to it."""
    path = record_path(copy)
    tmp = path.with_name(path.name + ".tmp")
    write_private(tmp, json.dumps(to_record(requirements, copy)))
    os.replace(tmp, path)


def _relative(tree: Path | None, value: str) -> str:
    if tree is None or "://" in value:
        return value
    try:
        return str(Path(value).relative_to(tree))
    except ValueError:
        return value


def load(copy: Path) -> dict[str, Any] | None:
    """The record ``save`` wrote for ``copy`` (None: none, or unreadable)."""
    try:
        data = json.loads(record_path(copy).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def within(record: dict[str, Any], tree: Path) -> Requirements:
    """The recorded requirements, with their relative paths in ``tree`` (the head's copy, or a worker's)."""
    return Requirements(
        specs=tuple(str(s) for s in record.get("specs", ())),
        files=tuple(tree / str(f) for f in record.get("files", ())),
        index_url=record.get("index_url") or None,
        find_links=tuple(_local(tree, str(link)) for link in record.get("find_links", ())),
        no_index=bool(record.get("no_index")),
        options=tuple(str(o) for o in record.get("options", ())),
        source=str(record.get("source", "")),
    )
