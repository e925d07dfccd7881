"""The supervisor's session core in memory: client events in, actions out; no socket, no kernel, no clock."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from remrepl.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Bye,
    Connection,
    Detach,
    Done,
    Event,
    Execute,
    Hello,
    InputReply,
    Interrupt,
    OutputEvent,
    Rejected,
    Restart,
    Role,
    Shutdown,
    State,
    Stream,
    Welcome,
    encode,
)
from remrepl.protocol.events import StdinData
from remrepl.protocol.side import Complete
from remrepl.protocol.transfers import Download
from remrepl.server.supervisor.replay import ReplayBuffer
from remrepl.server.supervisor.session_core import (
    TAKEN_OVER,
    Action,
    CancelRun,
    DropClient,
    ForwardInput,
    ForwardSide,
    InterruptKernel,
    Replay,
    RestartKernel,
    ScriptMessage,
    Send,
    SendNow,
    SessionCore,
    StartRun,
    Stop,
)

E = TypeVar("E", bound=OutputEvent)
WELCOME = Welcome(protocol=PROTOCOL_VERSION, server_pid=1, hostname="here", python="3", started_at=0.0, acks=True)


class Client:
    """A client's state machine wired to the core: what it sends goes in, the core's sends come back."""

    def __init__(self, core: SessionCore, peer: bytes) -> None:
        self.core, self.peer = core, peer
        self.conn = Connection(Role.CLIENT)
        self.now = 0.0

    def send(self, event: Event) -> list[Action]:
        self.now += 1.0
        return self.core.handle(self.peer, self.conn.send(event), self.now)

    def deliver(self, actions: list[Action]) -> list[Event]:
        """Feed this client what the actions send it (as the supervisor would): its state machine checks them."""
        got: list[Event] = []
        for action in actions:
            if isinstance(action, Send) and self.core.attached == self.peer:
                got.append(self.conn.receive(self.core.conn.send(action.event)))
            elif isinstance(action, SendNow) and action.peer == self.peer:
                got.append(self.conn.receive(encode(action.event)))
            elif isinstance(action, Replay) and self.core.attached == self.peer:
                got += [self.conn.receive(self.core.conn.send(e)) for e in action.events]
        return got

    def attach(self, resume_from: int | None = None) -> list[Event]:
        return self.deliver(self.send(Hello(resume_from=resume_from)))


@pytest.fixture
def core(tmp_path: Path) -> SessionCore:
    core = SessionCore(WELCOME, ReplayBuffer(tmp_path / "overflow.log"))
    core.kernel_started()
    assert core.kernel_became_ready() is None
    return core


def output(core: SessionCore, kind: Callable[..., E], *fields: object) -> E:
    """An output event as the supervisor makes it: numbered and kept for replay."""
    event = kind(core.replay.next_seq(), *fields)
    core.replay.add(event)
    return event


def run_to_done(core: SessionCore, client: Client, req_id: str) -> None:
    """What the kernel side does when a run ends: Done goes out and the core hears of it."""
    client.deliver([Send(output(core, Done, req_id, "ok"))])
    core.run_ended(client.now)


def test_attach_welcomes_and_execute_starts_a_run(core: SessionCore) -> None:
    client = Client(core, b"a")
    [welcome] = client.attach()
    assert isinstance(welcome, Welcome) and welcome.replay == 0 and welcome.acks
    assert core.attached == b"a" and client.conn.state is State.IDLE
    execute = Execute("r1", "1+1")
    assert client.send(execute) == [StartRun(execute)]
    assert core.running == "r1" and core.last_activity == client.now
    run_to_done(core, client, "r1")
    assert core.running == "" and client.conn.state is State.IDLE


def test_a_second_client_takes_over(core: SessionCore) -> None:
    first, second = Client(core, b"a"), Client(core, b"b")
    first.attach()
    first.send(Execute("r1", "while True: pass"))
    actions = second.send(Hello())
    assert actions[:2] == [SendNow(b"a", Bye(reason=TAKEN_OVER)), DropClient("another client attached")]
    assert first.deliver(actions) == [Bye(reason=TAKEN_OVER)]
    [welcome] = second.deliver(actions)
    assert isinstance(welcome, Welcome) and welcome.running == "r1"  # the run goes on, now the new client's
    assert core.attached == b"b" and second.conn.state is State.RUNNING
    # the replaced client's messages are a stranger's now: refused, and they change nothing
    [refusal] = first.core.handle(b"a", encode(Interrupt("r1")), 9.0)
    assert isinstance(refusal, SendNow) and isinstance(refusal.event, Rejected) and refusal.event.code == "protocol"
    assert core.attached == b"b" and core.running == "r1"


def test_reconnect_is_replayed_what_it_did_not_acknowledge(core: SessionCore) -> None:
    client = Client(core, b"a")
    client.attach()
    client.send(Execute("r1", "print(1); print(2)"))
    first = output(core, Stream, "r1", "stdout", b"1\n")
    client.deliver([Send(first)])
    assert client.send(Ack(first.seq)) == []
    assert client.send(Detach(ack=first.seq)) == [DropClient("the client detached")]
    assert core.attached is None
    later = output(core, Stream, "r1", "stdout", b"2\n")  # made while nobody was attached
    again = Client(core, b"a2")
    actions = again.send(Hello())
    [replay] = [a for a in actions if isinstance(a, Replay)]
    assert replay.events == (later,) and replay.frames == (None,)  # no encoding kept with it here
    welcome, *replayed = again.deliver(actions)
    assert isinstance(welcome, Welcome) and welcome.replay == 1 and welcome.running == "r1"
    assert replayed == [later]
    # a client that says what it saw gets only what came after
    third = Client(core, b"a3")
    assert third.attach(resume_from=later.seq)[1:] == []


def test_a_duplicate_request_never_runs_twice(core: SessionCore) -> None:
    client = Client(core, b"a")
    client.attach()
    client.send(Execute("r1", "x += 1"))
    run_to_done(core, client, "r1")
    [refusal] = client.send(Execute("r1", "x += 1"))  # a retry after a reconnect, say
    assert isinstance(refusal, Send) and isinstance(refusal.event, Rejected)
    assert refusal.event.code == "duplicate" and refusal.event.req_id == "r1"
    client.deliver([refusal])
    assert client.conn.state is State.IDLE and core.running == ""


def test_busy_refusals(core: SessionCore) -> None:
    client = Client(core, b"a")
    client.attach()
    client.send(Execute("r1", "import time; time.sleep(9)"))
    # While the state machines agree a run goes on, they refuse a second one themselves...
    [refused] = core.handle(b"a", encode(Execute("r2", "1")), 5.0)
    assert isinstance(refused, SendNow) and isinstance(refused.event, Rejected) and refused.event.code == "protocol"
    # ...but once they think it over (the guard answered a failed handling with Rejected naming it),
    # the core still knows the kernel is busy with it.
    client.deliver([Send(Rejected(req_id="r1", code="internal", message="a bug"))])
    assert client.conn.state is State.IDLE and core.running == "r1"
    [busy] = client.send(Execute("r2", "1"))
    assert isinstance(busy, Send) and isinstance(busy.event, Rejected) and busy.event.code == "busy"
    client.deliver([busy])
    [busy] = client.send(Restart("r3"))
    assert isinstance(busy, Send) and isinstance(busy.event, Rejected) and busy.event.code == "busy"
    client.deliver([busy])
    assert core.running == "r1"
    forced = Restart("r4", force=True)
    assert client.send(forced) == [RestartKernel(forced)]


def test_an_unknown_peer_is_told_to_say_hello(core: SessionCore) -> None:
    [refusal] = core.handle(b"x", encode(Execute("r1", "1")), 1.0)
    assert isinstance(refusal, SendNow) and refusal.peer == b"x"
    assert isinstance(refusal.event, Rejected) and refusal.event.code == "protocol"
    assert "send Hello first" in refusal.event.message
    [garbage] = core.handle(b"y", [b"not json"], 1.0)
    assert isinstance(garbage, SendNow) and isinstance(garbage.event, Rejected)
    [version] = core.handle(b"z", [b'{"type":"hello","protocol":1}'], 1.0)
    assert isinstance(version, SendNow) and isinstance(version.event, Rejected) and version.event.code == "version"
    assert core.attached is None and core.running == ""


def test_a_run_waits_for_the_kernel_and_can_be_cancelled_meanwhile(core: SessionCore) -> None:
    core.kernel_started()  # a new kernel, not ready yet
    client = Client(core, b"a")
    client.attach()
    first = Execute("r1", "1")
    assert client.send(first) == []
    assert core.kernel_became_ready() == first and core.running == "r1"
    run_to_done(core, client, "r1")
    core.kernel_started()
    client.send(Execute("r2", "2"))
    assert client.send(Interrupt("r2")) == [CancelRun("r2")]  # the supervisor ends it as Ctrl-C would
    assert core.kernel_became_ready() is None


def test_interrupt_and_input_reach_the_kernel_only_when_they_mean_something(core: SessionCore) -> None:
    client = Client(core, b"a")
    client.attach()
    assert client.send(Interrupt()) == []  # idle: harmless
    client.send(Execute("r1", "input()"))
    assert client.send(Interrupt("r1")) == [InterruptKernel()]
    core.input_requested(7)
    assert client.send(InputReply("r1", 6, "stale")) == []
    assert client.send(InputReply("r1", 7, "yes")) == [ForwardInput("yes", False)]
    assert client.send(InputReply("r1", 7, "again")) == []  # answered already


def test_side_connections_never_attach(core: SessionCore) -> None:
    main, side = Client(core, b"a"), Client(core, b"s")
    main.attach()
    [welcome] = side.deliver(side.send(Hello(side=True)))
    assert isinstance(welcome, Welcome) and core.attached == b"a"
    request = Complete("c1", "pri", 3)
    [forward] = side.send(request)
    assert isinstance(forward, ForwardSide) and forward.peer == b"s" and forward.request == request
    [refusal] = side.send(Execute("r1", "1"))
    assert isinstance(refusal, SendNow) and isinstance(refusal.event, Rejected) and core.running == ""
    assert side.send(Detach()) == [] and b"s" not in core.side_peers


def test_script_connections_never_attach_and_carry_only_a_script_run(core: SessionCore) -> None:
    """An exec's connection leaves the attached client attached; its run is the script runs' work."""
    main, script = Client(core, b"a"), Client(core, b"x")
    main.attach()
    actions = script.send(Hello(script=True))
    assert not any(isinstance(a, (DropClient, Replay)) for a in actions)
    assert not any(isinstance(a, SendNow) and isinstance(a.event, Bye) for a in actions)
    [welcome] = script.deliver(actions)
    assert isinstance(welcome, Welcome) and welcome.replay == 0 and core.attached == b"a"
    run = Execute("r1", "print(1)", "script", "job.py", ("job.py",), origin="/here/job.py", stdin=True)
    [message] = script.send(run)
    assert isinstance(message, ScriptMessage) and message.peer == b"x" and message.event == run
    assert core.running == ""  # the session's kernel is not running anything
    [chunk] = script.send(StdinData("r1", b"data", eof=True))
    assert isinstance(chunk, ScriptMessage) and chunk.event == StdinData("r1", b"data", eof=True)
    assert script.send(Ack(0)) == []  # not kept for replay: nothing to acknowledge
    [ended] = script.send(Detach())
    assert isinstance(ended, ScriptMessage) and isinstance(ended.event, Detach)
    assert b"x" not in core.script_peers and core.attached == b"a"


def test_a_script_connections_file_transfers_are_its_runs_work(core: SessionCore) -> None:
    """``exec --get``: a Download on a script connection goes to the script runs (which resolve it against
    that run's directory), not to the session's transfers."""
    main, script = Client(core, b"a"), Client(core, b"x")
    main.attach()
    script.deliver(script.send(Hello(script=True)))
    [message] = script.send(Download("t1", "out"))
    assert isinstance(message, ScriptMessage) and message.peer == b"x" and message.event == Download("t1", "out")


def test_a_script_connection_refuses_interactive_code(core: SessionCore) -> None:
    script = Client(core, b"x")
    script.deliver(script.send(Hello(script=True)))
    [refusal] = script.send(Execute("r1", "1"))
    assert isinstance(refusal, SendNow) and isinstance(refusal.event, Rejected)


def test_shutdown_says_bye_and_stops(core: SessionCore) -> None:
    client = Client(core, b"a")
    client.attach()
    actions = client.send(Shutdown())
    assert actions == [SendNow(b"a", Bye(reason="the server is shutting down, as asked")), Stop()]
    assert core.attached is None


def test_the_core_imports_no_io_library() -> None:
    """Sans-I/O as ``protocol`` is (tests/protocol/test_purity.py): no sockets, processes or threads."""
    code = "import sys, json, remrepl.server.supervisor.session_core; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert "remrepl.server.supervisor.session_core" in loaded
    assert not loaded & {"zmq", "socket", "selectors", "asyncio", "subprocess", "threading"}
