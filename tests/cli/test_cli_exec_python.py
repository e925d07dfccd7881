"""``remrepl exec FILE`` is ``python FILE``: each script run here and through a kept server, in the same
test, with the same stdin, compared (stdout bytes, stderr, exit status); and what an exec leaves alone."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import RUN_TIMEOUT, remrepl_command
from tests.support.processes import leftover_servers, terminate
from tests.support.servers import RunningServer

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


class Both:
    """Runs a script with ``python`` and with ``remrepl exec`` on the test's server, in the same folder."""

    def __init__(self, server: RunningServer, password_file: Path, folder: Path) -> None:
        self.server, self.password_file, self.folder = server, password_file, folder

    def write(self, source: str, name: str = "job.py") -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def python(self, path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return self._run([sys.executable, path.name, *args], stdin)

    def exec(self, path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        where = ["--connection-file", str(self.server.connection_file), "--password-file", str(self.password_file)]
        return self._run([*remrepl_command(), "exec", *where, path.name, *args], stdin)

    def _run(self, command: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            command, input=stdin, capture_output=True, cwd=self.folder, timeout=RUN_TIMEOUT, check=False
        )

    def same(self, path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run both; assert the same stdout, stderr and exit status; remrepl's result."""
        local, remote = self.python(path, *args, stdin=stdin), self.exec(path, *args, stdin=stdin)
        assert remote.stdout == local.stdout, remote.stderr.decode()
        assert remote.stderr.decode() == local.stderr.decode()
        assert remote.returncode == local.returncode, remote.stderr.decode()
        return remote


@pytest.fixture
def both(server: RunningServer, password_file: Path, tmp_path: Path) -> Both:
    return Both(server, password_file, tmp_path)


# --- what the script sees -----------------------------------------------------------------------------

SEES = """\
import json, os, sys
import helper  # next to the script: sys.path[0] is the script's directory
main = sys.modules["__main__"]
print(json.dumps({
    "name": __name__,
    "file": __file__,
    "spec": repr(__spec__),
    "cached": repr(__cached__),
    "builtins": type(__builtins__).__name__,
    "argv": sys.argv,
    "orig_argv": sys.orig_argv[1:],
    "path0": sys.path[0],
    "main_is_this": main.__dict__ is globals(),
    "loader": type(__loader__).__name__,
    "helper": helper.WHERE,
    "cwd": os.getcwd(),
}))
"""


def test_the_script_sees_what_python_sets(both: Both) -> None:
    both.write("import os\nWHERE = os.path.dirname(os.path.abspath(__file__))\n", name="helper.py")
    result = both.same(both.write(SEES), "--flag", "value with space")
    seen = json.loads(result.stdout)
    assert seen["file"] == str(both.folder / "job.py") and seen["path0"] == str(both.folder)
    assert seen["argv"] == ["job.py", "--flag", "value with space"] and seen["spec"] == "None"


def test_a_traceback_shows_the_script_s_frames_only(both: Both) -> None:
    path = both.write("def check(v):\n    raise ValueError(v)\n\ncheck(7)\n")
    result = both.same(path)
    assert b"remrepl" not in result.stderr


def test_sys_exit_with_a_message(both: Both) -> None:
    both.same(both.write("import sys\nprint('out')\nsys.exit('giving up')\n"))


def test_two_execs_in_a_row_share_no_modules_and_no_sys_path(both: Both) -> None:
    first = both.write(
        """\
        import os, sys, types
        sys.path.append("/a-marker-dir")
        sys.modules["a_marker_module"] = types.ModuleType("a_marker_module")
        print(os.getpid())
        """,
        name="first.py",
    )
    second = both.write(
        "import os, sys\nprint(os.getpid(), '/a-marker-dir' in sys.path, 'a_marker_module' in sys.modules)\n",
        name="second.py",
    )
    one = both.exec(first)
    two = both.exec(second)
    assert one.returncode == two.returncode == 0, two.stderr
    pid, in_path, in_modules = two.stdout.split()
    assert (in_path, in_modules) == (b"False", b"False")
    assert int(pid) != int(one.stdout)


# --- python's end -------------------------------------------------------------------------------------


def test_atexit_handlers_run_and_threads_are_joined_before_the_status_comes_back(both: Both) -> None:
    path = both.write(
        """\
        import atexit, sys, threading, time
        atexit.register(lambda: print("atexit handler"))
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        print("script body ends")
        sys.exit(4)
        """
    )
    result = both.same(path)
    assert result.returncode == 4 and result.stdout.endswith(b"thread finished\natexit handler\n")


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_with_spawn_and_forkserver(both: Both, method: str) -> None:
    path = both.write(
        """\
        import multiprocessing, sys

        def square(x):
            return x * x

        if __name__ == "__main__":
            with multiprocessing.get_context(sys.argv[1]).Pool(2) as pool:
                print(pool.map(square, range(6)))
        """
    )
    assert both.same(path, method).stdout == b"[0, 1, 4, 9, 16, 25]\n"


# --- standard input -----------------------------------------------------------------------------------

READS = """\
import sys
print(repr(sys.stdin.read(3)), sys.stdin.fileno(), sys.stdin.encoding)
print(repr(input("prompt> ")))
print(repr(sys.stdin.buffer.read()))
try:
    input()
except EOFError:
    print("EOF")
"""


def test_stdin_is_a_real_file_with_exact_bytes(both: Both) -> None:
    both.same(both.write(READS), stdin=b"abcline one\nno newline at the end")


def test_binary_stdin_through_gzip_gives_the_same_bytes(both: Both) -> None:
    data = os.urandom(300_000) + b"\n" * 1000
    path = both.write("import gzip, sys\nsys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))\n")
    assert both.same(path, stdin=gzip.compress(data)).stdout == data


def test_a_big_input_streams_through(both: Both) -> None:
    """More than the flow-control window many times over, read in pieces."""
    path = both.write(
        """\
        import hashlib, sys
        digest, size = hashlib.sha256(), 0
        while chunk := sys.stdin.buffer.read(1 << 15):
            digest.update(chunk)
            size += len(chunk)
        print(size, digest.hexdigest())
        """
    )
    both.same(path, stdin=os.urandom(1 << 20) * 24)


def test_a_script_that_never_reads_its_big_stdin_ends(both: Both) -> None:
    both.same(both.write("print('not reading')\n"), stdin=b"x" * (8 << 20))


# --- crashes ------------------------------------------------------------------------------------------


def test_os_exit_gives_its_status(both: Both) -> None:
    both.same(both.write("import os\nprint('bye', flush=True)\nos._exit(7)\n"))


@pytest.mark.parametrize(
    "source",
    [
        "import ctypes\nctypes.string_at(0)\n",  # a segfault
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    ],
)
def test_a_script_killed_by_a_signal_exits_as_a_shell_shows_it_and_the_server_survives(both: Both, source: str) -> None:
    path = both.write(source)
    local, remote = both.python(path), both.exec(path)
    assert local.returncode < 0
    assert remote.returncode == 128 - local.returncode, remote.stderr
    after = both.exec(both.write("print('next')\n", name="next.py"))
    assert (after.returncode, after.stdout) == (0, b"next\n")
    assert both.server.process.poll() is None


# --- the attached session -----------------------------------------------------------------------------


def test_an_exec_leaves_the_attached_session_and_its_namespace_alone(both: Both) -> None:
    session = both.server.connect()
    try:
        assert session.run("x = 41; import sys; sys.path.append('/session-marker')").ok
        path = both.write(
            """\
            import sys
            print("x" in globals(), "/session-marker" in sys.path)
            x = "the script's"
            sys.path.append("/script-marker")
            """
        )
        result = both.exec(path)
        assert (result.returncode, result.stdout) == (0, b"False False\n"), result.stderr
        after = session.run("x + 1, '/script-marker' in sys.path, '/session-marker' in sys.path")
        assert after.value == "(42, False, True)"
        assert after.stdout == "" and after.notices == []  # nothing of the exec reached this client
        assert not session.closed
    finally:
        session.close()


def test_an_exec_runs_while_the_attached_session_is_busy(both: Both, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    session = both.server.connect()
    try:
        running = session.execute(
            f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n    time.sleep(0.02)\nprint('done')"
        )
        result = both.exec(both.write(f"open({str(flag)!r}, 'w').close()\nprint('made it')\n"))
        assert (result.returncode, result.stdout) == (0, b"made it\n"), result.stderr
        running.wait(30)
        assert running.done is not None and running.done.status == "ok"
    finally:
        session.close()


def test_a_module_next_to_the_script_wins_over_the_standard_library_s_as_with_python(both: Both) -> None:
    """sys.path[0] is the script's directory for the kernel's import path too: its ``csv.py`` is the one
    imported (the kernel itself never imports from there)."""
    both.write("X = 'the csv.py next to the script'\n", name="csv.py")
    result = both.same(both.write("import csv, json\nprint(csv.X, json.dumps([1]))\n"))
    assert result.stdout == b"the csv.py next to the script [1]\n"
