"""Private OpenSSH servers on 127.0.0.1 for tests and benchmarks: never the system's sshd or ssh config.

Where: ``scripts/testhosts.py``, a stdlib-only module imported as ``testhosts`` by the benchmarks (scripts/
is ``sys.path[0]`` when a script there runs) and by the test suite (``pythonpath`` in pyproject.toml names
scripts/; fixtures ``ssh_hosts``, ``sshd`` and ``ssh_jump`` in tests/support/plugin.py). See
tests/support/__init__.py for why it lives here.

    from testhosts import SSHHosts

    with SSHHosts(tmp_path, set_env={"PYTHONPATH": guard_dir}) as hosts:
        target = hosts.start("target")                    # an sshd on a free 127.0.0.1 port
        hop = hosts.start("hop")                          # a second one, as a ProxyJump hop
        behind = hosts.start("behind", proxy_jump="hop")  # reached through hop
        subprocess.run(["ssh", "-F", str(hosts.ssh_config), "target", "true"], check=True)
        # paramiko: hostname=target.host, port=target.port, username=hosts.user,
        #           key_filename=str(hosts.client_key), known_hosts from hosts.known_hosts

What one ``SSHHosts`` holds, all under its ``root`` directory:

- a client side shared by its servers: an ed25519 key pair (``client_key``, no passphrase), a
  ``known_hosts`` with every server's host key (as ``[127.0.0.1]:PORT``), and an ``ssh_config`` with one
  ``Host`` entry per server (HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
  StrictHostKeyChecking yes, ProxyJump when asked), usable by OpenSSH (``ssh -F``) and by paramiko;
- per server (``root/<name>/``): its own ed25519 host key, ``authorized_keys`` (the client key),
  ``sshd_config`` and log. The server runs ``/usr/sbin/sshd -D -e`` in the foreground, key logins only,
  ``UsePAM no``, ``AllowUsers`` the current user (so a wrong user is refused), root allowed with keys
  (``PermitRootLogin prohibit-password``), ``StrictModes no`` (test directories are not owned the way
  sshd wants), TCP forwarding on (tunnels, ProxyJump), the internal SFTP server.

A remote side of its own (``SSHHosts(root, user=TEST_USER, user_dir=DIR)``, fixtures ``isolated_ssh_hosts`` and
``isolated_sshd``): the sessions run as a dedicated unprivileged user (``ensure_test_user()`` creates
``remrepl-test-remote`` with its own HOME, idempotently; root only), so the remote side cannot read the
test's directories (0700, root's) through the shared filesystem, as a real host could not. Its
``authorized_keys`` then live in ``user_dir`` (owned by that user: sshd reads them as the user).

Commands run through these servers do not inherit the caller's environment: ``set_env`` becomes sshd's
``SetEnv`` (e.g. ``PYTHONPATH`` for the tests' socket guard, ``REMREPL_STATE_DIR``).

``stop()``/``close()`` end the servers and every process still running under them (found in /proc by
ancestry), SIGTERM then SIGKILL, with bounded waits. Processes that detached themselves from sshd (a
double fork, ``setsid``) are the caller's to stop. Needs Debian's ``openssh-server`` (``scripts/test``
installs it) and ``ssh-keygen``; ``/run/sshd`` (the privilege-separation directory) is created if missing.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SSHD_PATH = "/usr/sbin/sshd"  # sshd re-executes itself per connection: it must be started by its absolute path
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


TEST_USER = "remrepl-test-remote"  # the unprivileged remote side of isolated hosts (ensure_test_user)


class TestHostError(RuntimeError):
    """An sshd for the tests could not be set up."""


@dataclass(frozen=True)
class RemoteUser:
    """A local account standing in for the login user of a remote host."""

    name: str
    uid: int
    gid: int
    home: Path


def ensure_test_user(name: str = TEST_USER) -> RemoteUser:
    """The unprivileged account ``name`` with its own HOME (0700), created if missing (needs root; idempotent:
    a second call, or another test run's, finds it).

    Its password field is ``*`` (no password login), not useradd's ``!``: with ``UsePAM no`` sshd refuses
    every login, keys included, to an account whose password starts with ``!`` (locked)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = _create_user(name)
    home = Path(entry.pw_dir)
    if os.geteuid() == 0:
        home.mkdir(mode=0o700, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        os.chmod(home, 0o700)
    return RemoteUser(name, entry.pw_uid, entry.pw_gid, home)


def _create_user(name: str) -> pwd.struct_passwd:
    if os.geteuid() != 0:
        raise TestHostError(f"the test user {name!r} does not exist and only root can create it")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--create-home", "--shell", "/bin/bash", "--password", "*", "--user-group", name],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode not in (0, 9):  # 9: the name is taken (another run created it meanwhile)
        raise TestHostError(f"useradd {name} failed (status {result.returncode}): {result.stderr.strip()}")
    return pwd.getpwnam(name)


def chown_tree(path: Path, user: RemoteUser) -> None:
    """Give ``path`` and everything below it to ``user`` (a directory the remote side must own)."""
    os.chown(path, user.uid, user.gid)
    for parent, directories, files in os.walk(path):
        for name in [*directories, *files]:
            os.chown(os.path.join(parent, name), user.uid, user.gid, follow_symlinks=False)


def keygen(path: Path, comment: str) -> str:
    """Make an unencrypted ed25519 key pair at ``path`` (+ ``.pub``); the public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (for "host unreachable" tests)."""
    return free_port()


@dataclass
class SSHD:
    """One running sshd."""

    name: str
    host: str
    port: int
    directory: Path
    host_key_line: str  # "ssh-ed25519 AAAA..." (the public host key)
    process: subprocess.Popen[bytes]
    proxy_jump: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def known_hosts_name(self) -> str:
        return f"[{self.host}]:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """End this sshd and the processes under it (sessions, their commands). Idempotent."""
        pids = [*descendants(self.process.pid), self.process.pid]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and (self.process.poll() is None or any(map(_alive, pids[:-1]))):
                time.sleep(0.02)
            if self.process.poll() is not None and not any(map(_alive, pids[:-1])):
                return


class SSHHosts:
    """A client identity plus the private sshd servers it may reach (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        user: str | None = None,
        set_env: dict[str, str] | None = None,
        user_dir: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.user = user or getpass.getuser()
        # Where the login user's own files go (authorized_keys): the user must be able to read them, and
        # ``root`` is this process's, 0700. None: ``root`` (the login user is this process's user).
        self.user_dir = Path(user_dir) if user_dir is not None else None
        self.set_env = dict(set_env or {})
        self.client_key = self.root / "id_ed25519"
        self.client_public = keygen(self.client_key, "remrepl-tests-client")
        self.known_hosts = self.root / "known_hosts"
        self.ssh_config = self.root / "ssh_config"
        self.known_hosts.write_text("")
        self.ssh_config.write_text("")
        os.chmod(self.known_hosts, 0o600)
        os.chmod(self.ssh_config, 0o600)
        self.servers: dict[str, SSHD] = {}
        self.mappings: list[tuple[str, str]] = []  # (Host pattern, server name): see map()

    def start(
        self,
        name: str,
        *,
        proxy_jump: str | None = None,
        set_env: dict[str, str] | None = None,
        sshd_options: list[str] | None = None,
        known: bool = True,
        sftp: bool = True,
    ) -> SSHD:
        """Start an sshd called ``name`` (its ssh_config alias). ``proxy_jump``: the alias of another of
        these servers to reach it through. ``set_env`` adds to the hosts' ``SetEnv``. ``sshd_options``:
        extra sshd_config lines. ``known=False`` leaves its host key out of known_hosts. ``sftp=False``:
        no ``Subsystem sftp`` line, a server that offers no SFTP (as some hardened hosts do)."""
        if name in self.servers:
            raise TestHostError(f"an sshd called {name!r} already runs")
        _ensure_privsep_dir()
        directory = self.root / name
        directory.mkdir(mode=0o700, exist_ok=True)
        host_key = directory / "ssh_host_ed25519_key"
        host_key_line = " ".join(keygen(host_key, f"remrepl-tests-{name}").split()[:2])
        authorized = self._authorized_keys(name)
        env = {**self.set_env, **(set_env or {})}
        last_error = ""
        for _ in range(5):  # a free port can be taken between our probe and sshd's bind: try another
            port = free_port()
            config = directory / "sshd_config"
            config.write_text(self._sshd_config(port, directory, host_key, authorized, env, sshd_options or [], sftp))
            log = directory / "sshd.log"
            with open(log, "ab") as log_file:
                process = subprocess.Popen(
                    [SSHD_PATH, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    start_new_session=True,
                )
            server = SSHD(name, "127.0.0.1", port, directory, host_key_line, process, proxy_jump, sshd_options or [])
            if _wait_for_banner(server):
                self.servers[name] = server
                if known:
                    self.add_known_host(server)
                self._write_ssh_config()
                return server
            last_error = server.log_text()
            server.stop()
        raise TestHostError(f"sshd {name!r} did not start:\n{last_error}")

    def map(self, pattern: str, name: str) -> None:
        """Send every host matching ``pattern`` (an ssh_config ``Host`` pattern, e.g. ``54.214.*``: moto's
        public IPs) to server ``name``: HostName/Port/User/IdentityFile, and no known_hosts of its own (the
        caller verifies host keys its own way, e.g. the EC2 launcher's HostKeyAlias and known_hosts)."""
        self.mappings.append((pattern, name))
        self._write_ssh_config()

    def add_known_host(self, server: SSHD, key_line: str | None = None) -> None:
        """Append ``server``'s host key (or ``key_line``, e.g. another key, to test a changed one)."""
        with open(self.known_hosts, "a") as f:
            f.write(f"{server.known_hosts_name} {key_line or server.host_key_line}\n")

    def _authorized_keys(self, name: str) -> Path:
        """The client key as server ``name``'s authorized_keys, where its login user can read it."""
        if self.user_dir is None:
            authorized = self.root / name / "authorized_keys"
        else:
            (self.user_dir / name).mkdir(mode=0o700, parents=True, exist_ok=True)
            authorized = self.user_dir / name / "authorized_keys"
        authorized.write_text(self.client_public + "\n")
        os.chmod(authorized, 0o600)
        if self.user_dir is not None and os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            for path in (authorized.parent, authorized):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        return authorized

    def _sshd_config(
        self,
        port: int,
        directory: Path,
        host_key: Path,
        authorized: Path,
        env: dict[str, str],
        extra: list[str],
        sftp: bool = True,
    ) -> str:
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {self.user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            "PrintMotd no",
            "PermitUserEnvironment no",
            "MaxStartups 100",
            "MaxSessions 50",
            "LogLevel VERBOSE",
        ]
        if sftp:
            lines.append("Subsystem sftp internal-sftp")
        if env:
            lines.append("SetEnv " + " ".join(f'"{k}={v}"' for k, v in env.items()))
        return "\n".join([*extra, *lines]) + "\n"  # sshd keeps the first value of a keyword: extras win

    def _write_ssh_config(self) -> None:
        blocks = []
        for server in self.servers.values():
            block = [
                f"Host {server.name}",
                f"    HostName {server.host}",
                f"    Port {server.port}",
                f"    User {self.user}",
                f"    IdentityFile {self.client_key}",
                "    IdentitiesOnly yes",
                f"    UserKnownHostsFile {self.known_hosts}",
                "    StrictHostKeyChecking yes",
                "    ConnectTimeout 10",
            ]
            if server.proxy_jump:
                block.append(f"    ProxyJump {server.proxy_jump}")
            blocks.append("\n".join(block))
        for pattern, name in self.mappings:
            server = self.servers[name]
            mapped = [f"Host {pattern}", f"    HostName {server.host}", f"    Port {server.port}"]
            mapped += [f"    User {self.user}", f"    IdentityFile {self.client_key}", "    IdentitiesOnly yes"]
            mapped += [f"    ProxyJump {server.proxy_jump}"] if server.proxy_jump else []
            blocks.append("\n".join([*mapped, "    ConnectTimeout 10"]))
        self.ssh_config.write_text("\n\n".join(blocks) + "\n")

    def ssh(self, name: str, command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on server ``name`` with OpenSSH's client and this config (BatchMode)."""
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", name, command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, name: str) -> None:
        server = self.servers.pop(name, None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        for name in list(self.servers):
            self.stop(name)

    def __enter__(self) -> SSHHosts:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _ensure_privsep_dir() -> None:
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def _wait_for_banner(server: SSHD) -> bool:
    """Until sshd answers with its banner (True) or exits / the deadline passes (False)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with socket.create_connection((server.host, server.port), timeout=1.0) as s:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False


def _stat(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return []
    return text[text.rfind(")") + 2 :].split()


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 10_000:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
