"""AWS credentials the client forwards to the kernel: a reserved ``PutObject`` with a JSON payload.

Why this carrier: ``PutObject`` already travels only inside an authenticated, CURVE-encrypted session,
on a side connection, through the supervisor (which passes the payload on without looking inside or
logging it) to the kernel's side thread, which answers while the kernel's main thread is busy. The reserved name is no
Python identifier, so ``Session.put`` (and ``%put``) can never send it and it never binds a name in the
user's namespace: the kernel's side thread hands the payload to ``remrepl.cluster.credentials`` instead.
The payload is the codec's JSON header of an ``AwsCredentials`` message, never a pickle. So no new event or
state-machine entry is needed. (A payload without the header's type, as remrepl sent before, is read too.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .._exceptions import RemreplError
from .message_codec import Codec

CREDENTIALS_NAME = "remrepl:aws-credentials"
MAX_PAYLOAD = 16 << 10  # a session token is ~1 KB
_SECRETS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True)
class AwsCredentials:
    """Temporary AWS credentials; the secret parts stay out of ``repr`` (a repr lands in logs)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: float | None = None  # seconds since the epoch (UTC), None: unknown
    region: str | None = None  # the client's region, a hint only (the head knows its own)


_CODEC: Codec[AwsCredentials] = Codec((AwsCredentials,), max_header=MAX_PAYLOAD, strict=True)
_TYPE = _CODEC.name_of[AwsCredentials]


def encode(credentials: AwsCredentials) -> bytes:
    """The payload carrying ``credentials``; ``LocalProtocolError`` if malformed or too big."""
    return _CODEC.encode(credentials)[0]


def decode(payload: bytes) -> AwsCredentials:
    """The credentials in ``payload``; ``ValueError`` naming the problem (never the secret) otherwise."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"forwarded AWS credentials of {len(payload)} bytes: at most {MAX_PAYLOAD}")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise ValueError("forwarded AWS credentials are not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("forwarded AWS credentials are not a JSON object")
    for key in _SECRETS:  # checked here, so that no codec error can quote a secret
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"forwarded AWS credentials lack {key}")
    try:
        credentials = _CODEC.decode_header({_CODEC.tag: _TYPE, **data})
    except RemreplError as exc:
        raise ValueError(f"forwarded AWS credentials: {exc}") from None
    if credentials.expiration is not None and credentials.expiration <= 0:
        raise ValueError("forwarded AWS credentials have a bad expiration")
    return credentials
