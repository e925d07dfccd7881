"""The remrepl wire protocol, sans I/O: events, their codec and the state machine.

This package imports no zmq, socket, asyncio, paramiko or boto3 (a test checks that): it turns events
into frames and frames into events, and says which event may come when. Transports move the frames.
"""

from typing import TYPE_CHECKING

# The names load on first use: importing one submodule (the kernel imports ``kernel_channel`` at its
# start, and must start fast) does not build every event class and the client codec.
if TYPE_CHECKING:
    from .codec import decode, encode
    from .connection import TRANSITIONS, Connection, Role, State
    from .events import (
        OUTPUT_EVENTS,
        PROTOCOL_VERSION,
        Ack,
        Bye,
        ClientEvent,
        Detach,
        Display,
        Done,
        DoneStatus,
        Error,
        Event,
        ExecMode,
        Execute,
        Hello,
        InputReply,
        InputRequest,
        Interrupt,
        Notice,
        OutputEvent,
        Progress,
        Rejected,
        Restart,
        Result,
        ServerEvent,
        Shutdown,
        Stream,
        Terminal,
        Welcome,
    )
    from .side import Complete, CompletePath, Completions, GetObject, Inspect, Inspection, ObjectReply, PutObject
    from .transfers import (
        TRANSFER_CLIENT_EVENTS,
        TRANSFER_SERVER_EVENTS,
        CancelTransfer,
        Download,
        DownloadAck,
        DownloadChunk,
        EntryKind,
        Sync,
        SyncEnd,
        SyncReady,
        TransferDone,
        TransferFailed,
        TransferReady,
        Upload,
        UploadAck,
        UploadChunk,
        UploadEnd,
    )

__all__ = [
    "OUTPUT_EVENTS",
    "PROTOCOL_VERSION",
    "TRANSFER_CLIENT_EVENTS",
    "TRANSFER_SERVER_EVENTS",
    "TRANSITIONS",
    "Ack",
    "Bye",
    "CancelTransfer",
    "ClientEvent",
    "Complete",
    "CompletePath",
    "Completions",
    "Connection",
    "Detach",
    "Display",
    "Done",
    "DoneStatus",
    "Download",
    "DownloadAck",
    "DownloadChunk",
    "EntryKind",
    "Error",
    "Event",
    "ExecMode",
    "Execute",
    "GetObject",
    "Hello",
    "InputReply",
    "InputRequest",
    "Inspect",
    "Inspection",
    "Interrupt",
    "Notice",
    "ObjectReply",
    "OutputEvent",
    "Progress",
    "PutObject",
    "Rejected",
    "Restart",
    "Result",
    "Role",
    "ServerEvent",
    "Shutdown",
    "State",
    "Stream",
    "Sync",
    "SyncEnd",
    "SyncReady",
    "Terminal",
    "TransferDone",
    "TransferFailed",
    "TransferReady",
    "Upload",
    "UploadAck",
    "UploadChunk",
    "UploadEnd",
    "Welcome",
    "decode",
    "encode",
]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import codec, connection, events, side, transfers

    for module in (codec, connection, events, side, transfers):
        if name in vars(module):
            value = vars(module)[name]
            globals()[name] = value
            return value
    raise AttributeError(name)
