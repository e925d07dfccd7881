"""A script run's results through the Python API: ``Session.run_script(get=...)`` and
``Session.fetch_results`` download what the run wrote, from the directory it ran in (``RunResult.cwd``,
the server's ``Done.cwd``), after every end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from remrepl import ExecutionTimeout, Session
from remrepl.client.results import MISSING, OLD_SERVER, Fetched, fetch, remote_path
from remrepl.client.script import start_script
from remrepl.client.session_transfers import SessionTransfers
from remrepl.launchers import LocalLauncher

pytestmark = pytest.mark.server

WRITES = """\
import os
os.makedirs("out", exist_ok=True)
open("out/result.txt", "w").write("42")
open("log.txt", "w").write("the log")
"""


def test_remote_paths_start_in_the_runs_directory() -> None:
    assert remote_path("out/x.csv", "/srv/run") == "/srv/run/out/x.csv"
    assert remote_path("/abs/x", "/srv/run") == "/abs/x"
    assert remote_path("~/x", "/srv/run") == "~/x"  # the server's HOME, as %download says it
    assert remote_path("x", "") == "x"  # unknown: the server resolves it against the same directory


def test_an_older_server_is_one_line_per_path() -> None:
    """A server without ``Welcome.script_transfers`` would refuse the transfer: nothing is asked of it."""
    link = SessionTransfers(lambda event: None, lambda timeout: [])
    assert fetch(link, ["out", "log.txt"], base="/srv", supported=False) == [
        Fetched("out", error=OLD_SERVER),
        Fetched("log.txt", error=OLD_SERVER),
    ]


def test_run_script_gets_the_files_of_a_failed_run_from_where_it_ran(session: Session, tmp_path: Path) -> None:
    """A script the server does not have (as on another machine) runs in the session's working directory,
    which the result names; its files come back even though it failed."""
    remote = tmp_path / "remote"
    remote.mkdir()
    assert session.run(f"import os; os.chdir({str(remote)!r})").ok
    local = tmp_path / "local"
    result = session.run_script(
        "/not/here/job.py", source=WRITES + "raise SystemExit(3)\n", get=["out", "log.txt", "nope.csv"], get_to=local
    )
    assert (result.exit_code, result.cwd) == (3, str(remote)), result.stderr
    assert [Path(d.target) for d in result.downloads] == [local / "out", local / "log.txt"]
    assert (local / "out" / "result.txt").read_text() == "42" and (local / "log.txt").read_text() == "the log"
    assert result.download_errors == {"nope.csv": MISSING}


def test_after_a_timeout_the_files_are_fetched_before_it_is_raised(session: Session, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    assert session.run(f"import os; os.chdir({str(remote)!r})").ok
    with pytest.raises(ExecutionTimeout):
        session.run_script(
            "/not/here/spin.py", source=WRITES + "while True:\n    pass\n", timeout=2, get=["log.txt"], get_to=tmp_path
        )
    assert (tmp_path / "log.txt").read_text() == "the log"


def test_fetch_results_on_a_script_connection(
    launcher: LocalLauncher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lower-level way: a script connection, a run, then ``fetch_results`` (one ``Fetched`` each). The
    server has the very file: it runs where the client is."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    job = tmp_path / "job.py"
    job.write_text(WRITES)
    with launcher.connect(script=True) as runner:
        assert runner.welcome is not None and runner.welcome.script_transfers
        start_script(runner, str(job), job.read_text()).wait(30)
        assert runner.run_cwd == str(tmp_path / "work")  # the server said where it ran
        fetched = runner.fetch_results([f"{runner.run_cwd}/log.txt", "missing"], tmp_path / "back")
    assert fetched[0].result is not None and (tmp_path / "back" / "log.txt").read_text() == "the log"
    assert (fetched[1].result, fetched[1].missing, fetched[1].error) == (None, True, MISSING)
