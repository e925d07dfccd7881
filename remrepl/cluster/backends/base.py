"""Where workers run: one small interface, one implementation per place.

A backend says how to start one worker (a Dask ``SpecCluster`` worker spec: an object with async
``start``/``close``, such as ``distributed.Nanny`` or a ``ProcessInterface``); the ``WorkerPool`` in
``pool.py`` does the rest (start, scale, wait, close) on Dask's own ``SpecCluster``, which also closes
whatever it started when a later step fails. A new place (EC2 instances) is a new backend.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

from ..tls import ClusterCertificates

LOOPBACK = "127.0.0.1"


class WorkerBackend(ABC):
    """Workers somewhere. ``kind`` names the place in ``repr(cluster)``."""

    kind: str = "?"

    #: the address the scheduler listens on: one every worker can reach, and no wider than that
    scheduler_host: str = LOOPBACK

    #: Dask workers (processes) per started worker spec: an EC2 instance runs several
    processes: int = 1

    @property
    @abstractmethod
    def initial_workers(self) -> int:
        """How many workers to start with."""

    @abstractmethod
    def worker_spec(self, certs: ClusterCertificates) -> dict[str, Any]:
        """``{"cls": ..., "options": {...}}``: how SpecCluster starts one more worker."""

    def prepare(self) -> None:  # noqa: B027  (most backends have nothing to prepare)
        """Before any worker starts: make the places ready (SSH hosts: install remrepl with ``bootstrap``).
        A failure raises ``ClusterError`` and leaves nothing running."""

    def close(self) -> None:  # noqa: B027  (most backends hold nothing of their own)
        """Release what the backend itself holds (connections, instances) after the workers stopped."""


class LocalWorkers(WorkerBackend):
    """Worker processes on this machine, each one thread (Python code wants processes, not threads)."""

    kind = "local"

    def __init__(self, workers: int | None = None, *, memory_limit: str | int = "auto") -> None:
        count = (os.cpu_count() or 1) if workers is None else workers
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"workers must be a whole number >= 0, not {workers!r}")
        self._count = count
        self.memory_limit = memory_limit

    @property
    def initial_workers(self) -> int:
        return self._count

    def worker_spec(self, certs: ClusterCertificates) -> dict[str, Any]:
        from distributed import Nanny

        _workers_skip_main()
        # The Nanny restarts a worker process that dies; the certificates reach the worker through
        # multiprocessing's pipe, never a command line.
        return {
            "cls": Nanny,
            "options": {
                "host": LOOPBACK,
                "protocol": "tls",
                "security": certs.security(),
                "nthreads": 1,
                "memory_limit": self.memory_limit,
                "dashboard": False,
                "dashboard_address": None,
                "silence_logs": 50,  # logging.CRITICAL: worker chatter (heartbeats failing at close) stays off screen
            },
        }


_DASK_WORKER = "Dask Worker process"  # the name Dask's Nanny gives the worker process it spawns


def _workers_skip_main() -> None:
    """Dask's spawned worker processes do not import the script's ``__main__`` again.

    Run as a script (``remrepl exec``, and ``python FILE`` alike), ``__main__`` is the script's file, and
    multiprocessing's spawn imports it in every child: a script without an ``if __name__ == "__main__":``
    guard would start a cluster of its own in each worker. The workers need nothing from it (tasks travel
    by value, cloudpickle), so for them alone the main module is left out of the preparation data."""
    import multiprocessing.spawn as spawn

    original = spawn.get_preparation_data
    if getattr(original, "remrepl_skips_main", False):
        return

    def get_preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        if name.startswith(_DASK_WORKER):
            data.pop("init_main_from_path", None)
        return data

    setattr(get_preparation_data, "remrepl_skips_main", True)  # noqa: B010  (a function attribute)
    spawn.get_preparation_data = get_preparation_data
