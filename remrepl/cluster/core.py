"""``Cluster``: what ``remrepl.cluster(...)`` returns — map, submit, an Executor, scale, close."""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._exceptions import ClusterError, TaskError
from .backends.base import WorkerBackend
from .pool import START_TIMEOUT, WorkerPool

if TYPE_CHECKING:
    from distributed import Client

    from ..client.environment import Environment


class Cluster:
    """A pool of Dask workers with a concurrent.futures feel. Use it as a context manager, or ``close()``.

    >>> with remrepl.cluster(workers=2) as cl:
    ...     cl.map(lambda x: x * x, range(10))
    [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    """

    def __init__(self, backend: WorkerBackend, *, timeout: float = START_TIMEOUT) -> None:
        from . import environment as versions  # here: the installer's module, only once a cluster starts

        with versions.quiet_dask():  # Dask's version warning: ours below says it, with the fix
            self._pool: WorkerPool | None = WorkerPool(backend, timeout=timeout)
        self._timeout = timeout  # also scale()'s default: as long as a worker of this kind takes to start
        self.kind = backend.kind
        self.address = self._pool.address
        self._executor: ClusterExecutor | None = None
        try:  # the head against its workers: one table on the session's stderr, only if something differs
            versions.report(versions.check(self.client), sys.stderr)
        except Exception as exc:  # the cluster works without the check: say so, never silently
            print(f"remrepl: could not compare the workers' versions with the head's: {exc!r}", file=sys.stderr)
        except BaseException:
            self.close()
            raise

    @property
    def client(self) -> Client:
        """The underlying ``distributed.Client``, for everything Dask offers beyond this API."""
        client = self._live().client
        assert client is not None
        return client

    def _live(self) -> WorkerPool:
        if self._pool is None:
            raise ClusterError("the cluster is closed; make a new one with remrepl.cluster(...)")
        return self._pool

    # --- work ---------------------------------------------------------------------------------

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], progress: bool = True) -> list[Any]:
        """``[fn(x) for x in iterable]`` on the workers, in order, batched automatically.

        With several iterables, ``fn`` takes one item of each (as builtin ``map``). A long map shows a
        progress bar on the user's terminal (``progress=False``: none). If ``fn`` raises, the map stops
        with ``TaskError`` naming the item; Ctrl-C cancels what is left and the cluster stays usable.
        """
        from .mapping import Mapper, as_items  # cloudpickle comes with Dask: imported once a cluster runs

        items, star = as_items(iterables)
        if not items:
            return []
        threads = self.threads()
        if threads == 0:  # none yet (starting, or restarting after a crash), or none asked for
            pool = self._live()
            if not pool.requested():
                raise ClusterError("the cluster has no workers: cl.scale(n) adds some")
            pool.wait(1)
            threads = self.threads()
        try:
            return Mapper(self.client, fn, items, star=star, threads=threads, progress=progress).run()
        except TaskError as exc:
            raise exc.with_traceback(None) from None  # the user's traceback is in the message, not ours

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args, **kwargs)`` on a worker; a ``concurrent.futures.Future`` of its result."""
        return self.executor.submit(fn, *args, **kwargs)

    @property
    def executor(self) -> ClusterExecutor:
        """A ``concurrent.futures.Executor`` on this cluster (its ``map`` is the batched one)."""
        if self._executor is None:
            self._executor = ClusterExecutor(self)
        return self._executor

    # --- size ---------------------------------------------------------------------------------

    def scale(self, n: int, *, wait: bool = True, timeout: float | None = None) -> None:
        """Grow or shrink to ``n`` workers (EC2: instances); by default wait until they are connected
        (``timeout`` seconds: by default as long as the cluster's start)."""
        pool = self._live()
        pool.scale(n)
        if wait and n:
            pool.wait(n * pool.backend.processes, self._timeout if timeout is None else timeout)

    def workers(self) -> dict[str, dict[str, Any]]:
        """The connected workers: address -> Dask's worker info (nthreads, memory_limit, ...)."""
        return self._live().workers()

    def environment(self) -> Environment:
        """The head against the workers now (``str()`` of it: the table; ``.ok``, ``.rows``): Python,
        remrepl, Dask's packages and the project's declared ones, read again (after an install, say)."""
        from . import environment as versions

        return versions.check(self.client, fresh=True)

    def threads(self) -> int:
        return sum(int(w.get("nthreads", 0)) for w in self.workers().values())

    # --- end ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers and the scheduler. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @property
    def closed(self) -> bool:
        return self._pool is None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._pool is None:
            return f"<remrepl.Cluster {self.kind}: closed>"
        try:
            workers = self.workers()
        except Exception as exc:  # a repr must not raise
            return f"<remrepl.Cluster {self.kind} at {self.address}: unreachable ({type(exc).__name__})>"
        cores = sum(int(w.get("nthreads", 0)) for w in workers.values())
        memory = sum(int(w.get("memory_limit") or 0) for w in workers.values())
        count = len(workers)
        return (
            f"<remrepl.Cluster {self.kind}: {count} worker{'s' * (count != 1)}, {cores} core{'s' * (cores != 1)}, "
            f"{_size(memory)} memory, {self.address}>"
        )


class ClusterExecutor(concurrent.futures.Executor):
    """``concurrent.futures.Executor`` on a cluster. ``shutdown`` stops this executor, not the cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._inner = cluster.client.get_executor(pure=False)
        self._shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if self._shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: concurrent.futures.Future[Any] = self._inner.submit(fn, *args, **kwargs)
        return future

    def map(
        self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None, chunksize: int = 1
    ) -> Iterator[Any]:
        """The cluster's batched map (``chunksize`` is ignored: batches size themselves)."""
        if self._shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return iter(self._cluster.map(fn, *iterables))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shut = True
        self._inner.shutdown(wait=wait)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} TiB"
