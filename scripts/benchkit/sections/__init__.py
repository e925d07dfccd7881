"""The registry of benchmark sections, in the order ``bench.py`` runs them.

To add one: a module here that makes ``SECTION = Section(...)`` (``harness.py``: its ``run``, ``render``,
targets, options and ``--quick`` values), and one line below. ``bench.py`` and its test need nothing else.
"""

from __future__ import annotations

from ..harness import Section
from . import (
    cluster,
    completion,
    ec2,
    ec2scale,
    exec_launch,
    latency,
    packages,
    roundtrip,
    ssh,
    startup,
    stream,
    sync,
    transfer,
)

SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        roundtrip.SECTION,
        stream.SECTION,
        latency.SECTION,
        exec_launch.SECTION,
        startup.SECTION,
        completion.SECTION,
        transfer.SECTION,
        ssh.SECTION,
        sync.SECTION,
        packages.SECTION,
        cluster.SECTION,
        ec2.SECTION,
        ec2scale.SECTION,
    )
}
