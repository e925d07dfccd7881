"""``remrepl up`` / ``connect --launch ec2`` / ``exec --launch ec2`` / ``status`` / ``down``, as a user runs them:
moto on 127.0.0.1 for AWS, a loopback sshd for the head (its public IP mapped there by ssh_config)."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
from testhosts import SSHD, SSHHosts, closed_port

from tests.support.cli import remrepl_command, run_cli
from tests.support.ec2 import ALLOW, ec2, head_instances, leftovers, write_config
from tests.support.processes import server_processes, terminate
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.waiting import wait_until


def test_up_exec_connect_status_down(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, terminal: TmuxTerminal, tmp_path: Path
) -> None:
    write_config(private_state, ssh_hosts.ssh_config)
    try:
        up = run_cli("up", "demo", "--yes", "--allow-cidr", ALLOW)
        assert up.returncode == 0, up.stderr
        assert "remrepl connect --launch ec2:demo" in up.stdout and "remrepl down demo" in up.stdout
        assert re.search(r"cluster demo is up: i-\w+ \(t3\.small\) at 54\.214\.", up.stdout), up.stdout
        assert "SSH port" in up.stderr and "instance running" in up.stderr  # the stage timings

        again = run_cli("up", "demo", "--yes", "--allow-cidr", ALLOW)  # already up: found by tag, not re-created
        assert again.returncode == 0 and "cluster demo is up (i-" in again.stderr, again.stderr
        assert len(head_instances("demo")) == 1

        script = tmp_path / "where.py"
        script.write_text("import os, sys\nprint(os.environ['REMREPL_EC2_CLUSTER'], *sys.argv[1:])\n")
        ran = run_cli("exec", "--launch", "ec2:demo", str(script), "x")  # the running cluster: reused, kept
        assert (ran.returncode, ran.stdout) == (0, "demo x\n"), ran.stderr
        assert [i["State"]["Name"] for i in head_instances("demo")] == ["running"]

        status = run_cli("status")
        assert status.returncode == 0, status.stderr
        row = r"^demo\s+us-east-1\s+running\s+t3\.small\s+54\.214\.\S+\s+0\s"  # name region state type IP workers
        assert re.search(row, status.stdout, re.MULTILINE), status.stdout

        terminal.start([*remrepl_command(), "connect", "--launch", "ec2:demo"])
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt on the EC2 head", timeout=60)
        assert terminal.run("import os; os.environ['REMREPL_EC2_CLUSTER']") == ["'demo'"]
        terminal.send("C-d")
        assert terminal.wait_exit() == 0
        assert [i["State"]["Name"] for i in head_instances("demo")] == ["running"]  # not ours to end

        down = run_cli("down", "demo")
        assert down.returncode == 0 and "cluster demo is down" in down.stdout, down.stderr
        assert leftovers().none, leftovers()
        again = run_cli("down", "demo")  # twice is fine
        assert again.returncode == 0, again.stderr
        assert "no remrepl clusters" in run_cli("status").stdout
    finally:
        run_cli("down", "--all")
        terminate(server_processes(private_state / "remote"))  # the reaper, if one runs


def test_exec_launch_ec2_creates_runs_and_terminates_everything(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, tmp_path: Path
) -> None:
    write_config(private_state, ssh_hosts.ssh_config, yes=True, allow_cidr=[ALLOW])
    script = tmp_path / "hi.py"
    script.write_text("print('hi from', __import__('os').environ['REMREPL_EC2_INSTANCE_ID'][:2])\n")
    ran = run_cli("exec", "--launch", "ec2", str(script))
    assert (ran.returncode, ran.stdout) == (0, "hi from i-\n"), ran.stderr
    assert "cluster name: remrepl-" in ran.stderr  # the default name, said
    assert leftovers().none, leftovers()
    terminate(server_processes(private_state / "remote"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "term", "hup"])
def test_an_interrupt_during_up_deletes_what_was_created(
    sig: signal.Signals, aws: str, private_state: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host 54.214.*\n    HostName 127.0.0.1\n    Port {closed_port()}\n")
    write_config(private_state, config, stage_timeouts={"SSH port": 60})
    process = subprocess.Popen(
        [*remrepl_command(), "up", "interrupted", "--yes", "--allow-cidr", ALLOW],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell's background job (a CI script's `&`) would inherit SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until(lambda: bool(head_instances("interrupted")), 30, "the instance to be launched")
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted: deleting what was created" in err
    assert leftovers().none, leftovers()


def test_a_head_terminated_by_hand_status_and_down_cope(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path
) -> None:
    write_config(private_state, ssh_hosts.ssh_config)
    up = run_cli("up", "byhand", "--yes", "--allow-cidr", ALLOW)
    assert up.returncode == 0, up.stderr
    ids = [i["InstanceId"] for i in head_instances("byhand")]
    ec2().terminate_instances(InstanceIds=ids)
    status = run_cli("status")
    assert status.returncode == 0 and re.search(r"^byhand\s", status.stdout, re.MULTILINE), status
    down = run_cli("down", "byhand")
    assert down.returncode == 0, down.stderr
    assert leftovers().none, leftovers()
    terminate(server_processes(private_state / "remote"))


def test_up_without_a_terminal_or_yes_refuses_and_creates_nothing(aws: str, private_state: Path) -> None:
    write_config(private_state, private_state / "no_ssh_config")
    up = run_cli("up", "asked", "--allow-cidr", ALLOW)
    assert up.returncode == 1 and "pass --yes" in up.stderr and "Traceback" not in up.stderr, up.stderr
    assert leftovers().none


def test_bad_input_is_a_clear_error(aws: str, private_state: Path, tmp_path: Path) -> None:
    assert "bad cluster name 'Bad_Name'" in run_cli("up", "Bad_Name", "--yes").stderr
    assert "say which cluster" in run_cli("down").stderr
    bad = run_cli("up", "x", "--idle-timeout", "soon")
    assert bad.returncode == 2 and "expected a duration" in bad.stderr
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    mixed = run_cli("exec", "--launch", "--spot", str(script))
    assert mixed.returncode == 1 and "--spot only go with --launch ec2[:NAME]" in mixed.stderr
    config = private_state / "config" / "remrepl" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[ec2]\ninstance_typo = 't3.micro'\n")
    typo = run_cli("up", "x", "--yes")
    assert typo.returncode == 1 and "unknown key 'instance_typo' in [ec2]" in typo.stderr
    config.write_text("[ec2]\nspot = 'yes'\n")
    assert "ec2.spot must be true or false" in run_cli("status").stderr
    assert leftovers().none


def test_status_with_no_clusters(aws: str) -> None:
    status = run_cli("status")
    assert (status.returncode, status.stdout) == (0, "no remrepl clusters in us-east-1 (`remrepl up` starts one)\n")


def test_exec_keep_leaves_the_cluster_and_a_session_record_that_reattaches(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, tmp_path: Path
) -> None:
    write_config(private_state, ssh_hosts.ssh_config, yes=True, allow_cidr=[ALLOW])
    script = tmp_path / "ran.py"
    script.write_text("print('ran')\n")
    try:
        ran = run_cli("exec", "--launch", "ec2:kept", "--keep", "--name", "kept-head", str(script))
        assert (ran.returncode, ran.stdout) == (0, "ran\n"), ran.stderr
        assert "remrepl connect kept-head" in ran.stderr
        assert "lent the head short-lived AWS credentials" in ran.stderr
        assert [i["State"]["Name"] for i in head_instances("kept")] == ["running"]
        listing = run_cli("ls")  # probed through SSH again: the instance id as HostKeyAlias, remrepl's known_hosts
        assert re.search(r"^kept-head\s+.*alive", listing.stdout, re.MULTILINE), listing
        record = private_state / "sessions" / "kept-head.json"
        again = run_cli("exec", "--connection-file", str(record), str(script))
        assert (again.returncode, again.stdout) == (0, "ran\n"), again.stderr
        assert "lent the head short-lived AWS credentials" in again.stderr  # fresh ones: a kept head outlives 12 h
        lent = tmp_path / "lent.py"
        lent.write_text("from remrepl.cluster import credentials as c\nprint(c.forwarded() is not None)\n")
        held = run_cli("exec", "--connection-file", str(record), str(lent))
        assert (held.returncode, held.stdout) == (0, "True\n"), held.stderr
    finally:
        run_cli("down", "kept")
        terminate(server_processes(private_state / "remote"))
    assert leftovers().none, leftovers()


def test_connect_launch_ec2_tears_down_the_cluster_it_created_at_exit(
    head_sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, terminal: TmuxTerminal
) -> None:
    write_config(private_state, ssh_hosts.ssh_config, yes=True, allow_cidr=[ALLOW])
    terminal.start([*remrepl_command(), "connect", "--launch", "ec2:fresh"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the prompt on a new EC2 head", timeout=60)
    assert terminal.run("6 * 7") == ["42"]
    terminal.send("C-d")
    assert terminal.wait_exit() == 0
    assert leftovers().none, leftovers()
    terminate(server_processes(private_state / "remote"))


def test_up_asks_at_the_terminal_and_no_means_nothing_is_created(
    aws: str, private_state: Path, terminal: TmuxTerminal
) -> None:
    write_config(private_state, private_state / "no_ssh_config")
    terminal.start([*remrepl_command(), "up", "asked", "--allow-cidr", ALLOW])
    terminal.wait_for("Launch it? [y/N]", timeout=30)
    assert (
        "account        123456789012" in terminal.screen()
        and "SSH allowed    from 127.0.0.1/32 only" in terminal.screen()
    )
    terminal.type("n")
    terminal.send("Enter")
    assert terminal.wait_exit() == 1
    assert "not launched: the launch was not confirmed" in terminal.screen()
    assert leftovers().none


def test_ssh_open_to_the_world_is_refused_before_anything_is_created(aws: str, private_state: Path) -> None:
    write_config(private_state, private_state / "no_ssh_config")
    for cidr in ("0.0.0.0/0", "::/0", "not-an-address"):
        up = run_cli("up", "open", "--yes", "--allow-cidr", cidr)
        assert up.returncode == 1 and "--allow-cidr" in up.stderr and "Traceback" not in up.stderr, up.stderr
    halves = ["--allow-cidr", "0.0.0.0/1", "--allow-cidr", "128.0.0.0/1"]
    up = run_cli("up", "open", "--yes", *halves)
    assert up.returncode == 1 and "would open SSH to the whole internet" in up.stderr, up.stderr
    assert "--allow-open-ssh" in up.stderr  # the way out, named
    assert leftovers().none


def test_allow_open_ssh_gets_a_split_range_past_the_check(aws: str, private_state: Path) -> None:
    """The force flag (and its config key) lets the wide set through to the confirmation, which, without
    a terminal or --yes, stops the launch: nothing is created either way."""
    write_config(private_state, private_state / "no_ssh_config")
    halves = ["--allow-cidr", "0.0.0.0/1", "--allow-cidr", "128.0.0.0/1"]
    up = run_cli("up", "open", *halves, "--allow-open-ssh")
    assert up.returncode == 1 and "pass --yes" in up.stderr, up.stderr
    assert "SSH allowed    from 0.0.0.0/1, 128.0.0.0/1 only (WIDE OPEN, --allow-open-ssh" in up.stderr
    write_config(private_state, private_state / "no_ssh_config", allow_open_ssh=True)
    up = run_cli("up", "open", *halves)
    assert up.returncode == 1 and "pass --yes" in up.stderr and "SSH allowed    from 0.0.0.0/1" in up.stderr
    assert leftovers().none


def test_down_all_asks_first_and_without_a_terminal_refuses(aws: str, private_state: Path) -> None:
    from remrepl.aws.resources import ensure_security_group

    write_config(private_state, private_state / "no_ssh_config")
    for name in ("one", "two"):  # clusters of which only a security group is left
        ensure_security_group(
            ec2(), cluster=name, owner="arn:aws:iam::123456789012:user/t", allow_cidr=[ALLOW], subnet=None
        )
    refused = run_cli("down", "--all")
    assert refused.returncode != 0 and "nobody can confirm" in refused.stderr, refused.stderr
    assert "every remrepl cluster of us-east-1: one, two" in refused.stderr
    assert sorted(leftovers().groups) == ["remrepl-one", "remrepl-two"]  # nothing was touched
    done = run_cli("down", "--all", "--yes")
    assert done.returncode == 0, done.stderr
    assert "cluster one is down" in done.stdout and "cluster two is down" in done.stdout
    assert leftovers().none, leftovers()
