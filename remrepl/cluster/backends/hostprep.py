"""``remrepl.cluster(hosts=[...], bootstrap=True)``: this remrepl, with Dask, in a venv on every SSH host.

The same bootstrap as ``--bootstrap`` (``ssh/bootstrap.py``: a wheel of this remrepl over SFTP, the
host's pip), with the ``cluster`` extra and ``distributed`` at this machine's version (its workers must
speak the scheduler's Dask), on all hosts at once, one thread each. An unchanged venv is reused (its
stamp: one round trip per host). Each host's venv python is remembered (``ssh/known_pythons.py``), so
later clusters (and launches) on those hosts find it without ``python=``. A host that fails is named
in the ``ClusterError``, with the installer's reason; nothing has started yet, and every connection made
here is closed.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._exceptions import ClusterError, RemreplError

if TYPE_CHECKING:
    from ...ssh.config import SSHOptions, SSHTarget
    from ...ssh.link import SSHLink

MAX_PARALLEL = 32  # hosts bootstrapped at once (each one SSH connection and a remote pip)
EXTRAS = ("cluster",)


def dask_requirements() -> list[str]:
    """``distributed`` pinned at this machine's version (which pins its ``dask``), if it is installed."""
    try:
        return [f"distributed=={importlib.metadata.version('distributed')}"]
    except importlib.metadata.PackageNotFoundError:
        return []


def bootstrap_hosts(targets: Sequence[SSHTarget], options: SSHOptions, base_python: str, venv: str) -> None:
    """Install into ``venv`` on every distinct host of ``targets``, in parallel; ``ClusterError`` naming
    each host that failed and why. An interrupt (Ctrl-C) closes every connection, which ends the remote
    installs' channels, so it does not wait for them."""
    unique = list(dict.fromkeys(targets))
    requirements = dask_requirements()
    links: list[SSHLink] = []  # each thread's connection, closed here on an interrupt
    failures: list[str] = []
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(MAX_PARALLEL, len(unique)), thread_name_prefix="remrepl-bootstrap"
    )
    try:
        futures = {pool.submit(_bootstrap_one, t, options, base_python, venv, requirements, links): t for t in unique}
        for future in concurrent.futures.as_completed(futures):  # each bounded by the install timeout
            error = future.exception()
            if error is None:
                continue
            if not isinstance(error, (RemreplError, OSError)):
                raise error
            failures.append(f"{futures[future]}: {error}")
    except BaseException:
        for link in list(links):
            link.close()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failures:
        raise ClusterError(
            f"installing remrepl[cluster] into {venv} failed on {len(failures)} of {len(unique)} hosts "
            "(no worker was started):\n" + "\n".join(sorted(failures))
        )


def _bootstrap_one(
    target: SSHTarget,
    options: SSHOptions,
    base_python: str,
    venv: str,
    requirements: Sequence[str],
    links: list[SSHLink],
) -> None:
    from ...ssh.bootstrap import bootstrap, venv_python
    from ...ssh.known_pythons import remember, this_version
    from ...ssh.link import connect_ssh

    link = connect_ssh(target, options)
    links.append(link)
    try:
        bootstrap(link, base_python, venv, extras=EXTRAS, requirements=requirements)
        remember(str(link), venv_python(venv), venv, this_version())
    finally:
        link.close()
