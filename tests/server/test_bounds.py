"""Attacks that used to end the supervisor or wedge the session, against a real server process.

After each one a fresh client must get ``1+1`` -> ``2`` and find the name the attacked session
defined before: the server lives and the namespace (the user's data) survives.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from remrepl import ExecutionTimeout, TransferError
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Connection, Done, Hello, InputReply, InputRequest, Rejected, Role, Welcome, decode
from remrepl.protocol.codec import MAX_HEADER_BYTES
from tests.support.cli import remrepl_command
from tests.support.servers import RunningServer, raw_client
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

RUN = 60.0  # an upper bound for one run, so a hang fails the test instead of blocking it


def attacked(launcher: LocalLauncher) -> Session:
    session = launcher.connect()
    assert session.run("canary = 'alive'").ok
    return session


def assert_intact(launcher: LocalLauncher) -> None:
    assert launcher.process is not None and launcher.process.poll() is None, "the server died"
    with launcher.connect() as fresh:
        assert fresh.run("1 + 1", timeout=RUN).value == "2"
        assert fresh.run("canary", timeout=RUN).value == "'alive'"


# --- 1. big results -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("'x' * 2_000_000", repr("x" * 2_000_000)),
        ("list(range(300_000))", repr(list(range(300_000)))),
        ("'\\U0001f600' * 200_000", repr("\U0001f600" * 200_000)),  # 12 header bytes per character
    ],
)
def test_a_huge_repr_arrives_whole(launcher: LocalLauncher, code: str, expected: str) -> None:
    with attacked(launcher) as session:
        result = session.run(code, timeout=RUN)
        assert result.ok
        assert "".join(r + "\n" for r in result.results) + result.stdout == expected + "\n"  # as python prints
        assert session.run("2 + 2", timeout=RUN).value == "4"
    assert_intact(launcher)  # the fresh client is replayed the big output too


def test_many_results_arrive_in_order(launcher: LocalLauncher) -> None:
    with attacked(launcher) as session:
        result = session.run("for i in range(300_000): i", timeout=RUN)
        assert result.ok and result.results == [str(i) for i in range(300_000)]
    assert_intact(launcher)


def test_a_huge_exception_is_cut_and_says_where_the_rest_is(launcher: LocalLauncher) -> None:
    with attacked(launcher) as session:
        result = session.run("raise ValueError('v' * 2_000_000)", timeout=RUN)
        assert result.error is not None and result.error.ename == "ValueError"
        assert len(result.error.traceback) < MAX_HEADER_BYTES
        assert "characters of this traceback were left out" in result.error.traceback
        assert "sys.last_value" in result.error.traceback
        assert session.run("import sys; len(str(sys.last_value))", timeout=RUN).value == "2000000"
    assert_intact(launcher)


def test_a_huge_prompt_and_progress_label_are_cut(launcher: LocalLauncher) -> None:
    with attacked(launcher) as session:
        prompts: list[str] = []

        def answer(prompt: str, password: bool) -> str:
            prompts.append(prompt)
            return "answer"

        session.input_handler = answer
        assert session.run("input('p' * 2_000_000)", timeout=RUN).value == "'answer'"
        assert len(prompts) == 1 and "characters of this prompt were left out" in prompts[0]
        code = (
            "from remrepl.server.kernel.main import report_progress\n"
            "report_progress(task='t', label='l' * 2_000_000, done=1, total=2, elapsed=0.5)"
        )
        assert session.run(code, timeout=RUN).ok
    assert_intact(launcher)


def test_exec_of_a_script_with_a_huge_error(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("canary = 1\nraise ValueError('v' * 2_000_000)\n", encoding="utf-8")
    args = ["--connection-file", str(server.connection_file), "--password-file", str(password_file)]
    result = subprocess.run(
        [*remrepl_command(), "exec", *args, str(script)], capture_output=True, text=True, timeout=RUN, check=False
    )
    assert result.returncode == 1, result.stderr[-2000:]
    # A script's traceback is its stderr, printed whole as python prints it (it streams in pieces, so it
    # needs no cut; it was an Error event, cut to fit one message, when scripts ran in the session's kernel).
    assert result.stderr.endswith("ValueError: " + "v" * 2_000_000 + "\n"), result.stderr[-2000:]
    with server.connect() as fresh:
        assert fresh.run("1 + 1", timeout=RUN).value == "2"


# --- 2. a side reply after its client left --------------------------------------------------------


def test_a_side_reply_after_the_client_left(launcher: LocalLauncher, tmp_path: Path) -> None:
    go, replied = tmp_path / "go", tmp_path / "replied"
    session = attacked(launcher)
    code = f"""
import os, time
class Slow:
    def __reduce__(self):
        for _ in range(3000):  # bounded: at most 30 s
            if os.path.exists({str(go)!r}):
                break
            time.sleep(0.01)
        open({str(replied)!r}, "w").close()
        return (int, ())
slow = Slow()
"""
    assert session.run(code, timeout=RUN).ok
    with pytest.raises(ExecutionTimeout):
        session.get("slow", timeout=0.5)
    session.close()  # its side connection closes; the kernel is still busy with the request
    go.touch()
    wait_until(replied.exists, RUN, "the kernel to answer the abandoned request")
    assert_intact(launcher)
    assert_intact(launcher)  # a second time: the late reply was surely handled before this one


# --- 3. text that is not UTF-8 ------------------------------------------------------------------


def test_a_non_utf8_file_name_in_a_traceback(launcher: LocalLauncher) -> None:
    name = os.fsdecode(b"job-\xe9.py")  # a surrogate escape, as a file name that is not UTF-8 decodes
    with attacked(launcher) as session:
        result = session.run("raise ValueError('boom')", mode="script", filename=name, timeout=RUN)
        assert result.error is not None and "job-\\udce9.py" in result.error.traceback
        assert session.run("print('caf\\udce9'); 'caf\\udce9'", timeout=RUN).ok
    assert_intact(launcher)


# --- 4. transfer paths --------------------------------------------------------------------------


def test_unusable_transfer_paths_fail_the_transfer_only(launcher: LocalLauncher, tmp_path: Path) -> None:
    local = tmp_path / "data.txt"
    local.write_text("data", encoding="utf-8")
    with attacked(launcher) as session:
        for remote, words in (("n" * 300, "too long"), ("bad-\ud800", "surrogate"), ("a\x00b", "NUL")):
            with pytest.raises(TransferError, match=words):
                session.upload(local, remote)
        for remote, words in (("a\x00b", "NUL"), ("bad-\ud800", "surrogate"), ("d/" + "n" * 300, "too long")):
            with pytest.raises(TransferError, match=words):
                session.download(remote, tmp_path / "got")
        assert session.run("2 + 2", timeout=RUN).value == "4"
    assert_intact(launcher)


# --- 5. user code writing to the kernel's control socket ---------------------------------------------


def test_user_code_writing_to_the_control_socket(launcher: LocalLauncher) -> None:
    lines = [
        b'{"type":"done","exit_code":"x"}',
        b"null",
        b"[" * 100_000,
        b'{"type":"done","status":"ok","exit_code":1e400}',
        b'{"type":"results","texts":[1, 2]}',
        b'{"type":"progress","task":1}',
        b'{"type":"input_request","prompt":5}',
        b'{"type":"display","mime":3,"data":"x"}',
        b'{"type":"nonsense"}',
        b"\xff\xfe not json",
    ]
    write = "kernel._active.control.sendall(line + b'\\n')"
    code = f"from remrepl.server.kernel import main as kernel\nfor line in {lines!r}:\n    {write}\n"
    with attacked(launcher) as session:
        result = session.run(code + "print('after')", timeout=RUN)
        assert result.ok and result.stdout == "after\n"
        assert session.run("2 + 2", timeout=RUN).value == "4"
    assert_intact(launcher)


def test_user_code_writing_half_a_line_to_the_control_socket(launcher: LocalLauncher) -> None:
    code = (
        "from remrepl.server.kernel import main as kernel\n"
        "kernel._active.control.sendall(b'{\"type\": \"done\"')\n'ran'"
    )
    with attacked(launcher) as session:
        result = session.run(code, timeout=RUN)  # its own "done" must not be lost after the torn line
        assert result.ok and result.value == "'ran'"
    assert_intact(launcher)


def test_an_answer_that_crosses_the_end_of_its_run_is_dropped(launcher: LocalLauncher) -> None:
    with attacked(launcher) as session:
        execution = session.execute("input('q? ')")
        events = iter(lambda: session.next_event(RUN), None)  # not execution.events(): that would answer it
        request = next(e for e in events if isinstance(e, InputRequest))
        execution.interrupt()
        assert session._socket.poll(int(RUN * 1000))  # the run's end is on its way: not read yet
        session.send(InputReply(execution.req_id, request.seq, "late"))
        assert execution.wait(RUN).status == "interrupted"
        assert session.run("1 + 1", timeout=RUN).value == "2"  # no Rejected for the late answer
    assert_intact(launcher)


# --- 6. request ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("req_id", ["", "r" * 10_000])
def test_an_execute_without_a_usable_request_id_is_refused(launcher: LocalLauncher, req_id: str) -> None:
    attacked(launcher).close()
    ctx, sock = raw_client(launcher)
    try:
        client = Connection(Role.CLIENT)
        sock.send_multipart(client.send(Hello()))
        assert sock.poll(10_000) and isinstance(client.receive(sock.recv_multipart()), Welcome)
        sock.send_multipart([json.dumps({"type": "execute", "req_id": req_id, "code": "1 + 1"}).encode()])
        assert sock.poll(10_000)
        reply = decode(sock.recv_multipart())
        assert isinstance(reply, Rejected) and reply.code == "protocol", reply
        assert not sock.poll(500) or not isinstance(decode(sock.recv_multipart()), Done)  # it did not run
    finally:
        sock.close(linger=0)
        ctx.term()
    assert_intact(launcher)
