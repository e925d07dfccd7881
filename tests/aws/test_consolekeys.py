"""Host keys from the console output, as cloud-init prints them (Ubuntu with timestamps and a
``cloud-init[pid]:`` prefix, Amazon Linux with ``ec2:``), and from moto's console for real."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from remrepl._exceptions import CloudError
from remrepl.aws.consolekeys import (
    _console_text,
    console_host_keys,
    fingerprint,
    parse_console,
)
from remrepl.aws.session import aws_session, client
from tests.support.awsproxy import AWSProxy


def _host_key() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    kind, blob = line.split()
    return kind, blob


ED_KIND, ED_BLOB = _host_key()
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEXAMPLEexampleEXAMPLE="

UBUNTU = f"""\
[   12.903115] cloud-init[588]: Cloud-init v. 24.1.3-0ubuntu3.3 running 'modules:final' at Tue, 24 Nov 2026 10:00:01
[   13.120000] cloud-init[588]: #############################################################
[   13.120001] cloud-init[588]: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r
[   13.120002] cloud-init[588]: 256 SHA256:7x1Ne1Mwx1Vvqsoq1LB3YCy9ANLRqmPVX8b8Ib9VfrA root@ip-172-31-20-11 (ECDSA)\r
[   13.120003] cloud-init[588]: 256 {fingerprint(ED_BLOB)} root@ip-172-31-20-11 (ED25519)\r
[   13.120004] cloud-init[588]: -----END SSH HOST KEY FINGERPRINTS-----\r
[   13.120005] cloud-init[588]: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
{ECDSA} root@ip-172-31-20-11
{ED_KIND} {ED_BLOB} root@ip-172-31-20-11
-----END SSH HOST KEY KEYS-----
[   13.2] cloud-init[588]: Cloud-init v. 24.1.3 finished at Tue, 24 Nov 2026 10:00:02 +0000. Up 13.19 seconds
"""

AMAZON = f"""\
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 {fingerprint(ED_BLOB)} no comment (ED25519)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
{ED_KIND} {ED_BLOB}
-----END SSH HOST KEY KEYS-----
"""


def test_ubuntu_console() -> None:
    found = parse_console(UBUNTU)
    assert found.keys == [" ".join(ECDSA.split()[:2]), f"{ED_KIND} {ED_BLOB}"]
    assert found.fingerprints == {"SHA256:7x1Ne1Mwx1Vvqsoq1LB3YCy9ANLRqmPVX8b8Ib9VfrA", fingerprint(ED_BLOB)}
    assert found.vouches_for(ED_KIND, ED_BLOB)


def test_amazon_linux_console_and_fingerprint_only() -> None:
    found = parse_console(AMAZON)
    assert found.keys == [f"{ED_KIND} {ED_BLOB}"]
    fingerprints_only = parse_console(AMAZON.split("-----BEGIN SSH HOST KEY KEYS")[0])
    assert not fingerprints_only.keys
    assert fingerprints_only.vouches_for(ED_KIND, ED_BLOB)  # by its fingerprint
    other_kind, other_blob = _host_key()
    assert not fingerprints_only.vouches_for(other_kind, other_blob)


def test_keys_outside_the_blocks_are_ignored() -> None:
    text = f"login: {ED_KIND} {ED_BLOB}\n256 {fingerprint(ED_BLOB)} root@x (ED25519)\n"
    assert not parse_console(text)


def test_fingerprint_is_openssh_s() -> None:
    # ssh-keygen -lf prints SHA256:<unpadded base64 of the sha256 of the blob>
    import hashlib

    digest = hashlib.sha256(base64.b64decode(ED_BLOB)).digest()
    assert fingerprint(ED_BLOB) == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    assert "=" not in fingerprint(ED_BLOB)


def test_base64_console_output_is_decoded() -> None:
    encoded = base64.b64encode(AMAZON.encode()).decode()
    assert _console_text(encoded) == AMAZON
    assert _console_text(AMAZON) == AMAZON
    assert _console_text("") == ""


def test_moto_console_has_no_host_keys(aws: str) -> None:
    ec2: Any = client(aws_session(), "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"]
    assert console_host_keys(ec2, instance["InstanceId"]) == []  # a kernel log without cloud-init's blocks


def test_an_instance_type_without_latest_console_output_is_read_the_buffered_way(aws_proxy: AWSProxy) -> None:
    from remrepl.aws.consolekeys import read_console

    ec2: Any = client(aws_session(), "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t2.micro")["Instances"]
    aws_proxy.fail("GetConsoleOutput", "UnsupportedOperation", times=1)  # AWS's answer to Latest=True off Nitro
    assert "Linux version" in read_console(ec2, instance["InstanceId"])
    assert aws_proxy.calls["GetConsoleOutput"] == 2
    aws_proxy.fail("GetConsoleOutput", "UnauthorizedOperation", times=1)  # other errors are errors
    with pytest.raises(CloudError, match="UnauthorizedOperation"):
        read_console(ec2, instance["InstanceId"])
