"""Real scripts (tests/support/script_cases.py) run by ``python FILE ARGS`` and by ``remrepl exec --launch
FILE ARGS`` (a server of its own for each case, so that one case cannot spoil the next), in the same
folder, with the same standard input: the exit status, stdout and stderr must be the same (after the
normalisations of ``script_cases.normalise``), except the known differences below (each in
docs/differences.md). A known difference that now matches fails too, so the list stays true.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.processes import leftover_servers, terminate
from tests.support.script_cases import CASES, Case, case_files, expand, normalise, pretty, write_inputs

pytestmark = pytest.mark.server  # remrepl exec --launch starts real servers

RUN_TIMEOUT = 60.0  # one side of one case, an upper bound (a hang fails the case, it does not block)
REMOTE_TIMEOUT = "10"  # remrepl exec --timeout: a hung remote run is interrupted and exits 124

# case name -> why remrepl exec differs from python (docs/differences.md, "Measured: the fidelity suite")
KNOWN: dict[str, str] = {
    "keyboard-interrupt": "an uncaught KeyboardInterrupt exits 130; python kills itself with SIGINT (-2)",
    "recursion-error": "the recursion limit counts the one-off kernel's own frames: 991 repeated lines, not 996",
    "os._exit-unflushed": "output printed before os._exit() is lost; python's reaches the pipe",
    "sigterm-self": "a script killed by a signal exits 128+N (143) with a note; python dies of it (-15)",
    "missing-script": "a missing script: the message starts with remrepl: where python names its interpreter",
    "pipe-into-head": "piping into head: only python's last line, no traceback of the print that failed",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scripts")
    write_inputs(folder)
    return folder


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


def run(argv: list[str], case: Case, work: Path) -> tuple[int, bytes, bytes]:
    command: list[str] | str = argv
    if case.pipe:
        command = f"set -o pipefail; {shlex.join(argv)} | {case.pipe}"
    result = subprocess.run(
        command,
        input=case.stdin,
        capture_output=True,
        cwd=work,
        timeout=RUN_TIMEOUT,
        shell=bool(case.pipe),
        executable="/bin/bash" if case.pipe else None,
        check=False,
    )
    return result.returncode, normalise(result.stdout), normalise(result.stderr)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_script_through_exec_ends_as_with_python(case: Case, work: Path) -> None:
    script = case_files(case, work)
    args = [expand(arg, work, script) for arg in case.args]
    local = run([sys.executable, *args], case, work)
    remote_cli = [*remrepl_command(), "exec", "--launch", "--timeout", REMOTE_TIMEOUT]
    remote = run([*remote_cli, *args], case, work)
    same = local == remote
    verdict = "identical" if same else "differs"
    print(f"\nfidelity script {case.name}: {verdict}")
    if case.name in KNOWN:
        assert not same, (
            f"a known difference now matches (take it out of KNOWN and docs/differences.md): {KNOWN[case.name]}"
        )
        return
    assert same, "\n".join(
        f"{what}: python {shown(a)} / remrepl exec {shown(b)}"
        for what, a, b in zip(("status", "stdout", "stderr"), local, remote, strict=True)
        if a != b
    )


def shown(value: object) -> str:
    return pretty(value) if isinstance(value, bytes) else str(value)
