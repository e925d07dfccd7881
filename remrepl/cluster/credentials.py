"""AWS credentials in the kernel: the head's instance profile, or what the client forwarded.

The client forwards short-lived STS credentials over the authenticated session
(``Session.forward_aws_credentials``, see ``remrepl/protocol/aws_credentials.py``); the kernel's side
thread hands them to ``receive`` (``server/kernel_credentials.py``), and they stay in the kernel's memory:
never in argv, the environment, a file, a log, or the user's namespace. ``aws_session`` builds boto3
sessions that use them first (before boto3's own chain, which on a head with an instance profile finds
the profile), through a botocore credential provider whose credentials refresh themselves from what was
forwarded last: a client that reconnects (and so forwards fresh ones) is picked up by a running cluster.
Expired ones give a ``CloudCredentialsError`` that says to reconnect.
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from .._exceptions import CloudCredentialsError, ConfigError
from ..server.kernel.credentials import forget, forwarded, receive

if TYPE_CHECKING:
    import boto3

__all__ = ["EXPIRED_HINT", "aws_session", "forget", "forwarded", "receive"]

EXPIRED_HINT = (
    "reconnect to the head node (remrepl connect ...) so the client forwards fresh ones, or give the head an "
    "instance profile"
)


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _metadata() -> dict[str, str]:
    """The forwarded credentials as botocore's refresh metadata; ``CloudCredentialsError`` when expired."""
    held = forwarded()
    if held is None:
        raise CloudCredentialsError(f"the AWS credentials the client forwarded are gone; {EXPIRED_HINT}")
    # botocore refreshes (calls us) from 10 minutes before the expiry on: only fresher ones help then
    if held.expiration is not None and held.expiration - time.time() < 600:
        raise CloudCredentialsError(
            f"the AWS credentials the client forwarded expire{'d' * (held.expiration < time.time())} at "
            f"{_when(held.expiration)}; {EXPIRED_HINT}"
        )
    expiry = held.expiration if held.expiration is not None else time.time() + 365 * 86400
    return {
        "access_key": held.access_key_id,
        "secret_key": held.secret_access_key,
        "token": held.session_token,
        "expiry_time": datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc).isoformat(),
    }


def _provider() -> Any:
    from botocore.credentials import CredentialProvider, RefreshableCredentials

    class Forwarded(CredentialProvider):
        METHOD = CANONICAL_NAME = "remrepl-forwarded"

        def load(self) -> Any:
            if forwarded() is None:
                return None  # on to boto3's own chain (the instance profile)
            return RefreshableCredentials.create_from_metadata(_metadata(), _metadata, self.METHOD)

    return Forwarded()


def aws_session(region: str | None) -> boto3.Session:
    """A boto3 session for ``region``: forwarded credentials first, then boto3's standard chain.
    ``CloudCredentialsError`` if neither has any."""
    try:
        import boto3
        import botocore.session
    except ImportError:
        raise ConfigError("EC2 workers need boto3 on the head node: pip install 'remrepl[ec2]'") from None

    core = botocore.session.get_session()
    core.get_component("credential_provider").insert_before("env", _provider())
    session = boto3.Session(botocore_session=core, region_name=region or None)
    if session.get_credentials() is None:
        raise CloudCredentialsError(
            "no AWS credentials on the head node: it has no instance profile, and the client forwarded none to "
            "this interpreter (the EC2 launcher does when it connects, so reconnect, e.g. after a restart; "
            "from Python: session.forward_aws_credentials())"
        )
    return session
