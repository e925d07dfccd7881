"""remrepl/_files.py: the state directory stays private even when it existed before with a looser mode."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from remrepl._files import state_dir


def test_an_existing_state_directory_open_to_others_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SSH keeper's relink socket (``tethers/``), session records and logs rely on it: a directory made
    0755 earlier (by hand, or an older version) must not let other users reach the socket."""
    base = tmp_path / "state"
    (base / "tethers").mkdir(parents=True, mode=0o755)
    (base / "tethers").chmod(0o775)
    monkeypatch.setenv("REMREPL_STATE_DIR", str(base))
    path = state_dir("tethers")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE(state_dir().stat().st_mode) & 0o077 == 0
