"""A message the client cannot decode costs that message only: the session goes on.

The peer is a real CURVE ROUTER on 127.0.0.1 played by the test (a real server no longer sends such a
message: that is what this guards against if one ever does again), speaking the protocol through
``Connection`` and putting one frame that breaks the codec's limits between two valid events.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import zmq

from remrepl.client.session import Session
from remrepl.protocol import Connection, Done, Execute, Hello, Result, Role, Welcome
from remrepl.protocol.codec import MAX_HEADER_BYTES
from remrepl.transport import KeyPair
from remrepl.transport.connection_info import ConnectionInfo

DEADLINE_MS = 20_000


class OddServer:
    """Answers Hello with Welcome and each Execute with: a valid Result, an oversize one, then Done."""

    def __init__(self) -> None:
        self.keys = KeyPair.generate()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.CURVE_SERVER, 1)  # no ZAP handler: any client key is let in
        self.router.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret)
        self.router.setsockopt(zmq.LINGER, 0)
        self.port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn = Connection(Role.SERVER)
        while not self.stop.is_set():  # bounded by the test's end (stop is set in close)
            if not self.router.poll(50):
                continue
            identity, *payload = self.router.recv_multipart()
            event = conn.receive(payload)
            if isinstance(event, Hello):
                welcome = Welcome(protocol=event.protocol, server_pid=1, hostname="odd", python="3", started_at=0.0)
                self.router.send_multipart([identity, *conn.send(welcome)])
            elif isinstance(event, Execute):
                self.router.send_multipart([identity, *conn.send(Result(1, event.req_id, "before"))])
                text = "x" * MAX_HEADER_BYTES
                huge = json.dumps({"type": "result", "seq": 2, "req_id": event.req_id, "text": text})
                self.router.send_multipart([identity, huge.encode()])
                self.router.send_multipart([identity, *conn.send(Done(3, event.req_id, "ok"))])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.router.close(linger=0)
        self.ctx.term()


@pytest.fixture
def odd_server() -> Iterator[OddServer]:
    server = OddServer()
    yield server
    server.close()


def test_an_undecodable_message_becomes_a_notice_and_the_run_ends(odd_server: OddServer) -> None:
    info = ConnectionInfo(host="127.0.0.1", port=odd_server.port, server_public_key=odd_server.keys.public)
    session = Session(info, KeyPair.generate(), connect_timeout=DEADLINE_MS / 1000)
    try:
        result = session.run("anything", timeout=DEADLINE_MS / 1000)
        assert result.ok and result.results == ["before"]
        assert any("could not be read and was skipped" in n and "exceeds" in n for n in result.notices)
        assert session.run("again", timeout=DEADLINE_MS / 1000).ok  # and the session goes on
    finally:
        session.close()
