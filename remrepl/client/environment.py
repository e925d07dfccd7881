"""The environment check: this machine's versions against the server's, as one short table, or nothing.

At connect and ``exec`` the client compares its Python, remrepl and cloudpickle with the head's, which
the server's ``Welcome.versions`` carries (no extra round trip); ``remrepl.cluster(...)`` compares the
head with its workers the same way (``remrepl.cluster.environment``). A mismatch is one row: the
versions on each side, a severity and the fix. All match: no row, and nothing is printed.

The comparison and the table are pure functions of version dicts (``Versions``: name -> version,
"" for a distribution that is not installed), so every rule is tested with fabricated ones.

    report = check(session)             # the laptop against the head
    if not report.ok:
        print(report.table(), file=sys.stderr)
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal

from ..protocol.versions import Versions, installed_versions

if TYPE_CHECKING:
    from .session import Session

Severity = Literal["error", "warning"]

# Why an "error" row matters, said once under the table.
BY_VALUE = (
    "what is pickled by value (%put of a lambda, session.put, cluster tasks defined at the prompt) "
    "needs the same Python and cloudpickle minor version on both sides"
)
WIDTH = 100  # the reasons under the table are wrapped to this width
CELL = 60  # characters: a cell longer than this (a server's odd version string) is cut


@dataclass(frozen=True)
class Row:
    """One mismatch: ``name`` (python, a distribution), the reference side's version, the other
    side's (for workers: each group of identical workers), its severity, the fix and why it matters."""

    name: str
    reference: str
    other: str
    severity: Severity
    fix: str
    why: str = ""


@dataclass(frozen=True)
class Environment:
    """The result of one comparison: ``reference`` ("laptop", "head") against ``other`` ("head",
    "3 workers"); ``rows``: the mismatches, errors first (none: everything matches)."""

    reference: str
    other: str
    rows: tuple[Row, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing differs that matters."""
        return not self.rows

    @property
    def errors(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.severity == "error")

    def table(self) -> str:
        """The table (several lines, no final newline), or "" when everything matches."""
        if not self.rows:
            return ""
        header = ["", self.reference, self.other, "severity", "fix"]
        rows = [[r.name, r.reference or "missing", r.other or "missing", r.severity, r.fix] for r in self.rows]
        cells = [[_cut(cell) for cell in row] for row in [header, *rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
        lines = [f"remrepl: the {self.reference} and the {self.other} differ:"]
        for row in cells:
            lines.append("  " + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip())
        for why in dict.fromkeys(r.why for r in self.rows if r.why):
            lines += textwrap.wrap(f"why: {why}", WIDTH, initial_indent="  ", subsequent_indent="    ")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() or f"remrepl: the {self.reference} and the {self.other} match"


def release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: "3.11.7" -> (3, 11, 7), "2.2.1rc1" -> (2, 2, 1), "x" -> ()."""
    numbers: list[int] = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):
            break
    return tuple(numbers)


def minor(version: str) -> str:
    """ "3.11.7" -> "3.11" (the version itself when it has no two numbers)."""
    numbers = release(version)
    return ".".join(map(str, numbers[:2])) if len(numbers) >= 2 else version


def same_minor(a: str, b: str) -> bool:
    """Equal up to the minor version (3.11.4 and 3.11.7 are; 3.11 and 3.12 are not; "" only as "")."""
    if not a or not b:
        return a == b
    return minor(a) == minor(b)


def _cut(text: str) -> str:
    return text if len(text) <= CELL else text[: CELL - 3] + "..."


def compare_session(laptop: Mapping[str, str], head: Mapping[str, str]) -> Environment:
    """The laptop's versions against the head's. A name one side does not report (an older server's
    Welcome has no versions) is not compared."""
    rows: list[Row] = []
    here, there = laptop.get("python", ""), head.get("python", "")
    if here and there and not same_minor(here, there):
        fix = f"relaunch with --bootstrap --remote-python python{minor(here)}"
        rows.append(Row("python", here, there, "error", fix, BY_VALUE))
    if "cloudpickle" in laptop and "cloudpickle" in head and not same_minor(laptop["cloudpickle"], head["cloudpickle"]):
        fix = f"%pip install 'cloudpickle=={laptop['cloudpickle']}', then %restart" if laptop["cloudpickle"] else ""
        rows.append(Row("cloudpickle", laptop["cloudpickle"], head["cloudpickle"], "error", fix, BY_VALUE))
    if "remrepl" in laptop and "remrepl" in head and laptop["remrepl"] != head["remrepl"]:
        fix = f"install remrepl {laptop['remrepl']} on the head (or {head['remrepl'] or 'it'} here)"
        rows.append(Row("remrepl", laptop["remrepl"], head["remrepl"], "warning", fix))
    return Environment("laptop", "head", tuple(rows))


def server_versions(session: Session) -> Versions:
    """What the head reported in its Welcome: its Python, and its ``versions`` (none from older servers)."""
    welcome = session.welcome
    if welcome is None:
        return {}
    versions = {name: str(value)[:CELL] for name, value in list(welcome.versions.items())[:32]}
    versions.setdefault("python", welcome.python)
    return versions


def check(session: Session, local: Callable[[], Mapping[str, str]] = installed_versions) -> Environment:
    """This machine against the session's head. ``local``: where this side's versions come from (by
    default this interpreter's; a test gives its own)."""
    return compare_session(local(), server_versions(session))


def report(
    session: Session, stream: IO[str], local: Callable[[], Mapping[str, str]] = installed_versions
) -> Environment:
    """``check``, and the table on ``stream`` when something differs (nothing when all match)."""
    environment = check(session, local)
    if not environment.ok:
        print(environment.table(), file=stream, flush=True)
    return environment
