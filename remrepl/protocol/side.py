"""Side requests: completion, help and object transfer, answered without running the user's code path.

They may travel on the attached connection, but a client normally opens a second, lightweight connection
for them (``Hello(side=True)``, same client key): a ZeroMQ socket is not thread-safe, and this way the
prompt's completer thread never touches the socket the main thread reads output from. The kernel answers
them from its own side thread, so they are served while a long run keeps its main thread busy.

Every request carries a ``req_id`` that its reply repeats; a client drops replies it no longer waits for
(a completion for text the user has since changed).
"""

from __future__ import annotations

from dataclasses import dataclass

# A pickle travels as one frame, and a frame over the sockets' 64 MiB MAXMSGSIZE makes libzmq drop the
# connection (the request would then hang until its timeout): bigger objects are refused at the sending end.
MAX_OBJECT_BYTES = 60 << 20

# --- client -> server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Complete:
    """Completions for ``code`` with the cursor at character offset ``cursor``."""

    req_id: str
    code: str
    cursor: int


@dataclass(frozen=True)
class Inspect:
    """Help on the object that the dotted name ``name`` denotes: ``detail`` 0 signature and docstring
    (``obj?``), 1 also its source (``obj??``)."""

    req_id: str
    name: str
    detail: int = 0


@dataclass(frozen=True)
class GetObject:
    """Send the object bound to ``name`` in the remote namespace, pickled (cloudpickle)."""

    req_id: str
    name: str


@dataclass(frozen=True)
class PutObject:
    """Bind ``name`` in the remote namespace to the object pickled in ``data``. Only ever sent inside an
    authenticated session: the server unpickles it in the kernel, never in the supervisor."""

    req_id: str
    name: str
    data: bytes


@dataclass(frozen=True)
class CompletePath:
    """The remote paths that start with ``typed`` (relative to the kernel's working directory; ``~`` is
    the remote home), for a magic's argument: answered by ``Completions`` whose ``matches`` are whole
    paths (directories ending in ``/``, ``start`` 0) and ``kinds`` ``directory`` or ``file``.
    ``directories_only``: no files (``%cd``)."""

    req_id: str
    typed: str
    directories_only: bool = False


# --- server -> client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Completions:
    """Candidates replacing ``code[start:cursor]``; ``kinds`` (same length, or empty) say what each is."""

    req_id: str
    start: int
    matches: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspection:
    """What ``Inspect`` asked for, as text; ``found`` False: ``text`` says why there is nothing."""

    req_id: str
    found: bool
    text: str


@dataclass(frozen=True)
class ObjectReply:
    """Answer to GetObject (``data``: the pickle) or PutObject (``data`` empty); ``ok`` False: ``message``
    says what went wrong, and nothing changed."""

    req_id: str
    ok: bool
    message: str = ""
    data: bytes = b""


SIDE_CLIENT_EVENTS: tuple[type, ...] = (Complete, Inspect, GetObject, PutObject, CompletePath)
SIDE_SERVER_EVENTS: tuple[type, ...] = (Completions, Inspection, ObjectReply)
SIDE_REQUESTS = (Complete, Inspect, GetObject, PutObject, CompletePath)
