"""``remrepl.cli.packages.request``: what the package flags ask, with the synced tree's paths (a file or
a --find-links directory inside the workdir is the copy's; one outside it is this machine's)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from remrepl.cli.packages import request
from remrepl.client.sync import SyncResult


def args(**values: object) -> argparse.Namespace:
    base: dict[str, object] = {"pip": [], "requirements": [], "find_links": [], "index_url": None, "no_install": False}
    return argparse.Namespace(**{**base, **values})


def synced(root: Path) -> SyncResult:
    return SyncResult(str(root), "/srv/copy", files=1, size=1, sent_files=0, sent_bytes=0, seconds=0.0)


def test_find_links_inside_the_workdir_are_the_copys(tmp_path: Path) -> None:
    root = (tmp_path / "proj").resolve()
    (root / "wheels").mkdir(parents=True)
    links = [str(root / "wheels"), "vendor", str(tmp_path / "elsewhere"), "https://example.com/w/"]
    asked = request(args(find_links=links), synced(root))
    assert asked.find_links == ["wheels", "vendor", str(tmp_path / "elsewhere"), "https://example.com/w/"]


def test_without_a_workdir_a_relative_link_is_this_directorys(tmp_path: Path) -> None:
    asked = request(args(find_links=["wheels", str(tmp_path)]), None)
    assert asked.find_links == [os.path.abspath("wheels"), str(tmp_path)]
