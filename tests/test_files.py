"""Private state: the state directory stays private even when it existed before with a looser mode, and
the client key of a record never shows in a repr."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remrepl._files import SAFE_PATH_PROLOGUE, python_command, python_words, state_dir
from remrepl.launchers.records import LauncherData, SessionRecord
from remrepl.transport import KeyPair
from remrepl.transport.connection_info import ConnectionInfo


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


def test_the_client_key_of_a_record_never_shows_in_a_repr() -> None:
    """Records and launchers hold ``client_secret_key``; a repr ends up in logs, tracebacks and the REPL."""
    keys = KeyPair.generate()
    info = ConnectionInfo("127.0.0.1", 1, keys.public, client_secret_key=keys.secret)
    record = SessionRecord("s", info, LauncherData("local", {}), "local", 0.0)
    for text in (repr(info), str(info), repr(record), repr(keys)):
        assert keys.secret.decode() not in text and "secret_key" not in text
    assert info.to_json(include_secret=True)["client_secret_key"] == keys.secret.decode()


@pytest.mark.parametrize("flag", [True, False], ids=["-P", "prologue"])
def test_remrepls_own_pythons_never_import_from_their_directory(tmp_path: Path, flag: bool) -> None:
    """``python_command``'s two forms (-P where the interpreter is known to have it, the prologue for any
    version), for code and for a module run as ``-m`` runs it: a user's json.py next to them is not loaded."""
    (tmp_path / "json.py").write_text("raise SystemExit('the user json')\n")
    (tmp_path / "runpy.py").write_text("raise SystemExit('the user runpy')\n")  # what the prologue's -m uses
    code = "import json, sys; print(json.__file__ != sys.argv[1], sys.argv[1:])"
    for argv, expected in [
        (
            python_command(sys.executable, code=code, args=[str(tmp_path / "json.py")], allow_flag=flag),
            f"True ['{tmp_path / 'json.py'}']\n",
        ),
        (python_command(sys.executable, module="json.tool", args=["--compact"], allow_flag=flag), '{"a":1}\n'),
    ]:
        assert ("-P" in argv) == (flag and sys.version_info >= (3, 11))
        result = subprocess.run(argv, input='{"a": 1}', cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")


def test_the_kernels_prologue_keeps_pythons_flags() -> None:
    """The kernel (where user code runs) gets the prologue, never -P: sys.flags are what python's would be."""
    argv = python_command(sys.executable, code="pass", allow_flag=False)
    assert argv[:2] == [sys.executable, "-c"] and argv[2].startswith(SAFE_PATH_PROLOGUE)
    with pytest.raises(ValueError):
        python_words(module="os; import evil")
