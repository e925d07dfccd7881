"""The whole story on an SSH host, batch: ``remrepl exec --launch ssh://target --get results train.py``
syncs the project (a sibling module, a data file, a wheelhouse, an ignored file), installs what it
declares, runs the script there, and brings its results back; a second run with nothing changed sends no
file and installs nothing; a change sends that file alone.

The host's sessions run as an unprivileged user of their own (``isolated_ssh_hosts``), who cannot read
the test's files: whatever the script finds there was synced. Its interpreter is a throwaway venv of
that user's (``remote_venv``), which sees the bootstrapped remrepl through a ``.pth``, so what the story
installs stays in this test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from testhosts import RemoteUser, SSHHosts, chown_tree

from tests.support.cli import run_cli
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse

pytestmark = pytest.mark.server

TRAIN = f"""\
import json, os, sys
import utils
import {TEST_PACKAGE}

rows = utils.rows("data.csv")
os.makedirs("results", exist_ok=True)
with open("results/summary.json", "w") as f:
    json.dump({{"rows": rows, "answer": {TEST_PACKAGE}.answer(), "version": utils.VERSION}}, f)
print("rows", rows, "answer", {TEST_PACKAGE}.answer(), "version", utils.VERSION)
"""


@pytest.fixture
def remote_venv(remote_user: RemoteUser, remote_python: str, remote_scratch: Path) -> str:
    """A venv of ``remote_user``'s in this test's remote directory, importing the bootstrapped remrepl."""
    venv = remote_scratch / "venv"
    as_user = ["runuser", "-u", remote_user.name, "--"]
    subprocess.run([*as_user, remote_python, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=180)
    purelib = subprocess.run(
        [*as_user, remote_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    (site_packages / "zz-bootstrapped.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
    chown_tree(venv, remote_user)
    assert sysconfig.get_paths()["purelib"] != purelib  # not the project's own venv
    return str(venv / "bin" / "python")


def make_project(root: Path, wheelhouse: Wheelhouse) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "train.py").write_text(TRAIN)
    (root / "utils.py").write_text("VERSION = 1\n\n\ndef rows(path):\n    return len(open(path).read().split())\n")
    (root / "data.csv").write_text("x,y\n1,2\n3,4\n")
    shutil.copytree(wheelhouse.directory, root / "wheels")
    (root / "requirements.txt").write_text(f"--no-index\n--find-links wheels\n{TEST_PACKAGE}\n")
    (root / ".gitignore").write_text("*.log\nresults/\n")
    (root / "debug.log").write_text("never sent\n")
    return root


def test_exec_over_ssh_is_the_whole_story(
    isolated_ssh_hosts: SSHHosts, remote_venv: str, remote_scratch: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    isolated_ssh_hosts.start("target")
    root = make_project(tmp_path / "proj", wheelhouse)
    got = tmp_path / "got"
    launch = [
        "--launch=ssh://target",
        "--ssh-config",
        str(isolated_ssh_hosts.ssh_config),
        "--remote-python",
        remote_venv,
    ]

    def story() -> subprocess.CompletedProcess[str]:
        return run_cli("exec", *launch, "--get", "results", "--get-to", str(got), "train.py", cwd=root, timeout=300)

    first = story()
    assert first.returncode == 0, first.stderr
    assert first.stdout == "rows 3 answer 42 version 1\n"
    assert "packages of requirements.txt installed" in first.stderr
    assert json.loads((got / "results" / "summary.json").read_text()) == {"rows": 3, "answer": 42, "version": 1}
    (copy,) = [p for p in (remote_scratch / "state" / "work").glob("proj-*") if p.is_dir()]
    assert not (copy / "debug.log").exists()
    assert (copy / "wheels").is_dir() and (copy / "results" / "summary.json").exists()

    stamps = {p.relative_to(copy): p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()}
    second = story()
    assert second.returncode == 0, second.stderr
    assert "unchanged, nothing to install" in second.stderr
    after = {p.relative_to(copy): p.stat().st_mtime_ns for p in copy.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k.parts[0] != "results"} == {
        k: v for k, v in stamps.items() if k.parts[0] != "results"
    }  # no synced file was rewritten (the script rewrote its results)

    (root / "utils.py").write_text((root / "utils.py").read_text().replace("VERSION = 1", "VERSION = 2"))
    third = story()
    assert third.returncode == 0 and third.stdout == "rows 3 answer 42 version 2\n", third.stderr
    changed = {
        p.relative_to(copy)
        for p in copy.rglob("*")
        if p.is_file() and stamps.get(p.relative_to(copy)) != p.stat().st_mtime_ns
    }
    assert {p for p in changed if p.parts[0] not in ("results", "__pycache__")} == {Path("utils.py")}
    assert json.loads((got / "results" / "summary.json").read_text())["version"] == 2
