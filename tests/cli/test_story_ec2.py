"""The whole story in one command, on EC2 (moto on 127.0.0.1; instances' addresses mapped by the ssh_config
to loopback sshds, as tests/support/ec2.py explains):

    remrepl exec --launch ec2 --get results train.py

up -> sync the project -> install what it declares -> run (the script starts its own EC2 workers, which
get the tree and the packages) -> bring the results back -> down, exiting with the script's status, and
leaving nothing behind. A second run with nothing changed transfers no file and installs nothing.

The head and the "instances" are this machine; the head's interpreter is a throwaway venv
(``throwaway_venv``), so what the story installs never reaches the project's venv. The script's own
seams are what cloud-init would do on real instances: authorize the head's worker key on the workers'
sshd, and name the scheduler's address and the login user.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from testhosts import SSHD, SSHHosts

from tests.support.ec2 import ALLOW, leftovers, write_config
from tests.support.processes import server_processes, terminate
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse, throwaway_venv

pytestmark = pytest.mark.cluster

TRAIN = f"""\
import json, os, sys
import remrepl
import utils
import {TEST_PACKAGE}
from remrepl.cluster.backends.ec2 import generate_key

authorized_keys, ssh_config, python = sys.argv[1:4]


def authorize():
    key = generate_key()  # what cloud-init does with the workers' key pair on a real instance
    with open(authorized_keys, "a") as f:
        f.write(f"{{key.get_name()}} {{key.get_base64()}}\\n")
    return key


os.environ["REMREPL_EC2_SSH_USER"] = {getpass.getuser()!r}
print("head", utils.fit(0), {TEST_PACKAGE}.answer())
options = dict(
    instance_type="t3.medium", processes=1, bootstrap=False, python=python, scheduler_host="127.0.0.1",
    ssh_config=ssh_config, on_lost_scheduler="true", key_source=authorize, workers=2,
)
with remrepl.cluster(ec2=options) as cl:
    fits = cl.map(utils.fit, range(4), progress=False)
print("workers", fits)
os.makedirs("results", exist_ok=True)
with open("results/fits.json", "w") as f:
    json.dump(fits, f)
sys.exit(3 if "--fail" in sys.argv else 0)
"""

UTILS = f"""\
import {TEST_PACKAGE}


def fit(i):
    with open("data.csv") as f:
        rows = f.read().split()
    return [i, len(rows), {TEST_PACKAGE}.answer()]
"""


def make_project(root: Path, wheelhouse: Wheelhouse) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "story"\nversion = "0"\n')
    (root / "train.py").write_text(TRAIN)
    (root / "utils.py").write_text(UTILS)
    (root / "data.csv").write_text("x,y\n1,2\n3,4\n")
    shutil.copytree(wheelhouse.directory, root / "wheels")  # travels with the project: --find-links wheels/
    (root / "requirements.txt").write_text(f"--no-index\n--find-links wheels\n{TEST_PACKAGE}\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("never sent\n")
    return root


def test_exec_launch_ec2_is_the_whole_story(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    workers = ssh_hosts.start("workers")
    ssh_hosts.map("172.31.*", "workers")  # moto's private addresses: the workers
    python = throwaway_venv(tmp_path / "venv")
    write_config(private_state, ssh_hosts.ssh_config, yes=True, allow_cidr=[ALLOW], remote_python=str(python))
    root = make_project(tmp_path / "proj", wheelhouse)
    local = tmp_path / "got"
    local.mkdir()
    seams = [str(workers.directory / "authorized_keys"), str(ssh_hosts.ssh_config), str(python)]
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}

    def story(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())"]
        args = ["exec", "--launch", "ec2", "--get", "results", "--get-to", str(local), "train.py", *seams, *extra]
        return subprocess.run(
            [*command, *args], cwd=root, capture_output=True, text=True, timeout=600, env=env, check=False
        )

    try:
        first = story()
        assert first.returncode == 0, first.stderr
        assert "head [0, 3, 42] 42" in first.stdout
        assert "workers [[0, 3, 42], [1, 3, 42], [2, 3, 42], [3, 3, 42]]" in first.stdout
        assert "packages of requirements.txt installed" in first.stderr
        assert (local / "results" / "fits.json").read_text() == "[[0, 3, 42], [1, 3, 42], [2, 3, 42], [3, 3, 42]]"
        assert leftovers().none, leftovers()
        (copy,) = [p for p in (private_state / "remote" / "work").glob("proj-*") if p.is_dir()]
        assert not (copy / "debug.log").exists()  # ignored: never sent
        stamps = {p.name: p.stat().st_mtime_ns for p in copy.iterdir() if p.is_file()}

        # Nothing changed: no file crosses, nothing is installed; the script's status is the command's.
        again = story("--fail")
        assert again.returncode == 3, again.stderr
        assert "unchanged, nothing to install" in again.stderr
        assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir() if p.is_file()} == stamps
        assert (local / "results" / "fits.json").exists()  # brought back after a failure too
        assert leftovers().none, leftovers()
    finally:
        subprocess.run(
            [str(python), "-m", "remrepl", "down", "--all", "--yes"], capture_output=True, env=env, timeout=120
        )
        terminate(server_processes(private_state / "remote"))
