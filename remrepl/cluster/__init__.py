"""Worker pools on Dask distributed, from inside a remrepl session (or any Python program).

    cl = remrepl.cluster(workers=4)                  # local worker processes (the default)
    cl = remrepl.cluster(hosts=["w1", "w2"])         # workers started over SSH (ssh_config aliases)
    cl = remrepl.cluster(ec2=dict(workers=8))        # EC2 instances the head node launches (on a head node)
    squares = cl.map(lambda x: x * x, range(100_000))

``remrepl.cluster`` is both this package and the function that makes a cluster: the module is callable.
Dask distributed is an optional dependency (``pip install 'remrepl[cluster]'``), imported when a cluster
starts.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

from .backends.base import LocalWorkers, WorkerBackend
from .core import Cluster, ClusterExecutor
from .pool import START_TIMEOUT

__all__ = ["Cluster", "ClusterExecutor", "LocalWorkers", "WorkerBackend", "cluster"]


def cluster(
    workers: int | None = None,
    *,
    hosts: Sequence[str] | None = None,
    backend: WorkerBackend | None = None,
    ec2: dict[str, Any] | None = None,
    timeout: float | None = None,
    **ssh: Any,
) -> Cluster:
    """Start a cluster and wait for its workers.

    ``workers``: local worker processes (default: one per core), or with ``hosts`` the worker processes
    per host (default 1); ``hosts``: SSH hosts (ssh_config aliases or ``user@host:port``), with the SSH
    options ``ssh_config``, ``accept_new_host_key``, ``python`` (the remote interpreter; default: the one an
    earlier bootstrap of the host installed into, else ``python3``), ``bootstrap`` (install remrepl with
    Dask into ``venv``, default ``~/.remrepl/venv``, on every host first, in parallel) and
    ``scheduler_host`` (the address the hosts reach this machine on); ``backend``: any
    ``WorkerBackend``; ``ec2``: EC2 instances the head node launches (a dict of options, see
    ``remrepl.cluster.backends.ec2.EC2Workers`` and docs/cluster.md). ``timeout``:
    seconds for the first workers to start
    (default 60, or the EC2 ``ready_timeout``).
    """
    if ssh and hosts is None:
        raise TypeError(f"{', '.join(sorted(ssh))}: SSH options go with hosts=")
    chosen = [name for name, value in (("hosts", hosts), ("backend", backend), ("ec2", ec2)) if value is not None]
    if len(chosen) > 1:
        raise ValueError(f"cluster() takes one of hosts=, backend= and ec2=, not {' and '.join(chosen)}")
    if ec2 is not None:
        backend = _ec2_backend(ec2, workers)
    elif hosts is not None:
        if isinstance(hosts, str):
            raise TypeError("hosts must be a list of host names, not a string")
        backend = _ssh_backend(list(hosts), workers, ssh)
    elif backend is None:
        backend = LocalWorkers(workers)
    elif workers is not None:
        raise ValueError("cluster() takes workers= or backend=, not both")
    if timeout is None:
        timeout = float(getattr(backend, "start_timeout", START_TIMEOUT))
    return Cluster(backend, timeout=timeout)


def _ec2_backend(options: dict[str, Any], workers: int | None) -> WorkerBackend:
    if not isinstance(options, dict):
        raise TypeError(f"ec2= takes a dict of options, e.g. ec2=dict(workers=4), not {type(options).__name__}")
    if workers is not None:
        if "workers" in options:
            raise ValueError("give workers= once: in the ec2 dict or to cluster(), not both")
        options = {**options, "workers": workers}
    from .backends.ec2 import EC2Workers

    return EC2Workers(**options)


def _ssh_backend(hosts: list[str], workers: int | None, ssh: dict[str, Any]) -> WorkerBackend:
    from .backends.ssh import SSHWorkers

    return SSHWorkers(hosts, workers_per_host=1 if workers is None else workers, **ssh)


class _CallableModule(types.ModuleType):
    """This package, callable as its ``cluster`` function: ``remrepl.cluster(workers=4)`` whether or not
    ``remrepl.cluster.backends.ssh`` (say) was imported, which binds ``remrepl.cluster`` to the package. A module is
    callable only through its class; assigning it is the hook the language reference documents
    (docs.python.org/3/reference/datamodel.html#customizing-module-attribute-access)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Cluster:
        return cluster(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
