"""Remote plots on the client: saved (0600 in a 0700 folder), the path shown, at the prompt in a real
terminal (tmux) and with ``remrepl exec``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from remrepl.cli.plots import PlotSaver, viewer_command
from remrepl.protocol import Display
from tests.support.cli import remrepl_command
from tests.support.terminal import PROMPT, TmuxTerminal

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_saver_writes_private_files_under_unique_names(tmp_path: Path) -> None:
    saver = PlotSaver(tmp_path / "plots", open_plots=False)
    first = saver(Display(7, "r", "image/png", PNG + b"one"))
    second = saver(Display(7, "r", "image/png", PNG + b"two"))  # same seq, same second: another name
    assert first.startswith("[plot] ") and second != first
    paths = saver.saved
    assert [p.read_bytes() for p in paths] == [PNG + b"one", PNG + b"two"]
    assert all(p.suffix == ".png" and p.stat().st_mode & 0o777 == 0o600 for p in paths)
    assert (tmp_path / "plots").stat().st_mode & 0o777 == 0o700


def test_an_unusable_plots_directory_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = PlotSaver(blocker / "plots", open_plots=False)(Display(1, "r", "image/png", PNG))
    assert "could not be saved" in line


def test_no_viewer_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert viewer_command() is None


def test_a_plot_at_the_prompt_is_saved_and_its_path_shown(terminal: TmuxTerminal, tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    terminal.start([*remrepl_command(), "connect", "--launch", "--no-open", "--plots-dir", str(plots)])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.run("import matplotlib.pyplot as plt")
    terminal.run("_ = plt.plot([1, 4, 9])")
    shown = terminal.run("plt.show()", timeout=30)
    assert len(shown) == 1 and re.fullmatch(rf"\[plot\] {re.escape(str(plots))}/plot-\S+\.png", shown[0]), shown
    path = Path(shown[0].split(" ", 1)[1])
    assert path.read_bytes().startswith(PNG) and path.stat().st_mode & 0o777 == 0o600


def test_exec_saves_plots_too(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('done')\n")
    plots = tmp_path / "plots"
    result = subprocess.run(
        [*remrepl_command(), "exec", "--launch", "--no-open", "--plots-dir", str(plots), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"  # the script's output only: where the plot went is a status line
    assert result.stderr.startswith(f"[plot] {plots}/plot-"), result.stderr
    assert [p.read_bytes()[:8] for p in plots.iterdir()] == [PNG]
