"""The SSH launcher against real OpenSSH servers (scripts/testhosts.py): start, reach, stop, and every fault.

The "remote" is this machine: the sshd fixtures run commands as the current user with the socket guard
and their own state directory; the remote Python is this test's interpreter (remrepl is installed in it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from testhosts import SSHD, SSHHosts, closed_port, descendants, keygen

import remrepl
from remrepl._exceptions import (
    ConfigError,
    ConnectionLost,
    HostKeyError,
    HostUnreachable,
    LaunchError,
    RemoteEnvironmentError,
    SSHAuthenticationFailed,
    SSHError,
)
from remrepl.launchers import records, registry
from remrepl.launchers.ssh.launcher import SSHLauncher
from tests.support.processes import alive, parent, read_proc, server_processes
from tests.support.waiting import holds_for, wait_until


def options(hosts: SSHHosts, **extra: Any) -> dict[str, Any]:
    return {"ssh_config": str(hosts.ssh_config), "remote_python": sys.executable, **extra}


def start(target: str, hosts: SSHHosts, **extra: Any) -> SSHLauncher:
    launcher = SSHLauncher(target, **options(hosts, **extra))
    launcher.start(30)
    return launcher


def kill_ssh_sessions(sshd: SSHD) -> None:
    """Kill the sshd processes serving connections (not the commands they started): a dropped link."""
    for pid in descendants(sshd.process.pid):
        if read_proc(pid, "cmdline").startswith(b"sshd:"):
            os.kill(pid, 9)


def test_launch_run_and_stop(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    with remrepl.launch("ssh://target", **options(ssh_hosts)) as server:
        assert isinstance(server, SSHLauncher) and server.info is not None
        assert (
            server.ready is not None and server.ready.host == "127.0.0.1"
        )  # the server listens on the remote's loopback only
        assert server.tunnel is not None and server.info.port == server.tunnel.port
        with server.connect() as session:
            assert session.run("6 * 7").value == "42"
        pid = server.info.pid
        assert alive(pid)
        assert os.stat(f"/proc/{pid}").st_uid == os.getuid()  # the SSH login user (AllowUsers: only us)
        assert os.getsid(pid) == pid  # in its own session: it survives the SSH session
    wait_until(lambda: not alive(pid), 10, "the server to stop")
    assert server.wait(1) == 0


def test_proxy_jump(isolated_ssh_hosts: SSHHosts, remote_python: str) -> None:
    # On isolated hosts (an unprivileged remote user of their own): the hop forwards, and the target runs it
    isolated_ssh_hosts.start("hop")
    isolated_ssh_hosts.start("behind", proxy_jump="hop")
    with start("behind", isolated_ssh_hosts, remote_python=remote_python) as server, server.connect() as session:
        assert session.run("'through the hop'").value == "'through the hop'"
    assert "Accepted publickey for remrepl-test-remote" in isolated_ssh_hosts.servers["hop"].log_text()


def test_proxy_jump_through_two_hops(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("hop1")
    ssh_hosts.start("hop2")
    ssh_hosts.start("far", proxy_jump="hop1,hop2")
    with start("far", ssh_hosts) as server, server.connect() as session:
        assert session.run("'two hops'").value == "'two hops'"
    for hop in ("hop1", "hop2"):
        assert "Accepted publickey" in ssh_hosts.servers[hop].log_text()


def test_direct_connects_to_the_server_port(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    server = start("target", ssh_hosts, direct=True)
    with server, server.connect() as session:
        assert server.tunnel is None and server.info is not None
        assert server.ready is not None and server.info.port == server.ready.port
        assert session.run("1 + 1").value == "2"


def test_unknown_host_key_is_refused_then_accepted_on_request(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("stranger", known=False)
    with pytest.raises(HostKeyError, match=r"host key of \[127.0.0.1\]:\d+ is unknown .*--accept-new-host-key"):
        start("stranger", ssh_hosts)
    assert ssh_hosts.known_hosts.read_text() == ""  # never added silently
    start("stranger", ssh_hosts, accept_new_host_key=True).close()
    assert ssh_hosts.servers["stranger"].host_key_line in ssh_hosts.known_hosts.read_text()
    start("stranger", ssh_hosts).close()  # known now


def test_ssh_config_accept_new_records_an_unknown_host(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("stranger", known=False)
    ssh_hosts.ssh_config.write_text(
        ssh_hosts.ssh_config.read_text().replace("StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new")
    )
    start("stranger", ssh_hosts).close()
    assert ssh_hosts.servers["stranger"].host_key_line in ssh_hosts.known_hosts.read_text()


def test_a_changed_host_key_is_a_hard_error_naming_file_and_line(ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    other = " ".join(keygen(tmp_path / "other_host_key", "another host").split()[:2])
    ssh_hosts.start("first")
    server = ssh_hosts.start("moved", known=False)
    ssh_hosts.add_known_host(server, other)  # line 2 of known_hosts
    for accept_new in (False, True):
        with pytest.raises(HostKeyError, match=rf"CHANGED.*{ssh_hosts.known_hosts}:2"):
            start("moved", ssh_hosts, accept_new_host_key=accept_new)


def test_wrong_user_or_key_is_refused(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    with pytest.raises(SSHAuthenticationFailed, match="refused the login: user 'nobody'"):
        start("nobody@target", ssh_hosts)
    keygen(tmp_path / "stranger_key", "not authorized")
    config = tmp_path / "ssh_config"
    config.write_text(
        ssh_hosts.ssh_config.read_text().replace(str(ssh_hosts.client_key), str(tmp_path / "stranger_key"))
    )
    with pytest.raises(SSHAuthenticationFailed, match="stranger_key"):
        start("target", ssh_hosts, ssh_config=str(config))


def test_an_unreachable_host(ssh_hosts: SSHHosts) -> None:
    with pytest.raises(HostUnreachable, match=r"cannot reach 127.0.0.1:\d+: Connection refused"):
        start(f"127.0.0.1:{closed_port()}", ssh_hosts, connect_timeout=5)


def test_a_passphrase_protected_key_asks_for_its_passphrase(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    key = tmp_path / "locked_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "sesame", "-f", str(key)], check=True, timeout=30)
    with open(sshd.directory / "authorized_keys", "a") as f:
        f.write(key.with_suffix(".pub").read_text())
    config = tmp_path / "ssh_config"
    config.write_text(ssh_hosts.ssh_config.read_text().replace(str(ssh_hosts.client_key), str(key)))
    asked: list[str] = []

    def passphrase(path: str) -> str:
        asked.append(path)
        return "sesame"

    start("target", ssh_hosts, ssh_config=str(config), passphrase=passphrase).close()
    assert asked == [str(key)]


def test_keys_from_the_ssh_agent(
    sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_socket)], stdout=subprocess.DEVNULL)
    try:
        wait_until(agent_socket.exists, 10, "ssh-agent to listen")
        env = {**os.environ, "SSH_AUTH_SOCK": str(agent_socket)}
        subprocess.run(["ssh-add", "-q", str(ssh_hosts.client_key)], env=env, check=True, timeout=30)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent_socket))
        config = tmp_path / "ssh_config"  # no IdentityFile, no IdentitiesOnly: the agent's keys are offered
        config.write_text(
            "\n".join(
                line
                for line in ssh_hosts.ssh_config.read_text().splitlines()
                if "IdentityFile" not in line and "IdentitiesOnly" not in line
            )
        )
        start("target", ssh_hosts, ssh_config=str(config)).close()
    finally:
        agent.terminate()
        agent.wait(10)


def test_no_python_at_the_remote(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    with pytest.raises(RemoteEnvironmentError, match=r"no Python at '/nonexistent/python3'.*--remote-python"):
        start("target", ssh_hosts, remote_python="/nonexistent/python3")


def test_no_remrepl_at_the_remote(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    with pytest.raises(RemoteEnvironmentError, match=r"remrepl is not installed for /usr/bin/python3 .*--bootstrap"):
        start("target", ssh_hosts, remote_python="/usr/bin/python3")


def test_chatter_before_the_check_is_skipped(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    chatty = tmp_path / "python3"
    chatty.write_text(f"#!/bin/sh\necho 'Welcome to the cluster!'\nexec {sys.executable} \"$@\"\n")
    chatty.chmod(0o755)
    start("target", ssh_hosts, remote_python=str(chatty)).close()


def test_another_protocol_version_at_the_remote(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'remrepl-check version 99 9.9.9'\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(RemoteEnvironmentError, match=r"version 9.9.9\) speaks protocol version 99.*--bootstrap"):
        start("target", ssh_hosts, remote_python=str(fake))


def test_a_server_that_fails_to_start_shows_its_stderr(ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    guard = os.environ["PYTHONPATH"].split(os.pathsep)[0]
    (hooks / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {guard!r})\nimport netguard\nnetguard.install()\n"
        "if 'remrepl.server' in sys.orig_argv:\n"
        "    sys.stderr.write('simulated: the server cannot start here\\n')\n"
        "    sys.stderr.flush()\n"
        "    import os\n"
        "    os._exit(5)\n"
    )
    ssh_hosts.start("broken", set_env={"PYTHONPATH": str(hooks)})
    with pytest.raises(LaunchError, match=r"(?s)did not start .*exit status 5.*simulated: the server cannot start"):
        start("broken", ssh_hosts)


def test_the_key_never_reaches_the_remote_command_line_or_files(
    sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path
) -> None:
    with start("target", ssh_hosts) as server, server.connect() as session:
        assert server.info is not None and session.run("1").value == "1"
        secret = server.info.client_secret_key
        from remrepl.transport import KeyPair

        public = KeyPair.from_secret(secret).public
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                for name in ("cmdline", "environ"):
                    data = read_proc(int(entry), name)
                    assert secret not in data and public not in data, f"/proc/{entry}/{name}"
        remote_files = [*(private_state / "remote").rglob("*"), *Path(ssh_hosts.root).rglob("*")]
        history = Path.home() / ".bash_history"
        for path in [*remote_files, history]:
            if path.is_file():
                data = path.read_bytes()
                assert secret not in data and public not in data, str(path)


def test_the_tunnel_killed_mid_run_recovers_and_the_output_is_intact(
    sshd: SSHD, ssh_hosts: SSHHosts, capfd: pytest.CaptureFixture[str]
) -> None:
    with start("target", ssh_hosts) as server, server.connect() as session:
        execution = session.execute("import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.1)\n")
        seen, killed = [], False
        for event in execution.events(60):
            if isinstance(event, remrepl.protocol.Stream):
                seen.append(event.data.decode())
                if not killed and len("".join(seen).split()) >= 5:
                    kill_ssh_sessions(sshd)
                    killed = True
        assert execution.done is not None and execution.done.status == "ok"
        assert "".join(seen).split() == [str(i) for i in range(40)]
        assert session.on_link_lost is not None and session.on_link_lost.reconnects >= 1  # type: ignore[attr-defined]
        assert session.run("'still here'").value == "'still here'"
    err = capfd.readouterr().err
    assert "connection lost — reconnecting" in err and "reconnected" in err


def test_a_dead_launcher_takes_its_server_along_after_the_grace(
    sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path
) -> None:
    code = (
        "import sys, remrepl\n"
        f"server = remrepl.launch('ssh://target', ssh_config={str(ssh_hosts.ssh_config)!r}, "
        f"remote_python={sys.executable!r}, reconnect_grace=1.0)\n"
        "print(server.info.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    client = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    pid = int(client.stdout.readline())
    assert alive(pid)
    client.kill()
    client.wait(10)
    wait_until(lambda: not alive(pid), 20, "the server to stop once its launcher is gone")


def test_detach_leaves_the_server_and_a_record_reattaches(
    sshd: SSHD, ssh_hosts: SSHHosts, private_state: Path, tmp_path: Path
) -> None:
    server = start("target", ssh_hosts, reconnect_grace=1.0)
    assert server.info is not None
    with server.connect() as session:
        session.run("kept = 'yes'")
    record = tmp_path / "record.json"
    server.write_record(record)
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    keeper = parent(server.info.pid)  # the remote keeper started the server and holds its tether
    assert b"--grace" in read_proc(keeper, "cmdline")
    server.detach()
    # The grace timer lives in the keeper: once the keeper has gone, nothing can stop the server
    wait_until(lambda: not alive(keeper), 20, "the keeper to exit")
    assert alive(server.info.pid)
    kept = records.read(record)
    assert kept is not None
    session = registry.reattach(kept)
    try:
        assert session.run("kept").value == "'yes'"
        kill_ssh_sessions(sshd)  # the reattached path reconnects too
        assert session.run("kept * 2").value == "'yesyes'"
        session.shutdown()
    finally:
        session.close()
    wait_until(lambda: not alive(server.info.pid), 10, "the server to shut down")  # type: ignore[union-attr]
    assert server_processes(private_state / "remote") == []


def test_something_that_is_not_ssh_fails_within_the_deadline(ssh_hosts: SSHHosts) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(SSHError, match=r"SSH handshake with 127.0.0.1:\d+ failed within 1 s"):
            start(f"127.0.0.1:{port}", ssh_hosts, connect_timeout=1)


@pytest.mark.parametrize(
    ("target", "problem"),
    [("ssh://", "bad SSH target"), ("me@host:notaport", "bad SSH target"), ("ssh://host/path", "bad SSH target")],
)
def test_bad_targets_are_refused(target: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SSHLauncher(target)


def test_a_missing_ssh_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the ssh config .*nothing-here: No such file"):
        SSHLauncher("target", ssh_config=str(tmp_path / "nothing-here")).start(5)


def test_a_server_gone_while_the_link_was_down_ends_the_session(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    said: list[str] = []
    server = start("target", ssh_hosts, notify=said.append)
    with server, server.connect() as session:
        assert server.info is not None and session.run("1").value == "1"
        os.kill(server.info.pid, 9)
        kill_ssh_sessions(sshd)
        with pytest.raises(ConnectionLost):
            session.run("2", timeout=60)
    assert "connection lost — reconnecting" in said
    assert any(text.startswith("cannot reconnect: the server on") and "is gone" in text for text in said), said


def test_bootstrap_without_a_python_to_build_on_says_so(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    with pytest.raises(RemoteEnvironmentError, match=r"(?s)--bootstrap failed .*/nonexistent/python3"):
        start("target", ssh_hosts, remote_python="/nonexistent/python3", bootstrap=True, remote_venv=str(venv))
    assert not venv.exists()


def test_hashed_known_hosts_entries_are_recognised(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(ssh_hosts.known_hosts)], check=True, timeout=30)
    assert "127.0.0.1" not in ssh_hosts.known_hosts.read_text()  # now |1|salt|hash entries
    start("target", ssh_hosts).close()


def test_an_unknown_proxy_jump_hop_is_named(ssh_hosts: SSHHosts) -> None:
    hop = ssh_hosts.start("hop", known=False)
    ssh_hosts.start("behind", proxy_jump="hop")
    with pytest.raises(HostKeyError, match=rf"host key of \[127.0.0.1\]:{hop.port} is unknown"):
        start("behind", ssh_hosts)


@pytest.mark.parametrize("direct", [False, True])
def test_an_idle_link_down_longer_than_the_grace_keeps_the_server(
    sshd: SSHD, ssh_hosts: SSHHosts, direct: bool
) -> None:
    """Nobody talks to the server while the link is down (an idle prompt): the launcher relinks by itself
    before the server's grace runs out."""
    server = start("target", ssh_hosts, reconnect_grace=3.0, direct=direct)
    with server, server.connect() as session:
        assert server.info is not None and session.run("x = 1") is not None
        old_link, dropped = server.link, time.monotonic()
        kill_ssh_sessions(sshd)
        # A new link means the keeper answered "attached": the tether came back within the grace ...
        wait_until(lambda: server.link is not old_link, 30, "the launcher to relink by itself")
        # ... and the keeper's grace timer, had the attach not stopped it, would have run out by now
        pid = server.info.pid
        holds_for(lambda: alive(pid), dropped + 3.0 + 1.0 - time.monotonic(), "the server to outlive the grace")
        assert session.run("x + 1", timeout=60).value == "2"
