"""``Session.forward_aws_credentials``: short-lived AWS credentials for a head node without an instance profile.

The head's kernel launches and terminates EC2 worker instances (``remrepl.cluster(ec2=...)``). On a head
with an instance profile boto3 finds that by itself; otherwise the client lends it temporary credentials:
STS ``GetSessionToken`` for long-term keys, or the client's own temporary credentials (SSO, an assumed
role, a session token) as they are, since STS refuses GetSessionToken for those. They travel inside the
authenticated session as a reserved side request (``protocol/aws_credentials.py``) and are held in the
kernel's memory only.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from .._exceptions import CloudCredentialsError, ObjectError
from ..protocol.aws_credentials import CREDENTIALS_NAME, AwsCredentials, encode
from ..protocol.side import ObjectReply, PutObject
from .side import SideRequests

DEFAULT_DURATION = 12 * 3600  # seconds: STS's own default for GetSessionToken
MIN_DURATION, MAX_DURATION = 900, 129600  # what STS accepts


def forward(side: SideRequests, session: Any = None, *, duration: int, timeout: float) -> datetime.datetime | None:
    """``Session.forward_aws_credentials``: lend ``session``'s credentials over the side requests ``side``."""
    if not isinstance(duration, int) or not MIN_DURATION <= duration <= MAX_DURATION:
        raise ValueError(f"duration must be {MIN_DURATION} to {MAX_DURATION} seconds, not {duration!r}")
    credentials = temporary_credentials(session, duration)
    reply = side.request(PutObject(uuid.uuid4().hex, CREDENTIALS_NAME, encode(credentials)), timeout)
    assert isinstance(reply, ObjectReply)
    if not reply.ok:
        raise ObjectError(f"the head node did not take the AWS credentials: {reply.message}")
    if credentials.expiration is None:
        return None
    return datetime.datetime.fromtimestamp(credentials.expiration, datetime.timezone.utc)


def temporary_credentials(session: Any, duration: int) -> AwsCredentials:
    """Temporary credentials from ``session``'s (see ``forward_aws_credentials``)."""
    from ..aws.session import aws_errors, aws_session, client  # boto3 itself only when used

    if session is None:
        session = aws_session()  # ConfigError without boto3, CloudCredentialsError without credentials
    found = session.get_credentials()
    if found is None:
        raise CloudCredentialsError("no AWS credentials here to forward (boto3's standard chain found none)")
    frozen = found.get_frozen_credentials()
    if frozen.token:  # already temporary: STS would refuse GetSessionToken with them
        expiry = getattr(found, "_expiry_time", None)  # RefreshableCredentials know it (botocore keeps it private)
        return AwsCredentials(
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
            expiry.timestamp() if isinstance(expiry, datetime.datetime) else None,
            session.region_name,
        )
    with aws_errors("getting short-lived AWS credentials to forward"):
        answer = client(session, "sts").get_session_token(DurationSeconds=duration)["Credentials"]
    return AwsCredentials(
        answer["AccessKeyId"],
        answer["SecretAccessKey"],
        answer["SessionToken"],
        answer["Expiration"].timestamp(),
        session.region_name,
    )
