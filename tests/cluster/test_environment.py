"""The head-against-workers check: grouping, severities and fixes from fabricated version dicts; what a
project declares; and a real local cluster, whose workers share the head's interpreter (silent)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import remrepl
from remrepl.cluster import Cluster
from remrepl.cluster.environment import (
    check,
    collect,
    compare_workers,
    declared_names,
    quiet_dask,
    requirement_name,
)

HEAD = {
    "python": "3.11.7.final.0",
    "remrepl": "0.1.0",
    "dask": "2026.8.0",
    "distributed": "2026.8.0",
    "cloudpickle": "3.1.3",
    "msgpack": "1.1.0",
    "tornado": "6.4",
    "toolz": "1.0.0",
    "lz4": "",
    "numpy": "2.1.0",
    "pandas": "",
    "requests": "2.32.3",
}


def workers(n: int, **changed: str) -> dict[str, dict[str, str]]:
    return {f"tls://10.0.0.{i}:4000{i}": dict(HEAD) for i in range(n)} | {
        address: dict(HEAD, **{k.replace("_", "-"): v for k, v in changed.items()})
        for address in (f"tls://10.0.1.{i}:5000{i}" for i in range(1))
    }


def test_identical_workers_are_silent() -> None:
    same = {f"tls://10.0.0.{i}:1": dict(HEAD, python="3.11.4.final.0") for i in range(20)}  # patch only
    environment = compare_workers(HEAD, same, declared=("requests",))
    assert environment.ok and environment.table() == ""
    assert environment.other == "20 workers"


def test_another_distributed_on_one_worker_is_an_error_naming_it() -> None:
    environment = compare_workers(HEAD, workers(19, distributed="2025.1.0"))
    (row,) = environment.rows
    assert (row.name, row.reference, row.severity) == ("distributed", "2026.8.0", "error")
    assert row.other == "19 workers: 2026.8.0; 1 worker: 2025.1.0 (10.0.1.0)"
    assert row.fix == "%pip install 'distributed==2026.8.0'"
    assert "same Dask" in row.why
    assert environment.table().splitlines()[0] == "remrepl: the head and the 20 workers differ:"


def test_all_workers_alike_make_one_group() -> None:
    everyone = {f"tls://10.0.0.{i}:1": dict(HEAD, dask="2025.1.0") for i in range(20)}
    (row,) = compare_workers(HEAD, everyone).rows
    assert row.other == "20 workers: 2025.1.0"


def test_python_and_cloudpickle_compare_minor_versions() -> None:
    rows = compare_workers(HEAD, workers(2, python="3.12.1.final.0", cloudpickle="3.0.0")).rows
    assert [(r.name, r.severity) for r in rows] == [("python", "error"), ("cloudpickle", "error")]
    assert rows[0].reference == "3.11.7"  # shown as a version, not Dask's 3.11.7.final.0
    assert rows[0].fix == "start the workers with Python 3.11 (their python=)"
    assert "by value" in rows[0].why
    assert compare_workers(HEAD, workers(2, cloudpickle="3.1.0")).ok


def test_a_declared_package_missing_on_a_worker_is_an_error_with_pip_as_fix() -> None:
    environment = compare_workers(HEAD, workers(3, requests=""), declared=("requests",))
    (row,) = environment.rows
    assert (row.name, row.severity, row.fix) == ("requests", "error", "%pip install 'requests==2.32.3'")
    assert row.other == "3 workers: 2.32.3; 1 worker: missing (10.0.1.0)"
    # undeclared, the same difference is not compared at all
    assert compare_workers(HEAD, workers(3, requests="")).ok


def test_remrepl_and_dasks_other_packages_are_warnings_after_errors() -> None:
    rows = compare_workers(HEAD, workers(1, remrepl="0.2.0", tornado="6.3", dask="2025.1.0")).rows
    assert [(r.name, r.severity) for r in rows] == [("dask", "error"), ("remrepl", "warning"), ("tornado", "warning")]
    assert rows[1].fix == "install remrepl 0.1.0 on the workers"


def test_a_package_only_workers_have_is_installed_at_their_version() -> None:
    environment = compare_workers(HEAD, workers(0, lz4="4.3.3"))
    (row,) = environment.rows
    assert (row.reference, row.other, row.fix) == ("", "1 worker: 4.3.3", "%pip install 'lz4==4.3.3'")
    assert environment.table().splitlines()[2].split()[:3] == ["lz4", "missing", "1"]


def test_requirement_lines_name_their_distributions() -> None:
    assert requirement_name("numpy>=2") == "numpy"
    assert requirement_name("Scikit_Learn[extra] ==1.5 ; python_version > '3.9'") == "scikit-learn"
    assert requirement_name("requests") == "requests"
    assert requirement_name("pkg @ https://example.org/pkg.whl") == "pkg"
    assert requirement_name("# a comment") is None
    assert requirement_name("--index-url https://example.org") is None
    assert requirement_name("./local/path") is None
    assert requirement_name("https://example.org/a.whl") is None


def test_declared_names_follow_requirements_includes(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy>=2\n-r more.txt\n# note\nnumpy\n", encoding="utf-8")
    (tmp_path / "more.txt").write_text("Requests==2.32.3  # pinned\n-r requirements.txt\n", encoding="utf-8")
    assert declared_names(tmp_path) == ("numpy", "requests")
    assert declared_names(None) == ()
    assert declared_names(tmp_path / "nothing") == ()


def test_declared_names_of_a_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["attrs>=23", "rich"]\n')
    assert declared_names(tmp_path) == ("attrs", "rich")


def test_dasks_own_mismatch_warning_is_dropped_and_others_are_not() -> None:
    from distributed.versions import VersionMismatchWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_dask():
            warnings.warn(VersionMismatchWarning("Mismatched versions found"), stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else"]


@pytest.fixture(scope="module")
def cl() -> Iterator[Cluster]:
    with remrepl.cluster(workers=2) as started:
        yield started


@pytest.mark.cluster
def test_a_local_cluster_is_silent_and_says_it_matches(cl: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    environment = cl.environment()
    assert environment.ok, environment.table()
    assert environment.other == "2 workers"
    assert "differ" not in capsys.readouterr().err


@pytest.mark.cluster
def test_dask_collects_the_declared_packages_of_the_project(cl: Cluster, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("cloudpickle\nremrepl-no-such-package\n", encoding="utf-8")
    head, found = collect(cl.client, ["remrepl", *declared_names(tmp_path)])
    assert head["cloudpickle"] and head["remrepl-no-such-package"] == "" and head["remrepl"]
    assert len(found) == 2 and all(versions == head for versions in found.values())
    assert check(cl.client, workdir=tmp_path).ok  # missing on the head and the workers alike


@pytest.mark.cluster
def test_starting_a_local_cluster_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with remrepl.cluster(workers=1):
        pass
    err = capfd.readouterr().err
    assert "differ" not in err and "Mismatched" not in err
