"""The kernel's AWS credentials: forwarded ones first, refreshed from what was forwarded last, a clear
error (reconnect) once they expire, and boto3's own chain (the instance profile) otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl import CloudCredentialsError
from remrepl.cluster import credentials
from remrepl.protocol.aws_credentials import AwsCredentials, decode, encode


@pytest.fixture(autouse=True)
def nothing_forwarded() -> Iterator[None]:
    credentials.forget()
    yield
    credentials.forget()


def lend(secret: str, expires_in: float | None) -> None:
    expiration = None if expires_in is None else time.time() + expires_in
    credentials.receive(encode(AwsCredentials("ASIAEXAMPLE", secret, "token", expiration, "us-east-1")))


def test_forwarded_credentials_come_first_and_refresh_from_the_latest(aws: str) -> None:
    lend("first", 700)  # within botocore's 15 minutes of advisory refresh, beyond its 10 mandatory ones
    session = credentials.aws_session("us-east-1")
    found = session.get_credentials()
    assert found is not None
    assert found.method == "remrepl-forwarded" and found.get_frozen_credentials().secret_key == "first"
    lend("second", 7200)  # the client reconnected and forwarded fresh ones
    assert found.get_frozen_credentials().secret_key == "second"


def test_expired_credentials_say_to_reconnect(aws: str) -> None:
    lend("old", -5)
    with pytest.raises(CloudCredentialsError, match=r"expired at .* UTC; reconnect to the head node"):
        credentials.aws_session("us-east-1")
    lend("soon", 60)  # botocore wants them refreshed 10 minutes before the end: too late as well
    with pytest.raises(CloudCredentialsError, match="expire at"):
        credentials.aws_session("us-east-1")


def test_without_forwarded_ones_boto3s_chain_is_used(aws: str) -> None:
    found = credentials.aws_session("us-east-1").get_credentials()
    assert found is not None and found.method == "env"


def test_no_credentials_at_all_is_a_clear_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CloudCredentialsError, match="no instance profile, and the client forwarded none"):
        credentials.aws_session("us-east-1")


def test_the_secret_stays_out_of_reprs() -> None:
    held = AwsCredentials("ASIAEXAMPLE", "s3cret-value", "t0ken-value", None, None)
    assert "s3cret" not in repr(held) and "t0ken" not in repr(held)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"access_key_id": "a", "secret_access_key": "b"}', "lack session_token"),
        (b'{"access_key_id": "a", "secret_access_key": "b", "session_token": "c", "expiration": "x"}', "expiration"),
        (b'{"access_key_id": "a", "secret_access_key": "b", "session_token": "c", "region": 1}', "region"),
        (b"{" + b" " * (20 << 10) + b"}", "at most"),
    ],
)
def test_malformed_payloads_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(payload)
    assert credentials.forwarded() is None


def test_the_kernel_side_uses_the_reserved_name() -> None:
    from remrepl.protocol.aws_credentials import CREDENTIALS_NAME

    source = (Path(credentials.__file__).parents[1] / "server" / "kernel" / "side.py").read_text()
    assert f'"{CREDENTIALS_NAME}"' in source and not CREDENTIALS_NAME.isidentifier()
