"""TODO(merge): stand-ins for the ec2aws branch's ``userdata``, ``consolekeys``, ``pricing`` and ``inventory``
modules, used by ``launcher.py`` (through ``layer()``) only while those are not merged. Same signatures as
in /work/wt/EC2_CONTRACT.md; deliberately small."""

from __future__ import annotations

import datetime
import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def layer(module: str) -> Any:
    """ec2aws's ``remrepl.launchers.ec2.MODULE``, or these stand-ins while it is missing."""
    try:
        return importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{module}":
            raise
        return importlib.import_module(__name__)


# --- userdata -----------------------------------------------------------------------------------------


def user_data(image: Any, *, max_lifetime: float | None) -> str:
    """cloud-init: Python and venv only (no secret); a shutdown backstop for the max lifetime."""
    lines = ["#cloud-config", "package_update: true", "packages: [python3, python3-venv, python3-pip]"]
    if max_lifetime:
        lines += ["runcmd:", f"  - [shutdown, -h, '+{max(1, int(max_lifetime // 60))}']"]
    return "\n".join(lines) + "\n"


# --- consolekeys --------------------------------------------------------------------------------------

_FINGERPRINTS = re.compile(
    r"-----BEGIN SSH HOST KEY FINGERPRINTS-----(.*?)-----END SSH HOST KEY FINGERPRINTS-----", re.S
)
_KEYS = re.compile(r"-----BEGIN SSH HOST KEY KEYS-----(.*?)-----END SSH HOST KEY KEYS-----", re.S)


def console_host_keys(ec2: Any, instance_id: str) -> list[str]:
    from .aws import aws_errors

    with aws_errors("reading the console output"):
        text = str(ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or "")
    found: list[str] = []
    for block in _KEYS.findall(text):
        found += [" ".join(line.split()[:2]) for line in block.splitlines() if len(line.split()) >= 2]
    for block in _FINGERPRINTS.findall(text):
        found += re.findall(r"SHA256:[A-Za-z0-9+/=]+", block)
    return found


# --- pricing ------------------------------------------------------------------------------------------


def hourly_price(session: Any, instance_type: str, *, spot: bool, region: str | None) -> float | None:
    return None


# --- inventory ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    region: str
    head: Any  # resources.Instance | None
    workers: list[Any] = field(default_factory=list)
    security_group_id: str | None = None
    key_names: list[str] = field(default_factory=list)

    def uptime(self) -> float | None:
        if self.head is None or self.head.launch_time is None or self.head.state != "running":
            return None
        return float((datetime.datetime.now(datetime.timezone.utc) - self.head.launch_time).total_seconds())

    def cost_so_far(self) -> float | None:
        return None


def _clusters(session: Any, name: str | None) -> list[ClusterInfo]:
    from .aws import aws_errors, client
    from .resources import describe_filtered
    from .tags import TAG_CLUSTER, cluster_filter, tag_dict

    ec2 = client(session, "ec2")
    names: dict[str, dict[str, Any]] = {}
    for instance in describe_filtered(ec2, cluster_filter(name), "listing remrepl's instances"):
        if instance.state == "terminated":
            continue
        entry = names.setdefault(instance.cluster, {"head": None, "workers": [], "sg": None, "keys": []})
        if instance.role == "head":
            entry["head"] = instance
        else:
            entry["workers"].append(instance)
    with aws_errors("listing remrepl's security groups"):
        groups = ec2.describe_security_groups(Filters=cluster_filter(name))["SecurityGroups"]
    for group in groups:
        cluster = tag_dict(group.get("Tags")).get(TAG_CLUSTER, "")
        names.setdefault(cluster, {"head": None, "workers": [], "sg": None, "keys": []})["sg"] = group["GroupId"]
    with aws_errors("listing remrepl's key pairs"):
        pairs = ec2.describe_key_pairs(Filters=cluster_filter(name))["KeyPairs"]
    for pair in pairs:
        cluster = tag_dict(pair.get("Tags")).get(TAG_CLUSTER, "")
        names.setdefault(cluster, {"head": None, "workers": [], "sg": None, "keys": []})["keys"].append(pair["KeyName"])
    return [
        ClusterInfo(n, str(session.region_name), e["head"], e["workers"], e["sg"], e["keys"])
        for n, e in sorted(names.items())
    ]


def list_clusters(session: Any) -> list[ClusterInfo]:
    return _clusters(session, None)


def find_cluster(session: Any, name: str) -> ClusterInfo | None:
    found = _clusters(session, name)
    return found[0] if found else None


def teardown(session: Any, name: str, *, notify: Callable[[str], None], deadline: float) -> None:
    from ..._exceptions import CloudError
    from .aws import aws_errors, client
    from .resources import delete_key_pair, describe, terminate

    info = find_cluster(session, name)
    if info is None:
        notify(f"cluster {name}: nothing left to delete")
        return
    ec2 = client(session, "ec2")
    live = [i.id for i in [*info.workers, info.head] if i is not None and i.state not in ("shutting-down",)]
    if live:
        notify(f"terminating {', '.join(live)}")
        terminate(ec2, live)
        delay = 0.1
        while any(i.state not in ("shutting-down", "terminated") for i in describe(ec2, live)):
            if time.monotonic() > deadline:
                raise CloudError(f"the instances of {name} did not end in time", code="Timeout")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    if info.security_group_id:
        delay = 0.5
        while True:
            try:
                with aws_errors(f"deleting security group {info.security_group_id}"):
                    ec2.delete_security_group(GroupId=info.security_group_id)
                break
            except CloudError as exc:
                if exc.code == "InvalidGroup.NotFound":
                    break
                if exc.code != "DependencyViolation" or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 15.0)
    for key in info.key_names:
        delete_key_pair(ec2, key)
