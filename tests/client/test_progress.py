"""Progress on the terminal: cluster maps' Progress events and transfers' byte counts, as a bar redrawn in
place and erased cleanly on a terminal, as a few plain lines otherwise."""

from __future__ import annotations

import io

import pytest

from remrepl.cli.output import OutputPrinter
from remrepl.client.progress import LINE_INTERVAL, ProgressBar, ProgressDisplay, describe, human_bytes
from remrepl.protocol import Done, Progress, Stream
from tests.support.terminal import TmuxTerminal


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


def progress(done: int, total: int = 100, elapsed: float = 2.0, *, final: bool = False, task: str = "t") -> Progress:
    return Progress(1, "r", task, "map f", done, total, elapsed, final)


def test_describe_gives_count_percent_rate_and_eta() -> None:
    assert describe(progress(25, 100, 2.0)) == "map f: 25/100 (25%) · 12/s · ETA 0:06"
    assert describe(progress(1_500, 10_000, 1.0)) == "map f: 1,500/10,000 (15%) · 1,500/s · ETA 0:06"
    assert describe(progress(100, 100, 8.0, final=True)) == "map f: 100/100 (100%) · 12/s · done in 0:08"
    assert describe(progress(40, 100, 8.0, final=True)).endswith("stopped in 0:08")  # Ctrl-C or an error
    assert describe(progress(0, 100, 0.0)) == "map f: 0/100 (0%)"
    assert "1:00:00" in describe(progress(1, 3601, 1.0))


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_erased_at_the_end() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    display.show(progress(10))
    display.show(progress(50))
    assert out.getvalue().count("\r\x1b[K") == 2 and "\n" not in out.getvalue()
    assert "[###" in out.getvalue() and "50/100" in out.getvalue()
    display.show(progress(100, final=True))
    assert out.getvalue().endswith("\r\x1b[K") and not display.drawn


def test_other_output_erases_the_bar_first() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = OutputPrinter(out, err)
    printer.progress = ProgressDisplay(err, tty=True)
    printer.show(progress(10))
    printer.show(Stream(2, "r", "stderr", b"a warning\n"))
    assert err.getvalue().endswith("\r\x1b[Ka warning\n")
    printer.show(progress(20))
    printer.show(Done(3, "r", "ok"))  # the run ended without a final update: the bar still goes
    assert err.getvalue().endswith("\r\x1b[K") and not printer.progress.drawn
    assert out.getvalue() == ""  # progress never goes to stdout


def test_without_a_terminal_plain_lines_are_throttled_and_the_last_always_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("remrepl.client.progress.time.monotonic", lambda: clock[0])
    err = io.StringIO()
    display = ProgressDisplay(err, tty=False)
    for done in range(1, 50):
        display.show(progress(done))  # all at the same instant: one line
    clock[0] += LINE_INTERVAL
    display.show(progress(60))
    display.show(progress(100, final=True))
    lines = err.getvalue().splitlines()
    assert lines == [
        "[remrepl] map f: 1/100 (1%) · 0.5/s · ETA 3:18",
        "[remrepl] map f: 60/100 (60%) · 30/s · ETA 0:01",
        "[remrepl] map f: 100/100 (100%) · 50/s · done in 0:02",
    ]
    assert "\r" not in err.getvalue() and "\x1b" not in err.getvalue()


def test_an_output_printer_on_a_pipe_uses_plain_lines() -> None:
    err = io.StringIO()  # StringIO.isatty() is False, like a pipe
    printer = OutputPrinter(io.StringIO(), err)
    printer.show(progress(100, final=True))
    assert err.getvalue() == "[remrepl] map f: 100/100 (100%) · 50/s · done in 0:02\n"


def test_a_map_at_the_prompt_draws_a_bar_and_erases_it(launched: TmuxTerminal) -> None:
    """In a real terminal: the bar shows while the map runs and leaves nothing behind when it ends."""
    launched.run("import remrepl, time; cl = remrepl.cluster(workers=2)", timeout=90)
    start = launched.mark()
    launched.type("r = cl.map(time.sleep, [0.02] * 300)")
    launched.send("Enter")
    bar = launched.wait_for("map sleep: ", since=start, timeout=60)
    assert any("[#" in line or "[." in line for line in bar), bar  # the bar itself, on a wide terminal
    between = launched.wait_prompt(start, timeout=90)
    assert not [line for line in between if "map sleep" in line], between  # erased, no debris
    assert launched.run("len(r)") == ["300"]
    launched.run("cl.close()", timeout=60)
