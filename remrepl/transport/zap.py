"""The ZAP handler: admits only the allowed client keys, and rations the guesses of whoever keeps trying.

``ZapPolicy`` is the decision, without I/O or a real clock (tests drive it with a fake one).
``ZapHandler`` is the ROUTER socket libzmq asks (``inproc://zeromq.zap.01``); it never blocks: replies
that must wait are kept in a heap, and the server's poll loop calls ``send_due`` when ``timeout()`` says.

Why it is built this way (brute force must be slowed, never turned into a lockout or a memory leak):

- **The budget is on evaluations, not on answers.** What an attacker gains from a guess is the moment
  its key is *compared*: if it is right, the handshake succeeds, whenever the answer is sent. So delaying
  answers alone rations nothing (a flood of parallel guesses would all be compared at once), and refusing
  "at once" after evaluating would let a flood test keys at full speed. Hence: a key beyond its address's
  budget is refused **without being compared**, and only keys within budget are compared.
- **The budget is a schedule of slots**, one per ``interval`` per address (a token bucket in disguise):
  a wrong key takes the address's next free slot, ``max(now, horizon)``, and its answer (400) is sent at
  that slot; the horizon moves one interval on. A key is within budget while its slot would be less than
  ``max_wait`` away; beyond, it is refused at once (500, see below) and changes nothing. So an address
  gets at most ``max_wait / interval`` guesses compared in a burst and one per ``interval`` after that,
  however many connections it opens; and no answer ever waits ``max_wait`` or more, which is below the
  client's default connect timeout (10 s) and the server's handshake deadline (``HANDSHAKE_MS``): a slow
  answer can no longer look like "not a remrepl server".
- **The right key, within budget, is admitted at once**, even while wrong answers are queued: it has been
  compared, so waiting would protect nothing, and the legitimate user sharing an attacker's address (every
  SSH-tunnel and local user is 127.0.0.1) gets in as long as the attacker stays near one guess per
  interval. A success does not clear the address's schedule (that would hand a co-located attacker a new
  burst). Once the attacker stops, a slot is free again within one interval.
- **Why answers wait at all**: not for security (the budget does that) but for pacing: a guesser that
  waits for each answer (a script, a user retrying by hand) is held to one guess per interval and never
  sees "too many"; the first wrong password of a quiet address is answered at once.
- **"Too many" is status 500**, not 300: libzmq answers a ZAP 300 ("temporary error") by dropping the
  connection without a word (the CurveZMQ RFC's silent disconnect), which the client cannot tell from a
  wrong server key or a dead link (checked on libzmq 4.3.5). 400 and 500 travel in a ZMTP ERROR command and
  reach the client's monitor as ``EVENT_HANDSHAKE_FAILED_AUTH`` with the status as its value: 400 is "wrong
  password" (``AuthenticationFailed``), 500 is "too many failed attempts from this address"
  (``TooManyAttempts``). libzmq itself never sends 500.
- **Bounded memory**: an address's record is only its horizon, dropped once the horizon has passed
  (nothing pending: a fresh address) and capped at ``max_records`` (least recently used first; an evicted
  address merely starts a fresh budget). Per address at most ``max_wait / interval`` answers wait; in
  total at most ``max_pending``: beyond that the earliest-due answer is sent early, which reveals nothing
  (its key has been compared already) and changes no budget.
- IPv6 addresses are grouped by /64, the block one machine usually has; IPv4-mapped ones count as IPv4.
- The server never shuts down because of bad attempts: that would hand anyone a kill switch.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import zmq

from .sockets import ZAP_DOMAIN

log = logging.getLogger("remrepl.server")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
GUESS_INTERVAL = 1.0  # s: one compared guess per address per interval, after the burst
MAX_WAIT = 8.0  # s: no answer waits this long (< the client's 10 s connect timeout, < HANDSHAKE_MS)
MAX_RECORDS = 8192  # addresses with a schedule (a few hundred bytes each)
MAX_PENDING = 4096  # answers waiting in all (a few hundred bytes each)
STATUS_OK, STATUS_WRONG_KEY, STATUS_TOO_MANY = 200, 400, 500
STATS_EVERY = 10.0  # s between log lines while attempts fail


def retry_after_seconds() -> int:
    """What the client tells a refused user: after this long without attempts the budget is full again."""
    return math.ceil(MAX_WAIT)


def address_key(address: str) -> str:
    """The unit a budget applies to: the IPv4 address, or the IPv6 /64 (IPv4-mapped counts as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address  # not an IP (ipc://, a future transport): the string itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass(frozen=True)
class Decision:
    status: int  # STATUS_OK, STATUS_WRONG_KEY or STATUS_TOO_MANY
    at: float  # when to send the answer (policy clock)


class ZapPolicy:
    """Which client keys get in, which are compared at all, and when each answer is sent."""

    def __init__(
        self,
        allowed_keys: Iterable[bytes],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = GUESS_INTERVAL,
        max_wait: float = MAX_WAIT,
        max_records: int = MAX_RECORDS,
    ) -> None:
        self.allowed_keys = frozenset(allowed_keys)  # raw 32-byte public keys
        self.clock = clock
        self.interval = interval
        self.max_wait = max_wait
        self.max_records = max_records
        self._horizon: OrderedDict[str, float] = OrderedDict()  # address -> its next free slot; LRU order
        self.compared = self.wrong = self.refused = 0  # counters, for the log

    def decide(self, address: str, key: bytes) -> Decision:
        """The answer to a request arriving now from ``address`` with client key ``key``."""
        now = self.clock()
        unit = address_key(address)
        horizon = self._horizon.pop(unit, now)
        slot = max(now, horizon)
        if slot - now >= self.max_wait:
            self._keep(unit, horizon)
            self.refused += 1
            return Decision(STATUS_TOO_MANY, now)  # not compared: beyond the budget nothing is learnt
        self.compared += 1
        if key in self.allowed_keys:
            self._keep(unit, horizon)
            return Decision(STATUS_OK, now)
        self.wrong += 1
        self._keep(unit, slot + self.interval)
        return Decision(STATUS_WRONG_KEY, slot)

    def _keep(self, unit: str, horizon: float) -> None:
        now = self.clock()
        if horizon > now:  # a horizon in the past is the same as no record
            self._horizon[unit] = horizon  # (re)inserted last: most recently used
        while len(self._horizon) > self.max_records:
            self._horizon.popitem(last=False)
        while self._horizon:  # drop expired records from the old end (cheap: amortised O(1))
            oldest_unit, oldest = next(iter(self._horizon.items()))
            if oldest > now:
                break
            del self._horizon[oldest_unit]

    def wait(self, address: str) -> float:
        """How long a wrong key from ``address`` would wait for its answer now (0: a fresh address)."""
        return max(0.0, self._horizon.get(address_key(address), 0.0) - self.clock())

    @property
    def records(self) -> int:
        return len(self._horizon)


class ZapHandler:
    """Answers libzmq's ZAP requests for one context according to a ``ZapPolicy``."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        policy: ZapPolicy,
        *,
        max_pending: int = MAX_PENDING,
        on_admitted: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.max_pending = max_pending
        self.on_admitted = on_admitted  # told the address of every admitted key (the connection gate)
        self.socket = ctx.socket(zmq.ROUTER)  # ROUTER, not REP: answers may leave out of order
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)
        self._due: list[tuple[float, int, list[bytes]]] = []
        self._order = itertools.count()
        self._stats_at = policy.clock()
        self._stats = (0, 0)

    def handle(self) -> None:
        """Read every waiting request and schedule its answer."""
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            reply = self._answer(frames)
            if reply is None:
                continue
            when, frames = reply
            if when <= self.policy.clock():
                self._send(frames)
                continue
            if len(self._due) >= self.max_pending:  # send the earliest early: its key was compared already
                self._send(heapq.heappop(self._due)[2])
            heapq.heappush(self._due, (when, next(self._order), frames))
        self._log_stats()

    def _answer(self, frames: list[bytes]) -> tuple[float, list[bytes]] | None:
        # [peer, b"", version, request_id, domain, address, identity, mechanism, *credentials]
        if len(frames) < 8 or frames[1] != b"" or frames[2] != b"1.0":
            return None  # not a ZAP request from libzmq; nothing sane to answer
        peer, _, version, request_id, domain, address, _identity, mechanism, *credentials = frames
        decision = Decision(STATUS_WRONG_KEY, self.policy.clock())
        where = address.decode(errors="replace")
        if domain == ZAP_DOMAIN and mechanism == b"CURVE" and len(credentials) == 1:
            decision = self.policy.decide(where, credentials[0])
        if decision.status == STATUS_OK:
            if self.on_admitted is not None:
                self.on_admitted(where)
            status = [b"200", b"OK", b"remrepl-client"]
        elif decision.status == STATUS_TOO_MANY:
            status = [b"500", b"too many failed attempts from this address", b""]
        else:
            status = [b"400", b"authentication failed", b""]
        return decision.at, [peer, b"", version, request_id, *status, b""]

    def _send(self, reply: list[bytes]) -> None:
        try:
            self.socket.send_multipart(reply, zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the handshake it belonged to is gone

    def _log_stats(self) -> None:
        now = self.policy.clock()
        if now - self._stats_at < STATS_EVERY:
            return
        counts = (self.policy.wrong, self.policy.refused)
        wrong, refused = counts[0] - self._stats[0], counts[1] - self._stats[1]
        if wrong or refused:  # a quiet server logs nothing
            log.info(
                "zap: %d wrong keys, %d attempts refused unseen (too many) in %.0f s; %d addresses "
                "rationed, %d answers pending",
                wrong,
                refused,
                now - self._stats_at,
                self.policy.records,
                len(self._due),
            )
        self._stats_at, self._stats = now, counts

    @property
    def pending(self) -> int:
        """How many answers are waiting to be sent."""
        return len(self._due)

    def timeout(self) -> float | None:
        """Seconds until the next answer is due (None: nothing waits)."""
        if not self._due:
            return None
        return max(0.0, self._due[0][0] - self.policy.clock())

    def send_due(self) -> None:
        now = self.policy.clock()
        while self._due and self._due[0][0] <= now:
            self._send(heapq.heappop(self._due)[2])

    def close(self) -> None:
        self.socket.close(linger=0)
