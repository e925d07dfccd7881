"""The server never dies and the session is never lost, whatever a client, the kernel or user code sends.

A hypothesis state machine drives a real server (``python -m remrepl.server``, a fresh one per example)
with random sequences of: valid and invalid client events and malformed frames on authenticated DEALER
sockets; clients that close mid-run and others that reattach, with and without ``resume_from``; side
requests that time out or whose client is gone before the answer; user code that writes random lines to
the kernel's control and side sockets; transfers with hostile paths; big results, outputs and
tracebacks, and non-UTF-8 file names. After every step: the supervisor runs, and a fresh client (the
public API; it takes the session over) gets ``1+1`` -> ``2`` within a bounded time, with the sentinel
variable set at the start still there unless a step restarted the kernel (the model tracks that).
Everything the server sends to the fuzzing clients must also decode with our own codec.

The default run is deterministic (a fixed seed, no example database) and takes about a minute. To run
longer, or elsewhere in the space (the seed is printed at the start, and a failure prints its steps):

    REMREPL_FUZZ_EXAMPLES=200 REMREPL_FUZZ_STEPS=30 REMREPL_FUZZ_SEED=$RANDOM \\
        python -m pytest -s tests/server/test_never_dies.py

``REMREPL_FUZZ_SHRINK=1`` also shrinks a failure to a minimal sequence (slow with a real server).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest
import zmq
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from remrepl import ExecutionTimeout, RemreplError
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import (
    OUTPUT_EVENTS,
    Detach,
    Done,
    Download,
    Execute,
    Hello,
    Restart,
    Upload,
    Welcome,
    decode,
)
from remrepl.protocol.events import Event
from remrepl.transport import KeyPair, client_socket, tcp_endpoint
from tests.server.fuzz_inputs import (
    BASE,
    RESTARTS,
    SENTINEL,
    SETUP,
    SNIPPETS,
    HugePut,
    Repeat,
    client_events,
    control_lines,
    frames_of,
    kernel_write_code,
    malformed_frames,
    seqs,
    side_requests,
    side_writes,
    snippet_names,
    transfer_events,
)

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

EXAMPLES = int(os.environ.get("REMREPL_FUZZ_EXAMPLES", "10"))
STEPS = int(os.environ.get("REMREPL_FUZZ_STEPS", "20"))
SEED = int(os.environ.get("REMREPL_FUZZ_SEED", "20261201"))
SHRINK = os.environ.get("REMREPL_FUZZ_SHRINK") == "1"
CHECK_SECONDS = 15.0  # the invariant's bound: attach, end what still runs, run 1+1
SLOTS = 3  # raw clients an example keeps open at once


@dataclasses.dataclass
class Stats:
    examples: int = 0
    steps: int = 0


STATS = Stats()


class RawClient:
    """An authenticated DEALER that speaks no protocol by itself: the rules put any frames on it. What
    the server sends back must decode (a message our own client would refuse is a bug of the server)."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], launcher: LocalLauncher, identity: bytes) -> None:
        info = launcher.info
        assert info is not None
        self.identity = identity
        self.sock = client_socket(ctx, info.server_public_key, KeyPair.from_secret(info.client_secret_key), identity)
        self.sock.setsockopt(zmq.SNDTIMEO, 3000)  # IMMEDIATE: a send waits for the CURVE handshake
        self.sock.connect(tcp_endpoint(info.host, info.port))
        self.last_seq = 0
        self.done: set[str] = set()

    def send(self, frames: Sequence[bytes | Repeat]) -> None:
        try:
            self.sock.send_multipart([f.value() if isinstance(f, Repeat) else f for f in frames])
        except zmq.ZMQError:
            pass  # the link is not up (a flooded server?): the invariant judges the server

    def send_event(self, event: Event) -> None:
        self.send(frames_of(event))

    def drain(self, quiet: float, total: float = 3.0, until_done: str | None = None) -> None:
        """Read what comes until nothing has for ``quiet`` s (or ``until_done``'s Done came), at most ``total`` s."""
        deadline = time.monotonic() + total
        while time.monotonic() < deadline and (until_done is None or until_done not in self.done):
            wait = quiet if until_done is None else deadline - time.monotonic()
            if not self.sock.poll(max(1, int(wait * 1000))):
                return
            frames = self.sock.recv_multipart()
            try:
                event = decode(frames)
            except RemreplError as exc:
                what = frames[0][:60] if frames else b""
                raise AssertionError(f"the server sent a message its own codec refuses: {exc}; {what!r}...") from None
            if isinstance(event, OUTPUT_EVENTS):
                self.last_seq = max(self.last_seq, event.seq)
            if isinstance(event, Welcome):
                self.last_seq = max(self.last_seq, event.last_seq)
            if isinstance(event, Done):
                self.done.add(event.req_id)

    def close(self) -> None:
        self.sock.close(linger=0)


def no_input(prompt: str, password: bool) -> None:
    return None  # an input() of a fuzzed run gets end-of-file


class NeverDies(RuleBasedStateMachine):
    root: ClassVar[Path]  # where examples make their directories (the test's tmp_path)

    def __init__(self) -> None:
        super().__init__()
        STATS.examples += 1
        self.base = Path(tempfile.mkdtemp(prefix="example-", dir=self.root))
        work = self.base / "l1" / "l2" / "work"  # relative paths may climb two levels and stay in base
        (work / "tree" / "sub").mkdir(parents=True)
        (work / "data.bin").write_bytes(os.urandom(1000))
        (work / "tree" / "sub" / "f.txt").write_text("f")
        self.launcher = LocalLauncher(cwd=str(work))
        self.launcher.start()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.clients: list[RawClient | None] = [None] * SLOTS
        self.sentinel = 0
        self.kernel_may_have_restarted = False
        self.history: list[str] = []  # the rules run so far, shortened (hypothesis prints them in full)
        with self.session() as session:
            assert session.run(SETUP).ok
            self._set_sentinel(session)

    def teardown(self) -> None:
        for client in self.clients:
            if client is not None:
                client.close()
        self.ctx.term()
        self.launcher.close()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- helpers --------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.launcher.connect(connect_timeout=CHECK_SECONDS, input_handler=no_input) as session:
            yield session

    def _set_sentinel(self, session: Session) -> None:
        self.sentinel += 1
        assert session.run(f"{SENTINEL} = {self.sentinel}").ok
        self.kernel_may_have_restarted = False

    def _step(self, rule: str, **args: object) -> None:
        STATS.steps += 1
        self.history.append(f"{rule}({', '.join(f'{k}={v!r:.200}' for k, v in args.items())})")

    def _log_tail(self, lines: int = 60) -> str:
        path = self.launcher.log_path
        text = path.read_text(errors="replace") if path is not None and path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def client(self, slot: int, hello: str | None = None) -> RawClient:
        """The raw client in ``slot`` (a new one if empty), after a Hello if ``hello`` ("main" or "side")."""
        client = self.clients[slot]
        if client is None:
            client = self.clients[slot] = RawClient(self.ctx, self.launcher, uuid.uuid4().bytes)
        if hello is not None:
            client.send_event(Hello(side=hello == "side"))
            client.drain(0.05, total=1.0)
        return client

    def fresh(self, slot: int, hello: str | None = "main", identity: bytes | None = None) -> RawClient:
        old = self.clients[slot]
        if old is not None:
            old.close()
        self.clients[slot] = RawClient(self.ctx, self.launcher, identity or uuid.uuid4().bytes)
        return self.client(slot, hello)

    def prepare(self, event: Event | HugePut) -> Event:
        """Put the example's directory into generated paths; note events that restart the kernel."""
        if isinstance(event, HugePut):
            event = event.event()
        if isinstance(event, (Upload, Download)) and event.remote.startswith(BASE):
            event = dataclasses.replace(event, remote=str(self.base) + event.remote[len(BASE) :])
        if isinstance(event, Restart) or (
            isinstance(event, Execute) and event.code in {SNIPPETS[name] for name in RESTARTS}
        ):
            self.kernel_may_have_restarted = True
        return event

    def execute(self, client: RawClient, code: str) -> str:
        req_id = uuid.uuid4().hex
        client.send_event(self.prepare(Execute(req_id, code, ack=client.last_seq)))
        return req_id

    # --- rules ----------------------------------------------------------------------------------

    @rule(slot=st.integers(0, SLOTS - 1), hello=st.sampled_from([None, "main", "side"]), frames=malformed_frames)
    def malformed(self, slot: int, hello: str | None, frames: list[bytes | Repeat]) -> None:
        self._step("malformed", slot=slot, hello=hello, frames=frames)
        client = self.client(slot, hello)
        client.send(frames)
        client.drain(0.1)

    @rule(
        slot=st.integers(0, SLOTS - 1),
        hello=st.sampled_from([None, "main", "side"]),
        events=st.lists(client_events, min_size=1, max_size=4),
    )
    def events(self, slot: int, hello: str | None, events: list[Event]) -> None:
        self._step("events", slot=slot, hello=hello, events=events)
        client = self.client(slot, hello)
        for event in events:
            client.send_event(self.prepare(event))
        client.drain(0.2)

    @rule(
        snippet=snippet_names,
        close_after=st.sampled_from([0.0, 0.05, 0.3, None]),
        detach=st.booleans(),
        resume=st.sampled_from(["unseen", "zero", "seen", "ahead", "negative", "huge"]),
        same_identity=st.booleans(),
    )
    def run_close_reattach(
        self, snippet: str, close_after: float | None, detach: bool, resume: str, same_identity: bool
    ) -> None:
        """A client runs code and goes at some moment (or at the end); another attaches."""
        self._step(
            "run_close_reattach",
            snippet=snippet,
            close_after=close_after,
            detach=detach,
            resume=resume,
            same_identity=same_identity,
        )
        first = self.fresh(0)
        req_id = self.execute(first, SNIPPETS[snippet])
        if close_after is None:
            first.drain(0.05, total=5.0, until_done=req_id)
        else:
            first.drain(close_after, total=close_after)
        if detach:
            first.send_event(Detach(ack=first.last_seq))
        first.close()
        self.clients[0] = None
        seen = first.last_seq
        resume_from = {"unseen": None, "zero": 0, "seen": seen, "ahead": seen + 1000, "negative": -5, "huge": 2**70}
        second = self.fresh(1, hello=None, identity=first.identity if same_identity else None)
        second.send_event(Hello(resume_from=resume_from[resume]))
        second.drain(0.2)

    @rule(
        via=st.sampled_from(["side", "attached", "api"]),
        request=side_requests,
        during=st.one_of(st.none(), st.sampled_from(["sleep", "gil_busy", "slow_repr_shown"])),
        wait=st.sampled_from([0.0, 0.05, 0.5]),
    )
    def side_request(self, via: str, request: Event, during: str | None, wait: float) -> None:
        """A completion, help or object request, maybe during a busy run, whose client may not wait."""
        self._step("side_request", via=via, request=request, during=during, wait=wait)
        if during is not None:
            self.execute(self.fresh(2), SNIPPETS[during])
        if via == "api":
            try:
                with self.session() as session:
                    name = getattr(request, "name", "slow")
                    if hasattr(request, "code"):
                        session.complete(request.code, timeout=max(wait, 0.05))
                    elif hasattr(request, "detail"):
                        session.inspect(name, timeout=max(wait, 0.05))
                    else:
                        session.get(name, timeout=max(wait, 0.05))
            except RemreplError:
                pass  # timed out, refused, not found: the session goes on
            return
        client = self.fresh(1, hello=via if via == "side" else "main")
        client.send_event(self.prepare(request))
        client.drain(wait, total=wait)
        client.close()  # before the answer, maybe
        self.clients[1] = None

    @rule(
        channel=st.sampled_from(["control", "side"]),
        chunks=st.lists(st.one_of(control_lines, side_writes), min_size=1, max_size=4),
    )
    def kernel_write(self, channel: str, chunks: list[bytes | Repeat]) -> None:
        """User code writes to the kernel's own channel to the supervisor (untrusted input for it)."""
        self._step("kernel_write", channel=channel, chunks=chunks)
        client = self.fresh(0)
        req_id = self.execute(client, kernel_write_code(channel, chunks))
        client.drain(0.1, total=3.0, until_done=req_id)
        client.drain(0.1)

    @rule(events=st.lists(transfer_events, min_size=1, max_size=6), close=st.booleans())
    def transfer(self, events: list[Event], close: bool) -> None:
        self._step("transfer", events=events, close=close)
        client = self.fresh(0)
        for event in events:
            client.send_event(self.prepare(event))
        client.drain(0.2)
        if close:
            client.close()
            self.clients[0] = None

    @rule(slot=st.integers(0, SLOTS - 1), detach=st.booleans(), ack=seqs)
    def close_client(self, slot: int, detach: bool, ack: int) -> None:
        self._step("close_client", slot=slot, detach=detach, ack=ack)
        client = self.clients[slot]
        if client is not None:
            if detach:
                client.send_event(Detach(ack=ack))
            client.close()
            self.clients[slot] = None

    # --- the invariant --------------------------------------------------------------------------

    @invariant()
    def a_fresh_client_gets_two(self) -> None:
        assert self.launcher.process is not None
        status = self.launcher.process.poll()
        assert status is None, f"the supervisor died (status {status}); its log:\n{self._log_tail()}"
        try:
            with self.session() as session:
                self._finish_what_runs(session)
                result = session.run("1+1", timeout=CHECK_SECONDS)
                assert result.value == "2", f"1+1 gave {result}"
                result = session.run(SENTINEL, timeout=CHECK_SECONDS)
                if self.kernel_may_have_restarted and result.error is not None and result.error.ename == "NameError":
                    self._set_sentinel(session)
                else:
                    assert result.value == str(self.sentinel), f"the namespace was lost: {SENTINEL} gave {result}"
        except RemreplError as exc:
            status = self.launcher.process.poll()
            what = (
                f"the supervisor died (status {status})"
                if status is not None
                else "a fresh client cannot use the session"
            )
            raise AssertionError(f"{what}: {exc!r}; log:\n{self._log_tail()}") from exc

    @staticmethod
    def _finish_what_runs(session: Session) -> None:
        """Interrupt a run a rule left going (its input() gets EOF), and wait for its end."""
        running = session.running()
        deadline = time.monotonic() + CHECK_SECONDS
        while running is not None and running.done is None:
            assert time.monotonic() < deadline, "a run that a fresh client interrupts does not end"
            running.interrupt()
            try:
                running.wait(1.0)
            except ExecutionTimeout:
                pass  # not over yet: interrupt again


@pytest.mark.timeout(max(120, EXAMPLES * STEPS))  # about 0.3 s a step here: room for a slow CI machine
def test_the_server_never_dies(tmp_path: Path) -> None:
    started = time.monotonic()
    print(f"\nnever-dies: REMREPL_FUZZ_SEED={SEED} REMREPL_FUZZ_EXAMPLES={EXAMPLES} REMREPL_FUZZ_STEPS={STEPS}")

    NeverDies.root = tmp_path
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])]
    run_state_machine_as_test(
        seed(SEED)(NeverDies),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # a failure is reproduced by its seed and printed steps, not a local file
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
            report_multiple_bugs=False,
        ),
    )
    elapsed = time.monotonic() - started
    print(f"never-dies: {STATS.steps} steps in {STATS.examples} examples, {elapsed:.1f} s")
