"""Authentication against a real server: only the password's key gets in, and nothing else crashes it."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest
import zmq

from remrepl import AuthenticationFailed, ConnectError, ConnectionInfo, ConnectTimeout
from remrepl.client.session import Session
from remrepl.protocol import Hello, encode
from remrepl.transport import KeyPair, client_socket, tcp_endpoint
from tests.support.servers import RunningServer


def test_wrong_password_fails_fast_and_clearly(server: RunningServer) -> None:
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed, match="authentication failed"):
        server.connect(password="wrong", connect_timeout=10)
    assert time.monotonic() - started < 5


def test_the_right_password_still_works_after_failures(server: RunningServer) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            server.connect(password="guess", connect_timeout=10)
    with server.connect(connect_timeout=15) as session:
        assert session.run("6 * 7").value == "42"
    assert server.process.poll() is None


def test_a_random_curve_key_is_refused(server: RunningServer) -> None:
    info = dataclasses.replace(server.info, client_secret_key=KeyPair.generate().secret)
    with pytest.raises(AuthenticationFailed):
        Session(info, KeyPair.from_secret(info.client_secret_key), connect_timeout=10)


def test_a_plaintext_client_gets_no_answer_and_changes_nothing(server: RunningServer) -> None:
    ctx = zmq.Context()
    plain = ctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(tcp_endpoint(server.info.host, server.info.port))
    plain.send_multipart(encode(Hello()))
    assert plain.poll(1000) == 0
    plain.close()
    ctx.term()
    with server.connect() as session:
        assert session.run("1").value == "1"


def test_a_pinned_key_that_does_not_match_is_an_error(server: RunningServer) -> None:
    info = dataclasses.replace(server.info, server_public_key=KeyPair.generate().public)
    with pytest.raises(ConnectError):
        Session(info, KeyPair.generate(), connect_timeout=3)


def test_nobody_listening_is_a_timeout_with_a_clear_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed
    info = dataclasses.replace(_some_info(), port=port)
    started = time.monotonic()
    with pytest.raises(ConnectTimeout, match="could not reach a remrepl server"):
        Session(info, KeyPair.generate(), connect_timeout=1.5)
    assert time.monotonic() - started < 5


def test_a_silent_peer_is_a_timeout_naming_the_handshake() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        info = dataclasses.replace(_some_info(), port=listener.getsockname()[1])
        with pytest.raises(ConnectTimeout, match="handshake"):
            Session(info, KeyPair.generate(), connect_timeout=1.5)


def test_the_socket_limits_are_set() -> None:
    ctx = zmq.Context()
    sock = client_socket(ctx, KeyPair.generate().public, KeyPair.generate(), b"id")
    assert int(sock.getsockopt(zmq.MAXMSGSIZE)) > 0
    assert int(sock.getsockopt(zmq.LINGER)) == 0
    assert int(sock.getsockopt(zmq.HEARTBEAT_IVL)) > 0
    sock.close()
    ctx.term()


def _some_info() -> ConnectionInfo:
    return ConnectionInfo(host="127.0.0.1", port=1, server_public_key=KeyPair.generate().public)
