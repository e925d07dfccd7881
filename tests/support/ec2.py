"""What the EC2 tests share: a head node stood in for by a loopback sshd, remrepl's [ec2] config for the
tests, and what moto holds of a cluster.

moto hands out public IPs 54.214.x.x; the ssh_config maps ``Host 54.214.*`` to the sshd (HostName
127.0.0.1, its port, our user and key), as a user's ssh_config would map a bastion. Nothing may ever
connect to 54.214.x.x itself: the socket guard (tests/_netguard) refuses it in every process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from remrepl.launchers.ec2.settings import EC2Settings

ALLOW = "127.0.0.1/32"  # every test passes --allow-cidr: caller detection must never run
STAGE_TIMEOUTS = {"instance running": 30.0, "SSH port": 20.0, "SSH login": 20.0, "server ready": 30.0}


def settings(ssh_config: Path, **extra: Any) -> EC2Settings:
    """The tests' settings: moto's Amazon Linux image, the test's ssh_config, this interpreter as the
    head's Python (no bootstrap: the head is this machine), a harmless shutdown command."""
    values: dict[str, Any] = {
        "os": "al2023",
        "allow_cidr": (ALLOW,),
        "ssh_config": str(ssh_config),
        "remote_python": sys.executable,
        "bootstrap": False,
        "head_shutdown_command": ("true",),
        "yes": True,
        "stage_timeouts": dict(STAGE_TIMEOUTS),
        **extra,
    }
    return EC2Settings(**values)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_config(state: Path, ssh_config: Path, **extra: Any) -> Path:
    """The [ec2] table of the tests' config.toml (the CLI reads $XDG_CONFIG_HOME/remrepl/config.toml)."""
    values: dict[str, Any] = {
        "os": "al2023",
        "ssh_config": str(ssh_config),
        "remote_python": sys.executable,
        "bootstrap": False,
        "head_shutdown_command": ["true"],
        "stage_timeouts": STAGE_TIMEOUTS,
        **extra,
    }
    path = state / "config" / "remrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[ec2]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items()))
    return path


def ec2() -> Any:
    return boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")


@dataclass
class Leftovers:
    instances: list[str]  # not terminated (nor shutting down)
    groups: list[str]
    key_pairs: list[str]

    @property
    def none(self) -> bool:
        return not (self.instances or self.groups or self.key_pairs)


def leftovers() -> Leftovers:
    """What moto still holds of remrepl's: live instances, security groups, key pairs."""
    client = ec2()
    instances = [
        i["InstanceId"]
        for r in client.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    groups = [
        g["GroupName"] for g in client.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"
    ]
    keys = [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]]
    return Leftovers(instances, groups, keys)


def head_instances(name: str) -> list[dict[str, Any]]:
    found = ec2().describe_instances(Filters=[{"Name": "tag:remrepl:cluster", "Values": [name]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def open_ingress() -> list[str]:
    """Inbound rules open to the world (there must be none)."""
    bad = []
    for group in ec2().describe_security_groups()["SecurityGroups"]:
        for rule in group.get("IpPermissions", []):
            cidrs = [r["CidrIp"] for r in rule.get("IpRanges", [])] + [
                r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])
            ]
            bad += [f"{group['GroupName']}: {cidr}" for cidr in cidrs if cidr in ("0.0.0.0/0", "::/0")]
    return bad
