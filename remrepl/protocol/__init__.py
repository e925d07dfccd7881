"""The remrepl wire protocol, sans I/O: events, their codec and the state machine.

This package imports no zmq, socket, asyncio, paramiko or boto3 (a test checks that): it turns events
into frames and frames into events, and says which event may come when. Transports move the frames.
"""

from .codec import decode, encode
from .connection import TRANSITIONS, Connection, Role, State
from .events import (
    OUTPUT_EVENTS,
    PROTOCOL_VERSION,
    Bye,
    ClientEvent,
    Detach,
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
    Result,
    ServerEvent,
    Shutdown,
    Stream,
    Welcome,
)

__all__ = [
    "OUTPUT_EVENTS",
    "PROTOCOL_VERSION",
    "TRANSITIONS",
    "Bye",
    "ClientEvent",
    "Connection",
    "Detach",
    "Done",
    "DoneStatus",
    "Error",
    "Event",
    "ExecMode",
    "Execute",
    "Hello",
    "InputReply",
    "InputRequest",
    "Interrupt",
    "Notice",
    "OutputEvent",
    "Progress",
    "Rejected",
    "Result",
    "Role",
    "ServerEvent",
    "Shutdown",
    "State",
    "Stream",
    "Welcome",
    "decode",
    "encode",
]
