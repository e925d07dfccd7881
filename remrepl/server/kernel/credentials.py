"""The AWS credentials the client forwarded to this kernel, held in its memory and nowhere else.

The kernel's side thread hands the payload of the reserved ``PutObject`` (``protocol/aws_credentials.py``)
to ``receive``; ``remrepl.cluster.credentials`` reads ``forwarded()`` when boto3 asks for credentials.
Never argv, the environment, a file, a log, or the user's namespace. Stdlib only (with ``protocol``).
"""

from __future__ import annotations

import threading

from ...protocol.aws_credentials import AwsCredentials, decode

_lock = threading.Lock()
_held: AwsCredentials | None = None


def receive(payload: bytes) -> None:
    """Keep the credentials in ``payload`` (replacing earlier ones); ``ValueError`` if malformed."""
    global _held
    credentials = decode(payload)
    with _lock:
        _held = credentials


def forwarded() -> AwsCredentials | None:
    with _lock:
        return _held


def forget() -> None:
    global _held
    with _lock:
        _held = None
