"""The EC2 resources of a cluster: its security group, key pairs and instances.

Every creating call tags what it creates in the same call (``TagSpecifications``). The security group
admits SSH only from the CIDRs the caller gives (never a large share of the internet unless forced:
cidrs.py) plus all traffic between the cluster's own instances (the Dask scheduler and workers); the
REPL's port is never opened, the client goes through the SSH tunnel. Egress is left as EC2 makes it
(all outbound): the instances must reach the package indexes (apt, PyPI), the AWS APIs (the head launches
workers) and whatever data the user's code reads; a security group is stateful, so open egress admits no
inbound connection.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import CloudError, ConfigError
from .cidrs import check_cidrs
from .images import Image
from .session import CAPACITY_CODES, aws_errors, retrying
from .tags import (
    TAG_CLUSTER,
    TAG_ROLE,
    key_pair_name,
    security_group_name,
    tag_dict,
    tag_specifications,
)

__all__ = [
    "Instance",
    "InstanceSpec",
    "check_cidrs",
    "describe",
    "ensure_security_group",
    "import_key_pair",
    "launch_instances",
    "terminate",
    "wait_running",
]

SSH_PORT = 22
ENDED = ("shutting-down", "terminated")
POLL_INTERVAL = 2.0  # describe_instances while waiting: AWS's own waiter polls every 15 s, we are keener


# --- security group -------------------------------------------------------------------------------------


def _vpc_of(ec2: Any, subnet: str | None) -> str:
    if subnet:
        with aws_errors(f"looking up subnet {subnet}"):
            subnets = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
        return str(subnets[0]["VpcId"])
    with aws_errors("looking up the default VPC"):
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise ConfigError("this region has no default VPC: pass --subnet SUBNET-ID (a subnet with internet access)")
    return str(vpcs[0]["VpcId"])


def find_security_group(ec2: Any, cluster: str, vpc: str | None = None) -> dict[str, Any] | None:
    """The description of the security group named ``remrepl-CLUSTER`` (in ``vpc``), or None."""
    filters = [{"Name": "group-name", "Values": [security_group_name(cluster)]}]
    if vpc:
        filters.append({"Name": "vpc-id", "Values": [vpc]})
    with aws_errors(f"looking up security group {security_group_name(cluster)}"):
        groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    return dict(groups[0]) if groups else None


def _wanted_ingress(group_id: str, cidrs: Sequence[str]) -> set[tuple[str, Any, Any, str]]:
    """The rules the group must have, as ``_permission_keys`` gives them."""
    return {("tcp", SSH_PORT, SSH_PORT, c) for c in cidrs} | {("-1", None, None, group_id)}


def _permission_keys(permissions: Iterable[Mapping[str, Any]]) -> set[tuple[str, Any, Any, str]]:
    """Each single rule of EC2's IpPermissions as (protocol, from, to, source)."""
    keys: set[tuple[str, Any, Any, str]] = set()
    for p in permissions:
        head = (str(p.get("IpProtocol")), p.get("FromPort"), p.get("ToPort"))
        if head[0] == "-1":
            head = ("-1", None, None)
        keys.update((*head, str(r["CidrIp"])) for r in p.get("IpRanges", ()))
        keys.update((*head, str(r["CidrIpv6"])) for r in p.get("Ipv6Ranges", ()))
        keys.update((*head, str(r["GroupId"])) for r in p.get("UserIdGroupPairs", ()))
        keys.update((*head, str(r["PrefixListId"])) for r in p.get("PrefixListIds", ()))
    return keys


def _rule(key: tuple[str, Any, Any, str], *, described: bool = False) -> dict[str, Any]:
    """One rule of EC2's IpPermissions from its key (``described``: with remrepl's description)."""
    protocol, from_port, to_port, source = key
    rule: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        rule.update(FromPort=from_port, ToPort=to_port)
    if source.startswith("sg-"):
        field, entry = "UserIdGroupPairs", {"GroupId": source}
    elif source.startswith("pl-"):
        field, entry = "PrefixListIds", {"PrefixListId": source}
    elif ":" in source:
        field, entry = "Ipv6Ranges", {"CidrIpv6": source}
    else:
        field, entry = "IpRanges", {"CidrIp": source}
    if described:
        entry["Description"] = "remrepl: the cluster's own instances" if field == "UserIdGroupPairs" else "remrepl: SSH"
    rule[field] = [entry]
    return rule


def ensure_security_group(
    ec2: Any,
    *,
    cluster: str,
    owner: str,
    allow_cidr: Sequence[str],
    subnet: str | None = None,
    allow_open_ssh: bool = False,
) -> str:
    """The id of the cluster's security group ``remrepl-CLUSTER``, created (tagged) if missing, whose
    inbound rules are exactly: SSH from ``allow_cidr``, everything from the group itself. An existing
    group remrepl made is brought to that (rules for an old address are revoked); a group of that name
    that remrepl did not make is refused."""
    cidrs = check_cidrs(allow_cidr, allow_open_ssh)  # (cidrs.py: a wide-open set needs allow_open_ssh)
    vpc = _vpc_of(ec2, subnet)
    name = security_group_name(cluster)
    group = find_security_group(ec2, cluster, vpc)
    if group is None:
        try:
            with aws_errors(f"creating security group {name}"):
                group_id = str(
                    ec2.create_security_group(
                        GroupName=name,
                        Description=f"remrepl cluster {cluster}: SSH from the client, all traffic inside the group",
                        VpcId=vpc,
                        TagSpecifications=tag_specifications(
                            ["security-group"], cluster=cluster, role="head", owner=owner, name=name
                        ),
                    )["GroupId"]
                )
        except CloudError as exc:
            if exc.code != "InvalidGroup.Duplicate":  # another `up` of the same cluster got there first
                raise
            group = find_security_group(ec2, cluster, vpc)
            if group is None:
                raise
    if group is not None:
        if tag_dict(group.get("Tags")).get(TAG_CLUSTER) != cluster:
            raise ConfigError(
                f"a security group named {name} ({group['GroupId']}) exists but remrepl did not make it for "
                f"cluster {cluster!r}; choose another cluster name"
            )
        group_id = str(group["GroupId"])
    current = _permission_keys(group.get("IpPermissions", ()) if group else ())
    wanted = _wanted_ingress(group_id, cidrs)
    if stale := current - wanted:
        with aws_errors(f"revoking old rules of security group {name}"):
            ec2.revoke_security_group_ingress(
                GroupId=group_id, IpPermissions=[_rule(k) for k in sorted(stale, key=str)]
            )
    if missing := wanted - current:
        with aws_errors(f"adding the rules of security group {name}"):
            ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[_rule(k, described=True) for k in sorted(missing, key=str)]
            )
    return group_id


# --- key pairs ------------------------------------------------------------------------------------------


def import_key_pair(ec2: Any, *, cluster: str, owner: str, public_key: str, name: str | None = None) -> str:
    """Import ``public_key`` (an OpenSSH line, ed25519 or RSA) as key pair ``name`` (``remrepl-CLUSTER``),
    tagged at creation; a key pair of that name that remrepl made for this cluster is replaced (instances
    already running keep their key), one it did not make is refused. Returns the key pair's name."""
    name = name or key_pair_name(cluster)
    role = "worker" if name.endswith("-workers") else "head"
    with aws_errors(f"looking up key pair {name}"):
        existing = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]
    if existing:
        if tag_dict(existing[0].get("Tags")).get(TAG_CLUSTER) != cluster:
            raise ConfigError(
                f"a key pair named {name} exists but remrepl did not make it for cluster {cluster!r}; "
                "choose another cluster name"
            )
        with aws_errors(f"replacing key pair {name}"):
            ec2.delete_key_pair(KeyName=name)
    with aws_errors(f"importing the SSH public key as key pair {name}"):
        ec2.import_key_pair(
            KeyName=name,
            PublicKeyMaterial=public_key.strip().encode(),
            TagSpecifications=tag_specifications(["key-pair"], cluster=cluster, role=role, owner=owner, name=name),
        )
    return name


def delete_key_pair(ec2: Any, name: str) -> bool:
    """Delete key pair ``name``; False if there was none."""
    with aws_errors(f"looking up key pair {name}"):
        existing = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]
    if not existing:
        return False
    with aws_errors(f"deleting key pair {name}"):
        ec2.delete_key_pair(KeyName=name)
    return True


# --- instances ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceSpec:
    """What to launch: ``count`` instances of one ``role`` for ``cluster``."""

    cluster: str
    role: str
    owner: str
    image: Image
    instance_type: str
    key_name: str
    security_group_id: str
    subnet_id: str | None = None
    user_data: str = ""
    spot: bool = False
    volume_size: int | None = None  # GiB of the root volume; None keeps the image's size
    iam_instance_profile: str | None = None  # a name, or an ARN
    count: int = 1


def _root_device(ec2: Any, image: Image) -> str:
    if image.root_device_name:
        return image.root_device_name
    with aws_errors(f"looking up image {image.ami}"):
        images = ec2.describe_images(ImageIds=[image.ami])["Images"]
    return str(images[0].get("RootDeviceName") or "/dev/xvda") if images else "/dev/xvda"


def run_instances_request(ec2: Any, spec: InstanceSpec) -> dict[str, Any]:
    """The keyword arguments of ``run_instances`` for ``spec`` (tests read them)."""
    if spec.count < 1:
        raise ConfigError(f"cannot launch {spec.count} instances")
    if spec.volume_size is not None and not 8 <= spec.volume_size <= 16384:
        raise ConfigError(f"--volume-size {spec.volume_size}: give the root volume's size in GiB, 8 to 16384")
    kinds = ["instance", "volume", "network-interface"] + (["spot-instances-request"] if spec.spot else [])
    request: dict[str, Any] = {
        "ImageId": spec.image.ami,
        "InstanceType": spec.instance_type,
        "MinCount": spec.count,
        "MaxCount": spec.count,
        "KeyName": spec.key_name,
        "SecurityGroupIds": [spec.security_group_id],
        "TagSpecifications": tag_specifications(kinds, cluster=spec.cluster, role=spec.role, owner=spec.owner),
        # IMDSv2 only, one hop: a request forgery in user code (or a container) cannot read the role's keys.
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
    }
    if spec.spot:
        # One-time: once interrupted or shut down it is gone; AWS terminates a one-time Spot Instance on
        # a shutdown from inside, so the max-lifetime backstop ends it as it ends an on-demand one.
        request["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    else:
        request["InstanceInitiatedShutdownBehavior"] = "terminate"  # `shutdown -h` ends the bill
    if spec.subnet_id:
        request["SubnetId"] = spec.subnet_id
    if spec.user_data:
        request["UserData"] = spec.user_data  # boto3 base64-encodes it
    if spec.iam_instance_profile:
        key = "Arn" if spec.iam_instance_profile.startswith("arn:") else "Name"
        request["IamInstanceProfile"] = {key: spec.iam_instance_profile}
    if spec.volume_size is not None:
        request["BlockDeviceMappings"] = [
            {
                "DeviceName": _root_device(ec2, spec.image),
                "Ebs": {"VolumeSize": spec.volume_size, "VolumeType": "gp3", "DeleteOnTermination": True},
            }
        ]
    return request


def launch_instances(
    ec2: Any,
    spec: InstanceSpec,
    *,
    capacity_attempts: int = 3,
    capacity_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Launch ``spec`` and return the instance ids (all or nothing). AWS's throttling is retried by the
    client; a lack of capacity (``CapacityError``) is tried ``capacity_attempts`` times with a back-off
    from ``capacity_delay`` seconds, since it is often momentary, then raised with a hint."""
    request = run_instances_request(ec2, spec)
    what = f"launching {spec.count} {spec.instance_type} instance{'s' if spec.count > 1 else ''} ({spec.role})"
    answer = retrying(
        what,
        lambda: ec2.run_instances(**request),
        codes=CAPACITY_CODES,
        attempts=capacity_attempts,
        delay=capacity_delay,
        sleep=sleep,
    )
    return [str(i["InstanceId"]) for i in answer["Instances"]]


@dataclass(frozen=True)
class Instance:
    """One EC2 instance as remrepl sees it."""

    id: str
    state: str  # pending, running, shutting-down, terminated, stopping, stopped
    instance_type: str
    public_ip: str | None
    private_ip: str | None
    launch_time: datetime.datetime | None
    role: str
    cluster: str
    spot: bool
    state_reason: str = ""  # why it ended, when AWS says
    instance_profile: str | None = None  # the ARN of its IAM instance profile, if it has one

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> Instance:
        tags = tag_dict(d.get("Tags"))
        launch_time = d.get("LaunchTime")
        if isinstance(launch_time, datetime.datetime) and launch_time.tzinfo is None:
            launch_time = launch_time.replace(tzinfo=datetime.timezone.utc)
        return cls(
            id=str(d["InstanceId"]),
            state=str(d.get("State", {}).get("Name", "unknown")),
            instance_type=str(d.get("InstanceType", "")),
            public_ip=d.get("PublicIpAddress") or None,
            private_ip=d.get("PrivateIpAddress") or None,
            launch_time=launch_time if isinstance(launch_time, datetime.datetime) else None,
            role=tags.get(TAG_ROLE, ""),
            cluster=tags.get(TAG_CLUSTER, ""),
            spot=d.get("InstanceLifecycle") == "spot",
            state_reason=str(d.get("StateReason", {}).get("Message", "")),
            instance_profile=d.get("IamInstanceProfile", {}).get("Arn") or None,
        )


def describe_filtered(ec2: Any, filters: list[dict[str, Any]], what: str) -> list[Instance]:
    """Every instance matching ``filters`` (all pages)."""
    result: list[Instance] = []
    with aws_errors(what):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                result.extend(Instance.from_description(d) for d in reservation["Instances"])
    return result


def describe(
    ec2: Any, ids: Sequence[str], *, attempts: int = 5, sleep: Callable[[float], None] = time.sleep
) -> list[Instance]:
    """The instances ``ids``, in that order. Right after ``run_instances`` AWS may not know an id yet
    (eventual consistency): that is retried a few times with a back-off."""
    if not ids:
        return []
    answer = retrying(
        f"describing instances {', '.join(ids)}",
        lambda: ec2.describe_instances(InstanceIds=list(ids)),
        codes={"InvalidInstanceID.NotFound"},
        attempts=attempts,
        delay=0.5,
        sleep=sleep,
    )
    found = {
        i.id: i
        for reservation in answer["Reservations"]
        for i in (Instance.from_description(d) for d in reservation["Instances"])
    }
    return [found[i] for i in ids if i in found]


def wait_running(
    ec2: Any,
    ids: Sequence[str],
    *,
    deadline: float,
    poll_interval: float = POLL_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Instance]:
    """Poll until every instance of ``ids`` is running, and return them. ``CloudError`` when one ends
    instead (with AWS's reason) or at the monotonic ``deadline``."""
    while True:
        instances = describe(ec2, ids, sleep=sleep)
        ended = [i for i in instances if i.state in ENDED or i.state in ("stopping", "stopped")]
        if ended:
            i = ended[0]
            reason = f": {i.state_reason}" if i.state_reason else ""
            raise CloudError(f"instance {i.id} is {i.state} instead of starting{reason}", code="InstanceEnded")
        if len(instances) == len(ids) and all(i.state == "running" for i in instances):
            return instances
        if time.monotonic() + poll_interval > deadline:
            states = ", ".join(f"{i.id} {i.state}" for i in instances) or "not known to AWS yet"
            raise CloudError(f"the instances did not reach 'running' in time ({states})", code="Timeout")
        sleep(poll_interval)


def terminate(ec2: Any, ids: Sequence[str]) -> None:
    """Terminate ``ids``; ids AWS no longer knows are fine (terminating twice is)."""
    ids = [i for i in ids if i]
    if not ids:
        return
    try:
        with aws_errors(f"terminating instances {', '.join(ids)}"):
            ec2.terminate_instances(InstanceIds=ids)
    except CloudError as exc:
        if exc.code != "InvalidInstanceID.NotFound":
            raise
        for one in ids:  # some of them are gone: the others still must go
            try:
                with aws_errors(f"terminating instance {one}"):
                    ec2.terminate_instances(InstanceIds=[one])
            except CloudError as again:
                if again.code != "InvalidInstanceID.NotFound":
                    raise
