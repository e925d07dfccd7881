"""A local cluster with real Dask scheduler and worker processes, shared by this module's tests."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest

import remrepl
from remrepl import ClusterError, TaskError
from remrepl.cluster import Cluster
from tests.support.processes import children_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers


@pytest.fixture(scope="module")
def cl() -> Iterator[Cluster]:
    with remrepl.cluster(workers=2) as started:
        yield started


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def fail_on_five(x: int) -> float:
    return 1 / (x - 5)


def die_once(x: int, flag: str) -> int:
    """Kills its own worker process the first time item 30 runs (the flag file says it happened)."""
    if x == 30:
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # the rerun, on a new or another worker
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.001)
    return x * 2


def test_map_returns_results_in_order(cl: Cluster) -> None:
    assert cl.map(square, range(1000)) == [x * x for x in range(1000)]
    assert cl.map(square, (x for x in range(10))) == [x * x for x in range(10)]  # a generator
    assert cl.map(add, [1, 2, 3], [10, 20]) == [11, 22]  # several iterables, the shortest wins
    assert cl.map(square, []) == []


def test_lambdas_and_closures_travel(cl: Cluster) -> None:
    offset = 7
    assert cl.map(lambda x: x + offset, range(3)) == [7, 8, 9]


def test_submit_and_executor(cl: Cluster) -> None:
    future = cl.submit(add, 2, y=3)
    assert isinstance(future, Future)
    assert future.result(timeout=30) == 5
    assert isinstance(cl.executor, Executor)
    assert list(cl.executor.map(square, [1, 2, 3])) == [1, 4, 9]
    assert cl.executor.submit(square, 9).result(timeout=30) == 81


def test_repr_shows_workers_cores_and_memory(cl: Cluster) -> None:
    text = repr(cl)
    assert "local: 2 workers, 2 cores" in text
    assert "iB memory" in text
    assert "tls://127.0.0.1:" in text


def test_a_raising_task_names_the_item_with_the_remote_traceback(cl: Cluster) -> None:
    with pytest.raises(TaskError) as info:
        cl.map(fail_on_five, range(20))
    error = info.value
    assert error.index == 5 and error.item == "5"
    assert "item 5" in str(error) and "ZeroDivisionError: division by zero" in str(error)
    assert "in fail_on_five" in error.remote_traceback and "return 1 / (x - 5)" in error.remote_traceback
    assert isinstance(error.exception, ZeroDivisionError) and error.__cause__ is None
    assert cl.map(square, [3]) == [9]  # the cluster goes on


def test_a_worker_killed_mid_map_costs_a_retry_not_the_result(cl: Cluster, tmp_path: Path) -> None:
    flag = str(tmp_path / "died")
    assert cl.map(die_once, range(200), [flag] * 200) == [x * 2 for x in range(200)]
    assert os.path.exists(flag)  # a worker did die under the map
    cl.scale(2)  # and the pool is whole again (the nanny restarts it; wait for it)
    assert cl.map(square, range(4)) == [0, 1, 4, 9]


def test_scale_up_and_down(cl: Cluster) -> None:
    cl.scale(3)
    assert len(cl.workers()) == 3
    cl.scale(2)
    wait_until(lambda: len(cl.workers()) == 2, 30, "the pool to shrink to 2 workers")


def test_bad_input_gets_a_clear_error(cl: Cluster) -> None:
    with pytest.raises(ValueError, match="whole number"):
        cl.scale(-1)
    with pytest.raises(TypeError, match="at least one iterable"):
        cl.map(square)
    with pytest.raises(ValueError, match="whole number"):
        remrepl.cluster(workers=-2)
    with pytest.raises(TypeError, match="list of host names"):
        remrepl.cluster(hosts="w1")
    unpicklable = _LockHolder()
    with pytest.raises(ClusterError, match="cannot send"):
        cl.map(unpicklable.method, [1])
    with pytest.raises(ClusterError, match=r"cannot send item 2 \(<unlocked _thread.lock"):
        cl.map(square, [1, 2, unpicklable.lock, 4])
    assert cl.map(square, [2]) == [4]  # nothing was lost


class _LockHolder:
    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()

    def method(self, x: int) -> int:
        return x


def test_everything_listens_on_loopback_only(cl: Cluster) -> None:
    assert cl.address.startswith("tls://127.0.0.1:")
    for address, worker in cl.workers().items():
        assert address.startswith("tls://127.0.0.1:") and worker["host"] == "127.0.0.1"
    listening = listening_sockets({os.getpid(), *children_of(os.getpid())})
    assert listening  # the scheduler, its HTTP routes, the nannies, the workers
    assert {host for host, _ in listening} == {"127.0.0.1"}, listening


def listening_sockets(pids: set[int]) -> set[tuple[str, int]]:
    """(host, port) of every listening TCP socket the processes ``pids`` hold (IPv4, from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue  # gone meanwhile
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_host, hex_port = fields[1].split(":")
                host = socket.inet_ntoa(bytes.fromhex(hex_host)[::-1]) if len(hex_host) == 8 else f"v6:{hex_host}"
                found.add((host, int(hex_port, 16)))
    return found


def test_a_plain_tcp_client_is_refused(cl: Cluster) -> None:
    from distributed import Client

    port = cl.address.rsplit(":", 1)[1]
    with pytest.raises((OSError, TimeoutError)):
        Client(f"tcp://127.0.0.1:{port}", timeout=3, set_as_default=False)


def test_a_tls_client_with_another_ca_is_refused(cl: Cluster) -> None:
    from distributed import Client
    from distributed.security import Security

    with pytest.raises((OSError, TimeoutError)):
        Client(cl.address, security=Security.temporary(), timeout=3, set_as_default=False)


def test_no_key_on_a_worker_command_line_or_in_its_environment(cl: Cluster) -> None:
    pids = set(cl.client.run(os.getpid).values())
    assert pids
    for pid in pids:
        for name in ("cmdline", "environ"):
            assert b"PRIVATE KEY" not in Path(f"/proc/{pid}/{name}").read_bytes()
