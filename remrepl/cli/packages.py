"""``--pip``, ``--requirements``, ``--index-url``, ``--find-links``, ``--no-install`` on ``connect`` and
``exec``: the project's packages, installed on the server before the code runs.

With a synced workdir, what the tree declares (requirements.txt, uv.lock, pyproject.toml's
dependencies) is installed too, unless ``--no-install``; a second launch with nothing changed installs
nothing (a stamp of what was resolved). A requirements file inside the workdir is read there, in the
copy; one outside it is sent as its lines. Relative ``--find-links`` paths are the workdir's, and so is
an absolute one inside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import ConfigError

if TYPE_CHECKING:
    from ..client.packages import PackageRequest
    from ..client.session import Session
    from ..client.sync import SyncResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("packages (installed on the server before the code runs)")
    group.add_argument("--pip", action="append", default=[], metavar="SPEC", help="install SPEC (repeatable)")
    group.add_argument(
        "--requirements", action="append", default=[], metavar="FILE", help="install what FILE lists (repeatable)"
    )
    group.add_argument("--index-url", metavar="URL", help="the package index the installer uses")
    group.add_argument(
        "--find-links", action="append", default=[], metavar="PATH", help="also look for packages there (repeatable)"
    )
    group.add_argument(
        "--no-install", action="store_true", help="do not install what the workdir declares (requirements.txt...)"
    )


def request(args: argparse.Namespace, synced: SyncResult | None) -> PackageRequest:
    """What ``args`` ask to install, with the synced tree's paths (None: no workdir)."""
    from ..client.packages import PackageRequest

    specs: list[str] = list(args.pip)
    files: list[str] = []
    root = Path(synced.local) if synced is not None else None
    for given in args.requirements:
        local = Path(given).expanduser().resolve()
        if root is not None and local.is_relative_to(root):
            files.append(local.relative_to(root).as_posix())  # read in the copy, where it was synced
            continue
        try:
            text = local.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--requirements {given}: {exc.strerror}") from None
        for line in text.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                if line.startswith("-"):
                    raise ConfigError(
                        f"--requirements {given}: {line!r}: options and includes work only in a file inside the workdir"
                    )
                specs.append(line)
    links = [_link(link, root) for link in args.find_links]
    return PackageRequest(
        tree=synced.remote if synced is not None else None,
        specs=specs,
        files=files,
        index_url=args.index_url,
        find_links=links,
        detect=not args.no_install,
    )


def _link(link: str, root: Path | None) -> str:
    """A relative path is the workdir's (resolved in the copy), as is an absolute one inside it (pyproject's
    find-links, resolved against its directory); without a workdir, this directory's (a local server)."""
    if "://" in link:
        return link
    if root is None:
        return os.path.abspath(link)
    local = Path(link).expanduser()
    if local.is_absolute() and local.resolve().is_relative_to(root):
        return local.resolve().relative_to(root).as_posix() or "."
    return link


def install(session: Session, args: argparse.Namespace, synced: SyncResult | None) -> bool:
    """Install what ``args`` (and the synced tree) ask; False (the installer's words shown) if it failed."""
    from ..client.packages import install_packages

    def show(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    return install_packages(session, request(args, synced), show)
