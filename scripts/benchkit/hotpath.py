"""The supervisor's hot-path steps for one ``1+1``, each timed alone in this process (µs per call).

What ``profile_supervisor.py --micro`` prints next to the sampled profile: the same functions the
supervisor calls per request (the codec, the state machine, the kernel pipe's JSON, the guard, the poll
of its ~9 items, the ROUTER's EVENTS check...), on real sockets where a socket is involved. Every step is
timed in many short batches, the steps taking turns (interleaved), and the fastest batch counts: on a
shared machine some batch of each step runs alone on a core. The calls per request are
those of today's loop for ``1+1`` (Execute in, "execute" to the kernel, "done" from it, Done out, the
client's Ack in: three turns of the loop), so ``us * per_request`` is the step's share of a request.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import zmq

from .common import JSONDict

BATCH = 100  # calls per timed batch: short, so that some batch runs while nothing else does


class Steps:
    """Steps to time: name -> (call, calls per request); ``time`` interleaves their batches."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[Callable[[], object], float]] = {}

    def __call__(self, what: str, call: Callable[[], object], per_request: float) -> None:
        self.calls[what] = (call, per_request)

    def time(self, batches: int) -> dict[str, float]:
        """µs per call of each step: the fastest of ``batches`` batches, the steps taking turns."""
        best = dict.fromkeys(self.calls, float("inf"))
        for _ in range(batches):
            for what, (call, _) in self.calls.items():
                start = time.perf_counter()
                for _ in range(BATCH):
                    call()
                best[what] = min(best[what], (time.perf_counter() - start) / BATCH)
        return {what: seconds * 1e6 for what, seconds in best.items()}


def steps(batches: int = 200) -> list[JSONDict]:
    """Each step: what, µs per call, calls per ``1+1`` request, µs per request."""
    os.environ.setdefault("REMREPL_STATE_DIR", tempfile.mkdtemp(prefix="remrepl-hotpath-"))
    from remrepl.protocol import Ack, Connection, Done, Execute, Hello, Role, Welcome, decode, encode
    from remrepl.protocol.kernel_channel import RunCode, RunDone, decode_line, encode_line
    from remrepl.server.supervisor.activity import Activity
    from remrepl.server.supervisor.guard import guarded
    from remrepl.server.supervisor.replay import ReplayBuffer

    add = Steps()

    req_id = uuid.uuid4().hex
    execute = Execute(req_id, "1+1", ack=1000)
    execute_frames = encode(execute)
    ack_frames = encode(Ack(1001))
    done = Done(1002, req_id, "ok", 0, ("2",))
    add("codec: decode Execute", lambda: decode(execute_frames), 1)
    add("codec: decode Ack", lambda: decode(ack_frames), 1)
    add("codec: encode Done", lambda: encode(done), 1)

    # The state machine around the codec: a server Connection, attached, one run in and out per cycle.
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive(client.send(Hello()))
    client.receive(
        server.send(Welcome(protocol=Hello().protocol, server_pid=1, hostname="h", python="3", started_at=0.0))
    )

    def run_cycle() -> None:
        server.receive(execute_frames)
        server.receive(ack_frames)
        server.send(done)

    # minus the three codec steps above: what the state machine adds (reported as a difference)
    add("codec + state machine: Connection.receive(Execute), receive(Ack), send(Done)", run_cycle, 0)

    run_code = RunCode("1+1", "interactive", "<remote>", ())
    add("kernel channel: encode the execute line", lambda: encode_line(run_code), 1)
    done_line = encode_line(RunDone("ok", 0, ("2",))).strip()
    add("kernel channel: decode and check the done line", lambda: decode_line(done_line), 1)

    def guard() -> None:
        with guarded("x"):
            pass

    # _turn enters one for the turn, _on_client_messages one a message, _on_kernel_messages one a message
    # plus one for the drain: 3 turns + 2 client messages + 1 kernel message (+ its drain check)
    add("guard: `with guarded(...)` (generator contextmanager)", guard, 7)

    replay = ReplayBuffer(Path(tempfile.mkdtemp()) / "overflow.log")
    add("replay buffer: add(Done)", lambda: replay.add(done), 1)
    activity = Activity(lambda: {1})
    add("activity: update() (between checks)", lambda: activity.update(
        attached=b"x", running=False, asking=False, transferring=False), 3)  # fmt: skip

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    rep = ctx.socket(zmq.ROUTER)
    pair = ctx.socket(zmq.PAIR)
    fds = [socket.socketpair() for _ in range(2)]
    pipes = [os.pipe() for _ in range(2)]
    try:
        router.bind("tcp://127.0.0.1:*")
        rep.bind("inproc://zap-like")
        pair.bind("inproc://monitor-like")
        poller = zmq.Poller()
        for s in (router, rep, pair):
            poller.register(s, zmq.POLLIN)
        for a, _ in fds:
            poller.register(a.fileno(), zmq.POLLIN)
        for r, _ in pipes:
            poller.register(r, zmq.POLLIN)
        poller.register(fds[0][1].fileno(), zmq.POLLIN)  # 9 items, as the supervisor's loop has
        add("poll: dict(Poller.poll(0)) over 9 items, nothing ready", lambda: dict(poller.poll(0)), 3)
        pollin = int(zmq.POLLIN)
        add(
            "zmq: int(router.getsockopt(EVENTS)) & zmq.POLLIN",
            lambda: int(router.getsockopt(zmq.EVENTS)) & zmq.POLLIN,
            4,
        )
        add(
            "zmq: int(router.getsockopt(EVENTS)) & an int constant",
            lambda: int(router.getsockopt(zmq.EVENTS)) & pollin,
            0,
        )

        def recv_again() -> None:
            try:
                router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                pass

        add("zmq: recv_multipart(NOBLOCK) raising Again (the alternative)", recv_again, 0)
        a, b = fds[0]
        line = encode_line(run_code)

        def socketpair_round() -> None:
            a.send(line)
            b.recv(65536)

        add("kernel pipe: socketpair send + recv, no wake-up (syscalls only)", socketpair_round, 2)
        timed = add.time(batches)
    finally:
        for s in (router, rep, pair):
            s.close(linger=0)
        ctx.term()
        for x, y in fds:
            x.close()
            y.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)
    out = [
        {"step": what, "us_per_call": timed[what], "per_request": per, "us_per_request": timed[what] * per}
        for what, (_, per) in add.calls.items()
    ]
    codec = sum(timed[f"codec: {x}"] for x in ("decode Execute", "decode Ack", "encode Done"))
    machine = timed["codec + state machine: Connection.receive(Execute), receive(Ack), send(Done)"] - codec
    out.append({"step": "state machine: what Connection adds to the codec", "us_per_call": machine,
                "per_request": 1, "us_per_request": machine})  # fmt: skip
    return out


def render(rows: list[JSONDict]) -> list[str]:
    lines = [f"hot-path steps, each alone in this process (the fastest batch of {BATCH} calls):"]
    lines.append(f"  {'step':66s} {'µs/call':>8s} {'calls':>6s} {'µs/req':>7s}")
    for r in rows:
        lines.append(f"  {r['step']:66s} {r['us_per_call']:8.2f} {r['per_request']:6g} {r['us_per_request']:7.1f}")
    lines.append(f"  {'total of the steps counted per request':66s} {'':8s} {'':6s} "
                 f"{sum(r['us_per_request'] for r in rows):7.1f}")  # fmt: skip
    return lines
