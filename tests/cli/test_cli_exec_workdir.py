"""``remrepl exec`` with a project directory: the script's siblings and data travel with it.

The SSH tests log in as an unprivileged user of their own (``isolated_ssh_hosts``), who cannot read the
test's files: whatever the script finds there was synced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from testhosts import SSHHosts

from tests.support.cli import run_cli
from tests.support.processes import leftover_servers, terminate

pytestmark = pytest.mark.server

TRAIN = """\
import os, sys
import utils
from pkg import model
print("answer", utils.ANSWER, model.NAME)
print("data", open("data.csv").read().split()[1])
print("cwd", os.getcwd())
print("argv", sys.argv[1:])
os.makedirs("results", exist_ok=True)
open("results/out.txt", "w").write("done")
"""


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0"\n')
    (root / "train.py").write_text(TRAIN)
    (root / "utils.py").write_text("ANSWER = 42\n")
    (root / "data.csv").write_text("x,y\n1,2\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "model.py").write_text("NAME = 'm1'\n")
    (root / ".remreplignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("never sent\n")
    return root


def lines(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)


def test_exec_with_workdir_on_a_local_server_runs_in_a_copy(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    result = run_cli("exec", "--launch", "--workdir", str(root), str(root / "train.py"), "--epochs", "3")
    assert result.returncode == 0, result.stderr
    out = lines(result.stdout)
    assert out["answer"] == "42 m1" and out["data"] == "1,2" and out["argv"] == "['--epochs', '3']"
    copy = Path(out["cwd"])
    assert copy != root and copy.name.startswith("proj-")  # the copy's root: exec ran from outside it
    assert (copy / "results" / "out.txt").read_text() == "done"
    assert not (copy / "secret.txt").exists()
    assert not (root / "results").exists()  # the script wrote in the copy, not in the project


def test_exec_runs_in_the_counterpart_of_the_local_directory(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "pkg" / "show.py").write_text("import os\nprint('cwd', os.getcwd())\n")
    result = run_cli("exec", "--launch", "--workdir", str(root), "show.py", cwd=root / "pkg")
    assert result.returncode == 0, result.stderr
    cwd = Path(lines(result.stdout)["cwd"])
    assert cwd.name == "pkg" and cwd.parent.name.startswith("proj-")


def test_a_script_outside_the_workdir_is_a_clear_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    other = tmp_path / "other.py"
    other.write_text("print(1)\n")
    result = run_cli("exec", "--launch", "--workdir", str(root), str(other))
    assert result.returncode != 0
    assert "is not inside the workdir" in result.stderr and "Traceback" not in result.stderr


def test_a_workdir_over_the_limit_names_the_largest_entries(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "bulk").mkdir()
    for i in range(3):
        (root / "bulk" / f"{i}.bin").write_bytes(b"\0" * 50_000)
    result = run_cli("exec", "--launch", "--workdir", str(root), "--workdir-max-size", "100KB", str(root / "train.py"))
    assert result.returncode != 0
    assert "bulk" in result.stderr and "--workdir-max-size" in result.stderr and "Traceback" not in result.stderr


def _ssh_exec(hosts: SSHHosts, remote_python: str, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    result = run_cli(
        "exec",
        "--launch=ssh://target",
        "--ssh-config",
        str(hosts.ssh_config),
        "--remote-python",
        remote_python,
        *args,
        cwd=cwd,
    )
    return result.returncode, result.stdout, result.stderr


def test_exec_over_ssh_syncs_the_scripts_project_by_default(
    isolated_ssh_hosts: SSHHosts, remote_python: str, remote_scratch: Path, tmp_path: Path
) -> None:
    isolated_ssh_hosts.start("target")
    root = make_project(tmp_path / "proj")
    code, stdout, stderr = _ssh_exec(isolated_ssh_hosts, remote_python, "train.py", cwd=root)
    assert code == 0, stderr
    out = lines(stdout)
    assert out["answer"] == "42 m1" and out["data"] == "1,2"
    copy = Path(out["cwd"])
    assert copy.is_relative_to(remote_scratch) and copy.name.startswith("proj-")
    assert not (copy / "secret.txt").exists()
    assert (copy / "results" / "out.txt").read_text() == "done"

    # Nothing changed: nothing crosses (no file in the copy is rewritten). Then one change, one file.
    stamps = {p.name: p.stat().st_mtime_ns for p in copy.iterdir() if p.is_file()}
    code, stdout, stderr = _ssh_exec(isolated_ssh_hosts, remote_python, "train.py", cwd=root)
    assert code == 0, stderr
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir() if p.is_file()} == stamps
    (root / "utils.py").write_text("ANSWER = 43\n")
    code, stdout, stderr = _ssh_exec(isolated_ssh_hosts, remote_python, "train.py", cwd=root)
    assert code == 0, stderr
    assert lines(stdout)["answer"] == "43 m1"
    changed = {p.name for p in copy.iterdir() if p.is_file() and p.stat().st_mtime_ns != stamps.get(p.name)}
    assert changed == {"utils.py"}
    assert (copy / "results" / "out.txt").read_text() == "done"  # the remote side's results survive


def test_no_workdir_sends_the_script_alone(isolated_ssh_hosts: SSHHosts, remote_python: str, tmp_path: Path) -> None:
    isolated_ssh_hosts.start("target")
    root = make_project(tmp_path / "proj")
    code, _, stderr = _ssh_exec(isolated_ssh_hosts, remote_python, "--no-workdir", "train.py", cwd=root)
    assert code == 1 and "ModuleNotFoundError: No module named 'utils'" in stderr
    assert os.path.exists(root / "train.py")
