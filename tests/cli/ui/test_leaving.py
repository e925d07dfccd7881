"""What the banner and ``%help`` say leaving does, for each way ``connect`` reaches a server.

The command line is parsed by the real parser and the records are real ones; that leaving really does
it (the server gone or still there) is checked in a terminal by test_leaving_terminal.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prompt_toolkit.history import InMemoryHistory

from remrepl.cli.commands import leaving_of
from remrepl.cli.parser import build_parser, normalise
from remrepl.cli.ui import Repl
from remrepl.cli.ui.leaving import Leaving
from remrepl.client.session import Session
from remrepl.launchers import records
from remrepl.launchers.local import LocalLauncher
from tests.support.servers import RunningServer

STOPS = "leaves and stops the server (it was launched for this session without --keep)"
DETACHES = "detaches: the server, its namespace and any run keep going"


def _leaving(*argv: str, launched: bool = False) -> str:
    args = build_parser().parse_args(normalise(["connect", *argv]))
    return leaving_of(args, launched).describe()


@pytest.fixture
def kept(launcher: LocalLauncher) -> Iterator[records.SessionRecord]:
    """A launched server saved as session ``work``, as ``connect --launch --keep --name work`` leaves it."""
    assert launcher.info is not None
    record = records.save(
        launcher.info, target=launcher.target, launcher=records.LauncherData.of(launcher), name="work"
    )
    yield record
    records.remove(record.name)


def test_a_launch_without_keep_stops_the_server() -> None:
    assert _leaving("--launch", launched=True) == STOPS
    assert _leaving("--launch", "ssh://example.org", launched=True) == STOPS


def test_a_launch_with_keep_detaches_and_names_the_session_when_it_can() -> None:
    assert _leaving("--launch", "--keep", launched=True) == (
        "detaches: the server keeps running as a session (`remrepl ls` lists it)"
    )
    assert _leaving("--launch", "--keep", "--name", "work", launched=True) == (
        "detaches: the server keeps running as session work (`remrepl connect work` comes back)"
    )


def test_a_kept_session_detaches_by_name_or_by_its_record(kept: records.SessionRecord) -> None:
    by_name = "detaches: the server keeps running as session work (`remrepl connect work` comes back)"
    assert _leaving("work") == by_name
    assert _leaving("--connection-file", str(records.path_of("work"))) == by_name


def test_a_served_server_detaches(server: RunningServer) -> None:
    assert _leaving("--connection-file", str(server.connection_file)) == DETACHES


@pytest.mark.parametrize("leaving", [Leaving(stops_server=True), Leaving(session="work"), Leaving()])
def test_the_banner_says_what_ctrl_d_and_exit_do(session: Session, leaving: Leaving) -> None:
    banner = Repl(session, InMemoryHistory(), leaving=leaving).banner("local").splitlines()
    assert banner[0].startswith("remrepl: connected to local (")
    assert banner[1] == f"Ctrl-D or exit() {leaving.describe()}."
    assert banner[2] == "Ctrl-C interrupts (twice: offers a restart), %shutdown stops the server, %help lists magics."


def test_help_ends_with_what_leaving_does(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    from remrepl.cli.ui.magics import run_magic

    repl = Repl(session, InMemoryHistory(), leaving=Leaving(stops_server=True))
    assert run_magic(repl, "%help") is None
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.split() == ["Ctrl-D", "or", "exit(),", "%exit", *STOPS.split()]
