"""What a side reports about itself, and ``Welcome.versions`` on the wire (older servers send none)."""

from __future__ import annotations

import json
import platform

from remrepl.protocol import Welcome, decode, encode
from remrepl.protocol.versions import REPORTED, distribution_version, installed_versions


def test_installed_versions_are_this_interpreters() -> None:
    versions = installed_versions()
    assert set(versions) == {"python", *REPORTED}
    assert versions["python"] == platform.python_version()
    assert versions["cloudpickle"] and versions["remrepl"]
    assert distribution_version("remrepl-no-such-distribution") == ""


def test_the_version_source_is_a_parameter() -> None:
    assert installed_versions(["a", "b"], version_of=lambda name: name * 2) == {
        "python": platform.python_version(),
        "a": "aa",
        "b": "bb",
    }


def test_welcome_carries_the_versions_and_an_older_servers_has_none() -> None:
    welcome = Welcome(1, 2, "host", "3.11.7", 0.0, versions={"cloudpickle": "3.1.3", "remrepl": "0.1.0"})
    frames = encode(welcome)
    assert decode(frames) == welcome
    header = json.loads(frames[0])
    del header["versions"]  # what a server from before the field sends
    older = decode([json.dumps(header).encode()])
    assert isinstance(older, Welcome) and older.versions == {}
