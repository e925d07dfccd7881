"""One command from the project's file, on EC2 (moto on 127.0.0.1; the head's address mapped by the
ssh_config to a loopback sshd, as tests/support/ec2.py explains): with ``[tool.remrepl]`` saying
``launch = "ec2"``, ``remrepl exec train.py`` and no flag does up -> sync -> install -> run -> get -> down,
exiting with the script's status. The head's interpreter is a throwaway venv (``throwaway_venv``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from testhosts import SSHD, SSHHosts

from tests.support.ec2 import ALLOW, ec2, leftovers, write_config
from tests.support.processes import server_processes, terminate
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse, throwaway_venv

pytestmark = pytest.mark.cluster

TRAIN = f"""\
import os, sys
import {TEST_PACKAGE}

os.makedirs("results", exist_ok=True)
with open("results/answer.txt", "w") as f:
    f.write(f"{{{TEST_PACKAGE}.answer()}}\\n")
print("trained", {TEST_PACKAGE}.answer())
sys.exit(5)
"""


def test_exec_with_the_projects_launch_ec2_is_the_whole_story(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    python = throwaway_venv(tmp_path / "venv")
    write_config(private_state, ssh_hosts.ssh_config)  # the machine's own: moto's image, its ssh_config
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copytree(wheelhouse.directory, root / "wheels")
    (root / "train.py").write_text(TRAIN)
    (root / "pyproject.toml").write_text(
        f"""[project]
name = "story"
version = "0"

[tool.remrepl]
launch = "ec2"
pip = ["{TEST_PACKAGE}"]
find-links = ["wheels"]                         # inside the workdir: read in the head's copy
index-url = "{wheelhouse.directory.as_uri()}"   # an index with nothing: only the wheels answer
get = ["results"]
get-to = "got"

[tool.remrepl.ec2]
instance-type = "t3.large"
allow-cidr = ["{ALLOW}"]
yes = true

[tool.remrepl.ssh]
remote-python = "{python}"
"""
    )
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    command = [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())"]
    try:
        result = subprocess.run(
            [*command, "exec", "train.py"], cwd=root, capture_output=True, text=True, timeout=600, env=env, check=False
        )
        assert result.returncode == 5, result.stderr  # the script's status
        assert result.stdout == "trained 42\n"
        assert (root / "got" / "results" / "answer.txt").read_text() == "42\n"
        assert f"remrepl: settings from [tool.remrepl] of {root / 'pyproject.toml'}" in result.stderr
        assert leftovers().none, leftovers()  # down: nothing left running
        reservations = ec2().describe_instances()["Reservations"]
        types = {i["InstanceType"] for r in reservations for i in r["Instances"]}
        assert types == {"t3.large"}  # the file's instance type
    finally:
        subprocess.run(
            [str(python), "-m", "remrepl", "down", "--all", "--yes"], capture_output=True, env=env, timeout=120
        )
        terminate(server_processes(private_state / "remote"))
