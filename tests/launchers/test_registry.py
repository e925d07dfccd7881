"""The launcher registry (one table keyed by kind) and the one records module: targets and records find
their kind there, records of older and later remrepl versions still reattach, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remrepl import ConfigError, launch
from remrepl.launchers import LocalLauncher, records, registry


@pytest.mark.parametrize(
    ("target", "kind"),
    [("local", registry.LocalKind), ("ssh://me@host:2222", registry.SSHKind), ("ec2", registry.EC2Kind)],
)
def test_a_target_names_its_kind(target: str, kind: type[registry.LauncherKind]) -> None:
    assert type(registry.for_target(target)) is kind
    assert type(registry.for_target("ec2:my-cluster")) is registry.EC2Kind


def test_an_unknown_target_is_refused_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match=r"unknown launch target 'ftp://x': use 'local', 'ssh://"):
        launch("ftp://x")


def test_a_record_names_its_kind(launcher: LocalLauncher) -> None:
    info = launcher.info
    assert info is not None

    def kind_of(kind: str, **data: str) -> registry.LauncherKind:
        return registry.for_record(records.SessionRecord("s", info, records.LauncherData(kind, data)))

    assert kind_of("local").name == "local"
    assert kind_of("ssh", target="host", remote_port="1").name == "ssh"
    assert kind_of("ssh", target="host", remote_port="1", ec2_cluster="c").name == "ec2"  # an EC2 head's record
    assert kind_of("from-a-later-version") is registry.UNKNOWN


def test_a_record_of_an_unknown_kind_reattaches_at_its_address(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    record = records.SessionRecord("s", launcher.info, records.LauncherData("from-a-later-version", {"x": "y"}))
    assert registry.status(record) == ("alive", "handshake")
    with registry.reattach(record) as session:
        assert session.run("6 * 7").value == "42"


def test_one_writer_and_one_reader_and_older_records_still_work(launcher: LocalLauncher, tmp_path: Path) -> None:
    assert launcher.info is not None
    path = tmp_path / "record.json"
    records.write(path, records.of_launcher(launcher))
    assert path.stat().st_mode & 0o777 == 0o600
    written = json.loads(path.read_text())
    assert written["launcher"] == {"kind": "local"} and written["record_version"] == records.RECORD_VERSION
    again = records.read(path)
    assert again is not None and again.info == launcher.info and again.target == "local"

    # what SSHLauncher.write_record wrote before this module: the connection file plus "launcher" only
    older = tmp_path / "older.json"
    older.write_text(json.dumps({**launcher.info.to_json(include_secret=True), "launcher": {"kind": "local"}}))
    kept = records.read(older)
    assert kept is not None and kept.launcher == records.LauncherData("local") and kept.info == launcher.info
    assert registry.status(kept) == ("alive", "pid and handshake")
    with registry.reattach(kept) as session:
        assert session.run("1 + 1").value == "2"

    plain = tmp_path / "plain.json"
    launcher.info.write(plain)  # a connection file, not a record
    assert records.read(plain) is None
