"""AWS credentials forwarded over the authenticated session reach the kernel's memory, and nothing else:
no command line, no environment, no file, no name in the user's namespace."""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path

import boto3
import pytest

from remrepl import CloudCredentialsError, ObjectError
from remrepl.client.session import Session
from remrepl.protocol.aws_credentials import CREDENTIALS_NAME
from remrepl.protocol.side import ObjectReply, PutObject
from tests.support.processes import process_texts

IN_KERNEL = """
import hashlib
from remrepl.cluster import credentials
held = credentials.forwarded()
session = credentials.aws_session("us-east-1")
print(hashlib.sha256(held.secret_access_key.encode()).hexdigest(), session.get_credentials().method)
print(len(session.client("ec2").describe_instances()["Reservations"]))
del held, session, credentials, hashlib
"""


def test_long_term_keys_are_exchanged_for_sts_credentials_that_reach_the_kernel(aws: str, session: Session) -> None:
    expires = session.forward_aws_credentials(duration=900)
    assert expires is not None and expires > datetime.datetime.now(datetime.timezone.utc)
    result = session.run(IN_KERNEL)
    assert result.ok, result.error
    digest, method, reservations = result.stdout.split()
    assert len(digest) == 64 and method == "remrepl-forwarded" and reservations == "0"  # and moto took them


def test_forwarded_credentials_are_in_no_process_file_or_user_name(
    aws: str, session: Session, private_state: Path
) -> None:
    import hashlib

    key_id, secret, token = "ASIA" + secrets.token_hex(8).upper(), secrets.token_hex(20), secrets.token_hex(40)
    lent = boto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token, region_name="us-east-1"
    )
    assert session.forward_aws_credentials(lent) is None  # already temporary: forwarded as they are, expiry unknown
    result = session.run(IN_KERNEL)
    assert result.ok, result.error
    assert result.stdout.split()[:3] == [hashlib.sha256(secret.encode()).hexdigest(), "remrepl-forwarded", "0"]
    names = session.run("[n for n, v in list(globals().items()) if 'remrepl:' in n or repr(v).find('ASIA') >= 0]")
    assert names.value == "[]"
    for text in (secret, token):
        assert [pid for pid, seen in process_texts().items() if text.encode() in seen] == []
        for path in private_state.rglob("*"):
            if path.is_file():
                assert text.encode() not in path.read_bytes(), path


def test_malformed_credentials_are_refused_and_change_nothing(aws: str, session: Session) -> None:
    with pytest.raises(ValueError, match="duration"):
        session.forward_aws_credentials(duration=60)
    reply = session._side.request(PutObject("r1", CREDENTIALS_NAME, b'{"access_key_id": "x"}'), 10)
    assert isinstance(reply, ObjectReply)
    assert not reply.ok and "lack secret_access_key" in reply.message
    assert session.run("from remrepl.cluster import credentials; print(credentials.forwarded())").stdout == "None\n"
    with pytest.raises(ObjectError, match="valid Python name"):
        session.put(CREDENTIALS_NAME, b"{}")  # the user's put() can never send the reserved name


def test_nothing_to_forward_is_a_clear_error(aws: str, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CloudCredentialsError, match="no AWS credentials found"):
        session.forward_aws_credentials()


def test_a_script_run_gets_the_credentials_lent_to_the_session(aws: str, session: Session, tmp_path: Path) -> None:
    """``exec`` on EC2 lends credentials to the session, then runs its script in a fresh interpreter:
    that one gets them too (a cluster started by the script needs them)."""
    import hashlib

    secret = secrets.token_hex(20)
    lent = boto3.Session(
        aws_access_key_id="ASIA" + secrets.token_hex(8).upper(),
        aws_secret_access_key=secret,
        aws_session_token=secrets.token_hex(40),
        region_name="us-east-1",
    )
    session.forward_aws_credentials(lent)
    script = tmp_path / "uses_aws.py"
    script.write_text(IN_KERNEL)
    result = session.run_script(script)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split()[:3] == [hashlib.sha256(secret.encode()).hexdigest(), "remrepl-forwarded", "0"]
