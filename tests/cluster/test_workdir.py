"""The session's synced project on the workers (``cluster/workdir_plugin.py``): tasks import the project's
modules and read its data by relative paths, before the first task and after each re-sync."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from remrepl.client.session import Session
from remrepl.cluster import workdir_plugin
from remrepl.cluster.workdir_plugin import WorkdirPlugin, archive

pytestmark = pytest.mark.cluster


def make_project(root: Path) -> Path:
    root.mkdir()
    fit = "def fit(i):\n    return (i, VERSION, open('data.csv').read().strip(), os.getcwd())\n"
    (root / "utils.py").write_text(f"import os\n\n{fit}\nVERSION = 1\n")
    (root / "data.csv").write_text("a,b\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


def test_tasks_import_the_project_and_follow_a_resync(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    copy = session.sync_workdir(root).remote
    started = session.run("import remrepl, utils\ncl = remrepl.cluster(workers=1)", timeout=90)
    assert started.error is None, started.stderr
    try:
        run = session.run("print(cl.map(utils.fit, range(2), progress=False))", timeout=60)
        assert run.error is None, run.error
        assert eval(run.stdout) == [(0, 1, "a,b", copy), (1, 1, "a,b", copy)]

        (root / "utils.py").write_text((root / "utils.py").read_text().replace("VERSION = 1", "VERSION = 2"))
        session.sync_workdir(root)  # the kernel's listener re-sends the tree; workers drop the old module
        run = session.run(
            "import importlib; importlib.reload(utils); print(cl.map(utils.fit, [5], progress=False))", timeout=60
        )
        assert run.error is None, run.error
        assert eval(run.stdout) == [(5, 2, "a,b", copy)]
    finally:
        session.run("cl.close()", timeout=60)


def test_a_worker_that_does_not_see_the_copy_unpacks_the_archive(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "proj")
    copy = Path(session.sync_workdir(root).remote)
    (copy / "results.txt").write_text("the remote side's own file: not sent to workers\n")
    digest, data = archive(copy)
    worker = SimpleNamespace(local_directory=str(tmp_path / "worker"))
    plugin = WorkdirPlugin(str(tmp_path / "not-here"), digest, data)  # a path this worker does not have
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workdir_plugin, "_entered", [])
    plugin.setup(worker)
    here = Path(os.getcwd())
    assert here.parent == tmp_path / "worker" / "remrepl-workdir" and sys.path[0] == str(here)
    assert sorted(p.name for p in here.iterdir()) == ["data.csv", "run.sh", "utils.py"]
    assert os.stat(here / "run.sh").st_mode & 0o100
    # A later tree replaces it; the older one is removed.
    (root / "data.csv").write_text("c,d\n")
    digest2, data2 = archive(Path(session.sync_workdir(root).remote))
    WorkdirPlugin(str(tmp_path / "not-here"), digest2, data2).setup(worker)
    assert (Path(os.getcwd()) / "data.csv").read_text() == "c,d\n"
    assert [p.name for p in (tmp_path / "worker" / "remrepl-workdir").iterdir()] == [digest2[:16]]
    assert sys.path.count(str(Path(os.getcwd()))) == 1 and str(here) not in sys.path
