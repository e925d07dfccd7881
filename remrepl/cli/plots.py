"""Remote plots on this machine: save each ``Display`` (a PNG from the remote ``plt.show()``) under the
plots directory, say where, and open it with the system viewer when there is a display to show it on.

The directory is created 0700 and each file 0600 (a plot can show private data). Default directory: the
state directory's ``plots/``; ``--plots-dir`` and ``--no-open`` on ``connect``/``exec`` change that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .._files import private_dir
from ..protocol import Display

EXTENSIONS = {"image/png": ".png", "image/svg+xml": ".svg", "image/jpeg": ".jpg"}


def viewer_command() -> list[str] | None:
    """How to open a file with the system viewer here; None when nothing could show it (no display)."""
    if sys.platform == "darwin":
        return ["open"]
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("xdg-open"):
        return ["xdg-open"]
    return None


class PlotSaver:
    """Call it with a ``Display`` event: the file is written and a line to show the user is returned."""

    def __init__(self, directory: Path, *, open_plots: bool = True) -> None:
        self.directory = directory
        self.open_plots = open_plots
        self.saved: list[Path] = []

    def __call__(self, event: Display) -> str:
        directory = self.directory
        try:
            private_dir(directory)
            path = self._write(directory, event)
        except OSError as exc:
            return f"[remrepl] a plot ({len(event.data)} bytes of {event.mime}) could not be saved: {exc}"
        self.saved.append(path)
        opener = viewer_command() if self.open_plots else None
        if opener is not None:
            try:
                subprocess.Popen(
                    [*opener, str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # a viewer outlives us; our Ctrl-C is not its business
                )
            except OSError:
                pass
        return f"[plot] {path}"

    @staticmethod
    def _write(directory: Path, event: Display) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        suffix = EXTENSIONS.get(event.mime, ".bin")
        for n in range(1000):  # bounded: a free name is found at once unless many plots share a second
            path = directory / f"plot-{stamp}-{event.seq}{f'-{n}' if n else ''}{suffix}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            try:
                view = memoryview(event.data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            return path
        raise FileExistsError(f"no free file name in {directory}")
