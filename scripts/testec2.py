"""A pretend EC2 head node for tests and benchmarks: EC2 workers on the moto server, their SSH on a loopback sshd.

Where: ``scripts/testec2.py``, beside ``testaws.py`` and ``testhosts.py`` (it needs remrepl and boto3, they
do not). The ``head`` fixture of tests/cluster/test_ec2.py and ``scripts/benchkit/sections/ec2scale.py``
both use it:

    settings = head_settings(cluster="t1", owner=OWNER)    # security group, subnet, AMI in moto
    for name, value in settings.environment.items(): os.environ[name] = value   # the head's REMREPL_EC2_*
    config = worker_ssh_config(tmp / "ssh_config", sshd)   # moto's private addresses -> the sshd

The workers' instances get moto's private addresses (10.*, 172.31.*); the ssh_config sends those to the
loopback sshd, so only 127.0.0.1 is ever contacted. ``authorize(sshd)`` is the ``key_source`` seam of
``EC2Workers``: the head's workers key, appended to the sshd's authorized_keys as cloud-init would.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from testhosts import SSHD

PRIVATE_ADDRESSES = "10.* 172.31.*"  # moto's default VPC hands out these


@dataclass(frozen=True)
class HeadSettings:
    """What a head made by ``remrepl up`` has: its network in moto and its REMREPL_EC2_* variables."""

    ec2: Any  # the boto3 EC2 client (moto)
    security_group: str
    subnet: str
    environment: dict[str, str]  # REMREPL_EC2_* (without REMREPL_EC2_INSTANCE_ID: there is no head instance)


def head_settings(*, cluster: str, owner: str, instance_type: str = "t3.medium") -> HeadSettings:
    """The head's security group (allowing 127.0.0.1 only), subnet and AMI, made in the moto account that
    boto3 talks to now (``testaws.aws_environment``)."""
    from remrepl.aws.images import resolve_image
    from remrepl.aws.resources import ensure_security_group
    from remrepl.aws.session import aws_session, client

    session = aws_session()
    ec2 = client(session, "ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ensure_security_group(ec2, cluster=cluster, owner=owner, allow_cidr=["127.0.0.1/32"], subnet=subnet)
    image = resolve_image(session, os="al2023", instance_type=instance_type)
    settings = {
        "CLUSTER": cluster,
        "REGION": "us-east-1",
        "SECURITY_GROUP": group,
        "SUBNET": subnet,
        "AMI": image.ami,
        "SSH_USER": getpass.getuser(),
        "OWNER": owner,
    }
    return HeadSettings(ec2, group, subnet, {f"REMREPL_EC2_{k}": v for k, v in settings.items()})


def worker_ssh_config(path: Path, sshd: SSHD) -> Path:
    """An ssh_config at ``path`` sending moto's private addresses to ``sshd`` on 127.0.0.1."""
    lines = [f"Host {PRIVATE_ADDRESSES}", "HostName 127.0.0.1", f"Port {sshd.port}", "IdentitiesOnly yes"]
    path.write_text("\n    ".join([*lines, "ConnectTimeout 10"]) + "\n")
    return path


def authorize(sshd: SSHD) -> paramiko.PKey:
    """The head's own workers key, authorized on ``sshd`` as cloud-init would from the key pair."""
    from remrepl.cluster.backends.ec2 import generate_key

    key = generate_key()
    with open(sshd.directory / "authorized_keys", "a") as f:
        f.write(f"{key.get_name()} {key.get_base64()}\n")
    return key
