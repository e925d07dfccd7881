"""Faults on the server side: a dying interpreter, garbage from an authenticated peer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remrepl import ServerError
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Connection, Execute, Hello, Rejected, Role, Welcome, decode
from tests.support.servers import raw_client


def test_a_dying_interpreter_is_reported_and_replaced(session: Session) -> None:
    session.run("x = 1")
    # os._exit skips Python's buffers, as anywhere stdout is a pipe: hence flush=True
    result = session.run("import os; print('before', flush=True); os._exit(7)")
    assert result.status == "died" and result.exit_code == 7
    assert result.stdout == "before\n"
    assert any("died (exit status 7)" in n and "new one was started" in n for n in result.notices)
    after = session.run("x")
    assert after.error is not None and after.error.ename == "NameError"
    assert session.run("1 + 1").value == "2"


def test_a_segfault_is_reported_by_signal_name(session: Session) -> None:
    result = session.run("import ctypes; ctypes.string_at(0)")
    assert result.status == "died" and result.exit_code == 128 + 11
    assert any("SIGSEGV" in n for n in result.notices)
    assert session.run("2").value == "2"


def test_garbage_from_an_authenticated_peer_gets_an_error_reply(launcher: LocalLauncher) -> None:
    ctx, sock = raw_client(launcher)
    try:
        sock.send_multipart([b"\x00garbage"])
        assert sock.poll(10_000)
        reply = decode(sock.recv_multipart())
        assert isinstance(reply, Rejected) and reply.code == "protocol"

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(st.binary(max_size=40), min_size=1, max_size=5))
        def anything_is_answered(frames: list[bytes]) -> None:
            client = Connection(Role.CLIENT)
            sock.send_multipart(client.send(Hello()))
            assert sock.poll(10_000)
            assert isinstance(client.receive(sock.recv_multipart()), Welcome)
            sock.send_multipart(frames)
            assert sock.poll(10_000), "the server did not answer garbage"
            answer = decode(sock.recv_multipart())
            # Garbage is refused; frames that happen to be a valid request are served.
            assert answer is not None

        anything_is_answered()
        while sock.poll(500):  # drain answers of valid requests the fuzzer happened to make
            sock.recv_multipart()
    finally:
        sock.close(linger=0)
        ctx.term()
    with launcher.connect() as session:
        assert session.run("'still serving'").value == "'still serving'"


def test_a_retried_request_never_runs_twice(session: Session) -> None:
    session.run("count = 0")
    execution = session.execute("count += 1")
    execution.wait(10)
    session.send(Execute(execution.req_id, "count += 1", ack=session.last_seq))  # the same request again
    with pytest.raises(ServerError, match="already ran"):
        session.next_event(10)
    assert session.run("count").value == "1"
