"""The laptop-against-head check: severities, fixes and the table, from fabricated version dicts; and a
local launch, whose head reports its versions in the Welcome (the same interpreter: nothing differs)."""

from __future__ import annotations

import io

from remrepl.client.environment import Environment, Row, check, compare_session, minor, release, report, same_minor
from remrepl.client.session import Session
from remrepl.protocol.versions import installed_versions

LAPTOP = {"python": "3.12.4", "remrepl": "0.1.0", "cloudpickle": "3.1.3"}


def test_versions_are_read_as_numbers() -> None:
    assert release("3.11.7") == (3, 11, 7)
    assert release("2.2.1rc1") == (2, 2, 1)
    assert release("2026.8.0") == (2026, 8, 0)
    assert release("3.11.7.final.0") == (3, 11, 7)
    assert release("dev") == ()
    assert minor("3.11.7") == "3.11"
    assert same_minor("3.11.4", "3.11.7")
    assert not same_minor("3.11.4", "3.12.0")
    assert same_minor("", "") and not same_minor("3.1.0", "")


def test_the_same_versions_print_nothing() -> None:
    environment = compare_session(LAPTOP, dict(LAPTOP, python="3.12.1"))  # a patch release differs only
    assert environment.ok
    assert environment.table() == ""
    assert str(environment) == "remrepl: the laptop and the head match"


def test_another_python_minor_is_an_error_with_the_python_flag_as_fix() -> None:
    environment = compare_session(LAPTOP, dict(LAPTOP, python="3.11.7"))
    (row,) = environment.rows
    assert (row.name, row.reference, row.other, row.severity) == ("python", "3.12.4", "3.11.7", "error")
    assert row.fix == "relaunch with --bootstrap --remote-python python3.12"
    assert "%put of a lambda" in row.why and "session.put" in row.why and "cluster tasks" in row.why


def test_cloudpickle_differs_by_minor_version_only() -> None:
    assert compare_session(LAPTOP, dict(LAPTOP, cloudpickle="3.1.0")).ok
    (row,) = compare_session(LAPTOP, dict(LAPTOP, cloudpickle="3.0.0")).rows
    assert (row.name, row.severity) == ("cloudpickle", "error")
    assert row.fix == "%pip install 'cloudpickle==3.1.3', then %restart"
    (missing,) = compare_session(LAPTOP, dict(LAPTOP, cloudpickle="")).rows
    assert missing.other == "" and missing.severity == "error"


def test_another_remrepl_is_a_warning() -> None:
    (row,) = compare_session(LAPTOP, dict(LAPTOP, remrepl="0.2.0")).rows
    assert (row.severity, row.fix) == ("warning", "install remrepl 0.1.0 on the head (or 0.2.0 here)")


def test_what_an_older_server_does_not_report_is_not_compared() -> None:
    assert compare_session(LAPTOP, {"python": "3.12.0"}).ok
    assert not compare_session(LAPTOP, {"python": "3.10.0"}).ok


def test_the_table_has_one_row_per_mismatch_errors_first_and_each_reason_once() -> None:
    environment = compare_session(LAPTOP, {"python": "3.11.7", "remrepl": "0.2.0", "cloudpickle": ""})
    assert [row.severity for row in environment.rows] == ["error", "error", "warning"]
    lines = environment.table().splitlines()
    assert lines[0] == "remrepl: the laptop and the head differ:"
    assert lines[1].split() == ["laptop", "head", "severity", "fix"]
    assert lines[2].split()[:4] == ["python", "3.12.4", "3.11.7", "error"]
    assert lines[3].split()[:4] == ["cloudpickle", "3.1.3", "missing", "error"]
    assert lines[4].split()[:4] == ["remrepl", "0.1.0", "0.2.0", "warning"]
    assert len(lines) == 7 and lines[5].startswith("  why: what is pickled by value (%put of a lambda")
    # the columns line up: each row's severity starts where the header's does
    column = lines[1].index("severity")
    assert all(line[column:].startswith(("error", "warning")) for line in lines[2:5])


def test_an_odd_version_string_is_cut_in_the_table() -> None:
    environment = Environment("laptop", "head", (Row("remrepl", "0.1.0", "9" * 500, "warning", "fix it"),))
    assert max(len(line) for line in environment.table().splitlines()) < 120


def test_a_local_launch_reports_its_versions_and_nothing_differs(session: Session) -> None:
    assert session.welcome is not None
    assert session.welcome.versions == installed_versions()  # the same interpreter as this test's
    out = io.StringIO()
    assert report(session, out).ok
    assert out.getvalue() == ""


def test_a_client_with_another_cloudpickle_prints_the_table(session: Session) -> None:
    def elsewhere() -> dict[str, str]:  # a laptop whose cloudpickle is another minor version
        return {**installed_versions(), "cloudpickle": "2.2.1"}

    out = io.StringIO()
    environment = report(session, out, local=elsewhere)
    assert [row.name for row in environment.rows] == ["cloudpickle"]
    assert check(session, local=elsewhere) == environment
    table = out.getvalue()
    assert "cloudpickle  2.2.1" in table and "error" in table and "%pip install 'cloudpickle==2.2.1'" in table
