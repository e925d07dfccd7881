"""``remrepl exec``'s environment check as a user sees it: nothing on stderr when the head has the same
versions, the table when it has another cloudpickle (a server whose path holds another cloudpickle's
distribution metadata first: what ``pip install cloudpickle==2.2.1`` there would make it report)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.servers import RunningServer, start_server, stop_server

pytestmark = pytest.mark.server  # starts real servers


def fake_distribution(folder: Path, name: str, version: str) -> Path:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    return folder


@pytest.fixture
def old_cloudpickle_server(tmp_path: Path, password_file: Path) -> Iterator[RunningServer]:
    path = fake_distribution(tmp_path / "site", "cloudpickle", "2.2.1")
    running = start_server(tmp_path, password_file, env={**os.environ, "PYTHONPATH": str(path)})
    yield running
    stop_server(running)


def exec_args(server: RunningServer, password_file: Path, script: Path) -> list[str]:
    return [
        "exec",
        "--connection-file",
        str(server.connection_file),
        "--password-file",
        str(password_file),
        str(script),
    ]


def test_the_same_versions_print_nothing(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n", encoding="utf-8")
    done = run_cli(*exec_args(server, password_file, script))
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    assert "differ" not in done.stderr


def test_a_head_with_another_cloudpickle_gets_the_table_on_stderr(
    old_cloudpickle_server: RunningServer, password_file: Path, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n", encoding="utf-8")
    done = run_cli(*exec_args(old_cloudpickle_server, password_file, script))
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr  # a warning, not a refusal
    lines = done.stderr.splitlines()
    start = lines.index("remrepl: the laptop and the head differ:")
    row = lines[start + 2].split()
    assert row[0] == "cloudpickle" and row[2] == "2.2.1" and row[3] == "error"
    assert "%pip install 'cloudpickle==" in lines[start + 2]
