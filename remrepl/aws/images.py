"""Which machine image to boot: the newest official one for an OS and architecture, from AWS's public SSM
parameters (so no AMI id is written here, and none goes stale), or the one the user names with ``--ami``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._exceptions import CloudError, ConfigError
from .session import aws_errors, client

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class Image:
    """An AMI and what remrepl needs to know about it."""

    ami: str
    os: str  # one of OS_CHOICES, or "custom" for an --ami remrepl cannot place
    ssh_user: str  # the OS's default login (the user's ssh_config ``User`` wins over it)
    architecture: str  # "x86_64" or "arm64"
    python: str = "python3"  # the interpreter (>= 3.10) the user-data installs
    root_device_name: str | None = None  # for --volume-size; looked up at launch when not known


@dataclass(frozen=True)
class _OS:
    parameter: str  # the SSM parameter, with {arch} as AWS spells it for this OS
    arch_names: dict[str, str]  # our architecture name -> the parameter's
    ssh_user: str
    python: str
    family: str  # "debian" (apt) or "fedora" (dnf): how the user-data installs packages


_UBUNTU_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
OPERATING_SYSTEMS: dict[str, _OS] = {
    "ubuntu-24.04": _OS(
        "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id",
        _UBUNTU_ARCH,
        "ubuntu",
        "python3",  # 3.12
        "debian",
    ),
    "ubuntu-22.04": _OS(
        "/aws/service/canonical/ubuntu/server/22.04/stable/current/{arch}/hvm/ebs-gp2/ami-id",
        _UBUNTU_ARCH,
        "ubuntu",
        "python3",  # 3.10
        "debian",
    ),
    "debian-12": _OS(
        "/aws/service/debian/release/12/latest/{arch}", _UBUNTU_ARCH, "admin", "python3", "debian"
    ),  # 3.11
    "al2023": _OS(
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}",
        {"x86_64": "x86_64", "arm64": "arm64"},
        "ec2-user",
        "python3.11",  # its python3 is 3.9: too old
        "fedora",
    ),
}
OS_CHOICES: tuple[str, ...] = tuple(OPERATING_SYSTEMS)
DEFAULT_OS = "ubuntu-24.04"

# Graviton families: a "g" after the generation digit (t4g, m7g, c7gn, r8g, m6gd, x2gd, im4gn, g5g), a1.
_GRAVITON = re.compile(r"^(a1|[a-z]+\d+[a-z]*g[a-z]*)$")


def family(os: str) -> str:
    """How the OS installs packages: "debian" (apt) or "fedora" (dnf)."""
    return OPERATING_SYSTEMS[os].family if os in OPERATING_SYSTEMS else "debian"


def guess_architecture(instance_type: str) -> str:
    """The architecture of ``instance_type`` from its name alone (when EC2 cannot be asked)."""
    return "arm64" if _GRAVITON.match(instance_type.split(".")[0]) else "x86_64"


def instance_architecture(ec2: Any, instance_type: str) -> str:
    """ "x86_64" or "arm64" for ``instance_type``, asked of EC2; ``ConfigError`` for a type EC2 does not
    know in this region."""
    try:
        with aws_errors(f"looking up instance type {instance_type}"):
            types = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except CloudError as exc:
        if exc.code in ("InvalidInstanceType", "InvalidParameterValue"):
            raise ConfigError(f"unknown --instance-type {instance_type!r} in this region: {exc}") from None
        if exc.code in ("UnauthorizedOperation", "AccessDenied"):
            return guess_architecture(instance_type)
        raise
    if not types:
        raise ConfigError(f"unknown --instance-type {instance_type!r} in this region")
    supported = types[0].get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    if "x86_64" in supported:
        return "x86_64"
    if "arm64" in supported:
        return "arm64"
    return guess_architecture(instance_type)


def _os_of_image(description: dict[str, Any]) -> str:
    text = f"{description.get('Name', '')} {description.get('Description', '')}".lower()
    for name, marker in (
        ("ubuntu-24.04", "24.04"),
        ("ubuntu-22.04", "22.04"),
    ):
        if "ubuntu" in text and marker in text:
            return name
    if "debian" in text:
        return "debian-12"
    if "al2023" in text or "amazon linux 2023" in text:
        return "al2023"
    return "custom"


def _ssh_user_of(os: str) -> str:
    return OPERATING_SYSTEMS[os].ssh_user if os in OPERATING_SYSTEMS else "ec2-user"


def resolve_image(session: boto3.Session, *, os: str = DEFAULT_OS, ami: str | None = None, instance_type: str) -> Image:
    """The image to boot ``instance_type`` with: with ``ami``, that image (its architecture must fit the
    type); else the newest official ``os`` image for the type's architecture, from AWS's public SSM
    parameters."""
    if os not in OPERATING_SYSTEMS and not ami:
        raise ConfigError(f"unknown --os {os!r}: choose one of {', '.join(OS_CHOICES)}")
    ec2 = client(session, "ec2")
    architecture = instance_architecture(ec2, instance_type)
    given = bool(ami)
    if not ami:
        spec = OPERATING_SYSTEMS[os]
        parameter = spec.parameter.format(arch=spec.arch_names[architecture])
        ssm = client(session, "ssm")
        try:
            with aws_errors(f"looking up the {os} {architecture} image (SSM parameter {parameter})"):
                ami = str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except CloudError as exc:
            if exc.code == "ParameterNotFound":
                raise CloudError(
                    f"AWS publishes no {os} image for {architecture} in this region (SSM parameter {parameter}); "
                    "choose another --os, or give an image with --ami",
                    code=exc.code,
                ) from None
            raise
    with aws_errors(f"looking up image {ami}"):
        images = ec2.describe_images(ImageIds=[ami])["Images"]
    if not images:
        raise ConfigError(f"no image {ami} in this region (or it is not shared with this account)")
    description = dict(images[0])
    image_arch = str(description.get("Architecture", architecture))
    if image_arch != architecture:
        raise ConfigError(
            f"image {ami} is for {image_arch} but {instance_type} is {architecture}: choose a matching "
            "--instance-type or --ami"
        )
    # An --ami's own name tells its OS when it is one we know; else we trust --os (or its default).
    os_name = _os_of_image(description) if given else os
    if os_name == "custom" and os in OPERATING_SYSTEMS:
        os_name = os
    spec_os = OPERATING_SYSTEMS.get(os_name)
    return Image(
        ami=ami,
        os=os_name,
        ssh_user=_ssh_user_of(os_name),
        architecture=architecture,
        python=spec_os.python if spec_os else "python3",
        root_device_name=description.get("RootDeviceName"),
    )
