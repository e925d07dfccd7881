"""``remrepl exec --get``: what the run wrote comes back after it, however it ended (a real CLI process, a
local launch): its files and directories land under their names, stdout stays the script's, and a missing
path is one line that fails only a run that succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testhosts import SSHD, RemoteUser, SSHHosts

from tests.cli.test_cli_exec import QUICK, read_line
from tests.support.cli import RUN_TIMEOUT, remrepl_command
from tests.support.processes import leftover_servers, terminate

pytestmark = pytest.mark.server

WRITES = """\
import os, sys
os.makedirs("out", exist_ok=True)
with open("out/result.txt", "w") as f:
    f.write("result of " + " ".join(sys.argv[1:]) + "\\n")
with open("log.txt", "w") as f:
    f.write("the log\\n")
print("wrote them")
"""
GETS = ["--get", "out", "--get", "log.txt"]


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Where the script is and runs (the remote side's working directory: a local launch shares it)."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def exec_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``remrepl exec --launch ARGS`` run in ``folder``, to its end."""
    return subprocess.run(
        [*remrepl_command(), "exec", "--launch", *args],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def landed(folder: Path) -> dict[str, str]:
    """Every file under ``folder``, relative path -> text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_directory_and_a_file_land_in_get_to_and_stdout_is_the_scripts(project: Path, tmp_path: Path) -> None:
    (project / "job.py").write_text(WRITES)
    results = tmp_path / "results"  # made, as it does not exist
    result = exec_in(project, *GETS, "--get-to", str(results), "job.py", "a", "b")
    assert (result.returncode, result.stdout) == (0, "wrote them\n"), result.stderr
    assert landed(results) == {"out/result.txt": "result of a b\n", "log.txt": "the log\n"}
    assert "--get" not in result.stderr  # nothing to say when everything landed (small files: no bar)
    # again: the results of the new run replace the old ones (a directory as a whole: nothing stale stays)
    (results / "out" / "stale.txt").write_text("from before")
    result = exec_in(project, *GETS, "--get-to", str(results), "job.py", "c")
    assert result.returncode == 0, result.stderr
    assert landed(results) == {"out/result.txt": "result of c\n", "log.txt": "the log\n"}
    assert not [p.name for p in results.iterdir() if p.name.startswith(".")]  # no temporary sibling left


def test_absolute_paths_land_in_the_current_directory_by_default(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "elsewhere"
    (project / "job.py").write_text(
        f"import os\nos.chdir({str(remote.parent)!r})\nos.mkdir('elsewhere')\n"
        + WRITES.replace("out", "elsewhere/out").replace('"log.txt"', '"elsewhere/log.txt"')
    )
    result = exec_in(project, "--get", str(remote / "out"), "--get", str(remote / "log.txt"), "job.py")
    assert result.returncode == 0, result.stderr
    assert landed(project) == {
        "job.py": (project / "job.py").read_text(),
        "out/result.txt": "result of \n",
        "log.txt": "the log\n",
    }


def test_relative_paths_start_where_the_run_started(project: Path) -> None:
    """The directory the script ran in (its working directory as it started), not where it went."""
    (project / "job.py").write_text(
        "import os\nos.mkdir('sub')\nos.chdir('sub')\nopen('log.txt', 'w').write('in sub')\n"
    )
    result = exec_in(project, "--get", "sub/log.txt", "--get", "log.txt", "--get-to", "back", "job.py")
    assert result.stderr == "remrepl: --get log.txt: no such file on the remote\n"
    assert landed(project / "back") == {"log.txt": "in sub"}


def test_a_failing_script_still_gets_its_results_and_keeps_its_status(project: Path) -> None:
    (project / "job.py").write_text(WRITES + "raise SystemExit(3)\n")
    result = exec_in(project, *GETS, "--get-to", "back", "job.py")
    assert (result.returncode, result.stdout) == (3, "wrote them\n"), result.stderr
    assert landed(project / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}


def test_a_missing_path_is_one_line_and_fails_only_a_run_that_succeeded(project: Path) -> None:
    (project / "job.py").write_text(WRITES)
    missing = "results/out.csv"
    result = exec_in(project, "--get", missing, *GETS, "--get-to", "back", "job.py")
    assert (result.returncode, result.stdout) == (1, "wrote them\n")
    assert result.stderr == f"remrepl: --get {missing}: no such file on the remote\n"
    assert sorted(landed(project / "back")) == ["log.txt", "out/result.txt"]  # the other gets happened
    (project / "fails.py").write_text("raise SystemExit(5)\n")
    result = exec_in(project, "--get", missing, "fails.py")
    assert result.returncode == 5  # the script's own failure wins
    assert result.stderr == f"remrepl: --get {missing}: no such file on the remote\n"


def test_a_timed_out_run_still_gets_what_it_wrote(project: Path) -> None:
    (project / "spin.py").write_text(WRITES + "while True:\n    pass\n")
    started = time.monotonic()
    result = exec_in(project, "--timeout", "1", *GETS, "--get-to", "back", "spin.py")
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < RUN_TIMEOUT
    assert result.stdout == "wrote them\n"
    assert landed(project / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}


def test_a_run_killed_after_its_timeout_still_gets_what_it_wrote(project: Path) -> None:
    """A script that ignores the interrupt is killed (with its interpreter); the files are still there."""
    ignores = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    (project / "stubborn.py").write_text(ignores + WRITES + "while True:\n    pass\n")
    result = exec_in(project, "--timeout", "1", *GETS, "--get-to", "back", "stubborn.py")
    assert result.returncode == 124, result.stderr
    assert "interpreter is killed" in result.stderr
    assert landed(project / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}


def test_ctrl_c_still_gets_what_the_run_wrote(project: Path) -> None:
    (project / "spin.py").write_text(
        WRITES.replace('print("wrote them")', 'print("spinning", flush=True)') + "while True:\n    pass\n"
    )
    process = subprocess.Popen(
        [*remrepl_command(), "exec", "--launch", *GETS, "--get-to", "back", "spin.py"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        assert read_line(process.stdout.fileno(), time.monotonic() + 30) == b"spinning\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=QUICK + 10)
        assert process.returncode == 130, err.decode()
        assert "KeyboardInterrupt" in err.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert landed(project / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}


def test_a_big_download_shows_its_progress_on_stderr(project: Path) -> None:
    size = 3 << 20
    (project / "big.py").write_text(f"with open('big.bin', 'wb') as f:\n    f.write(b'x' * {size})\n")
    result = exec_in(project, "--get", "big.bin", "--get-to", "back", "big.py")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert os.path.getsize(project / "back" / "big.bin") == size
    assert "--get big.bin" in result.stderr and "100%" in result.stderr  # plain lines: stderr is a pipe


def test_from_a_synced_workdir_relative_paths_are_the_copys(project: Path, tmp_path: Path) -> None:
    """With ``--workdir`` the script runs in the server's copy of the project: the run's directory the
    server names (``Done.cwd``) is there, so the results come from the copy, and the local project stays
    as it was."""
    (project / "job.py").write_text(WRITES)
    result = exec_in(project, "--workdir", str(project), *GETS, "--get-to", str(tmp_path / "back"), "job.py")
    assert (result.returncode, result.stdout) == (0, "wrote them\n"), result.stderr
    assert landed(tmp_path / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}
    assert sorted(p.name for p in project.iterdir()) == ["job.py"]  # written in the copy, not here


def test_over_ssh_the_results_cross_the_wire(
    isolated_sshd: SSHD,
    isolated_ssh_hosts: SSHHosts,
    remote_user: RemoteUser,
    remote_python: str,
    remote_scratch: Path,
    project: Path,
    tmp_path: Path,
) -> None:
    """The server runs as another user, who can neither read the script nor write here: the script's text
    is sent, it runs in that user's working directory (its HOME), and what it wrote comes back, relative to
    that directory, also from a failed run."""
    mine = remote_scratch.relative_to(remote_user.home)  # this test's own directory, from the remote HOME
    (project / "job.py").write_text(
        f"import os\nos.chdir({str(mine)!r})\n" + WRITES + "os.chdir(os.path.expanduser('~'))\nraise SystemExit(3)\n"
    )
    # --no-workdir: the script alone travels and runs in the session's directory, the remote HOME (a synced
    # project's copy is the other case, above)
    ssh = ["--ssh-config", str(isolated_ssh_hosts.ssh_config), "--remote-python", remote_python, "--no-workdir"]
    gets = ["--get", f"{mine}/out", "--get", f"{mine}/log.txt", "--get", "nope.csv", "--get-to", str(tmp_path / "back")]
    result = subprocess.run(
        [
            *remrepl_command(),
            "exec",
            "--launch=ssh://target",
            *ssh,
            *gets,
            "--get-to",
            str(tmp_path / "back"),
            "job.py",
        ],
        cwd=project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (3, "wrote them\n"), result.stderr
    assert result.stderr == "remrepl: --get nope.csv: no such file on the remote\n"
    assert landed(tmp_path / "back") == {"out/result.txt": "result of \n", "log.txt": "the log\n"}
    assert (remote_scratch / "log.txt").stat().st_uid == remote_user.uid  # written there, by that user
