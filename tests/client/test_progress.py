"""The transfer progress bar: redrawn in place on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import io

from remrepl.client.progress import ProgressBar, human_bytes


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_when_not_a_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar("uploading", out, tty=False, clock=clock)
    for done in range(0, 101):
        clock.now = done / 100
        bar(done * 1_000_000, 100_000_000)
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["25%", "50%", "75%", "100%"]
    assert lines[-1] == "uploading  100%  100.0 MB/100.0 MB  100.0 MB/s"
    assert "\r" not in out.getvalue()


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar("downloading", out, tty=True, clock=clock)
    bar(0, 10)
    bar(5, 10)  # too soon after the last draw: skipped
    clock.now = 1.0
    bar(10, 10)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "[" in text and "100%" in text.splitlines()[-1]


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (5, 1_500, 2_000_000, 3.5e9)] == ["5 B", "1.5 KB", "2.0 MB", "3.5 GB"]
