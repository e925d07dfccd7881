"""AWS credentials the client forwards to the kernel: a reserved ``PutObject`` with a JSON payload.

Why this carrier: ``PutObject`` already travels only inside an authenticated, CURVE-encrypted session,
on a side connection, through the supervisor (which passes the payload on without looking inside or
logging it) to the kernel's side thread, which answers while the kernel's main thread is busy. The reserved name is no
Python identifier, so ``Session.put`` (and ``%put``) can never send it and it never binds a name in the
user's namespace: the kernel's side thread hands the payload to ``remrepl.cluster.credentials`` instead.
The payload is JSON, never a pickle. So no new event, codec or state-machine entry is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

CREDENTIALS_NAME = "remrepl:aws-credentials"
MAX_PAYLOAD = 16 << 10  # a session token is ~1 KB


@dataclass(frozen=True)
class AwsCredentials:
    """Temporary AWS credentials; the secret parts stay out of ``repr`` (a repr lands in logs)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: float | None = None  # seconds since the epoch (UTC), None: unknown
    region: str | None = None  # the client's region, a hint only (the head knows its own)


def encode(credentials: AwsCredentials) -> bytes:
    return json.dumps(
        {
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
            "session_token": credentials.session_token,
            "expiration": credentials.expiration,
            "region": credentials.region,
        }
    ).encode()


def decode(payload: bytes) -> AwsCredentials:
    """The credentials in ``payload``; ``ValueError`` naming the problem (never the secret) otherwise."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"forwarded AWS credentials of {len(payload)} bytes: at most {MAX_PAYLOAD}")
    try:
        data = json.loads(payload)
    except ValueError:
        raise ValueError("forwarded AWS credentials are not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("forwarded AWS credentials are not a JSON object")
    strings = {}
    for key in ("access_key_id", "secret_access_key", "session_token"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"forwarded AWS credentials lack {key}")
        strings[key] = value
    expiration, region = data.get("expiration"), data.get("region")
    if expiration is not None and (type(expiration) not in (int, float) or expiration <= 0):
        raise ValueError("forwarded AWS credentials have a bad expiration")
    if region is not None and not isinstance(region, str):
        raise ValueError("forwarded AWS credentials have a bad region")
    return AwsCredentials(**strings, expiration=None if expiration is None else float(expiration), region=region)
