"""EC2 workers against the moto server: instances launched, tagged and terminated for real (boto3 → moto on
127.0.0.1), each worker started over SSH at its private address (moto's default subnet: 172.31.x.x), which the
tests' ssh_config maps to a loopback sshd. Real Dask scheduler and workers, real TLS.

Seams (see remrepl/cluster/backends/ec2.py): ``key_source`` makes the head's workers key as in production, then
appends its public half to the loopback sshd's authorized_keys (what cloud-init does with the key pair on
a real instance); ``scheduler_host`` is 127.0.0.1 (there is no head instance whose address we have);
``bootstrap=False`` with this interpreter (the "instances" are this machine). The dead man's switch gets
a harmless command, never shutdown (we are root here).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
from testec2 import authorize, head_settings, worker_ssh_config
from testhosts import SSHD, SSHHosts

import remrepl
from remrepl import ClusterError, ConfigError
from remrepl.aws.tags import TAG_CLUSTER, TAG_ROLE, tag_dict
from remrepl.cluster.backends.ec2 import EC2Workers, HeadContext, generate_key, head_context
from tests.support.awsproxy import AWSProxy
from tests.support.isolated import LOCAL_INDEX, local_wheels
from tests.support.processes import alive, children_of, processes_under
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers

CLUSTER = "t1"
OWNER = "arn:aws:iam::123456789012:user/alice"
KEY_PAIR = f"remrepl-{CLUSTER}-workers"


@dataclass
class Head:
    """A pretend head node: its REMREPL_EC2_* settings in our environment, its network in moto."""

    ec2: Any
    security_group: str
    subnet: str
    sshd: SSHD
    ssh_config: Path
    fired: Path  # the dead man's switch's harmless command touches this

    def options(self, **extra: Any) -> dict[str, Any]:
        return {
            "instance_type": "t3.medium",
            "processes": 1,  # (default: one per vCPU of the type, 2 here: see test_console_host_keys_...)
            "bootstrap": False,
            "python": sys.executable,
            "scheduler_host": "127.0.0.1",
            "ssh_config": str(self.ssh_config),
            "on_lost_scheduler": f"touch {shlex.quote(str(self.fired))}",
            "key_source": self.install_key,
            **extra,
        }

    def install_key(self) -> paramiko.PKey:
        """The head's own key, authorized on the loopback sshd as cloud-init would from the key pair."""
        return authorize(self.sshd)

    def workers(self) -> list[dict[str, Any]]:
        found = self.ec2.describe_instances(Filters=[{"Name": f"tag:{TAG_ROLE}", "Values": ["worker"]}])
        return [i for r in found["Reservations"] for i in r["Instances"]]

    def running_workers(self) -> list[dict[str, Any]]:
        return [i for i in self.workers() if i["State"]["Name"] in ("pending", "running")]

    def key_pairs(self) -> list[str]:
        return [k["KeyName"] for k in self.ec2.describe_key_pairs()["KeyPairs"]]

    def worker_processes(self) -> list[int]:
        return processes_under(children_of(self.sshd.process.pid), b"remrepl.cluster.remote_worker")


@pytest.fixture
def head(aws: str, ssh_hosts: SSHHosts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Head:
    settings = head_settings(cluster=CLUSTER, owner=OWNER)
    sshd = ssh_hosts.start("workers")
    config = worker_ssh_config(tmp_path / "ssh_config", sshd)
    for name, value in settings.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REMREPL_EC2_INSTANCE_ID", raising=False)
    return Head(settings.ec2, settings.security_group, settings.subnet, sshd, config, tmp_path / "switch-fired")


def test_a_map_over_ec2_workers_and_nothing_left_after_close(head: Head) -> None:
    with remrepl.cluster(ec2=head.options(workers=2)) as cl:
        assert "ec2 t3.medium: 2 workers" in repr(cl)
        assert cl.map(lambda x: x * x, range(300)) == [x * x for x in range(300)]
        instances = head.running_workers()
        assert len(instances) == 2
        assert sorted(w["name"] for w in cl.workers().values()) == sorted(i["InstanceId"] for i in instances)
        for instance in instances:
            tags = tag_dict(instance["Tags"])
            assert tags[TAG_CLUSTER] == CLUSTER and tags[TAG_ROLE] == "worker"
            assert [g["GroupId"] for g in instance["SecurityGroups"]] == [head.security_group]
            assert instance["SubnetId"] == head.subnet
            assert instance["KeyName"] == KEY_PAIR
        assert KEY_PAIR in head.key_pairs()
        processes = head.worker_processes()
        assert len(processes) == 2
        for pid in processes:  # every worker runs with the dead man's switch (here a harmless command)
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert argv[argv.index(b"--on-lost-scheduler") + 1] == f"touch {head.fired}".encode()
        cl.scale(1)  # terminates one instance
        wait_until(lambda: len(head.running_workers()) == 1, 60, "one worker instance to be left running")
        wait_until(lambda: len(cl.workers()) == 1, 60, "one worker")  # the instance ends first, then its worker
        cl.scale(2)  # launches a new one (and waits for its worker)
        assert len(cl.workers()) == 2 and len(head.running_workers()) == 2 and len(head.workers()) == 3
        assert cl.map(str, range(50)) == [str(x) for x in range(50)]
    assert head.running_workers() == []
    assert KEY_PAIR not in head.key_pairs()
    wait_until(lambda: not [pid for pid in processes if alive(pid)], 60, "the worker processes to end")
    assert not head.fired.exists()  # a close on purpose does not fire the dead man's switch


def test_a_worker_instance_terminated_mid_map_costs_a_retry_not_the_result(head: Head) -> None:
    with remrepl.cluster(ec2=head.options(workers=2)) as cl:
        victim = next(iter(cl.workers().values()))
        instance_id, address = victim["name"], victim["id"]
        pid = cl.client.run(os.getpid, workers=[next(a for a, w in cl.workers().items() if w["id"] == address)])
        worker_pid = next(iter(pid.values()))
        result: list[Any] = []

        def slow(x: int) -> int:
            import time

            time.sleep(0.01)
            return x + 1

        mapping = threading.Thread(target=lambda: result.append(cl.map(slow, range(400), progress=False)))
        mapping.start()
        wait_until(lambda: any(cl.client.processing().values()), 60, "the workers to be processing tasks")
        head.ec2.terminate_instances(InstanceIds=[instance_id])
        nanny = int(Path(f"/proc/{worker_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        for victim_pid in (worker_pid, nanny):  # the instance's processes die with it
            os.kill(victim_pid, signal.SIGKILL)
        mapping.join(120)
        assert not mapping.is_alive()
        assert result == [[x + 1 for x in range(400)]]
    assert head.running_workers() == []


def test_console_host_keys_are_checked_and_a_failed_start_leaves_nothing(head: Head) -> None:
    right = head.sshd.host_key_line
    with remrepl.cluster(ec2=head.options(workers=1, processes=None, host_keys=lambda ec2, i: [right])) as cl:
        assert "ec2 t3.medium: 2 workers, 2 cores" in repr(cl)  # one single-threaded process per vCPU
        (instance,) = head.running_workers()
        names = sorted(w["name"] for w in cl.workers().values())
        assert names == [f"{instance['InstanceId']}-0", f"{instance['InstanceId']}-1"]
        assert cl.map(lambda x: -x, range(100)) == [-x for x in range(100)]
    other = generate_key()
    with pytest.raises(ClusterError, match="could not start") as info:
        remrepl.cluster(ec2=head.options(workers=1, host_keys=lambda ec2, i: [f"ssh-ed25519 {other.get_base64()}"]))
    assert "console" in str(info.value)
    assert head.running_workers() == []
    assert KEY_PAIR not in head.key_pairs()
    assert head.worker_processes() == []


def test_ec2_options_are_checked_up_front(head: Head) -> None:
    with pytest.raises(ValueError, match="workers must be a whole number"):
        remrepl.cluster(ec2=head.options(workers=-1))
    with pytest.raises(ValueError, match="give workers= once"):
        remrepl.cluster(3, ec2=head.options(workers=2))
    with pytest.raises(TypeError, match="bogus"):
        remrepl.cluster(ec2=head.options(bogus=1))
    with pytest.raises(TypeError, match="ec2= takes a dict"):
        remrepl.cluster(ec2="t3.medium")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one of hosts=, backend= and ec2="):
        remrepl.cluster(hosts=["w1"], ec2={})
    with pytest.raises(ValueError, match="lost_scheduler_after"):
        remrepl.cluster(ec2=head.options(lost_scheduler_after=0))
    assert head.workers() == [] and KEY_PAIR not in head.key_pairs()


def test_off_a_head_node_ec2_needs_explicit_settings(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLUSTER", "REGION", "SECURITY_GROUP", "SUBNET", "AMI", "SSH_USER", "OWNER", "INSTANCE_ID"):
        monkeypatch.delenv(f"REMREPL_EC2_{name}", raising=False)
    assert head_context() is None
    with pytest.raises(ConfigError, match=r"REMREPL_EC2_\* settings.*cluster=, security_group=, ami="):
        EC2Workers(1)


def test_head_context_reads_the_environment() -> None:
    env = {"REMREPL_EC2_CLUSTER": "c", "REMREPL_EC2_SECURITY_GROUP": "sg-1", "REMREPL_EC2_AMI": "ami-1"}
    assert head_context(env) == HeadContext(cluster="c", security_group="sg-1", ami="ami-1")
    full = {**env, "REMREPL_EC2_SUBNET": "subnet-1", "REMREPL_EC2_INSTANCE_ID": "i-1", "REMREPL_EC2_REGION": "r"}
    assert head_context(full) == HeadContext("c", "sg-1", "ami-1", region="r", subnet="subnet-1", instance_id="i-1")
    assert head_context({}) is None
    with pytest.raises(ConfigError, match="REMREPL_EC2_AMI not set"):
        head_context({"REMREPL_EC2_CLUSTER": "c", "REMREPL_EC2_SECURITY_GROUP": "sg-1"})


def test_the_scheduler_listens_on_the_head_instances_private_address(
    head: Head, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = head.ec2.run_instances(
        ImageId=os.environ["REMREPL_EC2_AMI"], MinCount=1, MaxCount=1, InstanceType="t3.medium", SubnetId=head.subnet
    )
    instance = answer["Instances"][0]
    monkeypatch.setenv("REMREPL_EC2_INSTANCE_ID", instance["InstanceId"])
    monkeypatch.delenv("REMREPL_EC2_SUBNET")
    options = head.options(workers=1)
    del options["scheduler_host"]
    backend = EC2Workers(**options)
    assert backend.scheduler_host == instance["PrivateIpAddress"]
    assert backend.subnet == head.subnet
    backend.close()  # nothing launched: nothing to do


def test_a_launch_that_fails_mid_start_releases_what_was_created(head: Head, aws_proxy: AWSProxy) -> None:
    aws_proxy.fail("RunInstances", "UnauthorizedOperation", "not allowed", times=1)  # one of the two launches
    with pytest.raises(ClusterError, match=r"could not start.*UnauthorizedOperation"):
        remrepl.cluster(ec2=head.options(workers=2))
    assert aws_proxy.calls["RunInstances"] == 2
    assert len(head.workers()) == 1  # the other one was launched ...
    assert head.running_workers() == []  # ... and terminated again
    assert KEY_PAIR not in head.key_pairs()
    assert head.worker_processes() == []


def test_an_instance_that_never_runs_is_terminated(head: Head, aws_proxy: AWSProxy) -> None:
    aws_proxy.rewrite("DescribeInstances", b"<name>running</name>", b"<name>pending</name>")
    with pytest.raises(ClusterError, match="did not reach 'running'"):
        remrepl.cluster(ec2=head.options(workers=1, ready_timeout=3))
    assert len(head.workers()) == 1 and head.running_workers() == []
    assert KEY_PAIR not in head.key_pairs()


def test_a_worker_that_refuses_the_heads_key_fails_clearly_and_is_terminated(head: Head) -> None:
    options = head.options(workers=1, ready_timeout=5, key_source=generate_key)  # a key the sshd never got
    with pytest.raises(ClusterError, match=r"did not accept SSH within 5 s.*refused the login"):
        remrepl.cluster(ec2=options)
    assert len(head.workers()) == 1 and head.running_workers() == []
    assert KEY_PAIR not in head.key_pairs()


KERNEL_CODE = """
import remrepl
from remrepl.cluster.backends.ec2 import generate_key

def install_key():
    key = generate_key()
    with open({authorized!r}, "a") as f:
        f.write(f"{{key.get_name()}} {{key.get_base64()}}\\n")
    return key

with remrepl.cluster(ec2=dict(workers=1, key_source=install_key, **{options!r})) as cl:
    print(repr(cl).split(":")[0], sum(cl.map(abs, range(-50, 50), progress=False)))
"""


def test_a_head_without_credentials_of_its_own_uses_the_forwarded_ones(
    head: Head, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from remrepl.launchers import LocalLauncher

    lender = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # the head's server (and kernel) have no AWS credentials at all
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    options = {k: v for k, v in head.options().items() if k != "key_source"}
    code = KERNEL_CODE.format(authorized=str(head.sshd.directory / "authorized_keys"), options=options)
    with LocalLauncher() as launcher, launcher.connect() as session:
        before = session.run(code)
        assert not before.ok and "no instance profile, and the client forwarded none" in str(before.error)
        session.forward_aws_credentials(lender, duration=900)
        result = session.run(code, timeout=120)
        assert result.ok, result.error
        assert result.stdout.split() == ["<remrepl.Cluster", "ec2", "t3.medium", "2500"]
    assert head.running_workers() == [] and KEY_PAIR not in head.key_pairs()


@pytest.mark.timeout(600)
def test_the_bootstrap_installs_remrepl_on_the_worker_and_a_failed_dask_install_says_so(
    head: Head, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    """The default path (bootstrap=True): cloud-init awaited, this remrepl as a wheel over SFTP into a venv,
    then Dask at the head's versions. The local index has no `distributed` (and tests never reach PyPI),
    so the last step fails here: it must say so and leave nothing running."""
    if not LOCAL_INDEX.is_dir():
        pytest.skip(f"no local package index at {LOCAL_INDEX}: bootstrapping would need the network")
    uv = local_wheels(tmp_path / "wheels", ("uv",))  # remrepl's own dependency the local index lacks; no Dask
    sshd = ssh_hosts.start("installing", set_env={"PIP_INDEX_URL": LOCAL_INDEX.as_uri(), "PIP_FIND_LINKS": str(uv)})
    head.sshd = sshd  # install_key authorizes the head's key on this one
    config = tmp_path / "ssh_config_installing"
    config.write_text(
        head.ssh_config.read_text().replace(f"Port {ssh_hosts.servers['workers'].port}", f"Port {sshd.port}")
    )
    venv = tmp_path / "worker-venv"
    options = head.options(workers=1, bootstrap=True, venv=str(venv), ready_timeout=300, ssh_config=str(config))
    del options["python"]
    with pytest.raises(ClusterError, match=r"installing Dask on the worker instance i-\w+ failed") as info:
        remrepl.cluster(ec2=options)
    assert "distributed==" in str(info.value)  # pip's own words: no such distribution here
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import remrepl, sys; print(remrepl.__file__.startswith(sys.prefix))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert installed.stdout.strip() == "True", installed.stderr  # remrepl itself went in, from the wheel
    assert head.running_workers() == [] and KEY_PAIR not in head.key_pairs()


def test_when_aws_will_not_terminate_the_dead_mans_switch_stays_armed(head: Head, aws_proxy: AWSProxy) -> None:
    cl = remrepl.cluster(ec2=head.options(workers=1, lost_scheduler_after=1))
    processes = head.worker_processes()
    assert processes
    aws_proxy.fail("TerminateInstances", "UnauthorizedOperation", "not allowed", times=None)
    with pytest.raises(ClusterError, match=r"not all cleaned up.*remrepl down t1"):
        cl.close()
    assert KEY_PAIR not in head.key_pairs()
    assert len(head.running_workers()) == 1  # AWS refused: the instance runs on ...
    wait_until(head.fired.exists, 60, "the switch to fire")  # ... and its worker, without a scheduler, ran the command
    wait_until(lambda: not [pid for pid in processes if alive(pid)], 60, "the worker processes to end")
