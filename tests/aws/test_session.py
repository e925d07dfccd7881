"""Sessions, error translation, retries and the caller's address, against the moto server (and the
proxy in front of it for the errors moto never returns)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl import CapacityError, CloudCredentialsError, CloudError, ConfigError
from remrepl.aws.session import (
    aws_errors,
    aws_session,
    caller_cidr,
    caller_identity,
    client,
    retrying,
)
from tests.support.awsproxy import AWSProxy


def test_identity_from_the_standard_chain(aws: str) -> None:
    session = aws_session()
    assert session.region_name == "us-east-1"
    identity = caller_identity(session)
    assert identity.account == "123456789012"
    assert identity.arn.startswith("arn:aws:")


def test_region_argument_wins(aws: str) -> None:
    assert aws_session(region="eu-west-1").region_name == "eu-west-1"


@pytest.mark.parametrize("region", ["us-east1", "US-EAST-1", "eu west 1", "us-east-1; rm"])
def test_malformed_region_is_refused(aws: str, region: str) -> None:
    with pytest.raises(ConfigError, match="bad --region"):
        aws_session(region=region)


def test_no_region_is_a_clear_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(CloudCredentialsError, match="no AWS region: pass --region"):
        aws_session()


def test_no_credentials_is_a_clear_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CloudCredentialsError, match="no AWS credentials found; boto3 looked at") as caught:
        aws_session()
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)


def test_unknown_profile_is_a_clear_error(aws: str) -> None:
    with pytest.raises(CloudCredentialsError, match="no AWS profile named 'nosuch'"):
        aws_session(profile="nosuch")


def test_profile_from_the_config_file(aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile lab]\nregion = eu-central-1\naws_access_key_id = a\naws_secret_access_key = b\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert aws_session(profile="lab").region_name == "eu-central-1"


def test_client_errors_name_the_operation_and_code(aws: str) -> None:
    ec2 = client(aws_session(), "ec2")
    with pytest.raises(CloudError) as caught, aws_errors("looking at nothing"):
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert caught.value.code == "InvalidInstanceID.NotFound"
    assert str(caught.value).startswith("looking at nothing failed: AWS DescribeInstances returned InvalidInstanceID")


def test_wrong_credentials_are_a_credentials_error(aws_proxy: AWSProxy) -> None:
    aws_proxy.fail("GetCallerIdentity", "InvalidClientTokenId", "The security token included in the request is invalid")
    with pytest.raises(CloudCredentialsError, match=r"InvalidClientTokenId.*refresh them") as caught:
        caller_identity(aws_session())
    assert caught.value.code == "InvalidClientTokenId"


def test_unreachable_endpoint_is_a_cloud_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    ec2 = client(aws_session(), "ec2", max_attempts=1)
    with pytest.raises(CloudError, match="could not reach AWS"), aws_errors("listing"):
        ec2.describe_vpcs()


def test_throttling_backs_off_and_succeeds(aws_proxy: AWSProxy) -> None:
    aws_proxy.fail("DescribeVpcs", "RequestLimitExceeded", "Request limit exceeded.", times=2)
    ec2 = client(aws_session(), "ec2")
    with aws_errors("listing VPCs"):
        vpcs = ec2.describe_vpcs()["Vpcs"]
    assert vpcs
    assert aws_proxy.calls["DescribeVpcs"] == 3  # two throttled, then through


def test_throttling_is_bounded(aws_proxy: AWSProxy) -> None:
    aws_proxy.fail("DescribeVpcs", "RequestLimitExceeded", "Request limit exceeded.", times=None)
    ec2 = client(aws_session(), "ec2", max_attempts=2)
    with pytest.raises(CloudError, match="RequestLimitExceeded") as caught, aws_errors("listing VPCs"):
        ec2.describe_vpcs()
    assert caught.value.code == "RequestLimitExceeded"
    assert aws_proxy.calls["DescribeVpcs"] == 2


def test_capacity_error_has_a_hint(aws_proxy: AWSProxy) -> None:
    # EC2 sends it as a server error (HTTP 500), which botocore's standard mode retries with back-off.
    aws_proxy.fail("DescribeVpcs", "InsufficientInstanceCapacity", "We currently do not have capacity", times=None)
    ec2 = client(aws_session(), "ec2", max_attempts=2)
    with pytest.raises(CapacityError, match="another --instance-type, another --subnet"), aws_errors("x"):
        ec2.describe_vpcs()
    assert aws_proxy.calls["DescribeVpcs"] == 2


def test_retrying_is_bounded_and_backs_off() -> None:
    slept: list[float] = []
    calls = []

    def call() -> None:
        calls.append(1)
        raise _client_error("DependencyViolation")

    with pytest.raises(CloudError, match="DependencyViolation"):
        retrying("deleting", call, codes={"DependencyViolation"}, attempts=4, delay=1.0, sleep=slept.append)
    assert len(calls) == 4
    assert slept == [1.0, 2.0, 4.0]


def test_retrying_gives_up_at_once_on_other_codes() -> None:
    def call() -> None:
        raise _client_error("InvalidParameterValue")

    with pytest.raises(CloudError, match="InvalidParameterValue"):
        retrying("x", call, codes={"DependencyViolation"}, attempts=4, delay=1.0, sleep=_never)


def _never(seconds: float) -> None:
    raise AssertionError("no sleep expected")


def _client_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}}, "DeleteSecurityGroup")


class _CheckIP(http.server.BaseHTTPRequestHandler):
    answer = b"203.0.113.7\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def checkip() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _CheckIP)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_caller_cidr_from_a_checkip_service(checkip: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    url = f"http://127.0.0.1:{checkip.server_address[1]}/"
    assert caller_cidr(url=url) == "203.0.113.7/32"
    monkeypatch.setattr(_CheckIP, "answer", b"2001:db8::5\n")
    assert caller_cidr(url=url) == "2001:db8::5/128"
    monkeypatch.setattr(_CheckIP, "answer", b"<html>captive portal</html>")
    with pytest.raises(CloudError, match="not an IP address; pass --allow-cidr"):
        caller_cidr(url=url)


def test_caller_cidr_unreachable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CloudError, match=r"could not find this machine's public address.*--allow-cidr"):
        caller_cidr(timeout=2, url=f"http://127.0.0.1:{port}/")


def test_missing_permission_points_at_the_policy(aws_proxy: AWSProxy) -> None:
    aws_proxy.fail("DescribeVpcs", "UnauthorizedOperation", "You are not authorized to perform this operation.")
    ec2 = client(aws_session(), "ec2")
    with (
        pytest.raises(CloudError, match=r"UnauthorizedOperation.*docs/ec2-iam-policy\.json") as caught,
        aws_errors("looking up the default VPC"),
    ):
        ec2.describe_vpcs()
    assert type(caught.value) is CloudError and caught.value.code == "UnauthorizedOperation"
