"""The EC2 launcher for real: moto on 127.0.0.1 for AWS, a loopback sshd for the head node (its public IP
mapped there by ssh_config), and every fault of readiness."""

from __future__ import annotations

import ast
import base64
import sys
import threading
import time
from pathlib import Path

import netguard
import pytest
from testhosts import SSHD, SSHHosts, closed_port

from remrepl._exceptions import CapacityError, ConfigError, HostKeyError, ReadinessError
from remrepl.launchers.ec2 import launcher as launcher_module
from remrepl.launchers.ec2.launcher import EC2Launcher, known_hosts_file
from tests.support.awsproxy import AWSProxy
from tests.support.ec2 import ec2, head_instances, leftovers, open_ingress, settings
from tests.support.processes import read_proc, server_processes, terminate
from tests.support.waiting import wait_until


def test_start_run_and_close_leaves_nothing(head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path) -> None:
    said: list[str] = []
    launcher = EC2Launcher("demo", settings=settings(ssh_hosts.ssh_config), notify=said.append)
    launcher.start()
    try:
        assert launcher.created and launcher.head.public_ip.startswith("54.214.")
        assert open_ingress() == []
        (instance,) = head_instances("demo")
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["remrepl:cluster"] == "demo" and tags["remrepl:role"] == "head" and tags["remrepl:owner"]
        with launcher.connect() as session:
            code = "import os; {k[12:]: v for k, v in sorted(os.environ.items()) if k.startswith('REMREPL_EC2_')}"
            env = ast.literal_eval(str(session.run(code).value))
            # no instance profile: the head was lent short-lived credentials for its workers, in memory
            lent = session.run("from remrepl.cluster import credentials as c; c.forwarded().access_key_id").value
        assert lent and lent != repr("testing")  # STS session credentials, not the long-term key
        assert any("lent the head short-lived AWS credentials" in text for text in said), said
        assert env["CLUSTER"] == "demo" and env["INSTANCE_ID"] == launcher.head.id
        assert env["REGION"] == "us-east-1" and env["SECURITY_GROUP"].startswith("sg-")
        assert env["SSH_USER"] == ssh_hosts.user  # the ssh_config's User wins over the image's ec2-user
        assert env["AMI"].startswith("ami-") and env["OWNER"].startswith("arn:aws:")
        # the host key was accepted for this new instance only, under its instance id, and the user told
        assert Path(known_hosts_file()).read_text() == f"{launcher.head.id} {head_sshd.host_key_line}\n"
        assert any("accepting the first key it presents, for this new instance only" in text for text in said)
        (reaper,) = server_processes(private_state / "remote", marker="remrepl.reaper")
        words = read_proc(reaper, "cmdline").rstrip(b"\0").split(b"\0")
        assert words[words.index(b"--idle-timeout") + 1] == b"3600.0" and words[-2:] == [b"--command", b"true"]
        assert any("the head ends itself after 1h00m idle" in text for text in said)
    finally:
        launcher.close()
    assert leftovers().none, leftovers()
    assert set(launcher.timings.stages) >= {"identity", "create", "instance running", "SSH port", "SSH login"}
    terminate(server_processes(private_state / "remote"))  # any reaper


def test_a_running_cluster_is_reused_and_not_torn_down_by_who_reused_it(head_sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    first = EC2Launcher("reuse", settings=settings(ssh_hosts.ssh_config), keep=True, notify=lambda _: None)
    first.start()
    first.close()
    (instance,) = head_instances("reuse")
    assert instance["State"]["Name"] == "running"
    said: list[str] = []
    second = EC2Launcher("reuse", settings=settings(ssh_hosts.ssh_config, lend_credentials=False), notify=said.append)
    second.start()
    with second.connect() as session:
        assert session.run("6 * 7").value == "42"
        lent = session.run("from remrepl.cluster import credentials as c; c.forwarded()").value
    assert lent is None  # --no-lend-credentials: nothing held (the expression is None)
    second.close()
    assert not second.created and any("is up" in text for text in said), said
    assert [i["State"]["Name"] for i in head_instances("reuse")] == ["running"]
    third = EC2Launcher("reuse", settings=settings(ssh_hosts.ssh_config), keep=True, notify=lambda _: None)
    third.created, third.aws = True, second.aws  # take it down the way `remrepl down` does
    third._teardown()
    assert leftovers().none


def test_ssh_never_answering_fails_at_the_ssh_port_stage_and_cleans_up(
    aws: str, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 54.214.*\n    HostName 127.0.0.1\n    Port {closed_port()}\n")
    timeouts = {"SSH port": 1.5}
    said: list[str] = []
    launcher = EC2Launcher("nossh", settings=settings(config, stage_timeouts=timeouts), notify=said.append)
    with pytest.raises(ReadinessError) as caught:
        launcher.start()
    assert caught.value.stage == "SSH port"
    assert str(caught.value).startswith("SSH port: 127.0.0.1:") and "did not answer with SSH in time" in str(
        caught.value
    )
    assert any("deleting what was created" in text for text in said)
    assert leftovers().none, leftovers()


def test_an_instance_terminated_while_waiting_for_ssh_ends_the_wait(aws: str, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 54.214.*\n    HostName 127.0.0.1\n    Port {closed_port()}\n")
    launcher = EC2Launcher("gone", settings=settings(config, stage_timeouts={"SSH port": 60}), notify=lambda _: None)

    def terminate_by_hand() -> None:
        found: list[str] = []

        def running() -> bool:
            found[:] = [i["InstanceId"] for i in head_instances("gone") if i["State"]["Name"] == "running"]
            return bool(found)

        wait_until(running, 10, "the instance to run")
        ec2().terminate_instances(InstanceIds=found)

    killer = threading.Thread(target=terminate_by_hand)
    killer.start()
    started = time.monotonic()
    with pytest.raises(ReadinessError, match=r"instance i-\w+ is terminated") as caught:
        launcher.start()
    killer.join(10)
    # usually while SSH is awaited; "instance running" if the hand was quicker than the first describe
    assert caught.value.stage in ("SSH port", "instance running") and time.monotonic() - started < 50
    assert leftovers().none, leftovers()


def test_a_public_ip_missing_from_ssh_config_hits_the_socket_guard_not_the_network(aws: str, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host elsewhere\n    HostName 127.0.0.1\n")
    launcher = EC2Launcher("guarded", settings=settings(config), notify=lambda _: None)
    with pytest.raises(netguard.NetworkGuardError, match=r"tests may reach only loopback, not 54\.214\."):
        launcher.start()
    assert leftovers().none, leftovers()


def test_keep_on_failure_keeps_what_was_made(aws: str, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 54.214.*\n    HostName 127.0.0.1\n    Port {closed_port()}\n")
    said: list[str] = []
    launcher = EC2Launcher(
        "kept", settings=settings(config, stage_timeouts={"SSH port": 0.5}, keep_on_failure=True), notify=said.append
    )
    with pytest.raises(ReadinessError):
        launcher.start()
    assert any("remrepl down kept" in text for text in said)
    left = leftovers()
    assert len(left.instances) == 1 and left.groups == ["remrepl-kept"] and left.key_pairs == ["remrepl-kept"]


def test_no_confirmation_without_a_terminal_and_nothing_created(aws: str, tmp_path: Path) -> None:
    launcher = EC2Launcher("asked", settings=settings(tmp_path / "none", yes=False), notify=lambda _: None)
    with pytest.raises(ConfigError, match=r"standard input is not a terminal.*pass --yes"):
        launcher.start()
    assert leftovers().none


def test_a_declined_confirmation_creates_nothing(aws: str, tmp_path: Path) -> None:
    shown: list[str] = []

    def decline(summary: str) -> bool:
        shown.append(summary)
        return False

    launcher = EC2Launcher("no", settings=settings(tmp_path / "none", yes=False), confirm=decline, notify=print)
    with pytest.raises(ConfigError, match="not confirmed"):
        launcher.start()
    assert "account        123456789012" in shown[0] and "t3.small" in shown[0] and "127.0.0.1/32" in shown[0]
    assert leftovers().none


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "x" * 33, ""])
def test_bad_cluster_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="bad cluster name"):
        EC2Launcher(name, notify=lambda _: None)


def test_no_capacity_is_a_clear_error_and_what_was_made_is_deleted(
    aws_proxy: AWSProxy, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    aws_proxy.fail("RunInstances", "InsufficientInstanceCapacity", "We currently do not have capacity", times=None)
    said: list[str] = []
    launcher = EC2Launcher("full", settings=settings(tmp_path / "none"), notify=said.append)
    with pytest.raises(CapacityError, match="InsufficientInstanceCapacity") as caught:
        launcher.start()
    assert "--instance-type" in str(caught.value)  # the hint: another type (or subnet)
    assert aws_proxy.calls["RunInstances"] >= 2  # retried with a back-off first
    assert any("deleting what was created" in text for text in said)
    assert leftovers().none, leftovers()  # the security group and key pair made before are gone


def test_remrepl_installed_stage_uses_the_venv_when_it_has_this_remrepl(
    head_sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    wrapper = venv / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    said: list[str] = []
    options = settings(ssh_hosts.ssh_config, bootstrap=True, remote_venv=str(venv), remote_python="/nonexistent")
    launcher = EC2Launcher("venv", settings=options, notify=said.append)
    launcher.start()
    try:
        with launcher.connect() as session:
            assert session.run("6 * 7").value == "42"
        assert "remrepl installed" in launcher.timings.stages
        assert not any("installing remrepl" in text for text in said)  # it was there already
    finally:
        launcher.close()
    assert leftovers().none


def test_a_failed_install_names_the_stage_shows_the_cloud_init_log_and_cleans_up(
    head_sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud_init_log = tmp_path / "cloud-init-output.log"  # the head's log, read over SSH with tail
    cloud_init_log.write_text("".join(f"cloud-init line {i}\n" for i in range(40)))
    monkeypatch.setattr(launcher_module, "CLOUD_INIT_LOG", str(cloud_init_log))
    options = settings(
        ssh_hosts.ssh_config, bootstrap=True, remote_venv=str(tmp_path / "nothing"), remote_python="/nonexistent/py3"
    )
    said: list[str] = []
    launcher = EC2Launcher("noinstall", settings=options, notify=said.append)
    with pytest.raises(ReadinessError, match=r"^remrepl installed: --bootstrap failed") as caught:
        launcher.start()
    assert caught.value.stage == "remrepl installed"
    assert any("installing remrepl" in text for text in said)
    (shown,) = [text for text in said if text.startswith(f"the end of {cloud_init_log} on the head:")]
    assert shown.splitlines()[1:] == [f"cloud-init line {i}" for i in range(15, 40)]
    assert leftovers().none, leftovers()


def test_an_older_head_whose_key_is_unknown_is_refused_not_accepted(head_sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    first = EC2Launcher("older", settings=settings(ssh_hosts.ssh_config), keep=True, notify=lambda _: None)
    first.start()
    first.close()
    Path(known_hosts_file()).unlink()  # e.g. another machine: it never saw this head's key
    second = EC2Launcher("older", settings=settings(ssh_hosts.ssh_config), notify=lambda _: None)
    with pytest.raises(HostKeyError, match=r"accepts a first key only for an instance it has just created"):
        second.start()
    assert [i["State"]["Name"] for i in head_instances("older")] == ["running"]  # not ours: left alone
    first.created, first.keep = True, False
    first.close()
    assert leftovers().none


def test_a_head_behind_a_bastion_proxyjump(aws: str, ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("bastion")
    ssh_hosts.start("head", proxy_jump="bastion")
    ssh_hosts.map("54.214.*", "head")  # Host 54.214.* ... ProxyJump bastion
    launcher = EC2Launcher("jump", settings=settings(ssh_hosts.ssh_config), notify=lambda _: None)
    launcher.start()
    try:
        with launcher.connect() as session:
            assert session.run("'through the bastion'").value == "'through the bastion'"
    finally:
        launcher.close()
    assert "Accepted publickey" in ssh_hosts.servers["bastion"].log_text()
    assert leftovers().none


def test_throttling_is_retried_with_back_off_and_the_launch_goes_on(
    aws_proxy: AWSProxy, head_sshd: SSHD, ssh_hosts: SSHHosts
) -> None:
    aws_proxy.fail("RunInstances", "RequestLimitExceeded", "Request limit exceeded.", times=2)
    launcher = EC2Launcher("throttled", settings=settings(ssh_hosts.ssh_config), notify=lambda _: None)
    launcher.start()
    try:
        assert aws_proxy.calls["RunInstances"] == 3  # two throttled, then through
        assert len(head_instances("throttled")) == 1  # and only one instance came of it
    finally:
        launcher.close()
    assert leftovers().none


def test_a_spot_head_with_its_options(head_sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    options = settings(ssh_hosts.ssh_config, spot=True, volume_size=12, instance_type="t3.micro")
    launcher = EC2Launcher("spot", settings=options, notify=lambda _: None)
    launcher.start()
    try:
        (instance,) = head_instances("spot")
        assert instance["InstanceType"] == "t3.micro" and instance.get("InstanceLifecycle") == "spot"
        assert launcher.head.spot
    finally:
        launcher.close()
    assert leftovers().none


@pytest.mark.parametrize("matching", [True, False], ids=["matching", "not-matching"])
def test_a_key_accepted_on_first_use_is_checked_against_the_console_once_cloud_init_printed_it(
    head_sshd: SSHD, ssh_hosts: SSHHosts, aws_proxy: AWSProxy, private_state: Path, matching: bool
) -> None:
    """Real consoles show cloud-init's key blocks only at its end, after SSH first answers: the first key
    is accepted for the new instance, then checked once the install stage has waited for cloud-init."""
    other = " ".join(Path(f"{ssh_hosts.client_key}.pub").read_text().split()[:2])
    shown = head_sshd.host_key_line if matching else other
    block = f"-----BEGIN SSH HOST KEY KEYS-----\n{shown} root@ip-10-0-0-1\n-----END SSH HOST KEY KEYS-----\n"
    client = ec2()  # moto's console text (the same for every instance), as it goes on the wire: base64
    image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [probe] = client.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    text = client.get_console_output(InstanceId=probe["InstanceId"])["Output"]
    client.terminate_instances(InstanceIds=[probe["InstanceId"]])
    aws_proxy.rewrite("GetConsoleOutput", b"", b"", times=1)  # the console read before SSH login: no keys yet
    aws_proxy.rewrite("GetConsoleOutput", base64.b64encode(text.encode()), base64.b64encode((block + text).encode()))
    said: list[str] = []
    launcher = EC2Launcher("firstuse", settings=settings(ssh_hosts.ssh_config), notify=said.append)
    try:
        if matching:
            launcher.start()
            assert any(f"verified the host key of {launcher.head.id} against its console" in t for t in said), said
        else:
            with pytest.raises(HostKeyError, match="is NOT one of the keys its console shows"):
                launcher.start()
            assert leftovers().none, leftovers()  # the new cluster was torn down
    finally:
        launcher.close()
    assert any("accepting the first key it presents, for this new instance only" in t for t in said), said
    assert aws_proxy.calls["GetConsoleOutput"] >= 2
    assert leftovers().none, leftovers()
    terminate(server_processes(private_state / "remote"))  # any reaper
