"""Table formatting for the sections' ``render`` functions."""

from __future__ import annotations

from collections.abc import Callable

from .common import JSONDict


def num(value: object, fmt: str, unit: str = "") -> str:
    """``value`` formatted, or a dash if it was not measured."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value:{fmt}}{unit}"


def engine_cells(data: JSONDict, cells: Callable[[JSONDict], list[str]], width: int) -> list[str]:
    """A contender's cells, or its error spanning the row."""
    if "error" in data:
        return [f"ERROR: {data['error']}"[:160], *[""] * (width - 1)]
    return cells(data)


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as aligned lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(len(r) for r in rows))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in enumerate(row[1:])]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def target_lines(targets: JSONDict, section: str) -> list[str]:
    """The evaluated targets of ``section`` (``bench.py``'s report), one line each."""
    rows = []
    for name, t in targets.items():
        if not name.startswith(section + "."):
            continue
        verdict = "met" if t["met"] else ("NOT MET" if t["measured"] else "not measured")
        rows.append([f"target: {t['description']}", num(t["value"], ",.2f"), t["target"], verdict])
    return table(rows) if rows else []
