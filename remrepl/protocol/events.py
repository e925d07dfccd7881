"""The protocol's events: small frozen dataclasses, one per message type.

Client → server: Hello, Execute, Interrupt, InputReply, Detach, Shutdown.
Server → client: Welcome, Stream, Result, Error, InputRequest, Done, Notice, Rejected, Bye, Display.
File transfers (both ways, by the supervisor, never by user code): Upload, Download, UploadChunk,
UploadEnd, DownloadAck, CancelTransfer from the client; TransferReady, DownloadChunk, UploadAck,
TransferDone, TransferFailed from the server. See ``remrepl/_transfer.py`` for how they are used.

Server events that belong to the session's output (everything a user would see) carry ``seq``, a number
that grows by one per event over the server's life. The server keeps recent ones in a replay buffer; a
client acknowledges what it has seen (``Execute.ack``, ``Detach.ack``) and asks for the rest when it
attaches (``Hello.resume_from``), so output produced while no client listened is not lost.

Fields typed ``bytes`` travel as separate binary frames after the JSON header (see ``codec``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROTOCOL_VERSION = 1

ExecMode = Literal["interactive", "script"]
StreamName = Literal["stdout", "stderr"]
# How a run ended. "exit": the code raised SystemExit; "died": the interpreter process died under it.
DoneStatus = Literal["ok", "error", "interrupted", "exit", "died"]
RejectCode = Literal["busy", "protocol", "version", "duplicate"]
EntryKind = Literal["file", "dir"]


# --- client -> server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """First message of every connection. ``resume_from``: replay output after this seq (None: unseen)."""

    protocol: int = PROTOCOL_VERSION
    resume_from: int | None = None


@dataclass(frozen=True)
class Execute:
    """Run ``code``. ``interactive``: like the standard REPL (expressions echo); ``script``: as ``__main__``."""

    req_id: str
    code: str
    mode: ExecMode = "interactive"
    filename: str = "<remote>"
    argv: tuple[str, ...] = ()
    ack: int = 0  # the highest seq this client has seen (lets the server trim what it would replay)


@dataclass(frozen=True)
class Interrupt:
    """Raise KeyboardInterrupt in the running code (as Ctrl-C does locally). Harmless when idle."""

    req_id: str = ""


@dataclass(frozen=True)
class InputReply:
    """The answer to the InputRequest numbered ``seq``; ``eof`` makes ``input()`` raise EOFError."""

    req_id: str
    seq: int
    text: str = ""
    eof: bool = False


@dataclass(frozen=True)
class Detach:
    """The client leaves; the session (namespace, running code) stays on the server."""

    ack: int = 0


@dataclass(frozen=True)
class Shutdown:
    """Stop the server (its interpreter and namespace go with it)."""


# --- server -> client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Welcome:
    """Reply to Hello. ``running``: the req_id of a run still going on (its output follows), or ""."""

    protocol: int
    server_pid: int
    hostname: str
    python: str
    started_at: float
    running: str = ""
    last_seq: int = 0
    replay: int = 0  # how many replayed output events follow this Welcome


@dataclass(frozen=True)
class Stream:
    """Bytes the running code wrote to its stdout or stderr (Python-level, C-level or a subprocess)."""

    seq: int
    req_id: str
    name: StreamName
    data: bytes


@dataclass(frozen=True)
class Result:
    """The repr of an expression evaluated at the prompt (what the standard REPL echoes)."""

    seq: int
    req_id: str
    text: str


@dataclass(frozen=True)
class Error:
    """An exception escaped the user's code; ``traceback`` shows only the user's frames."""

    seq: int
    req_id: str
    ename: str
    evalue: str
    traceback: str


@dataclass(frozen=True)
class InputRequest:
    """The running code called ``input()`` (or ``getpass`` with ``password``); answer with InputReply."""

    seq: int
    req_id: str
    prompt: str
    password: bool = False


@dataclass(frozen=True)
class Done:
    """The run ``req_id`` is over. ``exit_code``: what a script run would exit with.

    ``results``: reprs of expressions evaluated last in the run, not yet sent as Result events. They ride
    here to save a message per ``1+1``; the client shows them (and its API yields them as Result events)
    before the Done.
    """

    seq: int
    req_id: str
    status: DoneStatus
    exit_code: int = 0
    results: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Something the user should read that is not output of their code (e.g. the interpreter died)."""

    seq: int
    text: str


@dataclass(frozen=True)
class Rejected:
    """The server refused a request; the session goes on (except for "version")."""

    req_id: str
    code: RejectCode
    message: str


@dataclass(frozen=True)
class Bye:
    """The server ends this client's attachment: it is shutting down, or another client attached."""

    reason: str


@dataclass(frozen=True)
class Display:
    """Rich output of the running code that is not text, e.g. a matplotlib figure as ``image/png``."""

    seq: int
    req_id: str
    mime: str
    data: bytes


# --- file transfers -------------------------------------------------------------------------------
# A transfer moves one file or one directory tree as a sequence of entries: the root (path "") first,
# then, for a directory, every sub-directory before what it holds. A file entry's data comes in chunks
# (offset, data), its last chunk has ``end`` and the sender's SHA-256 of the whole file. The receiver
# writes into a temporary sibling of the target and renames it only when everything arrived and matched.
# Flow control: the sender keeps at most a window of bytes unacknowledged (UploadAck / DownloadAck).


@dataclass(frozen=True)
class Upload:
    """Start an upload of a ``kind`` (file or directory) named ``name`` locally, ``size`` bytes of file data
    in all, to ``remote`` on the server ("": the kernel's current directory; an existing directory: inside
    it; relative paths: from the kernel's current directory)."""

    xfer_id: str
    remote: str
    name: str
    kind: EntryKind
    size: int


@dataclass(frozen=True)
class Download:
    """Start a download of ``remote`` (a file or directory; relative to the kernel's current directory)."""

    xfer_id: str
    remote: str


@dataclass(frozen=True)
class UploadChunk:
    """A piece of entry ``path`` of an upload (see the transfer notes above)."""

    xfer_id: str
    path: str
    kind: EntryKind
    offset: int
    data: bytes
    end: bool = False
    sha256: str = ""
    mode: int = 0o644


@dataclass(frozen=True)
class UploadEnd:
    """Every entry of the upload was sent: check and move it into place."""

    xfer_id: str


@dataclass(frozen=True)
class DownloadAck:
    """The client has written ``received`` bytes of file data of the download."""

    xfer_id: str
    received: int


@dataclass(frozen=True)
class CancelTransfer:
    """Stop a transfer (Ctrl-C, a local error); the server removes what it had written."""

    xfer_id: str
    reason: str = ""


@dataclass(frozen=True)
class TransferReady:
    """The server accepted a transfer. ``path``: the absolute path on the server (the upload's target,
    or the download's source, whose ``kind`` and total ``size`` of file data follow)."""

    xfer_id: str
    path: str
    kind: EntryKind
    size: int


@dataclass(frozen=True)
class DownloadChunk:
    """A piece of entry ``path`` of a download (fields as in UploadChunk)."""

    xfer_id: str
    path: str
    kind: EntryKind
    offset: int
    data: bytes
    end: bool = False
    sha256: str = ""
    mode: int = 0o644


@dataclass(frozen=True)
class UploadAck:
    """The server has written ``received`` bytes of file data of the upload."""

    xfer_id: str
    received: int


@dataclass(frozen=True)
class TransferDone:
    """An upload is in place at ``path``, or every chunk of a download was sent."""

    xfer_id: str
    path: str
    files: int
    size: int


@dataclass(frozen=True)
class TransferFailed:
    """The transfer stopped; the server left nothing at the target. ``message`` says why."""

    xfer_id: str
    message: str


ClientEvent = (
    Hello
    | Execute
    | Interrupt
    | InputReply
    | Detach
    | Shutdown
    | Upload
    | Download
    | UploadChunk
    | UploadEnd
    | DownloadAck
    | CancelTransfer
)
ServerEvent = (
    Welcome
    | Stream
    | Result
    | Error
    | InputRequest
    | Done
    | Notice
    | Rejected
    | Bye
    | Display
    | TransferReady
    | DownloadChunk
    | UploadAck
    | TransferDone
    | TransferFailed
)
Event = ClientEvent | ServerEvent
# Events that are session output: numbered, kept for replay.
OutputEvent = Stream | Result | Error | InputRequest | Done | Notice | Display
TransferServerEvent = TransferReady | DownloadChunk | UploadAck | TransferDone | TransferFailed
TransferClientEvent = Upload | Download | UploadChunk | UploadEnd | DownloadAck | CancelTransfer

TRANSFER_CLIENT_EVENTS = (Upload, Download, UploadChunk, UploadEnd, DownloadAck, CancelTransfer)
TRANSFER_SERVER_EVENTS = (TransferReady, DownloadChunk, UploadAck, TransferDone, TransferFailed)
CLIENT_EVENTS: tuple[type, ...] = (Hello, Execute, Interrupt, InputReply, Detach, Shutdown, *TRANSFER_CLIENT_EVENTS)
SERVER_EVENTS: tuple[type, ...] = (
    Welcome,
    Stream,
    Result,
    Error,
    InputRequest,
    Done,
    Notice,
    Rejected,
    Bye,
    Display,
    *TRANSFER_SERVER_EVENTS,
)
OUTPUT_EVENTS = (Stream, Result, Error, InputRequest, Done, Notice, Display)
