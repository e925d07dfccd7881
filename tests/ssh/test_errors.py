"""The one SSH error mapper: real paramiko and socket failures in, remrepl's exceptions with readable
messages out; remrepl's own errors and bugs pass through untouched."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import paramiko
import pytest
from testhosts import SSHD, SSHHosts, closed_port

from remrepl._exceptions import (
    ClusterError,
    ConfigError,
    HostUnreachable,
    RemoteEnvironmentError,
    ServerGone,
    SFTPUnavailable,
    SSHAuthenticationFailed,
    SSHError,
)
from remrepl.ssh.errors import is_ssh_failure, reason, sftp_errors, ssh_errors


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts a connection and then says nothing (and closes it at the end)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            accepted.append(listener.accept()[0])
        except OSError:
            pass  # closed before anyone came

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)
    for sock in accepted:
        sock.close()


def test_a_refused_connection_is_host_unreachable_in_the_os_words() -> None:
    port = closed_port()
    mapper = ssh_errors(f"cannot reach 127.0.0.1:{port}", HostUnreachable, timeout=5)
    with pytest.raises(HostUnreachable) as caught, mapper:
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert str(caught.value) == f"cannot reach 127.0.0.1:{port}: Connection refused"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_deadline_that_passed_says_how_long_was_waited(silent_port: int) -> None:
    with socket.create_connection(("127.0.0.1", silent_port), timeout=5) as sock:
        sock.settimeout(0.2)
        expected = r"^waiting for the banner: no answer within 0.2 s$"
        with pytest.raises(SSHError, match=expected), ssh_errors("waiting for the banner", timeout=0.2):
            sock.recv(10)


def test_a_server_that_is_not_ssh_is_an_ssh_error(silent_port: int) -> None:
    with socket.create_connection(("127.0.0.1", silent_port), timeout=5) as sock:
        transport = paramiko.Transport(sock)
        transport.banner_timeout = 0.5
        try:
            expected = r"^SSH handshake failed: .*banner"
            with pytest.raises(SSHError, match=expected) as caught, ssh_errors("SSH handshake failed"):
                transport.start_client(timeout=5)
            assert type(caught.value) is SSHError
        finally:
            transport.close()


def test_a_refused_key_is_ssh_authentication_failed(sshd: SSHD) -> None:
    with socket.create_connection((sshd.host, sshd.port), timeout=10) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=10)
            key = paramiko.RSAKey.generate(2048)
            expected = r"^SSH login at target failed: Authentication failed"
            mapper = ssh_errors("SSH login at target failed", ClusterError)  # a refused login wins over the class
            with pytest.raises(SSHAuthenticationFailed, match=expected), mapper:
                transport.auth_publickey("nobody-here", key)
        finally:
            transport.close()


def test_the_site_chooses_the_class_of_everything_else() -> None:
    for error in (HostUnreachable, RemoteEnvironmentError, ServerGone, ClusterError):
        with pytest.raises(error, match=r"^copying: Socket is closed$"), ssh_errors("copying", error):
            raise OSError("Socket is closed")  # what paramiko's Channel.sendall raises on a closed channel
    with pytest.raises(SSHError, match=r"^reading: EOFError$"), ssh_errors("reading"):
        raise EOFError


def test_remrepl_errors_and_bugs_pass_through_unchanged() -> None:
    own = ConfigError("bad option")
    with pytest.raises(ConfigError) as caught, ssh_errors("anything"):
        raise own
    assert caught.value is own
    with pytest.raises(KeyError), ssh_errors("anything"):
        raise KeyError("a bug is not a network failure")
    assert not is_ssh_failure(KeyError()) and not is_ssh_failure(own)
    assert is_ssh_failure(paramiko.SSHException("x")) and is_ssh_failure(EOFError())


def test_reasons_read_as_sentences() -> None:
    assert reason(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
    assert reason(paramiko.SSHException()) == "SSHException"
    not_found = socket.gaierror(socket.EAI_NONAME, "Name or service not known")  # no DNS lookup in tests
    assert reason(not_found) == "the name does not resolve (Name or service not known)"
    assert reason(TimeoutError("timed out"), 2.5) == "no answer within 2.5 s"


def _logged_in(hosts: SSHHosts, server: SSHD, sock: socket.socket) -> paramiko.Transport:
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=10)
    transport.auth_publickey(hosts.user, paramiko.Ed25519Key.from_private_key_file(str(hosts.client_key)))
    return transport


def test_a_server_without_an_sftp_subsystem_is_named_as_such(ssh_hosts: SSHHosts) -> None:
    server = ssh_hosts.start("bare", sftp=False)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        transport = _logged_in(ssh_hosts, server, sock)
        try:
            mapper = sftp_errors("me@bare", transport, "to copy remrepl's files", RemoteEnvironmentError)
            with pytest.raises(SFTPUnavailable) as caught, mapper:
                transport.open_sftp_client()
            assert str(caught.value) == (
                "me@bare's SSH server offers no SFTP subsystem (needed to copy remrepl's files); "
                'enable "Subsystem sftp" in its sshd_config'
            )
            assert isinstance(caught.value, RemoteEnvironmentError)
            assert transport.is_active()  # the link is fine: only the subsystem is missing
        finally:
            transport.close()
    assert "subsystem request for sftp" in server.log_text()


def test_a_link_that_dropped_is_not_taken_for_a_missing_sftp_subsystem(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    with socket.create_connection((sshd.host, sshd.port), timeout=10) as sock:
        transport = _logged_in(ssh_hosts, sshd, sock)
        channel = transport.open_session(timeout=10)
        transport.close()  # the link goes away under the request
        mapper = sftp_errors("me@target", transport, "to copy remrepl's files", RemoteEnvironmentError)
        with pytest.raises(RemoteEnvironmentError, match=r"^me@target refused an SFTP session: ") as caught, mapper:
            channel.invoke_subsystem("sftp")
        assert not isinstance(caught.value, SFTPUnavailable)
