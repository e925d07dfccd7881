from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def state_dir() -> Path:
    """This test's private REMREPL_STATE_DIR (set by the suite's autouse ``private_state``)."""
    return Path(os.environ["REMREPL_STATE_DIR"])
