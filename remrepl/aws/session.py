"""Sessions, clients and error translation: the one place that knows how remrepl talks to AWS.

Credentials and region come only from boto3's standard chain (``--profile``/``AWS_PROFILE``, the
environment, ``~/.aws/config`` and ``credentials``, SSO, a container or instance role): remrepl has no
flag that carries a secret. Every AWS call runs inside ``aws_errors(what)``, which turns botocore's
exceptions into the ``CloudError`` tree with a message naming what we were doing, the AWS operation and
AWS's error code. Clients use botocore's "standard" retry mode (throttling such as RequestLimitExceeded
backs off exponentially with jitter, a bounded number of attempts) and bounded connect/read timeouts.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import CapacityError, CloudCredentialsError, CloudError, ConfigError

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")

MAX_ATTEMPTS = 5  # attempts per call in all; botocore's standard mode backs off throttling up to ~20 s between
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
CHECKIP_URL = "https://checkip.amazonaws.com"
POLICY_HINT = "remrepl's repository has the IAM policy it needs in docs/ec2-iam-policy.json"

# What boto3's chain looks at, for the message when it found nothing.
_CHAIN = (
    "boto3 looked at: --profile / AWS_PROFILE, the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
    "AWS_SESSION_TOKEN), ~/.aws/credentials and ~/.aws/config (or AWS_SHARED_CREDENTIALS_FILE / "
    "AWS_CONFIG_FILE), SSO, web identity, and the container / instance role"
)
_REGION_HINT = (
    "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or put `region = ...` in the "
    "profile in ~/.aws/config"
)

# AWS error codes that mean "your credentials are missing, wrong or expired".
CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
    }
)
# ... "AWS has no room for this right now": not your fault, try something else or later.
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacityOnHost",
        "SpotMaxPriceTooLow",
    }
)
CAPACITY_HINT = (
    "AWS has no capacity for this right now; try another --instance-type, another --subnet (in another "
    "availability zone), on-demand instead of --spot, or again later"
)


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigError("EC2 needs boto3: pip install 'remrepl[ec2]'") from None
    return boto3


# Region names: "us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "eusc-de-east-1", ...
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")


def aws_session(*, region: str | None = None, profile: str | None = None) -> boto3.Session:
    """A boto3 session from the standard chain; ``CloudCredentialsError`` when it finds no region or no
    credentials (saying where it looked), ``ConfigError`` for a malformed region. Nothing is fetched from
    AWS here."""
    if region and not _REGION.match(region):
        raise ConfigError(f"bad --region {region!r}: expected an AWS region name like us-east-1 or eu-west-2")
    boto3 = _boto3()
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile or None, region_name=region or None)
        if not session.region_name:
            raise CloudCredentialsError(_REGION_HINT)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise CloudCredentialsError(
            f"no AWS profile named {profile!r} in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE)"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:  # a broken config file, an SSO token to refresh, ...
        raise CloudCredentialsError(f"cannot load AWS credentials: {exc}") from None
    if credentials is None:
        raise CloudCredentialsError(f"no AWS credentials found; {_CHAIN}")
    return session  # type: ignore[no-any-return]


def client(session: boto3.Session, service: str, *, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A client for ``service`` with standard-mode retries and bounded timeouts. The endpoint is boto3's
    own choice, so ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_EC2``, or ``endpoint_url`` in the profile)
    points it elsewhere, e.g. at a moto server in the tests."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # attempts in all, not retries
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        user_agent_extra="remrepl",
    )
    with aws_errors(f"making an AWS {service} client"):
        return session.client(service, config=config)  # type: ignore[call-overload]


def error_code(exc: BaseException) -> str:
    """AWS's error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Translate botocore's exceptions raised inside into ``CloudError`` (and its subclasses); ``what``
    says what we were doing ("creating the security group")."""
    import botocore.exceptions as bx

    try:
        yield
    except bx.ClientError as exc:
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
        text = f"{what} failed: AWS {exc.operation_name} returned {code}: {message}"
        if code in CREDENTIAL_CODES:
            raise CloudCredentialsError(
                f"{text} (the AWS credentials are wrong or expired; refresh them, e.g. `aws sso login`)", code=code
            ) from None
        if code in CAPACITY_CODES:
            raise CapacityError(f"{text}. {CAPACITY_HINT}", code=code) from None
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            text += f" (the AWS identity lacks this permission; {POLICY_HINT})"
        raise CloudError(text, code=code) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise CloudCredentialsError(f"{what} failed: {exc}; {_CHAIN}") from None
    except bx.NoRegionError:
        raise CloudCredentialsError(f"{what} failed: {_REGION_HINT}") from None
    except (bx.SSOError, bx.TokenRetrievalError, bx.CredentialRetrievalError) as exc:
        raise CloudCredentialsError(f"{what} failed: {exc} (refresh the credentials, e.g. `aws sso login`)") from None
    except (bx.ConnectionError, bx.ReadTimeoutError, bx.HTTPClientError) as exc:  # timeouts, refused, reset
        raise CloudError(f"{what} failed: could not reach AWS: {exc}") from None
    except bx.BotoCoreError as exc:
        raise CloudError(f"{what} failed: {exc}") from None


def retrying(
    what: str,
    call: Callable[[], T],
    *,
    codes: Collection[str],
    attempts: int,
    delay: float,
    max_delay: float = 30.0,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()`` inside ``aws_errors(what)``; while it fails with one of AWS's error ``codes``, again
    after an exponential back-off (``delay``, doubling, at most ``max_delay``), ``attempts`` times in all
    and never past the monotonic ``deadline``. Then the last error is raised."""
    for attempt in range(1, attempts + 1):
        try:
            with aws_errors(what):
                return call()
        except CloudError as exc:
            wait = min(delay * 2 ** (attempt - 1), max_delay)
            out_of_time = deadline is not None and time.monotonic() + wait > deadline
            if exc.code not in codes or attempt == attempts or out_of_time:
                raise
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Identity:
    """Who the AWS credentials belong to (STS GetCallerIdentity)."""

    account: str
    arn: str
    user_id: str


def caller_identity(session: boto3.Session) -> Identity:
    sts = client(session, "sts")
    with aws_errors("asking AWS who the credentials belong to (STS GetCallerIdentity)"):
        answer = sts.get_caller_identity()
    return Identity(account=str(answer["Account"]), arn=str(answer["Arn"]), user_id=str(answer["UserId"]))


def caller_cidr(timeout: float = 5.0, *, url: str = CHECKIP_URL) -> str:
    """This machine's public address as seen from AWS (``"a.b.c.d/32"``, or ``.../128`` for IPv6), from
    AWS's own checkip service. Never runs in the tests (they pass ``--allow-cidr``), except against a
    local server given as ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            text = answer.read(200).decode("ascii", "replace").strip()
    except (OSError, urllib.error.URLError) as exc:
        raise CloudError(
            f"could not find this machine's public address at {url} ({exc}); pass --allow-cidr ADDRESS/32"
        ) from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise CloudError(f"{url} answered {text[:60]!r}, not an IP address; pass --allow-cidr ADDRESS/32") from None
    return f"{address}/{address.max_prefixlen}"
