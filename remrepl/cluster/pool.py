"""The worker pool: a Dask scheduler on this machine and workers wherever the backend puts them.

Built on ``distributed.deploy.SpecCluster`` (start, scale, wait, close are Dask's), with our TLS and
no dashboard: the scheduler listens only on the backend's ``scheduler_host`` (loopback for local
workers), and only peers holding a certificate from the cluster's own CA get in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._exceptions import ClusterError
from .backends.base import WorkerBackend
from .tls import ClusterCertificates

if TYPE_CHECKING:
    from distributed import Client, SpecCluster

    from .packages_plugin import PackagesFollower
    from .workdir_plugin import WorkdirFollower

log = logging.getLogger("remrepl.cluster")
START_TIMEOUT = 60.0  # seconds for the scheduler and the first workers to come up


def import_distributed() -> None:
    """Fail early, with the fix in the message, when Dask distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        import sys

        raise ClusterError(
            f"remrepl.cluster needs Dask distributed on the head node ({sys.executable}): at the remrepl prompt "
            "%pip install 'remrepl[cluster]', elsewhere pip install 'remrepl[cluster]' (a server on an SSH host "
            f"launched with --bootstrap has it) ({exc})"
        ) from None


class WorkerPool:
    """Scheduler + workers; ``client`` talks to them. ``close()`` releases everything (idempotent)."""

    def __init__(self, backend: WorkerBackend, *, timeout: float = START_TIMEOUT) -> None:
        import_distributed()
        import dask
        from distributed import Client, Scheduler, SpecCluster

        self.backend = backend
        self.certs = ClusterCertificates.generate()
        security = self.certs.security()
        scheduler = {
            "cls": Scheduler,
            "options": {
                "host": backend.scheduler_host,
                "port": 0,
                "protocol": "tls",
                "security": security,
                # No dashboard; Dask's scheduler still serves a few HTTP routes (health, metrics): only on
                # loopback, whatever address the workers reach it on.
                "dashboard": False,
                "dashboard_address": "127.0.0.1:0",
            },
        }
        self.spec: SpecCluster | None = None
        self.client: Client | None = None
        self.workdir: WorkdirFollower | None = None
        self.packages: PackagesFollower | None = None
        try:
            backend.prepare()
            worker = backend.worker_spec(self.certs)
            settings = {
                "distributed.comm.timeouts.connect": "30s",
                "logging.distributed": "error",
                # Send every task to a worker at once (no queueing at the scheduler): a map keeps a batch
                # waiting on each worker, so no worker idles for a scheduler round trip between batches.
                "distributed.scheduler.worker-saturation": "inf",
            }
            with dask.config.set(settings):
                try:  # the first workers start here, so a failure to start them raises here (and cleans up)
                    self.spec = SpecCluster(
                        scheduler=scheduler,
                        worker=worker,
                        workers=dict.fromkeys(range(backend.initial_workers), worker),
                        security=security,
                        silence_logs=logging.ERROR,
                        name="remrepl",
                    )
                except Exception as exc:
                    raise ClusterError(f"the {backend.kind} cluster could not start: {_cause(exc)}") from exc
            self.client = Client(self.spec, security=security, set_as_default=False, timeout=timeout)
            from .packages_plugin import PackagesFollower
            from .workdir_plugin import WorkdirFollower

            if backend.initial_workers:
                self.wait(backend.initial_workers * backend.processes, timeout)
            # Before the first task, once the first workers are in (so that a failure to set one up raises
            # here, naming it): the session's synced tree, then the project's packages, on every worker,
            # present and future; again after each re-sync or %pip install.
            self.workdir = WorkdirFollower(self.client, shared=backend.kind == "local")
            self.packages = PackagesFollower(self.client, shared=backend.kind == "local")
        except BaseException:
            self.close()  # a half-started pool leaves nothing behind
            raise

    @property
    def address(self) -> str:
        assert self.spec is not None
        address: str = self.spec.scheduler_address
        return address

    def scale(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"scale() takes a whole number of workers >= 0, not {n!r}")
        if self.spec is None or self.client is None:
            raise ClusterError("the cluster is closed")
        # SpecCluster picks which workers to drop from its own copy of the scheduler's worker list, which
        # goes stale when its watcher dies (it can, on a restarted worker): give it a fresh one.
        self.spec.scheduler_info = dict(self.client.scheduler_info(n_workers=-1))
        self.spec.scale(n)

    def wait(self, n: int, timeout: float = START_TIMEOUT) -> None:
        """Block until ``n`` workers are connected; ``ClusterError`` after ``timeout`` seconds."""
        if self.client is None:
            raise ClusterError("the cluster is closed")
        try:
            self.client.wait_for_workers(n, timeout=timeout)
        except TimeoutError:
            got = len(self.workers())
            raise ClusterError(f"only {got} of {n} workers started within {timeout:g} s") from None

    def requested(self) -> int:
        """How many workers the pool is meant to have (started or not)."""
        return len(self.spec.worker_spec) if self.spec is not None else 0

    def workers(self) -> dict[str, dict[str, Any]]:
        """The scheduler's view: worker address -> info (nthreads, memory_limit, ...)."""
        if self.client is None:
            return {}
        info: dict[str, Any] = self.client.scheduler_info(n_workers=-1)
        workers: dict[str, dict[str, Any]] = info.get("workers", {})
        return workers

    def close(self) -> None:
        for follower in (self.workdir, self.packages):
            if follower is not None:
                follower.close()
        client, spec, self.client, self.spec = self.client, self.spec, None, None
        try:
            if client is not None:
                client.close()
        finally:
            try:
                if spec is not None:
                    _close_spec(spec)
            finally:
                self.backend.close()


def _cause(exc: BaseException) -> str:
    """The innermost reason (Dask wraps a worker's failure in "Nanny failed to start")."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"


def _close_spec(spec: SpecCluster) -> None:
    """Stop the workers and the scheduler (SpecCluster waits for the workers' processes to end)."""
    try:
        spec.close()
    except Exception as exc:
        # SpecCluster's worker-status watcher can die of a KeyError when a worker it never listed goes away
        # (a restarted one); the error surfaces here, after the workers and the scheduler were stopped.
        # Only its event loop thread is left to stop.
        log.debug("Dask's SpecCluster.close raised after stopping everything: %r", exc)
        spec._loop_runner.stop()
