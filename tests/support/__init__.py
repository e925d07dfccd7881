"""What the tests share, in one package; ``plugin`` is the pytest plugin (fixtures, markers, guards) that
tests/conftest.py registers with ``pytest_plugins``. Test modules import helpers from here, never from
one another.

- ``plugin``: the fixtures (private state, servers, sessions, sshd, moto, tmux) and the e2e markers;
- ``guard``: the socket guard and the reaper guard, for this process and every process it starts;
- ``waiting``: ``wait_until`` and ``holds_for``, the only ways a test waits;
- ``processes``: /proc: alive, parents, CPU, this test's servers, stopping what a test left behind;
- ``servers``: ``start_server``/``RunningServer``/``stop_server`` and a raw authenticated socket;
- ``cli``: the ``remrepl`` command and one run of it; ``terminal``: the tmux driver;
- ``connections``: two protocol endpoints wired in memory; ``files``: big files and their digests;
- ``awsproxy``: a fault-injecting proxy in front of moto; ``ec2``: the EC2 tests' head node and settings;
- ``isolated``: remrepl and the socket guard for the isolated hosts' unprivileged remote user;
- ``wheelhouse``: wheels of tiny packages the tests build offline, for ``--find-links``.

The private sshd servers and the moto server are not here but in ``scripts/testhosts.py`` and
``scripts/testaws.py``: scripts own them, and the plugin imports them as the top-level modules
``testhosts`` and ``testaws`` of the ``scripts/`` source root, which pyproject.toml declares to pytest
(``pythonpath``) as it does to mypy (``files``), instead of a ``sys.path`` edit in a conftest. Why that
direction: the benchmarks use them too and run as plain scripts (``python scripts/bench.py``, where
``scripts/`` is ``sys.path[0]``), so that is the one name every importer can share (mypy insists on one
module name per file); both are stdlib-only and know nothing of pytest. Everything only the tests need
(fixtures, /proc helpers, tmux, the AWS proxy) lives here, and scripts do not import it.
"""
