"""Security groups, key pairs and instances, made for real (boto3 → moto on 127.0.0.1) and checked with
describe calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from remrepl import CapacityError, CloudError, ConfigError
from remrepl.aws.images import Image, resolve_image
from remrepl.aws.resources import (
    InstanceSpec,
    check_cidrs,
    describe,
    ensure_security_group,
    import_key_pair,
    launch_instances,
    terminate,
    wait_running,
)
from remrepl.aws.session import aws_session, client
from remrepl.aws.tags import TAG_CLUSTER, TAG_OWNER, TAG_ROLE, tag_dict
from remrepl.ssh.user_keys import generated_key, user_public_key
from tests.support.awsproxy import AWSProxy

OWNER = "arn:aws:iam::123456789012:user/alice"
WORLD = ("0.0.0.0/0", "::/0")


@pytest.fixture
def ec2(aws: str) -> Any:
    return client(aws_session(), "ec2")


def _group(ec2: Any, group_id: str) -> dict[str, Any]:
    return dict(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])


def _ingress_sources(group: dict[str, Any]) -> set[tuple[str, Any, str]]:
    found = set()
    for p in group["IpPermissions"]:
        for r in p.get("IpRanges", []):
            found.add((p["IpProtocol"], p.get("FromPort"), r["CidrIp"]))
        for r in p.get("Ipv6Ranges", []):
            found.add((p["IpProtocol"], p.get("FromPort"), r["CidrIpv6"]))
        for r in p.get("UserIdGroupPairs", []):
            found.add((p["IpProtocol"], p.get("FromPort"), r["GroupId"]))
    return found


def assert_tagged(tags: Any, *, cluster: str, role: str) -> None:
    found = tag_dict(tags)
    assert found[TAG_CLUSTER] == cluster
    assert found[TAG_ROLE] == role
    assert found[TAG_OWNER] == OWNER
    assert found["Name"].startswith(f"remrepl-{cluster}")


# --- security group -------------------------------------------------------------------------------------


def test_security_group_admits_ssh_from_the_given_cidrs_only(ec2: Any) -> None:
    group_id = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7", "2001:db8::/64"])
    group = _group(ec2, group_id)
    assert group["GroupName"] == "remrepl-c1"
    assert_tagged(group["Tags"], cluster="c1", role="head")
    assert _ingress_sources(group) == {
        ("tcp", 22, "203.0.113.7/32"),
        ("tcp", 22, "2001:db8::/64"),
        ("-1", None, group_id),
    }
    assert not {source for _, _, source in _ingress_sources(group)} & set(WORLD)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.1.2.3/0", " 0.0.0.0/0 "])
def test_the_world_is_refused(ec2: Any, cidr: str) -> None:
    with pytest.raises(ConfigError, match="whole internet; remrepl refuses"):
        ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=[cidr])
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["remrepl-c1"]}])[
        "SecurityGroups"
    ]


SPLIT_OPEN = [
    ["0.0.0.0/1", "128.0.0.0/1"],  # the whole IPv4 internet in two halves
    [f"{n}.0.0.0/5" for n in range(0, 256, 8)],  # ... or in 32 pieces
    ["::/1", "8000::/1"],
    ["2000::/4", "3000::/4"],  # all of global unicast IPv6
    ["1.0.0.0/8", "2.0.0.0/8"],  # two /8s of public addresses: more than one
    ["100.0.0.0/7"],  # a /7 minus 100.64.0.0/10 (carrier-grade NAT): still more than a /8 of public ones
    ["2000::/10"],  # more than a /11 of global unicast
    ["203.0.113.7/32", "0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"],
]


@pytest.mark.parametrize("cidrs", SPLIT_OPEN)
def test_a_split_range_that_opens_ssh_widely_is_refused(ec2: Any, cidrs: list[str]) -> None:
    """The check judges the union of the rules, not each rule: halves of the internet are the internet."""
    with pytest.raises(ConfigError, match=r"would open SSH to .*remrepl refuses that.*--allow-open-ssh"):
        check_cidrs(cidrs)
    with pytest.raises(ConfigError, match="remrepl refuses that"):
        ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=cidrs)
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["remrepl-c1"]}])[
        "SecurityGroups"
    ]


@pytest.mark.parametrize(
    "cidrs",
    [
        ["1.0.0.0/8"],  # a /8: the limit itself
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"],  # private ranges do not count
        ["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"],
        ["2000::/11"],
    ],
)
def test_ranges_within_the_limit_are_accepted(cidrs: list[str]) -> None:
    assert check_cidrs(cidrs) == cidrs


def test_allow_open_ssh_accepts_a_wide_rule_set(ec2: Any) -> None:
    split = ["0.0.0.0/1", "128.0.0.0/1"]
    assert check_cidrs(split, allow_open_ssh=True) == split
    assert check_cidrs(["0.0.0.0/0"], allow_open_ssh=True) == ["0.0.0.0/0"]
    group_id = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=split, allow_open_ssh=True)
    assert {source for _, port, source in _ingress_sources(_group(ec2, group_id)) if port == 22} == set(split)
    with pytest.raises(ConfigError, match="bad --allow-cidr"):
        check_cidrs(["nonsense"], allow_open_ssh=True)  # forcing opens ranges, it does not skip the parsing


@pytest.mark.parametrize("cidrs", [["not-an-address"], ["1.2.3.4/33"], []])
def test_bad_cidrs_are_refused(cidrs: list[str]) -> None:
    with pytest.raises(ConfigError, match="allow-cidr"):
        check_cidrs(cidrs)


def test_cidrs_are_normalised() -> None:
    assert check_cidrs(["1.2.3.4", "10.0.0.7/8", "1.2.3.4/32"]) == ["1.2.3.4/32", "10.0.0.0/8"]


def test_existing_group_is_reused_and_brought_to_the_new_address(ec2: Any) -> None:
    first = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"])
    again = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["198.51.100.9/32"])
    assert again == first
    assert _ingress_sources(_group(ec2, first)) == {("tcp", 22, "198.51.100.9/32"), ("-1", None, first)}


def test_a_group_left_open_to_the_world_is_closed(ec2: Any) -> None:
    group_id = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"])
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8888, "ToPort": 8888, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"])
    assert _ingress_sources(_group(ec2, group_id)) == {("tcp", 22, "203.0.113.7/32"), ("-1", None, group_id)}


def test_a_foreign_group_of_that_name_is_refused(ec2: Any) -> None:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="remrepl-c1", Description="someone else's", VpcId=vpc)
    with pytest.raises(ConfigError, match="remrepl did not make it"):
        ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"])


def test_group_in_the_subnets_vpc(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group_id = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"], subnet=subnet)
    assert _group(ec2, group_id)["VpcId"] == vpc


def test_unknown_subnet_names_aws_code(ec2: Any) -> None:
    with pytest.raises(CloudError, match=r"InvalidSubnetID\.NotFound"):
        ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"], subnet="subnet-0000")


# --- key pairs ------------------------------------------------------------------------------------------


def test_key_pair_imported_and_tagged(ec2: Any) -> None:
    public, _ = generated_key()
    assert import_key_pair(ec2, cluster="c1", owner=OWNER, public_key=public) == "remrepl-c1"
    pair = ec2.describe_key_pairs(KeyNames=["remrepl-c1"])["KeyPairs"][0]
    assert_tagged(pair["Tags"], cluster="c1", role="head")
    # again (a second `up`): replaced, still one
    import_key_pair(ec2, cluster="c1", owner=OWNER, public_key=public)
    assert len(ec2.describe_key_pairs(KeyNames=["remrepl-c1"])["KeyPairs"]) == 1


def test_workers_key_pair(ec2: Any) -> None:
    public, _ = generated_key()
    name = import_key_pair(ec2, cluster="c1", owner=OWNER, public_key=public, name="remrepl-c1-workers")
    pair = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]
    assert_tagged(pair["Tags"], cluster="c1", role="worker")


def test_foreign_key_pair_is_refused(ec2: Any) -> None:
    public, _ = generated_key()
    ec2.import_key_pair(KeyName="remrepl-c1", PublicKeyMaterial=public.encode())
    with pytest.raises(ConfigError, match="remrepl did not make it"):
        import_key_pair(ec2, cluster="c1", owner=OWNER, public_key=public)


def test_generated_key_is_private_and_kept(private_state: Path) -> None:
    public, private = generated_key()
    assert public.startswith("ssh-ed25519 ")
    assert Path(private).stat().st_mode & 0o777 == 0o600
    assert Path(private).read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert Path(private).parent == private_state / "ec2"
    assert generated_key() == (public, private)  # the same key next time
    Path(private).with_suffix(".pub").unlink()
    assert generated_key() == (public, private)  # a lost .pub never replaces the key
    Path(private).write_text("garbage")
    with pytest.raises(ConfigError, match="cannot read remrepl's EC2 key"):
        generated_key()


def test_user_key_preferred_over_a_generated_one(tmp_path: Path) -> None:
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    no_config = str(tmp_path / "no-ssh-config")
    assert user_public_key(ssh, ssh_config=no_config, use_agent=False)[0].endswith("remrepl-ec2")  # none: generated
    line, _ = generated_key()
    (ssh / "id_rsa.pub").write_text("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 too-short\n")  # not a usable key
    (ssh / "id_ed25519.pub").write_text(line.replace("remrepl-ec2", "alice@laptop") + "\n")
    (ssh / "id_ed25519").write_text("private")
    assert user_public_key(ssh, use_agent=False) == (
        line.replace("remrepl-ec2", "alice@laptop"),
        str(ssh / "id_ed25519"),
    )


# --- instances ------------------------------------------------------------------------------------------


def _spec(ec2: Any, **changes: Any) -> InstanceSpec:
    image = resolve_image(aws_session(), os="al2023", instance_type="t3.micro")
    group_id = ensure_security_group(ec2, cluster="c1", owner=OWNER, allow_cidr=["203.0.113.7/32"])
    public, _ = generated_key()
    key = import_key_pair(ec2, cluster="c1", owner=OWNER, public_key=public)
    values: dict[str, Any] = dict(
        cluster="c1",
        role="head",
        owner=OWNER,
        image=image,
        instance_type="t3.micro",
        key_name=key,
        security_group_id=group_id,
        user_data="#cloud-config\npackages: [python3]\n",
    )
    values.update(changes)
    return InstanceSpec(**values)


def test_instance_and_volume_tagged_at_creation(ec2: Any) -> None:
    spec = _spec(ec2, volume_size=20)
    [instance_id] = launch_instances(ec2, spec)
    d = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert_tagged(d["Tags"], cluster="c1", role="head")
    assert tag_dict(d["Tags"])["Name"] == "remrepl-c1-head"
    assert d["KeyName"] == "remrepl-c1"
    assert [g["GroupId"] for g in d["SecurityGroups"]] == [spec.security_group_id]
    attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    assert attribute["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    assert volumes
    for volume in volumes:
        assert_tagged(volume["Tags"], cluster="c1", role="head")
    assert any(v["Size"] == 20 for v in volumes)
    [instance] = wait_running(ec2, [instance_id], deadline=time.monotonic() + 60, poll_interval=0.1)
    assert instance.state == "running" and instance.role == "head" and instance.cluster == "c1"
    assert instance.public_ip and instance.private_ip and instance.launch_time is not None
    assert not instance.spot


def test_spot_workers(ec2: Any) -> None:
    ids = launch_instances(ec2, _spec(ec2, role="worker", spot=True, count=2))
    assert len(ids) == 2
    instances = describe(ec2, ids)
    assert [i.id for i in instances] == ids
    assert all(i.spot and i.role == "worker" for i in instances)
    # (moto makes no spot request object for run_instances: its tags are checked in the request below)


def test_launch_options_reach_aws(ec2: Any) -> None:
    from remrepl.aws.resources import run_instances_request

    request = run_instances_request(ec2, _spec(ec2, iam_instance_profile="lab-role", subnet_id="subnet-1", spot=True))
    assert request["IamInstanceProfile"] == {"Name": "lab-role"}
    assert request["SubnetId"] == "subnet-1"
    assert request["InstanceMarketOptions"]["SpotOptions"] == {
        "SpotInstanceType": "one-time",
        "InstanceInterruptionBehavior": "terminate",
    }
    assert request["MetadataOptions"]["HttpTokens"] == "required"
    kinds = [t["ResourceType"] for t in request["TagSpecifications"]]
    assert {"instance", "volume", "spot-instances-request"} <= set(kinds)


@pytest.mark.parametrize("changes", [{"count": 0}, {"volume_size": 2}])
def test_bad_launch_options(ec2: Any, changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        launch_instances(ec2, _spec(ec2, **changes))
    assert not ec2.describe_instances()["Reservations"]


def test_capacity_error_retried_then_clear(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2", max_attempts=1)
    spec = _spec(ec2)
    aws_proxy.fail(
        "RunInstances",
        "InsufficientInstanceCapacity",
        "We currently do not have sufficient t3.micro capacity",
        times=None,
    )
    slept: list[float] = []
    with pytest.raises(CapacityError) as caught:
        launch_instances(ec2, spec, capacity_attempts=3, capacity_delay=1.0, sleep=slept.append)
    message = str(caught.value)
    assert (
        "launching 1 t3.micro instance (head) failed: AWS RunInstances returned InsufficientInstanceCapacity" in message
    )
    assert "another --instance-type" in message
    assert aws_proxy.calls["RunInstances"] == 3
    assert slept == [1.0, 2.0]
    assert not ec2.describe_instances()["Reservations"]


def test_momentary_lack_of_capacity_is_overcome(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2", max_attempts=1)
    spec = _spec(ec2)
    aws_proxy.fail("RunInstances", "InsufficientInstanceCapacity", times=1)
    ids = launch_instances(ec2, spec, capacity_delay=0.0)
    assert len(ids) == 1 and aws_proxy.calls["RunInstances"] == 2


def test_throttled_launch_is_retried_by_the_client(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2")
    spec = _spec(ec2)
    aws_proxy.fail("RunInstances", "RequestLimitExceeded", "Request limit exceeded.", times=1)
    assert len(launch_instances(ec2, spec, sleep=_never)) == 1
    assert aws_proxy.calls["RunInstances"] == 2


def _never(seconds: float) -> None:
    raise AssertionError("no back-off of ours expected")


def test_wait_running_reports_an_instance_that_ended(ec2: Any) -> None:
    [instance_id] = launch_instances(ec2, _spec(ec2))
    terminate(ec2, [instance_id])
    with pytest.raises(CloudError, match=f"instance {instance_id} is (shutting-down|terminated) instead of starting"):
        wait_running(ec2, [instance_id], deadline=time.monotonic() + 30, poll_interval=0.1)


def test_wait_running_is_bounded(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2")
    [instance_id] = launch_instances(ec2, _spec(ec2))
    aws_proxy.rewrite("DescribeInstances", b"<name>running</name>", b"<name>pending</name>")  # stuck
    with pytest.raises(CloudError, match=f"did not reach 'running' in time \\({instance_id} pending\\)") as caught:
        wait_running(ec2, [instance_id], deadline=time.monotonic() + 0.5, poll_interval=0.1)
    assert caught.value.code == "Timeout"


def test_terminate_twice_and_unknown_ids(ec2: Any) -> None:
    [instance_id] = launch_instances(ec2, _spec(ec2))
    terminate(ec2, [instance_id])
    terminate(ec2, [instance_id])
    terminate(ec2, [instance_id, "i-0123456789abcdef0"])
    terminate(ec2, [])
    assert describe(ec2, [instance_id])[0].state == "terminated"


def test_image_dataclass_defaults() -> None:
    image = Image(ami="ami-1", os="ubuntu-24.04", ssh_user="ubuntu", architecture="x86_64")
    assert image.python == "python3" and image.root_device_name is None


def test_identity_file_of_every_host_comes_first(tmp_path: Path) -> None:
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    default, _ = generated_key()
    (ssh / "id_ed25519.pub").write_text(default + "\n")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    work = ed25519.Ed25519PrivateKey.generate().public_key()
    work_line = work.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    (tmp_path / "work_key.pub").write_text(work_line + " work\n")
    (tmp_path / "work_key").write_text("private")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host other\n    IdentityFile /nowhere/key\nHost *\n    IdentityFile {tmp_path}/work_key\n")
    line, private = user_public_key(ssh, ssh_config=str(config), use_agent=False)
    assert line == work_line + " work" and private == str(tmp_path / "work_key")
    # a config that cannot be read gives no key, not an error
    assert user_public_key(ssh, ssh_config=str(tmp_path / "missing"), use_agent=False)[0] == default


def test_tags_travel_in_the_creating_calls_never_afterwards(aws_proxy: AWSProxy) -> None:
    """Tagged AT creation: no CreateTags call at all (a crash between create and tag would leave an
    untagged resource that status/down cannot find)."""
    ec2 = client(aws_session(), "ec2")
    spec = _spec(ec2, role="worker", spot=True, count=2, volume_size=16)
    launch_instances(ec2, spec)
    assert aws_proxy.calls["CreateSecurityGroup"] == 1
    assert aws_proxy.calls["ImportKeyPair"] == 1
    assert aws_proxy.calls["RunInstances"] == 1
    assert aws_proxy.calls["CreateTags"] == 0
