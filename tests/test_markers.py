"""The e2e markers come from the fixtures a test uses (tests/support/plugin.py), so ``-m "not e2e"``
leaves out every test that starts sshd, moto, tmux or a server, with no marker written by hand."""

from __future__ import annotations

import pytest

EXAMPLE = """
import pytest

def test_unit(): pass
def test_ssh(sshd): pass
def test_jump(ssh_jump): pass
def test_aws(aws_proxy): pass
def test_tmux(launched): pass
def test_server(session): pass

@pytest.mark.cluster
def test_cluster(): pass
"""


def test_fixtures_mark_their_kind_and_every_kind_is_e2e(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE)
    items, _ = pytester.inline_genitems("-p", "tests.support.plugin")  # collected only: no fixture runs
    assert {item.name: sorted(mark.name for mark in item.iter_markers()) for item in items} == {
        "test_unit": [],
        "test_ssh": ["e2e", "ssh"],
        "test_jump": ["e2e", "ssh"],
        "test_aws": ["aws", "e2e"],
        "test_tmux": ["e2e", "tmux"],
        "test_server": ["e2e", "server"],
        "test_cluster": ["cluster", "e2e"],
    }
