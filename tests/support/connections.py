"""A client and a server protocol endpoint wired together in memory, for the state machine's tests."""

from __future__ import annotations

from remrepl.protocol import PROTOCOL_VERSION, Connection, Hello, Role, State, Welcome
from remrepl.protocol.events import Event


def welcome(running: str = "") -> Welcome:
    return Welcome(PROTOCOL_VERSION, 1, "host", "3.11", 0.0, running=running)


class Pair:
    """A client and a server endpoint; ``c2s``/``s2c`` move one event across, as the transport would."""

    def __init__(self) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER)

    def c2s(self, event: Event) -> Event:
        return self.server.receive(self.client.send(event))

    def s2c(self, event: Event) -> Event:
        return self.client.receive(self.server.send(event))

    def attached(self, running: str = "") -> Pair:
        self.c2s(Hello())
        self.s2c(welcome(running))
        return self


def states(pair: Pair) -> tuple[State, State]:
    return pair.client.state, pair.server.state
