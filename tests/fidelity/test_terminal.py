"""Common libraries drawn in a real terminal (tmux, WIDTHxHEIGHT): each probe of
tests/support/terminal_probes.py is run by ``python FILE`` and by ``remrepl exec --launch FILE`` in a window
of the same size, and at one ``remote>`` prompt (typed as ``exec(open(FILE).read(), {...})``, its own
globals); the screens, colours included, must be the same except the known differences below (each in
docs/differences.md). A known difference that now matches fails too, so the list stays true.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.processes import leftover_servers, terminate
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.terminal_probes import HEIGHT, PROBES, SGR, WIDTH, capture, probe_file, script_output

pytestmark = pytest.mark.tmux  # one tmux server for the module (not the per-test ``terminal`` fixture)

RUN_WAIT = 60.0  # one probe's run to its end, an upper bound
MODES = ("exec", "prompt")

# "mode:probe" -> why the screen differs from python's (docs/differences.md, "Measured: the fidelity suite")
STDIN_NOT_A_TTY = "sys.stdin is not the terminal (input() asks at the client): stdin.isatty() is False"
KNOWN: dict[str, str] = {
    "exec:isatty": STDIN_NOT_A_TTY,
    "prompt:isatty": STDIN_NOT_A_TTY,
    "prompt:rich-progress-final": "at the prompt an empty line follows rich's finished live bar (not yet explained)",
}
# Known differences that come from a race, so that a run may match by chance (the order of stdout and
# stderr lines written close together): a match is no proof of a fix, so it does not fail the test. Once
# fixed, take them out of both lists: then every run must match.
RACES: set[str] = set()


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probes")
    for name, source in PROBES.items():
        (folder / probe_file(name)).write_text(source, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tmux(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TmuxTerminal, str]]:
    """One tmux server; its first window holds a ``remrepl connect --launch`` prompt (its pane id)."""
    state = tmp_path_factory.mktemp("state")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "REMREPL_PASSWORD")}
    env.update(REMREPL_STATE_DIR=str(state), PYTHONPATH=os.environ.get("PYTHONPATH", ""), TERM="xterm-256color")
    terminal = TmuxTerminal(env, WIDTH, HEIGHT)
    try:
        terminal.start([*remrepl_command(), "connect", "--launch"])
        terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
        yield terminal, terminal.pane
    finally:
        terminal.kill()
        terminate(leftover_servers(state))


def run_in_window(terminal: TmuxTerminal, argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    terminal.start(argv, cwd=cwd)
    status = terminal.wait_exit(RUN_WAIT)
    screen = script_output(capture(terminal))
    terminal.tmux("kill-pane", "-t", terminal.pane)
    return status, screen


def run_at_prompt(terminal: TmuxTerminal, prompt_pane: str, path: Path) -> list[str]:
    terminal.pane = prompt_pane
    start = len(terminal.lines()) - 1  # the empty prompt's row
    terminal.type(
        f"exec(open({str(path)!r}).read(), {{'__name__': '__main__'}})"
    )  # own globals: a probe's `from rich import print` must not reach the next
    terminal.send("Enter")
    terminal.wait_prompt(start + 1, RUN_WAIT)
    screen = capture(terminal)
    end = max(i for i, line in enumerate(screen) if SGR.sub("", line) == PROMPT)
    first = start + 1
    while first < end and SGR.sub("", screen[first]).startswith("...     "):
        first += 1  # the typed line, wrapped by the prompt at the window's width: echo, not output
    return screen[first:end]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_probe_draws_the_screen_python_draws(
    probe: str, mode: str, probes: Path, tmux: tuple[TmuxTerminal, str]
) -> None:
    terminal, prompt_pane = tmux
    path = probes / probe_file(probe)
    status, local = run_in_window(terminal, [sys.executable, str(path)], probes)
    if mode == "exec":
        remote_status, remote = run_in_window(terminal, [*remrepl_command(), "exec", "--launch", str(path)], probes)
        same = (status, local) == (remote_status, remote)
    else:
        remote = run_at_prompt(terminal, prompt_pane, path)
        same = local == remote
    key = f"{mode}:{probe}"
    print(f"\nfidelity terminal {key}: {'identical' if same else 'differs'}")
    if key in KNOWN:
        assert not same or key in RACES, (
            f"a known difference now matches (take it out of KNOWN and docs/differences.md): {KNOWN[key]}"
        )
        return
    assert same, "python:\n" + "\n".join(map(repr, local)) + "\nremrepl:\n" + "\n".join(map(repr, remote))
