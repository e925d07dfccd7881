"""Script runs through the Python API (``Session.run_script``, the path ``exec`` takes): a script the
server does not have runs from a private copy, and every run is a fresh interpreter beside the session's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remrepl.client.session import Session
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server

WHERE = """\
import json, os, stat, sys
here = os.path.dirname(__file__)
print(json.dumps({
    "file": __file__, "argv0": sys.argv[0], "path0": sys.path[0],
    "mode": stat.S_IMODE(os.stat(here).st_mode), "sibling": sorted(os.listdir(here)),
}))
"""


def test_a_script_the_server_does_not_have_runs_from_a_private_copy_that_goes_afterwards(
    session: Session, state_dir: Path
) -> None:
    """As on another machine: the named file is not there (or not the same), so its text is copied into a
    0700 directory of the server's state directory, which is gone after the run."""
    result = session.run_script("/no/such/dir/job.py", ["a"], source=WHERE)
    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout)
    copy = Path(seen["file"])
    assert copy.name == "job.py" and copy.parent.parent == state_dir / "scripts"
    assert seen["argv0"] == seen["file"] and seen["path0"] == str(copy.parent)
    assert seen["mode"] == 0o700 and seen["sibling"] == ["job.py"]
    wait_until(lambda: not copy.parent.exists(), 10, "the copy to be removed once its interpreter ended")


def test_a_changed_local_file_is_not_taken_for_the_script(session: Session, tmp_path: Path) -> None:
    """The server runs the file it sees only when it holds exactly the text the client sent."""
    path = tmp_path / "job.py"
    path.write_text("print('the file on disk')\n")
    result = session.run_script(path, source="print(__file__ == " + repr(str(path)) + ")\n")
    assert (result.exit_code, result.stdout) == (0, "False\n"), result.stderr


def test_the_session_and_a_script_run_are_different_interpreters(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "pid.py"
    path.write_text("import os\nprint(os.getpid(), os.getppid())\n")
    kernel = int(session.run("import os; print(os.getpid())").stdout)
    pid, parent = map(int, session.run_script(path).stdout.split())
    assert pid != kernel and parent != kernel
    assert session.run("os.getpid()").value == str(kernel)  # the session's interpreter is still the same
