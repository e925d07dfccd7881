"""The size limits: checked from ``stat`` before anything is hashed, with a message that says what is big
and what to do about it; and the sizes users write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remrepl._exceptions import ConfigError, WorkdirTooLarge
from remrepl.workdir.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    check_limits,
    format_size,
    parse_size,
    stat_sizes,
)
from remrepl.workdir.manifest import Entry, Manifest
from remrepl.workdir.select import select_files


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("123", 123),
        ("500MB", 500 * 10**6),
        ("2G", 2 * 10**9),
        ("1.5 GB", 1_500_000_000),
        ("0.1gb", 100_000_000),
        ("64KiB", 65_536),
        ("1MiB", 1 << 20),
        ("10k", 10_000),
        ("3tb", 3 * 10**12),
        (" 7 B ", 7),
        (".5M", 500_000),
    ],
)
def test_sizes_read_as_people_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-5MB", "5 XB", "1e9", "5MB5", "0x10"])
def test_a_size_that_is_no_size_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="not a size"):
        parse_size(text)


def test_sizes_print_as_they_read_back() -> None:
    assert [format_size(n) for n in (0, 999, 1_000, 412_300_000, 1_234_000_000, 25 * 10**9)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "412 MB",
        "1.2 GB",
        "25 GB",
    ]
    assert parse_size(format_size(412 * 10**6)) == 412 * 10**6


def test_the_defaults() -> None:
    assert (DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES) == (500 * 10**6, 20_000)


def test_within_the_limits_nothing_happens(tmp_path: Path) -> None:
    check_limits(tmp_path, {"a": 10, "b/c": 20}, max_bytes=30, max_files=2)
    check_limits(tmp_path, Manifest((Entry("a", 30, 0o644, "0" * 64),)), max_bytes=30, max_files=1)


def test_too_many_bytes_names_the_largest_entries_and_the_ways_out(tmp_path: Path) -> None:
    sizes = {f"data/part-{i}.csv": 412 * 10**6 // 9870 for i in range(9870)}
    sizes.update({"model.bin": 180 * 10**6, "train.py": 2_000, "notes.md": 300, "b/x": 5, "c/y": 4, "z": 1})
    with pytest.raises(WorkdirTooLarge) as caught:
        check_limits(tmp_path, sizes, max_bytes=DEFAULT_MAX_BYTES, max_files=DEFAULT_MAX_FILES)
    message = str(caught.value)
    lines = message.splitlines()
    total = sum(sizes.values())
    assert lines[0] == (
        f"the project directory {tmp_path} is too large to sync: {format_size(total)} (limit 500 MB); "
        "its largest entries:"
    )
    assert format_size(total) == "592 MB"
    assert lines[1:6] == [
        "  data/      412 MB, 9,870 files",
        "  model.bin  180 MB",
        "  train.py   2.0 kB",
        "  notes.md   300 B",
        "  b/         5 B, 1 file",
    ]
    assert "c/" not in message  # five entries, not more
    assert lines[6:] == [
        f"leave out what need not travel with a .remreplignore file in {tmp_path} (.gitignore syntax),",
        "raise the limits with --workdir-max-size SIZE / --workdir-max-files N, or pass --no-workdir",
    ]


def test_too_many_files_says_so(tmp_path: Path) -> None:
    sizes = {f"src/m{i}.py": 1 for i in range(21)}
    with pytest.raises(WorkdirTooLarge, match=r"sync: 21 files \(limit 20\); ") as caught:
        check_limits(tmp_path, sizes, max_bytes=DEFAULT_MAX_BYTES, max_files=20)
    assert "limit 500 MB" not in str(caught.value)  # the bytes were fine
    assert "  src/  21 B, 21 files" in str(caught.value).splitlines()


def test_the_check_runs_on_sizes_from_stat_before_anything_is_read(tmp_path: Path) -> None:
    # A sparse 600 MB file: stat says its size at once; reading it would take a while.
    root = tmp_path / "home-by-accident"
    (root / "data").mkdir(parents=True)
    with open(root / "data" / "huge.bin", "wb") as file:
        file.truncate(600 * 10**6)
    (root / "a.py").write_text("x = 1\n")
    os.mkfifo(root / "fifo")  # never listed, never stat'ed for size
    sizes = stat_sizes(root, [*select_files(root), "gone-meanwhile"])
    assert sizes == {"a.py": 6, "data/huge.bin": 600 * 10**6}
    with pytest.raises(WorkdirTooLarge, match=r"data/  600 MB, 1 file"):
        check_limits(root, sizes, max_bytes=DEFAULT_MAX_BYTES, max_files=DEFAULT_MAX_FILES)
