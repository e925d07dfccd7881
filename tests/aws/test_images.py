"""Images from AWS's public SSM parameters (moto has Amazon Linux's; the proxy answers Canonical's as AWS
would), and --ami through describe_images."""

from __future__ import annotations

import pytest

from remrepl import CloudError, ConfigError
from remrepl.aws.images import OS_CHOICES, guess_architecture, resolve_image
from remrepl.aws.session import aws_session, client
from tests.support.awsproxy import AWSProxy


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("t3.micro", "x86_64"),
        ("t4g.small", "arm64"),
        ("m7g.large", "arm64"),
        ("c7gn.xlarge", "arm64"),
        ("m6gd.large", "arm64"),
        ("a1.medium", "arm64"),
        ("g5.xlarge", "x86_64"),
        ("g5g.xlarge", "arm64"),
        ("m7i-flex.large", "x86_64"),
        ("c6in.large", "x86_64"),
    ],
)
def test_architecture_from_the_name(instance_type: str, architecture: str) -> None:
    assert guess_architecture(instance_type) == architecture


@pytest.mark.parametrize(("instance_type", "architecture"), [("t3.micro", "x86_64"), ("t4g.micro", "arm64")])
def test_al2023_from_ssm(aws: str, instance_type: str, architecture: str) -> None:
    ssm = client(aws_session(), "ssm")
    suffix = "x86_64" if architecture == "x86_64" else "arm64"
    expected = ssm.get_parameter(Name=f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{suffix}")
    image = resolve_image(aws_session(), os="al2023", instance_type=instance_type)
    assert image.ami == expected["Parameter"]["Value"]
    assert image.os == "al2023" and image.ssh_user == "ec2-user" and image.python == "python3.11"


def _an_image(aws: str, architecture: str = "x86_64") -> str:
    ec2 = client(aws_session(), "ec2")
    for image in ec2.describe_images(Owners=["amazon"])["Images"]:
        if image.get("Architecture") == architecture:
            return str(image["ImageId"])
    raise AssertionError("moto has no such image")


def test_ubuntu_from_canonicals_parameter(aws_proxy: AWSProxy) -> None:
    ami = _an_image(aws_proxy.endpoint)
    aws_proxy.publish_parameter(
        "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id", ami
    )
    image = resolve_image(aws_session(), instance_type="t3.micro")  # the default OS
    assert image.ami == ami and image.os == "ubuntu-24.04" and image.ssh_user == "ubuntu"
    assert image.architecture == "x86_64"
    assert aws_proxy.calls["AmazonSSM.GetParameter"] == 1


def test_os_without_a_published_image_is_a_clear_error(aws: str) -> None:
    # moto has no Canonical parameters: the same answer AWS gives where it publishes none
    with pytest.raises(CloudError, match=r"AWS publishes no debian-12 image for arm64.*--ami"):
        resolve_image(aws_session(), os="debian-12", instance_type="t4g.micro")


def test_unknown_os_and_type(aws: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown --os 'windows'.*ubuntu-24.04"):
        resolve_image(aws_session(), os="windows", instance_type="t3.micro")
    with pytest.raises(ConfigError, match=r"unknown --instance-type 'zz9.huge'"):
        resolve_image(aws_session(), os="al2023", instance_type="zz9.huge")
    assert "ubuntu-24.04" in OS_CHOICES and "al2023" in OS_CHOICES


def test_explicit_ami(aws: str) -> None:
    ami = _an_image(aws)
    image = resolve_image(aws_session(), os="debian-12", ami=ami, instance_type="t3.micro")
    assert image.ami == ami and image.architecture == "x86_64"
    assert image.root_device_name


def test_explicit_ami_of_the_wrong_architecture(aws: str) -> None:
    ami = _an_image(aws, "x86_64")
    with pytest.raises(ConfigError, match=r"is for x86_64 but t4g.micro is arm64"):
        resolve_image(aws_session(), ami=ami, instance_type="t4g.micro")


def test_unknown_ami(aws: str) -> None:
    with pytest.raises((CloudError, ConfigError), match="ami-00000000000000000"):
        resolve_image(aws_session(), ami="ami-00000000000000000", instance_type="t3.micro")
