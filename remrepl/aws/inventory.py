"""``remrepl status`` and ``remrepl down``: what exists in EC2 by remrepl's tags, and taking it away.

Always asked of EC2 (by tag), never of a local cache: a cache would miss what another machine launched,
and would still list what the reaper or the user already terminated.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._exceptions import CloudError
from .pricing import estimate
from .resources import ENDED, Instance, describe_filtered, terminate
from .session import aws_errors, client
from .tags import TAG_CLUSTER, cluster_filter, tag_dict

if TYPE_CHECKING:
    import boto3

ALIVE = ("pending", "running", "stopping", "stopped", "shutting-down")  # not yet "terminated"
BILLED = ("pending", "running", "shutting-down")  # stopped instances cost their volumes only
POLL_INTERVAL = 2.0
SG_DELAY = 2.0  # first back-off while the security group is still in use; doubles up to SG_MAX_DELAY
SG_MAX_DELAY = 15.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class ClusterInfo:
    """One cluster as EC2 knows it. ``hourly`` maps (instance type, spot) to an estimated USD/h."""

    name: str
    region: str
    head: Instance | None
    workers: list[Instance]
    security_group_id: str | None
    key_names: list[str]
    hourly: dict[tuple[str, bool], float | None] = field(default_factory=dict)

    @property
    def instances(self) -> list[Instance]:
        return ([self.head] if self.head else []) + self.workers

    @property
    def state(self) -> str:
        """The head's state; "no head" when only workers or leftovers (a security group, a key) remain."""
        return self.head.state if self.head else "no head"

    def uptime(self, now: datetime.datetime | None = None) -> datetime.timedelta | None:
        """Since the head (or the oldest instance) was launched; None without instances."""
        now = now or _now()
        times = [i.launch_time for i in ([self.head] if self.head else self.workers) if i.launch_time]
        return max(now - min(times), datetime.timedelta(0)) if times else None

    def hourly_cost(self) -> float | None:
        """Estimated USD/h of the instances that are billed now; None if a price is unknown."""
        total = 0.0
        for instance in self.instances:
            if instance.state in BILLED:
                price = self.hourly.get((instance.instance_type, instance.spot))
                if price is None:
                    return None
                total += price
        return total

    def cost_so_far(self, now: datetime.datetime | None = None) -> float | None:
        """Estimated USD the instances still alive have cost since their launch (instances already gone
        are not counted); None if a price is unknown."""
        now = now or _now()
        total = 0.0
        for instance in self.instances:
            if instance.state not in BILLED or instance.launch_time is None:
                continue
            price = self.hourly.get((instance.instance_type, instance.spot))
            if price is None:
                return None
            total += price * max((now - instance.launch_time).total_seconds(), 0.0) / 3600
        return total


def _duration(delta: datetime.timedelta | None) -> str:
    if delta is None:
        return "-"
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def status_table(clusters: Iterable[ClusterInfo], now: datetime.datetime | None = None) -> list[str]:
    """``remrepl status``'s lines: one per cluster (its head), costs marked as estimates."""
    header = ("NAME", "REGION", "STATE", "TYPE", "PUBLIC IP", "WORKERS", "UPTIME", "COST SO FAR (EST.)")
    rows = [header]
    for c in clusters:
        cost = c.cost_so_far(now)
        rows.append(
            (
                c.name,
                c.region,
                c.state,
                (c.head.instance_type + (" spot" if c.head.spot else "")) if c.head else "-",
                (c.head.public_ip or "-") if c.head else "-",
                str(sum(1 for w in c.workers if w.state in BILLED)),
                _duration(c.uptime(now)),
                f"~${cost:.2f}" if cost is not None else "unknown",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _region(session: boto3.Session) -> str:
    return str(session.region_name)


def _collect(session: boto3.Session, ec2: Any, only: str | None, prices: bool) -> list[ClusterInfo]:
    filters = cluster_filter(only)
    alive = [*filters, {"Name": "instance-state-name", "Values": list(ALIVE)}]
    instances = describe_filtered(ec2, alive, "listing remrepl's instances")
    with aws_errors("listing remrepl's security groups"):
        groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    with aws_errors("listing remrepl's key pairs"):
        pairs = ec2.describe_key_pairs(Filters=filters)["KeyPairs"]
    names: set[str] = {i.cluster for i in instances}
    names |= {tag_dict(g.get("Tags")).get(TAG_CLUSTER, "") for g in groups}
    names |= {tag_dict(p.get("Tags")).get(TAG_CLUSTER, "") for p in pairs}
    names.discard("")
    hourly: dict[tuple[str, bool], float | None] = {}
    if prices:
        for key in {(i.instance_type, i.spot) for i in instances if i.state in BILLED}:
            found = estimate(session, key[0], spot=key[1], region=_region(session), price_list=False)
            hourly[key] = found.usd_per_hour if found else None
    result = []
    for name in sorted(names):
        mine = [i for i in instances if i.cluster == name]
        heads = sorted((i for i in mine if i.role == "head"), key=lambda i: (i.state != "running", i.id))
        group_ids = [str(g["GroupId"]) for g in groups if tag_dict(g.get("Tags")).get(TAG_CLUSTER) == name]
        result.append(
            ClusterInfo(
                name=name,
                region=_region(session),
                head=heads[0] if heads else None,
                workers=[i for i in mine if i.role != "head"] + heads[1:],
                security_group_id=group_ids[0] if group_ids else None,
                key_names=sorted(str(p["KeyName"]) for p in pairs if tag_dict(p.get("Tags")).get(TAG_CLUSTER) == name),
                hourly=hourly,
            )
        )
    return result


def list_clusters(session: boto3.Session, *, prices: bool = True) -> list[ClusterInfo]:
    """Every remrepl cluster in the session's region: its instances not yet terminated, its security
    group and key pairs (a cluster whose instances are gone but whose group is left still shows)."""
    return _collect(session, client(session, "ec2"), None, prices)


def find_cluster(session: boto3.Session, name: str, *, prices: bool = True) -> ClusterInfo | None:
    found = _collect(session, client(session, "ec2"), name, prices)
    return found[0] if found else None


@dataclass
class TeardownReport:
    """What ``teardown`` did, for the CLI to print; ``problems`` is empty when nothing was left."""

    cluster: str
    region: str
    terminated: list[str] = field(default_factory=list)  # instance ids terminated now
    security_groups: list[str] = field(default_factory=list)  # deleted
    key_pairs: list[str] = field(default_factory=list)  # deleted
    problems: list[str] = field(default_factory=list)  # what is left, and why

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def nothing_found(self) -> bool:
        return not (self.terminated or self.security_groups or self.key_pairs or self.problems)

    def lines(self) -> list[str]:
        if self.nothing_found:
            return [f"cluster {self.cluster} ({self.region}): nothing to remove"]
        out = [f"cluster {self.cluster} ({self.region}):"]
        if self.terminated:
            out.append(f"  terminated {len(self.terminated)} instance(s): {', '.join(self.terminated)}")
        if self.security_groups:
            out.append(f"  deleted security group {', '.join(self.security_groups)}")
        if self.key_pairs:
            out.append(f"  deleted key pair(s) {', '.join(self.key_pairs)}")
        out.extend(f"  LEFT: {problem}" for problem in self.problems)
        return out


def _wait_ended(
    ec2: Any, ids: list[str], states: Iterable[str], *, deadline: float, sleep: Callable[[float], None]
) -> list[Instance]:
    """Poll until every instance of ``ids`` is in ``states`` (or unknown to AWS); those that are not,
    when the deadline comes."""
    wanted = set(states)
    while True:
        filters = [{"Name": "instance-id", "Values": ids}]
        pending = [i for i in describe_filtered(ec2, filters, "waiting for instances to end") if i.state not in wanted]
        if not pending or time.monotonic() + POLL_INTERVAL > deadline:
            return pending
        sleep(POLL_INTERVAL)


def _delete_group(
    ec2: Any, group_id: str, *, deadline: float, notify: Callable[[str], None], sleep: Callable[[float], None]
) -> str | None:
    """Delete the security group, retrying while EC2 says it is still in use (the network interfaces of
    instances just terminated linger a little). None when done; else why not."""
    delay = SG_DELAY
    while True:
        try:
            with aws_errors(f"deleting security group {group_id}"):
                ec2.delete_security_group(GroupId=group_id)
            return None
        except CloudError as exc:
            if exc.code == "InvalidGroup.NotFound":
                return None  # gone already: fine
            if exc.code != "DependencyViolation":
                return str(exc)
            if time.monotonic() + delay > deadline:
                return f"security group {group_id} is still in use by something; run `remrepl down` again later"
            notify(f"security group {group_id} still in use; retrying in {delay:.0f} s")
            sleep(delay)
            delay = min(delay * 2, SG_MAX_DELAY)


def teardown(
    session: boto3.Session,
    name: str,
    *,
    notify: Callable[[str], None] = lambda message: None,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> TeardownReport:
    """Remove cluster ``name``: terminate its workers, then its head, wait until they are terminated,
    delete its security group (retrying while it is in use) and the key pairs remrepl made for it.
    Idempotent: what is gone already is skipped. Everything waits at most until the monotonic
    ``deadline``; what is left then is in the report's ``problems``."""
    ec2 = client(session, "ec2")
    report = TeardownReport(name, _region(session))
    found = _collect(session, ec2, name, prices=False)
    if not found:
        return report
    cluster = found[0]
    for role, group in (("worker", cluster.workers), ("head", [cluster.head] if cluster.head else [])):
        ids = [i.id for i in group if i.state not in ENDED]
        if ids:
            notify(f"terminating {len(ids)} {role} instance(s): {', '.join(ids)}")
            terminate(ec2, ids)
            report.terminated.extend(ids)
        waiting = [i.id for i in group if i.state != "terminated"]
        if waiting:  # workers must be going before the head is: the head could start new ones
            left = _wait_ended(ec2, waiting, ENDED, deadline=deadline, sleep=sleep)
            report.problems.extend(f"instance {i.id} is still {i.state}" for i in left)
    # A head that was still running may have started workers after we listed them: those go too.
    alive = [*cluster_filter(name), {"Name": "instance-state-name", "Values": list(ALIVE)}]
    known = {i.id for i in cluster.instances}
    late = [i for i in describe_filtered(ec2, alive, "listing the cluster's instances again") if i.id not in known]
    if late_ids := [i.id for i in late if i.state not in ENDED]:
        notify(f"terminating {len(late_ids)} instance(s) started meanwhile: {', '.join(late_ids)}")
        terminate(ec2, late_ids)
        report.terminated.extend(late_ids)
    everyone = [i.id for i in [*cluster.instances, *late] if i.state != "terminated"]
    if everyone:  # the group can go only once their network interfaces are released
        notify("waiting for the instances to be terminated")
        _wait_ended(ec2, everyone, ("terminated",), deadline=deadline, sleep=sleep)
    with aws_errors("listing remrepl's security groups"):
        groups = ec2.describe_security_groups(Filters=cluster_filter(name))["SecurityGroups"]
    for g in groups:
        problem = _delete_group(ec2, str(g["GroupId"]), deadline=deadline, notify=notify, sleep=sleep)
        if problem:
            report.problems.append(problem)
        else:
            report.security_groups.append(str(g["GroupId"]))
    for key_name in cluster.key_names:  # only those tagged for this cluster: remrepl made them
        try:
            with aws_errors(f"deleting key pair {key_name}"):
                ec2.delete_key_pair(KeyName=key_name)
            report.key_pairs.append(key_name)
        except CloudError as exc:
            if exc.code != "InvalidKeyPair.NotFound":
                report.problems.append(str(exc))
    return report
