"""The kernel's half of the IPython-style magics, in this process: IPython's time format."""

from __future__ import annotations

import pytest

from remrepl.server.kernel.ipython_magics import format_time


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (1.234e-6, "1.23 µs"),
        (4.5e-9, "4.5 ns"),
        (0.5, "500 ms"),
        (0.0123, "12.3 ms"),
        (2.0, "2 s"),
        (59.99, "60 s"),
        (63.2, "1min 3s"),
        (3725.0, "1h 2min 5s"),
        (0.0, "0 ns"),
        (1e-12, "0.001 ns"),
    ],
)
def test_format_time_as_ipython_prints_it(seconds: float, shown: str) -> None:
    assert format_time(seconds) == shown


def test_precision() -> None:
    assert format_time(1.23456e-3, 5) == "1.2346 ms"
