"""Side requests against a real server: completion while a run goes on, help, objects both ways, restart,
and a side connection that never takes the session over."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import zmq

from remrepl import ObjectError, SessionClosed
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import (
    Connection,
    Done,
    Download,
    Execute,
    Hello,
    Interrupt,
    Notice,
    Rejected,
    Role,
    Upload,
    Welcome,
)
from remrepl.protocol.side_channel import Unpacker, pack_frames
from remrepl.transport import KeyPair, client_socket, tcp_endpoint

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def test_completion_is_answered_before_a_long_run_ends(session: Session) -> None:
    session.run("only_remote_name = 1")
    execution = session.execute("import time; time.sleep(5)")
    reply = session.complete("only_remote_n")
    assert reply.matches == ("only_remote_name",) and reply.start == 0
    assert execution.done is None  # the run's Done has not even been read: it has not come
    done = execution.wait(20)
    assert done.status == "ok"


@pytest.mark.parametrize("jedi", [True, False], ids=["jedi", "no-jedi"])
def test_completion_of_an_attribute_of_a_literal_with_and_without_jedi(session: Session, jedi: bool) -> None:
    if not jedi:
        session.run("import sys; sys.modules['jedi'] = None")  # the kernel's import of jedi now fails
    reply = session.complete('"abc".up')
    assert (reply.start, reply.matches) == (6, ("upper",))  # once "abc".upArithmeticError without jedi
    reply = session.complete("import col")
    assert "collections" in [m.rsplit(".", 1)[-1] for m in reply.matches]


def test_jedi_loads_on_the_first_completion_not_when_the_kernel_starts(session: Session) -> None:
    assert session.run("import sys; 'jedi' in sys.modules").value == "False"  # the kernel starts fast
    assert "bit_length" in session.complete("len('x').bit_len").matches  # what jedi infers (a call's result)
    assert session.run("'jedi' in sys.modules").value == "True"


def test_remote_paths_complete_relative_to_the_interpreters_working_directory(session: Session, tmp_path: Path) -> None:
    (tmp_path / "data dir").mkdir()
    (tmp_path / "data dir" / "a.txt").write_text("")
    (tmp_path / "data.csv").write_text("")
    (tmp_path / ".hidden").write_text("")
    session.run(f"import os; os.chdir({str(tmp_path)!r})")
    reply = session.complete_path("data")
    assert reply.matches == ("data dir/", "data.csv") and reply.kinds == ("directory", "file")
    assert session.complete_path("data dir/").matches == ("data dir/a.txt",)
    assert session.complete_path("data", directories_only=True).matches == ("data dir/",)
    assert session.complete_path(".h").matches == (".hidden",)
    assert ".hidden" not in session.complete_path("").matches
    assert session.complete_path("no/such/").matches == ()


def test_completion_is_answered_while_the_main_thread_spins(session: Session) -> None:
    session.run("import collections")
    execution = session.execute("while True: pass")
    try:
        assert "OrderedDict" in [m.rsplit(".", 1)[-1] for m in session.complete("collections.Ord").matches]
    finally:
        execution.interrupt()
    assert execution.wait(20).status == "interrupted"


def test_completion_from_another_thread_while_the_main_one_reads_output(session: Session) -> None:
    session.run("value_for_the_thread = 1")
    answers: list[tuple[str, ...]] = []
    thread = threading.Thread(target=lambda: answers.append(session.complete("value_for_").matches))
    execution = session.execute("import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.1)")
    thread.start()
    result = list(execution)
    thread.join(20)
    assert answers == [("value_for_the_thread",)]
    assert isinstance(result[-1], Done) and result[-1].status == "ok"


def test_help_on_a_function_defined_at_the_prompt(session: Session) -> None:
    session.run("def area(r):\n    'The area of a circle.'\n    return 3.14 * r * r")
    reply = session.inspect("area")
    assert reply.found and "Signature: area(r)" in reply.text and "The area of a circle." in reply.text
    assert "return 3.14" not in reply.text
    assert "return 3.14 * r * r" in session.inspect("area", detail=1).text
    missing = session.inspect("no_such_name")
    assert not missing.found and "not found" in missing.text


def test_help_does_not_wait_on_a_pager(session: Session) -> None:
    result = session.run("help(len)", timeout=20)
    assert result.ok and "Return the number of items in a container." in result.stdout


def test_objects_round_trip_a_dict_and_a_lambda(session: Session) -> None:
    session.put("data", {"alpha": [1, 2], "beta": None})
    session.put("triple", lambda x: x * 3)  # defined here, not importable there: travels by value
    assert session.run("data['alpha'] + [triple(2)]").value == "[1, 2, 6]"
    session.run("square = lambda x: x * x\nremote_dict = {'k': square(4)}")
    assert session.get("remote_dict") == {"k": 16}
    square = session.get("square")
    assert callable(square) and square(5) == 25


def test_getting_a_missing_or_unpicklable_object_says_so(session: Session) -> None:
    with pytest.raises(ObjectError, match="'nothing_here' is not defined"):
        session.get("nothing_here")
    session.run("import threading; lock = threading.Lock()")
    with pytest.raises(ObjectError, match="cannot pickle 'lock'"):
        session.get("lock")


def test_an_object_too_big_for_one_message_is_refused_clearly_both_ways(session: Session) -> None:
    """A pickle over the socket's message cap would make libzmq drop the connection (the call then hangs
    until its timeout): it is refused with a clear error instead, and the session goes on."""
    session.run("big = b'x' * (70 << 20)")
    with pytest.raises(ObjectError, match="too big"):
        session.get("big", timeout=30)
    with pytest.raises(ObjectError, match="too big"):
        session.put("big_too", b"y" * (70 << 20), timeout=30)
    assert session.run("'big_too' in dir(), len(big)").value == f"(False, {70 << 20})"
    assert session.complete("pri").matches[:1] == ("print",)


def test_putting_an_unpicklable_object_changes_nothing(session: Session) -> None:
    session.run("kept = 'before'")
    with pytest.raises(ObjectError, match="cannot pickle"):
        session.put("kept", threading.Lock())
    with pytest.raises(ObjectError, match="not a valid Python name"):
        session.put("not a name", 1)
    assert session.run("kept").value == "'before'"


class _FailsRemotely:
    """Unpickles into an exception on the remote side."""

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (int, ("not a number",))


def test_an_object_that_cannot_be_unpickled_remotely_changes_nothing(session: Session) -> None:
    session.run("kept = 'before'")
    with pytest.raises(ObjectError, match="cannot unpickle 'kept' on the remote side"):
        session.put("kept", _FailsRemotely())
    assert session.run("kept").value == "'before'"


class _ExitsWhenUnpickled:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (sys.exit, (0,))


def test_an_object_that_raises_system_exit_when_unpickled_leaves_the_side_thread_alive(session: Session) -> None:
    with pytest.raises(ObjectError, match="cannot unpickle 'x' on the remote side \\(SystemExit"):
        session.put("x", _ExitsWhenUnpickled())
    assert session.complete("pri").matches[:1] == ("print",)


class _KillsTheKernel:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (os._exit, (3,))


def test_a_side_request_outstanding_when_the_kernel_dies_is_answered(session: Session) -> None:
    with pytest.raises(ObjectError, match="went away"):
        session.put("x", _KillsTheKernel())
    notices = [e for e in iter(lambda: session.next_event(5), None) if isinstance(e, Notice)]
    assert any("died" in n.text for n in notices)
    assert session.run("1 + 1").value == "2"
    assert session.complete("pri").matches[:1] == ("print",)


def test_restart_gives_a_fresh_interpreter(session: Session) -> None:
    session.run("x = 1")
    old_pid = session.run("import os; os.getpid()").value
    events = list(session.restart())
    assert any(isinstance(e, Notice) and "restarted" in e.text for e in events)
    assert isinstance(events[-1], Done) and events[-1].status == "ok"
    assert session.run("x").error is not None
    assert session.run("import os; os.getpid()").value != old_pid
    assert session.complete("pri").matches[:1] == ("print",)


def raw_side(launcher: LocalLauncher) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes], Connection]:
    assert launcher.info is not None
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    keys = KeyPair.from_secret(launcher.info.client_secret_key)
    sock = client_socket(ctx, launcher.info.server_public_key, keys, b"raw-side")
    sock.connect(tcp_endpoint(launcher.info.host, launcher.info.port))
    conn = Connection(Role.CLIENT)
    assert sock.poll(10_000, zmq.POLLOUT)
    sock.send_multipart(conn.send(Hello(side=True)))
    assert sock.poll(10_000)
    assert isinstance(conn.receive(sock.recv_multipart()), Welcome)
    return ctx, sock, conn


def test_a_side_connection_does_not_take_the_session_over(launcher: LocalLauncher, session: Session) -> None:
    session.run("x = 41")
    ctx, sock, conn = raw_side(launcher)
    try:
        assert session.run("x + 1").value == "42"  # the attached client got no Bye
        sock.send_multipart(conn.send(Execute("sneaky", "x = 0")))  # a side connection runs nothing
        assert sock.poll(10_000)
        reply = conn.receive(sock.recv_multipart())
        assert isinstance(reply, Rejected) and reply.code == "protocol" and "side connection" in reply.message
        assert session.run("x").value == "41"
    finally:
        sock.close(linger=0)
        ctx.term()


def test_a_side_connection_moves_no_files_and_sees_no_output(
    launcher: LocalLauncher, session: Session, tmp_path: Path
) -> None:
    """Transfers, interrupts and output belong to the attached client: a side connection's Upload or
    Download is refused (nothing is written or read), and the session's output never reaches it."""
    ctx, sock, conn = raw_side(launcher)
    try:
        secret = tmp_path / "secret.txt"
        secret.write_text("not for side connections")
        for request in (
            Upload("x1", str(tmp_path), "planted.txt", "file", 3),
            Download("x2", str(secret)),
            Interrupt(),
        ):
            sock.send_multipart(conn.send(request))
            assert sock.poll(10_000)
            reply = conn.receive(sock.recv_multipart())
            assert isinstance(reply, Rejected) and "side connection" in reply.message, request
        assert session.run("print('only for the attached client')").error is None
        assert not (tmp_path / "planted.txt").exists()
        assert not sock.poll(300)  # nothing else came: no output, no transfer events
    finally:
        sock.close(linger=0)
        ctx.term()


def test_side_requests_on_a_closed_session_fail_cleanly(launcher: LocalLauncher) -> None:
    session = launcher.connect()
    assert session.complete("pri").matches[:1] == ("print",)
    session.close()
    with pytest.raises(SessionClosed):
        session.complete("pri")


def test_without_jedi_the_standard_library_completes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A kernel where ``import jedi`` fails (a shadowing package first on its path) falls back to rlcompleter
    and friends, end to end."""
    shadow = tmp_path / "no-jedi" / "jedi"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("jedi is hidden for this test")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]))
    with LocalLauncher() as launcher, launcher.connect() as session:
        session.run("import collections; settings = {'alpha': 1}")
        assert session.run("import jedi").error is not None  # really not importable there
        reply = session.complete("collections.Ord")
        assert (reply.matches, reply.start) == (("OrderedDict",), len("collections."))  # the attribute, as jedi
        assert session.complete("[1].ap").matches == ("append",)  # not [1].apArithmeticError
        reply = session.complete("settings['al")
        assert reply.matches == ("'alpha'",) and reply.start == len("settings[")
        assert "collections" in session.complete("import collec").matches


def test_garbage_on_the_kernel_side_channel_does_not_take_the_supervisor_down(session: Session) -> None:
    """User code can write to the kernel's side socket (its fd is on the kernel's command line): the
    supervisor drops what it cannot read, fails what was pending, and the session goes on."""
    code = (
        "import os\n"
        "_fd = int(open('/proc/self/cmdline', 'rb').read().split(b'main(')[1].split(b')')[0].split(b',')[1])\n"
        "os.write(_fd, b'\\x00\\x00\\x00\\x05hello')"
    )
    assert session.run(code).error is None
    assert session.run("6 * 7").value == "42"
    assert session.complete("pri").matches[:1] == ("print",)


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\xff\xff\xff\xff",  # a 4 GiB header would be waited for (and buffered)
        b"\x00",  # a message of no frames
        b"\x09",  # more frames than any message has
        b"\x02\x00\x00\x00\x02{}\xff\xff\xff\xff",  # a 4 GiB payload
        b"\x02\x00\x00\x00\x02{}\x05\xf5\xe1\x00",  # 100 MB, over the bound
    ],
)
def test_the_side_unpacker_refuses_malformed_messages_at_once(data: bytes) -> None:
    unpacker = Unpacker()
    with pytest.raises(ValueError, match="malformed"):
        unpacker.feed(data)
    assert unpacker.feed(pack_frames([b'{"id": "1"}', b"ok"])) == [[b'{"id": "1"}', b"ok"]]  # and reads on
