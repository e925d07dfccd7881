"""The SSH launcher <-> tether keeper lines (``launchers/ssh.py`` <-> ``server/ssh_keeper.py``), typed.

The keeper runs on the SSH host with the channel as its stdin and stdout. What it says is a JSON line
tagged by ``"event"`` (the server's own ready line is one too, which the keeper reads and passes on
with its own fields added); what the launcher says, and the answer of a re-attached channel, is one word
a line:

    server -> keeper       ServerReady             {"event": "ready", "host", "port", ...}
    keeper -> launcher     KeeperReady, KeeperFailed
    launcher -> keeper     Stop, Detach            "stop", "detach"
    keeper -> launcher     Attached, Gone          "attached", "gone" (``attach``'s answer)

These forms are the wire contract of protocol version 2, unchanged: the remote check pins only the
protocol version, so a keeper and a launcher of different remrepl releases meet (a newer client on a
host that has an older remrepl), and both must read what the other writes. Unknown JSON fields are
ignored, so a newer keeper may add some. Stdlib only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .message_codec import Codec

MAX_LINE_BYTES = 1 << 20  # a ready line is a few hundred bytes; a failure carries a log's last lines


@dataclass(frozen=True)
class ServerReady:
    """``python -m remrepl.server`` is serving: where and how to reach it (``ConnectionInfo``'s JSON)."""

    host: str
    port: int
    server_public_key: str  # Z85
    pid: int = 0
    protocol: int = 0
    python: str = ""
    kdf: dict[str, int] = field(default_factory=dict)

    def connection(self) -> dict[str, Any]:
        """The fields ``ConnectionInfo.from_json`` reads (it checks the key and the rest)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ServerReady)}


@dataclass(frozen=True)
class KeeperReady(ServerReady):
    """The server started; the keeper holds its tether. ``tether``: the keeper's Unix socket, for
    ``attach``; ``log``: the server's stderr on the host."""

    log: str = ""
    tether: str = ""
    keeper_pid: int = 0


@dataclass(frozen=True)
class KeeperFailed:
    """The server did not start (``status``: its exit status); ``stderr``: the last lines of its log."""

    status: int = 0
    log: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class Stop:
    """Close the tether now (the server shuts down); the keeper exits with the server's status."""


@dataclass(frozen=True)
class Detach:
    """Untether the server (``--keep``): it lives on by itself."""


@dataclass(frozen=True)
class Attached:
    """A re-attached channel reaches the keeper: ``Stop`` and ``Detach`` work again."""


@dataclass(frozen=True)
class Gone:
    """A re-attached channel found no keeper: the server has stopped."""


KeeperLine = KeeperReady | KeeperFailed
Word = Stop | Detach | Attached | Gone

LINES: Codec[KeeperLine] = Codec({"ready": KeeperReady, "failed": KeeperFailed}, max_header=MAX_LINE_BYTES, tag="event")
_SERVER: Codec[ServerReady] = Codec({"ready": ServerReady}, max_header=MAX_LINE_BYTES, tag="event")
_WORDS: dict[str, type[Word]] = {"stop": Stop, "detach": Detach, "attached": Attached, "gone": Gone}
_WORD_OF = {cls: word for word, cls in _WORDS.items()}


def encode_line(message: KeeperLine | ServerReady) -> bytes:
    """``message`` as its line, newline included; ``LocalProtocolError`` if malformed."""
    if type(message) is ServerReady:
        return _SERVER.encode(message)[0] + b"\n"
    return LINES.encode(message)[0] + b"\n"  # type: ignore[arg-type]  # (a KeeperLine: see the if)


def decode_line(line: bytes | str) -> KeeperLine:
    """What the keeper said in ``line``; ``RemoteProtocolError`` if it is no such line."""
    return LINES.decode((line.encode() if isinstance(line, str) else line,))


def decode_server_ready(line: bytes) -> ServerReady:
    """The server's ready line; ``RemoteProtocolError`` if it is none."""
    return _SERVER.decode((line,))


def keeper_ready(server: ServerReady, *, log: str, tether: str, keeper_pid: int) -> KeeperReady:
    """The keeper's ready line: the server's, with the keeper's own fields."""
    return KeeperReady(**server.connection(), log=log, tether=tether, keeper_pid=keeper_pid)


def encode_word(message: Word) -> bytes:
    return _WORD_OF[type(message)].encode() + b"\n"


def decode_words(data: bytes) -> list[Word]:
    """The words in ``data`` (whole lines), in order; lines that are no word are left out (a login
    script's chatter, a torn line)."""
    found = []
    for line in data.split(b"\n"):
        cls = _WORDS.get(line.strip().decode("ascii", "replace"))
        if cls is not None:
            found.append(cls())
    return found


def decode_word(line: str | None) -> Word | None:
    """The word of one line, None if it is no word (or there is no line)."""
    if line is None:
        return None
    cls = _WORDS.get(line.strip())
    return cls() if cls is not None else None
