"""Install a project's packages into this interpreter: what ``--pip``/``--requirements`` asked and what
the synced tree declares (``remrepl.packages.project``), before the code runs.

The client runs ``install`` as a short script of its own (``remrepl.client.packages``), in an
interpreter like the session's (the same python), so that ``exec`` and ``connect`` share it. The
installer's output goes to stderr as it comes; the last line says what happened. A failure is the
installer's own message and exit status 1: the session is untouched. What was installed is recorded
beside the copy, for the workers of a cluster started later (``remrepl.cluster.packages_plugin``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ..._exceptions import PackageInstallError
from ..._files import state_dir
from ...packages import project
from ...packages.install import install as run_installer


def install(
    tree: str | None,
    specs: Sequence[str] = (),
    files: Sequence[str] = (),
    index_url: str | None = None,
    find_links: Sequence[str] = (),
    detect: bool = True,
) -> None:
    copy = Path(tree) if tree else None
    requirements = project.for_project(
        copy, specs=specs, files=files, index_url=index_url, find_links=find_links, detect=detect
    )
    if requirements.empty:
        return
    what = requirements.source or "the project"

    def show(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = run_installer(sys.executable, requirements, stamp_dir=state_dir("packages"), output=show)
    except PackageInstallError as exc:
        print(f"remrepl: installing the packages of {what} failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if copy is not None:
        project.save(copy, requirements)
    if result.skipped:
        print(f"remrepl: packages of {what}: unchanged, nothing to install", file=sys.stderr)
    else:
        print(f"remrepl: packages of {what} installed ({result.seconds:.1f} s)", file=sys.stderr)
