"""The ZAP handler: admits only the allowed client keys, and slows down whoever keeps guessing.

``ZapPolicy`` is the decision, without I/O or a real clock (tests drive it with a fake one).
``ZapHandler`` is the ROUTER socket libzmq asks (``inproc://zeromq.zap.01``); it never blocks: replies
that must wait are kept in a heap, and the server's poll loop calls ``send_due`` when ``timeout()`` says.

Back-off: each failure from an address doubles how long that address waits for its next answer, right
or wrong (0.25 s, 0.5 s, 1 s, ... up to ``max_delay``); requests from an address are answered one at a
time in order, so parallel guesses gain nothing. A success clears the record; so does a quiet spell.
The server never shuts down because of bad attempts: that would hand anyone a kill switch.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import zmq

from .sockets import ZAP_DOMAIN

ZAP_ENDPOINT = "inproc://zeromq.zap.01"


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    not_before: float = 0.0  # when this address may next get an answer


class ZapPolicy:
    """Which client keys get in, and when each address gets its answer."""

    def __init__(
        self,
        allowed_keys: Iterable[bytes],
        *,
        clock: Callable[[], float] = time.monotonic,
        base_delay: float = 0.25,
        max_delay: float = 30.0,
        forget_after: float = 600.0,
    ) -> None:
        self.allowed_keys = frozenset(allowed_keys)  # raw 32-byte public keys
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self._records: dict[str, _Record] = {}

    def delay_after(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.base_delay * 2 ** (failures - 1), self.max_delay)

    def decide(self, address: str, key: bytes) -> tuple[bool, float]:
        """(allowed, when to send the answer) for a request arriving now from ``address``."""
        now = self.clock()
        record = self._records.get(address)
        if record and now - record.last_failure > self.forget_after:
            del self._records[address]
            record = None
        start = max(now, record.not_before) if record else now
        if key in self.allowed_keys:
            self._records.pop(address, None)
            return True, start
        record = self._records.setdefault(address, _Record())
        record.failures += 1
        record.last_failure = now
        record.not_before = start + self.delay_after(record.failures)
        return False, record.not_before

    def failures(self, address: str) -> int:
        record = self._records.get(address)
        return record.failures if record else 0


class ZapHandler:
    """Answers libzmq's ZAP requests for one context according to a ``ZapPolicy``."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], policy: ZapPolicy) -> None:
        self.policy = policy
        self.socket = ctx.socket(zmq.ROUTER)  # ROUTER, not REP: answers may leave out of order
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)
        self._due: list[tuple[float, int, list[bytes]]] = []
        self._order = itertools.count()

    def handle(self) -> None:
        """Read every waiting request and schedule its answer."""
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            reply = self._answer(frames)
            if reply is not None:
                heapq.heappush(self._due, (reply[0], next(self._order), reply[1]))

    def _answer(self, frames: list[bytes]) -> tuple[float, list[bytes]] | None:
        # [peer, b"", version, request_id, domain, address, identity, mechanism, *credentials]
        if len(frames) < 8 or frames[1] != b"" or frames[2] != b"1.0":
            return None  # not a ZAP request from libzmq; nothing sane to answer
        peer, _, version, request_id, domain, address, _identity, mechanism, *credentials = frames
        ok = False
        when = self.policy.clock()
        if domain == ZAP_DOMAIN and mechanism == b"CURVE" and len(credentials) == 1:
            ok, when = self.policy.decide(address.decode(errors="replace"), credentials[0])
        status = [b"200", b"OK"] if ok else [b"400", b"authentication failed"]
        return when, [peer, b"", version, request_id, *status, b"remrepl-client" if ok else b"", b""]

    @property
    def pending(self) -> bool:
        """Are answers waiting to be sent?"""
        return bool(self._due)

    def timeout(self) -> float | None:
        """Seconds until the next answer is due (None: nothing waits)."""
        if not self._due:
            return None
        return max(0.0, self._due[0][0] - self.policy.clock())

    def send_due(self) -> None:
        now = self.policy.clock()
        while self._due and self._due[0][0] <= now:
            _, _, reply = heapq.heappop(self._due)
            try:
                self.socket.send_multipart(reply, zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # the handshake it belonged to is gone

    def close(self) -> None:
        self.socket.close(linger=0)
