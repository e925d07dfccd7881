"""Starting and stopping: after ``close()`` no worker process is left; a closed cluster says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import remrepl
from remrepl import ClusterError
from tests.support.processes import alive, children_of

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers


def test_close_leaves_no_worker_process() -> None:
    before = children_of(os.getpid())
    cl = remrepl.cluster(workers=2)
    worker_pids = set(cl.client.run(os.getpid).values())
    assert len(worker_pids) == 2 and worker_pids <= children_of(os.getpid())
    cl.close()
    assert not [pid for pid in worker_pids if alive(pid)]
    # and nothing else the cluster started (multiprocessing's resource tracker may stay: it is not a worker)
    left = [pid for pid in children_of(os.getpid()) - before if alive(pid)]
    cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left if Path(f"/proc/{pid}").exists()]
    assert not [c for c in cmdlines if b"resource_tracker" not in c], cmdlines
    assert repr(cl).endswith("closed>")
    with pytest.raises(ClusterError, match="closed"):
        cl.map(abs, [1])
    cl.close()  # idempotent


def test_a_cluster_of_no_workers_says_so() -> None:
    with remrepl.cluster(workers=0) as cl:
        assert "0 workers" in repr(cl)
        with pytest.raises(ClusterError, match="no workers"):
            cl.map(abs, [1])


def test_a_failed_start_raises_a_cluster_error_and_leaves_nothing_behind() -> None:
    from remrepl.cluster import LocalWorkers

    before = children_of(os.getpid())
    with pytest.raises(ClusterError, match=r"the local cluster could not start: .*lots"):
        remrepl.cluster(backend=LocalWorkers(2, memory_limit="lots"))
    left = [pid for pid in children_of(os.getpid()) - before if alive(pid)]
    assert not [pid for pid in left if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_without_dask_the_error_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['cloudpickle'] = None\n"
        "import remrepl\n"
        "try:\n"
        "    remrepl.cluster(workers=1)\n"
        "except remrepl.ClusterError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "pip install 'remrepl[cluster]'" in result.stdout
