"""Recovery the user controls: a forced restart ends code that will not stop, a dead or restarted kernel
takes its whole process tree with it, and planning a big download never holds up the server's loop."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from remrepl import LocalProtocolError
from remrepl.client.session import Session
from remrepl.protocol import CancelTransfer, Done, Download, Notice, Stream, TransferReady
from tests.support.processes import alive, stat_fields
from tests.support.servers import RunningServer
from tests.support.waiting import wait_until

WAIT = 20.0

# --- a forced restart ----------------------------------------------------------------------------


def start_spinning(session: Session, code: str) -> str:
    """Run ``code`` (which prints "spinning" and then never returns); its req_id once it has printed."""
    execution = session.execute(code)
    deadline = time.monotonic() + WAIT
    while True:
        event = session.next_event(deadline - time.monotonic())
        if isinstance(event, Stream) and b"spinning" in event.data:
            return execution.req_id
        assert not isinstance(event, Done), event
        assert time.monotonic() < deadline, "the code never started"


@pytest.mark.parametrize(
    "code",
    [
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('spinning', flush=True)\nwhile True: pass",
        "print('spinning', flush=True); sum(range(10**10))",  # stuck in C: a KeyboardInterrupt waits for it
    ],
    ids=["ignores-sigint", "stuck-in-c"],
)
def test_a_forced_restart_ends_code_that_will_not_stop(session: Session, code: str) -> None:
    old_pid = session.run("import os; os.getpid()").value
    req_id = start_spinning(session, code)
    with pytest.raises(LocalProtocolError):
        session.restart()  # a plain restart waits for the run to end, as before
    restart = session.restart(force=True)
    events = list(restart.events(WAIT))
    killed = [e for e in events if isinstance(e, Done) and e.req_id == req_id]
    assert len(killed) == 1 and killed[0].status == "died", events
    assert any(isinstance(e, Notice) and "killed" in e.text for e in events), events
    assert restart.done is not None and restart.done.status == "ok"
    assert session.run("1 + 1").value == "2"
    assert session.run("import os; os.getpid()").value != old_pid


def test_ctrl_c_while_the_interpreter_starts_cancels_the_run_and_kills_nothing(session: Session) -> None:
    # After a restart the new kernel is still importing when the next run arrives: the run waits for it,
    # and a SIGINT then would kill an interpreter that has no handler yet ("died", a Notice, a new kernel).
    session.restart().wait(WAIT)
    execution = session.execute("started = True")
    execution.interrupt()
    events = list(execution.events(WAIT))
    done = execution.done
    assert done is not None and done.status == "interrupted", events
    assert not any(isinstance(e, Notice) for e in events), events
    assert session.run("1 + 1").value == "2"
    assert "NameError" in str(session.run("started").error)  # the cancelled run never ran


# --- the kernel's process tree ---------------------------------------------------------------------

ESCAPER = "import os, subprocess; p = subprocess.Popen(['sleep', '300'], start_new_session=True); print(p.pid)"
SPAWN = f"""\
import subprocess, sys
children = [subprocess.Popen(["sleep", "300"]) for _ in range(50)]
# a child whose own child leaves the kernel's process group and session (setsid)
escaper = subprocess.Popen([sys.executable, "-c", {ESCAPER + "; os.pause()"!r}], stdout=subprocess.PIPE, text=True)
grandchild = int(escaper.stdout.readline())
print(*[c.pid for c in children], escaper.pid, grandchild)
"""


def spawn_tree(session: Session) -> list[tuple[int, str]]:
    """Make the kernel start its 52 processes; (pid, start time) of each, so a reused pid is not mistaken."""
    result = session.run(SPAWN, timeout=WAIT)
    assert result.ok, result
    pids = [int(word) for word in result.stdout.split()]
    assert len(pids) == 52
    assert os.getsid(pids[-1]) != os.getsid(pids[0])  # the grandchild did escape the kernel's session
    return [(pid, stat_fields(pid)[19]) for pid in pids]


def left_alive(tree: list[tuple[int, str]]) -> list[int]:
    return [pid for pid, started in tree if alive(pid) and stat_fields(pid)[19:20] == [started]]


def wait_gone(tree: list[tuple[int, str]]) -> None:
    wait_until(lambda: not left_alive(tree), WAIT, "the process tree to end")


def zombie_children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and stat_fields(int(p))[:2] == ["Z", str(pid)]]


@pytest.mark.parametrize("how", ["dies", "restart", "forced-restart", "shutdown"])
def test_the_kernels_whole_process_tree_goes_with_it(server: RunningServer, how: str) -> None:
    with server.connect() as session:
        tree = spawn_tree(session)
        if how == "dies":
            result = session.run("import os; os._exit(1)", timeout=WAIT)
            assert result.status == "died"
        elif how == "restart":
            session.restart().wait(WAIT)
        elif how == "forced-restart":
            start_spinning(session, "print('spinning', flush=True)\nwhile True: pass")
            session.restart(force=True).wait(WAIT)
        else:
            session.shutdown()
        wait_gone(tree)
        if how != "shutdown":
            assert session.run("1 + 1").value == "2"
            # the orphans the server adopted were reaped, not left as zombies
            wait_until(lambda: not zombie_children(server.process.pid), WAIT, "the adopted orphans to be reaped")


# --- planning a big download ------------------------------------------------------------------------

TREE_FILES = 20_000  # about 0.4 s to plan here; a 1 + 1 takes a few milliseconds


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big-tree")
    for d in range(TREE_FILES // 1000):
        folder = root / f"d{d:02d}"
        folder.mkdir()
        for f in range(1000):
            os.close(os.open(folder / f"f{f:04d}", os.O_WRONLY | os.O_CREAT, 0o600))
    return root


def test_planning_a_big_download_does_not_hold_up_the_loop(session: Session, big_tree: Path) -> None:
    xfer_id = uuid.uuid4().hex
    inbox = session._transfers.open(xfer_id)
    try:
        session.send(Download(xfer_id, str(big_tree)))
        run = session.execute("1 + 1")
        deadline = time.monotonic() + WAIT
        while True:
            assert time.monotonic() < deadline, "1 + 1 did not answer"
            event = session.next_event(0.05)
            if isinstance(event, Done) and event.req_id == run.req_id:
                break
        # the answer came while the tree was still being planned: nothing of the download had arrived
        assert not inbox, list(inbox)
        while not inbox:
            assert time.monotonic() < deadline, "the download never became ready"
            session.next_event(0.05)
        assert isinstance(inbox[0], TransferReady), inbox[0]
        session.send(CancelTransfer(xfer_id, "the test is over"))
    finally:
        session._transfers.close(xfer_id)
    assert session.run("2 + 2").value == "4"
