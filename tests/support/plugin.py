"""The suite's pytest plugin (``pytest_plugins`` in tests/conftest.py): guards, fixtures and markers.

Markers (registered in pyproject.toml, ``--strict-markers``): an end-to-end test runs real outside
programs and is marked ``e2e`` plus what it needs:

- ``ssh``: private OpenSSH servers (fixtures ``ssh_hosts``, ``sshd``, ``ssh_jump``: scripts/testhosts.py;
  ``isolated_ssh_hosts``, ``isolated_sshd``: the same with an unprivileged remote user of its own);
- ``aws``: a moto server standing in for AWS (``moto_server``, ``aws``, ``aws_proxy``: scripts/testaws.py);
- ``tmux``: the prompt in a real terminal (``terminal``, ``launched``: tests/support/terminal.py);
- ``cluster``: Dask schedulers and workers (a module-level ``pytestmark``: no fixture tells);
- ``server``: a real remrepl server process on 127.0.0.1 (``server``, ``launcher``, ``session``, or a
  module-level ``pytestmark`` where a test starts one itself: ``start_server``, the ``remrepl`` command).

The fixtures a test uses mark it (``pytest_collection_modifyitems`` below), so a new test needs no marker
of its own; a module whose tests start such things without these fixtures says so with ``pytestmark``
(``e2e`` alone for tests that are slow for another reason). ``pytest -m "not e2e"`` is the fast part:
units, the in-memory protocol and transport, configuration, no process of ours started (each real server
costs a second or two of start-up on a loaded machine, and there are hundreds). ``pytest -m ssh``,
``-m "server and not ssh"``, ``-m "e2e and not aws"`` pick parts; plain ``pytest``
(scripts/test) runs everything.
"""

from __future__ import annotations

# First: the socket guard must be in place before anything below can open a socket.
from tests.support import guard

guard.install()

import os  # noqa: E402
import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import testaws  # noqa: E402
from testhosts import SSHD, RemoteUser, SSHHosts, TestHostError, ensure_test_user  # noqa: E402

from remrepl.client.session import Session  # noqa: E402
from remrepl.launchers import LocalLauncher  # noqa: E402
from tests.support.awsproxy import AWSProxy  # noqa: E402
from tests.support.cli import remrepl_command  # noqa: E402
from tests.support.isolated import (  # noqa: E402
    NoRemotePython,
    bootstrapped_python,
    remote_environment,
    scratch_directory,
)
from tests.support.processes import leftover_servers, server_processes, terminate  # noqa: E402
from tests.support.servers import PASSWORD, RunningServer, start_server, stop_server  # noqa: E402
from tests.support.terminal import PROMPT, TmuxTerminal  # noqa: E402
from tests.support.wheelhouse import TEST_PACKAGE, TEST_SOURCE, TEST_VERSION, Wheelhouse  # noqa: E402

# --- markers --------------------------------------------------------------------------------------------

E2E_KINDS = ("ssh", "aws", "tmux", "cluster", "server")
# The root fixtures of each kind (the others use them: ``sshd`` brings ``ssh_hosts``, ``session`` ``launcher``)
MARKER_OF_FIXTURE = {
    "ssh_hosts": "ssh",
    "isolated_ssh_hosts": "ssh",
    "moto_server": "aws",
    "terminal": "tmux",
    "server": "server",
    "launcher": "server",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by the fixtures it uses (their closure: ``sshd`` brings ``ssh_hosts``); any of the
    kinds implies ``e2e``."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in used and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
        if item.get_closest_marker("e2e") is None and any(item.get_closest_marker(kind) for kind in E2E_KINDS):
            item.add_marker("e2e")


# --- private state and servers --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps its history, logs and session records in its own folder, and reads no config.toml
    but its own."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("REMREPL_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(state / "config"))
    monkeypatch.delenv("REMREPL_CONFIG", raising=False)
    monkeypatch.delenv("REMREPL_PASSWORD", raising=False)
    return state


@pytest.fixture
def state_dir() -> Path:
    """This test's private REMREPL_STATE_DIR (set by the suite's autouse ``private_state``)."""
    return Path(os.environ["REMREPL_STATE_DIR"])


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, PASSWORD.encode() + b"\n")
    os.close(fd)
    return path


@pytest.fixture
def server(tmp_path: Path, password_file: Path) -> Iterator[RunningServer]:
    """A ``remrepl serve``-style server with a password, as a user would start it."""
    running = start_server(tmp_path, password_file)
    yield running
    stop_server(running)


@pytest.fixture
def launcher() -> Iterator[LocalLauncher]:
    """A server started by the local launcher (random key over stdin), stopped afterwards."""
    launched = LocalLauncher()
    launched.start()
    yield launched
    launched.close()


@pytest.fixture
def session(launcher: LocalLauncher) -> Iterator[Session]:
    with launcher.connect() as attached:
        yield attached


# --- SSH: private sshd servers on 127.0.0.1 -------------------------------------------------------------


@pytest.fixture
def ssh_hosts(tmp_path_factory: pytest.TempPathFactory, private_state: Path) -> Iterator[SSHHosts]:
    """A client key, known_hosts and ssh_config, for private sshd servers started with ``.start(name)``.

    Commands run through them get the socket guard and their own state directory (``remote_state``),
    as the remote side of a real SSH host would not share our environment.
    """
    remote_state = private_state / "remote"
    hosts = SSHHosts(
        tmp_path_factory.mktemp("ssh"),
        set_env={"PYTHONPATH": str(guard.GUARD_DIR), "REMREPL_STATE_DIR": str(remote_state), **guard.REAPER_GUARD},
    )
    try:
        yield hosts
    finally:
        hosts.close()
        terminate(server_processes(remote_state))  # servers that detached from sshd and were left behind


@pytest.fixture
def sshd(ssh_hosts: SSHHosts) -> SSHD:
    """An sshd on 127.0.0.1, known to ``ssh_hosts.ssh_config`` as ``target``."""
    return ssh_hosts.start("target")


@pytest.fixture
def ssh_jump(ssh_hosts: SSHHosts) -> SSHD:
    """An sshd (``behind``) reached through another one (``hop``) with ProxyJump."""
    ssh_hosts.start("hop")
    return ssh_hosts.start("behind", proxy_jump="hop")


# --- SSH with a remote side of its own: an unprivileged user that cannot read the test's files ----------


@pytest.fixture(scope="session")
def remote_user() -> RemoteUser:
    """The unprivileged login user of isolated hosts (``remrepl-test-remote``, own HOME), created once if
    missing. Creating it needs root (the suite runs as root here and in CI); otherwise the test is
    skipped unless the user was made beforehand (``sudo useradd --create-home --shell /bin/bash -p '*'
    remrepl-test-remote``)."""
    try:
        return ensure_test_user()
    except TestHostError as exc:
        pytest.skip(f"no isolated remote user: {exc}")


@pytest.fixture(scope="session")
def remote_python(remote_user: RemoteUser, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a venv in ``remote_user``'s HOME with this remrepl, installed there by the real
    ``--bootstrap`` (tests/support/isolated.py; reused while the code is the same): pass it as the SSH
    launcher's ``remote_python``. Skipped, saying why, without the machine's local package index."""
    try:
        return bootstrapped_python(remote_user, tmp_path_factory.mktemp("bootstrap-ssh"))
    except NoRemotePython as exc:
        pytest.skip(str(exc))


@pytest.fixture
def remote_scratch(remote_user: RemoteUser) -> Iterator[Path]:
    """This test's own directory under ``remote_user``'s HOME (``~/tests/t-...``, the user's, removed
    afterwards): the remote side's state directory (``state/``), its copy of the socket guard and its
    sshd's authorized_keys live here. HOME itself is shared by every test that uses the user: write there
    only under names of this directory."""
    own = scratch_directory(remote_user)
    try:
        yield own
    finally:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def isolated_ssh_hosts(
    tmp_path_factory: pytest.TempPathFactory, remote_user: RemoteUser, remote_python: str, remote_scratch: Path
) -> Iterator[SSHHosts]:
    """``ssh_hosts`` whose sessions run as ``remote_user``: its servers' logins are that user's (``User``
    in the ssh_config, ``AllowUsers``), with its HOME, the socket guard, ``PIP_INDEX_URL`` the local
    index and ``REMREPL_STATE_DIR`` = ``remote_scratch / "state"``. The remote side can then not open the
    test's files (tmp_path is root's, 0700): what a test wants there it must send, as to a real host. Use
    ``remote_python`` as the launcher's ``remote_python``."""
    remote_state = remote_scratch / "state"
    hosts = SSHHosts(
        tmp_path_factory.mktemp("ssh"),
        user=remote_user.name,
        user_dir=remote_scratch / "sshd",
        set_env=remote_environment(remote_scratch, remote_user),
    )
    try:
        yield hosts
    finally:
        hosts.close()
        terminate(server_processes(remote_state))  # servers that detached from sshd and were left behind


@pytest.fixture
def isolated_sshd(isolated_ssh_hosts: SSHHosts) -> SSHD:
    """An sshd on 127.0.0.1 whose sessions run as ``remote_user``, known to the ssh_config as ``target``."""
    return isolated_ssh_hosts.start("target")


# --- AWS: a moto server on 127.0.0.1 (never real AWS) ---------------------------------------------------


@pytest.fixture
def head_sshd(aws: str, ssh_hosts: SSHHosts) -> SSHD:
    """The sshd that stands in for every EC2 head node: moto's public IPs (54.214.*) mapped to it in the
    ssh_config (see tests/support/ec2.py)."""
    server = ssh_hosts.start("head")
    ssh_hosts.map("54.214.*", "head")
    return server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``python -m moto.server`` on a free 127.0.0.1 port for the whole run; its endpoint URL."""
    with testaws.moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """boto3 (here and in every process the test starts) talks to ``endpoint`` (see testaws.aws_environment)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)
    for name, value in testaws.aws_environment(endpoint, tmp_path / "aws-empty-config").items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh (reset) moto account that boto3 talks to through the environment; its endpoint URL."""
    testaws.reset(moto_server)
    point_boto3_at(monkeypatch, tmp_path, moto_server)
    return moto_server


@pytest.fixture
def aws_proxy(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AWSProxy]:
    """``aws``, but boto3 goes through a proxy on 127.0.0.1 that can make AWS calls fail with the errors
    moto never returns (``proxy.fail("RunInstances", "InsufficientInstanceCapacity")``); see awsproxy.py."""
    proxy = AWSProxy(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    try:
        yield proxy
    finally:
        proxy.close()


# --- tmux: the prompt in a real terminal ----------------------------------------------------------------


@pytest.fixture
def terminal(state_dir: Path) -> Iterator[TmuxTerminal]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "REMREPL_PASSWORD")}
    env["REMREPL_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # the network guard reaches every process started
    term = TmuxTerminal(env)
    try:
        yield term
    finally:
        term.kill()
        # Servers our commands started and left behind (a failed test, or --keep): stop them. Processes
        # whose parent is this test process belong to fixtures that stop them themselves.
        terminate(leftover_servers(state_dir))


@pytest.fixture
def launched(terminal: TmuxTerminal) -> TmuxTerminal:
    """``remrepl connect --launch`` at its first prompt."""
    terminal.start([*remrepl_command(), "connect", "--launch"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    return terminal


# --- a local wheelhouse: packages the tests built, for --find-links (no index, no network) --------------


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """A directory with one wheel built for this run: ``remrepl_testpkg`` 1.0 (``remrepl_testpkg.answer()``
    returns 42, ``__version__`` is "1.0"). Install it with ``--no-index --find-links wheelhouse.directory``.
    Shared by the whole run: do not add to it; a test that needs other packages makes its own
    ``Wheelhouse(tmp_path / "wheels")`` (tests/support/wheelhouse.py)."""
    house = Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))
    house.build(TEST_PACKAGE, TEST_VERSION, TEST_SOURCE)
    return house
