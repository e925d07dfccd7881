"""What every part of the benchmark shares: the error type, deadlines, progress lines, statistics."""

from __future__ import annotations

import contextlib
import math
import multiprocessing.process
import statistics
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

JSONDict = dict[str, Any]
HOST = "127.0.0.1"


class BenchError(Exception):
    """A measurement could not be made (a start failed, a deadline passed, output was missing)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Deadline:
    """A point in time that bounds a loop."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; ``BenchError`` once the deadline has passed."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError(f"{self.what}: not done within {self.seconds:g} s")
        return left


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (as numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timing_summary(seconds: list[float]) -> JSONDict:
    return {
        "samples": len(seconds),
        "median_us": statistics.median(seconds) * 1e6,
        "p95_us": percentile(seconds, 95) * 1e6,
        "min_us": min(seconds) * 1e6,
        "mean_us": statistics.fmean(seconds) * 1e6,
    }


def delay_summary(delays: list[float], expected: int) -> JSONDict:
    return {
        "lines": len(delays),
        "expected_lines": expected,
        "complete": len(delays) == expected,
        "median_ms": statistics.median(delays) * 1e3 if delays else None,
        "max_ms": max(delays) * 1e3 if delays else None,
        "min_ms": min(delays) * 1e3 if delays else None,
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


class LineClock:
    """Splits streamed output into lines, each a float stamp; the delay of each line as it completes."""

    def __init__(self) -> None:
        self.partial = b""
        self.delays: list[float] = []
        self.garbage: list[bytes] = []

    def feed(self, data: bytes, arrival: float) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                self.delays.append(arrival - float(line))
            except ValueError:
                self.garbage.append(line[:80])


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def stop_peer(process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
    """End a peer server process (the echo, the lean relay): ask it on its pipe, then terminate, then kill,
    each bounded."""
    with contextlib.suppress(OSError):
        conn.send("stop")
    conn.close()
    process.join(5.0)
    for end in (process.terminate, process.kill):
        if not process.is_alive():
            return
        end()
        process.join(5.0)
