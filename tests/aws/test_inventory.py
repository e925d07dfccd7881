"""status and down against moto: clusters found by tag, and nothing left after teardown."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from remrepl.aws.images import resolve_image
from remrepl.aws.inventory import ClusterInfo, find_cluster, list_clusters, status_table, teardown
from remrepl.aws.resources import (
    Instance,
    InstanceSpec,
    ensure_security_group,
    import_key_pair,
    launch_instances,
    terminate,
)
from remrepl.aws.session import aws_session, client
from remrepl.ssh.user_keys import generated_key
from tests.support.awsproxy import AWSProxy

OWNER = "arn:aws:iam::123456789012:user/alice"


def make_cluster(ec2: Any, name: str, *, workers: int = 0, spot_workers: bool = False) -> dict[str, Any]:
    """A cluster as `up` and `cluster(ec2=...)` make it: group, both key pairs, a head, workers."""
    image = resolve_image(aws_session(), os="al2023", instance_type="t3.micro")
    group = ensure_security_group(ec2, cluster=name, owner=OWNER, allow_cidr=["203.0.113.7/32"])
    public, _ = generated_key()
    key = import_key_pair(ec2, cluster=name, owner=OWNER, public_key=public)
    spec = InstanceSpec(name, "head", OWNER, image, "t3.micro", key, group)
    [head] = launch_instances(ec2, spec)
    ids: list[str] = []
    if workers:
        workers_key = import_key_pair(ec2, cluster=name, owner=OWNER, public_key=public, name=f"remrepl-{name}-workers")
        worker_spec = InstanceSpec(
            name, "worker", OWNER, image, "t3.micro", workers_key, group, spot=spot_workers, count=workers
        )
        ids = launch_instances(ec2, worker_spec)
    return {"group": group, "head": head, "workers": ids}


def assert_nothing_left(ec2: Any, name: str) -> None:
    tagged = [{"Name": "tag:remrepl:cluster", "Values": [name]}]
    for reservation in ec2.describe_instances(Filters=tagged)["Reservations"]:
        for instance in reservation["Instances"]:
            assert instance["State"]["Name"] in ("shutting-down", "terminated")
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"remrepl-{name}"]}])[
        "SecurityGroups"
    ]
    pairs = ec2.describe_key_pairs()["KeyPairs"]
    assert not [p for p in pairs if p["KeyName"] in (f"remrepl-{name}", f"remrepl-{name}-workers")]


@pytest.fixture
def ec2(aws: str) -> Any:
    return client(aws_session(), "ec2")


def test_status_lists_clusters_by_tag(ec2: Any) -> None:
    lab = make_cluster(ec2, "lab", workers=2)
    make_cluster(ec2, "other")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="not-remrepl", Description="x", VpcId=vpc)  # not ours: not listed
    clusters = list_clusters(aws_session())
    assert [c.name for c in clusters] == ["lab", "other"]
    info = clusters[0]
    assert info.region == "us-east-1"
    assert info.head is not None and info.head.id == lab["head"]
    assert info.state == "running"
    assert sorted(w.id for w in info.workers) == sorted(lab["workers"])
    assert info.security_group_id == lab["group"]
    assert info.key_names == ["remrepl-lab", "remrepl-lab-workers"]
    assert info.head.public_ip
    uptime = info.uptime()
    assert uptime is not None and uptime >= datetime.timedelta(0)
    assert info.hourly[("t3.micro", False)] == pytest.approx(0.0104)
    cost = info.cost_so_far()
    assert cost is not None and cost >= 0
    assert info.hourly_cost() == pytest.approx(3 * 0.0104)
    assert find_cluster(aws_session(), "nosuch") is None


def test_cost_so_far_counts_billed_instances_only() -> None:
    launched = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def instance(state: str, spot: bool = False) -> Instance:
        return Instance("i-1", state, "t3.micro", None, None, launched, "head", "c", spot)

    now = launched + datetime.timedelta(hours=2)
    info = ClusterInfo(
        "c", "us-east-1", instance("running"), [instance("stopped")], None, [], {("t3.micro", False): 0.5}
    )
    assert info.cost_so_far(now) == pytest.approx(1.0)
    assert info.uptime(now) == datetime.timedelta(hours=2)
    unknown = ClusterInfo("c", "us-east-1", instance("running", spot=True), [], None, [], {})
    assert unknown.cost_so_far(now) is None
    empty = ClusterInfo("c", "us-east-1", None, [], "sg-1", [], {})
    assert empty.uptime(now) is None and empty.cost_so_far(now) == 0.0 and empty.state == "no head"
    lines = status_table([info, unknown, empty], now)
    assert lines[0].split() == [
        "NAME",
        "REGION",
        "STATE",
        "TYPE",
        "PUBLIC",
        "IP",
        "WORKERS",
        "UPTIME",
        "COST",
        "SO",
        "FAR",
        "(EST.)",
    ]
    assert lines[1].split() == ["c", "us-east-1", "running", "t3.micro", "-", "0", "2h00m", "~$1.00"]
    assert lines[2].split() == ["c", "us-east-1", "running", "t3.micro", "spot", "-", "0", "2h00m", "unknown"]
    assert lines[3].split() == ["c", "us-east-1", "no", "head", "-", "-", "0", "-", "~$0.00"]


def test_down_removes_everything_and_twice_is_fine(ec2: Any) -> None:
    lab = make_cluster(ec2, "lab", workers=2)
    keep = make_cluster(ec2, "keep")
    messages: list[str] = []
    report = teardown(aws_session(), "lab", notify=messages.append, deadline=time.monotonic() + 60)
    assert report.ok, report.problems
    assert report.terminated == [*lab["workers"], lab["head"]]  # workers first, then the head
    assert report.security_groups == [lab["group"]]
    assert report.key_pairs == ["remrepl-lab", "remrepl-lab-workers"]
    assert messages[0].startswith("terminating 2 worker instance(s)")
    assert any("terminated 3 instance(s)" in line for line in report.lines())
    assert_nothing_left(ec2, "lab")
    # the other cluster is untouched
    other = find_cluster(aws_session(), "keep")
    assert other is not None and other.head is not None and other.head.id == keep["head"]
    assert other.head.state == "running" and other.security_group_id == keep["group"]
    # twice
    again = teardown(aws_session(), "lab", deadline=time.monotonic() + 60)
    assert again.ok and again.nothing_found
    assert again.lines() == ["cluster lab (us-east-1): nothing to remove"]
    assert [c.name for c in list_clusters(aws_session())] == ["keep"]


def test_down_after_the_head_was_terminated_by_hand(ec2: Any) -> None:
    lab = make_cluster(ec2, "lab")
    terminate(ec2, [lab["head"]])
    info = find_cluster(aws_session(), "lab")  # still listed: its group and key pair are left
    assert info is not None and info.security_group_id == lab["group"]
    report = teardown(aws_session(), "lab", deadline=time.monotonic() + 60)
    assert report.ok and report.terminated == []
    assert report.security_groups == [lab["group"]]
    assert_nothing_left(ec2, "lab")


def test_down_with_the_group_already_deleted(ec2: Any) -> None:
    lab = make_cluster(ec2, "lab")
    terminate(ec2, [lab["head"]])
    ec2.delete_security_group(GroupId=lab["group"])
    report = teardown(aws_session(), "lab", deadline=time.monotonic() + 60)
    assert report.ok and report.key_pairs == ["remrepl-lab"]
    assert_nothing_left(ec2, "lab")


def test_group_in_use_is_retried_with_back_off(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2")
    lab = make_cluster(ec2, "lab")
    aws_proxy.fail(
        "DeleteSecurityGroup", "DependencyViolation", f"resource {lab['group']} has a dependent object", times=2
    )
    slept: list[float] = []
    messages: list[str] = []
    report = teardown(aws_session(), "lab", notify=messages.append, deadline=time.monotonic() + 600, sleep=slept.append)
    assert report.ok and report.security_groups == [lab["group"]]
    assert aws_proxy.calls["DeleteSecurityGroup"] == 3
    assert slept[-2:] == [2.0, 4.0]
    assert sum("still in use" in m for m in messages) == 2
    assert_nothing_left(ec2, "lab")


def test_group_in_use_past_the_deadline_is_reported(aws_proxy: AWSProxy) -> None:
    ec2 = client(aws_session(), "ec2")
    lab = make_cluster(ec2, "lab")
    terminate(ec2, [lab["head"]])
    aws_proxy.fail("DeleteSecurityGroup", "DependencyViolation", "in use", times=None)
    report = teardown(aws_session(), "lab", deadline=time.monotonic() + 1, sleep=lambda s: None)
    assert not report.ok
    assert any(lab["group"] in problem and "remrepl down" in problem for problem in report.problems)
    assert any(line.startswith("  LEFT: ") for line in report.lines())
    assert report.key_pairs == ["remrepl-lab"]  # the rest was still done


def test_workers_started_while_down_runs_are_terminated_too(ec2: Any) -> None:
    """The head may launch a worker between down's listing and the head's end: down looks again."""
    lab = make_cluster(ec2, "lab")
    image = resolve_image(aws_session(), os="al2023", instance_type="t3.micro")
    late: list[str] = []

    def notify(message: str) -> None:
        if message.startswith("terminating 1 head") and not late:  # the head's last act
            spec = InstanceSpec("lab", "worker", OWNER, image, "t3.micro", "remrepl-lab", lab["group"])
            late.extend(launch_instances(ec2, spec))

    report = teardown(aws_session(), "lab", notify=notify, deadline=time.monotonic() + 60)
    assert late and report.ok
    assert report.terminated == [lab["head"], *late]
    assert_nothing_left(ec2, "lab")
