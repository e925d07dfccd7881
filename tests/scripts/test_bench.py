"""``scripts/bench.py`` runs end to end at tiny sizes and reports what it promises.

These tests check the report's structure and that every output count matched; never timings. The
sections come from the script's registry (``--list``), so a section added there is run and rendered here
without a change to this file (its ``--quick`` sizes keep it small).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e  # the benchmarks start servers, sshd, moto and Dask

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"
SECTIONS = {
    *("roundtrip", "stream", "latency", "exec", "startup", "completion", "transfer", "ssh", "sync", "packages"),
    *("cluster", "ec2", "ec2scale"),
}
TARGETS = {
    "roundtrip.remrepl_over_echo",
    "roundtrip.jupyter_over_remrepl",
    "stream.remrepl_over_jupyter",
    "latency.remrepl_median_ms",
    "latency.remrepl_max_ms",
    "exec.remrepl_median_s",
    "startup.help_median_ms",
    "completion.remrepl_idle_median_ms",
    "completion.remrepl_busy_median_ms",
    "transfer.upload_over_sftp",
    "transfer.download_over_sftp",
    "ssh.exec_over_floor",
    "sync.unchanged_rsync_over_remrepl",
    "sync.first_rsync_over_remrepl",
    "packages.stamp_skip_s",
    "cluster.remrepl_us_per_item",
    "cluster.remrepl_sleep_efficiency_pct",
    "ec2.up_median_s",
    "ec2scale.many_over_one",
}
TINY_CLUSTER = (
    *("--cluster-items", "500", "--cluster-dask-items", "20", "--cluster-sleeps", "6", "--cluster-sleep", "0.01"),
    *("--cluster-gather-mb", "4", "--cluster-result-mb", "1"),
)
TINY_SYNC = ("--sync-files", "60", "--sync-mb", "1", "--sync-runs", "1")
TINY_EC2SCALE = ("--ec2scale-workers", "2", "--ec2scale-runs", "1")
TINY_PACKAGES = ("--packages-chain", "2", "--packages-modules", "2", "--packages-runs", "1")
TIMEOUT = 180


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=BENCH.parents[1],
    )


def bench_json(*args: str) -> dict[str, Any]:
    result = run_bench(*args, "--json")
    assert result.returncode == 0, f"bench failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def registered_sections() -> list[str]:
    listed = run_bench("--list")
    assert listed.returncode == 0, listed.stderr
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.mark.timeout(TIMEOUT + 30)
def test_every_section_at_tiny_sizes(tmp_path: Path) -> None:
    report = bench_json(
        *("--iterations", "20", "--warmup", "5", "--lines", "2000", "--exec-runs", "1", "--latency-samples", "5"),
        *("--completions", "5", "--busy-runs", "1", "--busy-seconds", "0.2"),
        *("--transfer-mb", "2", "--transfer-runs", "1"),
        *TINY_CLUSTER,
        *TINY_SYNC,
        *TINY_PACKAGES,
        *("--ec2-runs", "1", "--startup-runs", "2"),
        *TINY_EC2SCALE,
    )
    assert report["ok"] is True and report["errors"] == []
    assert set(report["sections"]) == SECTIONS == set(registered_sections())
    assert report["meta"]["options"]["iterations"] == 20

    roundtrip = report["sections"]["roundtrip"]
    assert roundtrip["code"] == "1+1" and roundtrip["message_bytes"] > 0
    for engine in ("remrepl", "jupyter", "echo", "rpyc"):
        stats = roundtrip[engine]
        assert stats["samples"] == 20, stats
        assert all(is_number(stats[key]) for key in ("median_us", "p95_us", "min_us", "mean_us"))
    ratios = {"remrepl_over_echo", "jupyter_over_remrepl", "remrepl_over_rpyc", "rpyc_over_echo"}
    assert set(roundtrip["ratios"]) == ratios and all(is_number(roundtrip["ratios"][r]) for r in ratios)

    stream = report["sections"]["stream"]
    assert stream["expected_bytes"] == 2000 * (stream["line_chars"] + 1)
    for engine in ("remrepl", "jupyter"):
        assert stream[engine]["bytes"] == stream["expected_bytes"], stream[engine]
        assert stream[engine]["complete"] is True
        assert is_number(stream[engine]["seconds"]) and is_number(stream[engine]["mb_per_s"])

    latency = report["sections"]["latency"]
    for engine in ("remrepl", "jupyter"):
        assert latency[engine]["lines"] == latency[engine]["expected_lines"] == 5, latency[engine]
        assert latency[engine]["complete"] is True
        assert is_number(latency[engine]["median_ms"]) and is_number(latency[engine]["max_ms"])

    startup = report["sections"]["startup"]
    for command in ("help", "python", "import"):
        assert len(startup[command]["runs_ms"]) == 2 and is_number(startup[command]["median_ms"]), startup[command]
    assert startup["commands"]["help"][-1] == "--help" and startup["imports"]["modules"] > 0
    imported = startup["imports"]["top_self"] + startup["imports"]["top_foreign"]
    assert startup["imports"]["top_foreign"] and all(is_number(m["cumulative_ms"]) for m in imported)

    exec_ = report["sections"]["exec"]
    for engine in ("remrepl", "python"):
        assert len(exec_[engine]["runs_s"]) == 1 and is_number(exec_[engine]["median_s"])
    assert exec_["remrepl"]["command"][-3:-1] == ["exec", "--launch"]

    completion = report["sections"]["completion"]
    assert completion["code"] == "collections.Ord" and completion["iterations"] == 5
    assert completion["remrepl"]["idle"]["samples"] == completion["remrepl"]["busy"]["samples"] == 5
    assert completion["jupyter"]["idle"]["samples"] == 5 and completion["jupyter"]["busy"]["samples"] == 1
    for engine in ("remrepl", "jupyter"):
        for state in ("idle", "busy"):
            assert all(is_number(completion[engine][state][key]) for key in ("median_ms", "p99_ms", "max_ms"))

    transfer = report["sections"]["transfer"]
    assert transfer["megabytes"] == 2 and transfer["bytes"] == 2_000_000
    for engine in ("remrepl", "sftp"):
        assert transfer[engine]["checksums_match"] is True, transfer[engine]
        keys = (
            "upload_mb_per_s",
            "download_mb_per_s",
            "upload_s",
            "upload_median_mb_per_s",
            "download_median_mb_per_s",
        )
        assert all(is_number(transfer[engine][k]) for k in keys)
    assert all(is_number(v) for v in transfer["ratios"].values()) and len(transfer["ratios"]) == 4

    ssh = report["sections"]["ssh"]
    assert "--launch=ssh://bench" in ssh["command"]
    for part in ("exec", "floor", "startup"):
        assert len(ssh[part]["runs_s"]) == 1 and is_number(ssh[part]["median_s"]), ssh[part]
    for path in ("tunnel", "direct"):
        assert ssh[path]["samples"] == 20 and is_number(ssh[path]["median_us"]), ssh[path]
    assert all(is_number(ssh["ratios"][key]) for key in ("exec_over_floor", "tunnel_over_direct"))

    check_sync(report["sections"]["sync"])
    check_packages(report["sections"]["packages"])

    cluster = report["sections"]["cluster"]
    assert cluster["items"] == 500 and cluster["dask_items"] == 20 and cluster["gather_bytes"] == 4_000_000
    for engine in ("remrepl", "dask", "process_pool"):
        parts = cluster[engine]
        assert is_number(parts["overhead"]["us_per_item"]) and parts["overhead"]["items"] in (500, 20), parts
        assert is_number(parts["sleep"]["efficiency_pct"]) and is_number(parts["gather"]["mb_per_s"]), parts

    ec2 = report["sections"]["ec2"]["cycles"]
    assert len(ec2["runs"]) == 1 and is_number(ec2["up_median_s"]) and is_number(ec2["down_median_s"]), ec2
    for stage in ("identity", "create", "instance running", "SSH port", "SSH login", "server ready", "teardown"):
        assert is_number(ec2["stages_median_s"][stage]), ec2
    assert ec2["polls_max"]["SSH port"] >= 1 and ec2["polls_max"]["SSH login"] >= 1

    scale = report["sections"]["ec2scale"]["measured"]
    assert [r["workers"] for r in scale["runs"]] == [1, 2], scale
    for key in ("start_s", "map_s", "total_s", "close_s", "workers_cpu_s", "cpu_floor_s"):
        assert is_number(scale[f"one_{key}"]) and is_number(scale[f"many_{key}"]), scale

    assert set(report["targets"]) == TARGETS
    for target in report["targets"].values():
        assert isinstance(target["met"], bool) and target["measured"] is True
        assert is_number(target["value"]) and is_number(target["threshold"])
        assert target["op"] in ("<", "<=", ">=")

    # Every section renders its part of the table from the saved report (--render), targets included.
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    table = run_bench("--render", str(saved))
    assert table.returncode == 0, table.stderr
    for heading in ("Round trip:", "Streaming:", "Print-to-client delay", "One-line script", "Start-up:"):
        assert heading in table.stdout
    for heading in ("Completion round trip", "remrepl --help", "ms of import time"):
        assert heading in table.stdout
    for heading in ("File transfer on loopback", "SSH on loopback", "Cluster map on", "EC2 head on moto"):
        assert heading in table.stdout
    for heading in ("Workdir sync over SSH on loopback", "Package install into a fresh venv"):
        assert heading in table.stdout
    assert "rpyc classic conn.eval" in table.stdout and "remrepl / rpyc" in table.stdout
    assert table.stdout.count("target: ") == len(TARGETS) and "ERROR" not in table.stdout
    assert f"{sum(t['met'] for t in report['targets'].values())} of {len(TARGETS)} targets met" in table.stdout


def check_sync(sync: dict[str, Any]) -> None:
    assert sync["files"] == 60 and sync["bytes"] == 1_000_000 and sync["copies_match"] is True, sync
    assert sync["rsync_command"][:2] == ["rsync", "-a"] and sync["changed_file"]["bytes"] > 0
    for engine in ("remrepl", "rsync"):
        for phase in ("first", "unchanged", "changed"):
            assert len(sync[engine][f"{phase}_runs_s"]) == 1 and is_number(sync[engine][f"{phase}_s"]), sync[engine]
        assert is_number(sync[engine]["first_mb_per_s"])
    assert len(sync["ratios"]) == 3 and all(is_number(v) for v in sync["ratios"].values())


def check_packages(packages: dict[str, Any]) -> None:
    assert packages["requirements"]["chain"] == ["benchpkg_0", "benchpkg_1"], packages
    for installer in ("uv", "pip", "stamp_skip"):
        assert len(packages[installer]["runs_s"]) == 1 and is_number(packages[installer]["median_s"])
    assert is_number(packages["ratios"]["pip_over_uv"]) and is_number(packages["ratios"]["stamp_skip_s"])


@pytest.mark.timeout(TIMEOUT + 30)
def test_the_sync_and_packages_sections_alone(tmp_path: Path) -> None:
    report = bench_json("sync", "packages", *TINY_SYNC, *TINY_PACKAGES)
    assert report["ok"] is True and set(report["sections"]) == {"sync", "packages"}, report["errors"]
    check_sync(report["sections"]["sync"])
    check_packages(report["sections"]["packages"])
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    table = run_bench("--render", str(saved))
    assert table.returncode == 0, table.stderr
    assert "rsync / remrepl (time)" in table.stdout and "pip / uv" in table.stdout
    assert table.stdout.count("target: ") == 3


@pytest.mark.timeout(TIMEOUT + 30)
def test_quick_sets_every_sections_tiny_sizes_and_explicit_options_win() -> None:
    report = bench_json("roundtrip", "latency", "--quick", "--latency-samples", "3")
    options = report["meta"]["options"]
    assert options["iterations"] == 20 and options["warmup"] == 5 and options["latency_samples"] == 3
    assert options["lines"] == 2000 and options["transfer_mb"] == 2 and options["ec2_runs"] == 1
    assert report["sections"]["latency"]["remrepl"]["lines"] == 3 and report["ok"] is True


@pytest.mark.timeout(TIMEOUT + 30)
def test_one_section_and_the_table() -> None:
    report = bench_json("roundtrip", "--iterations", "3", "--warmup", "1")
    assert set(report["sections"]) == {"roundtrip"}
    assert set(report["targets"]) == {t for t in TARGETS if t.startswith("roundtrip.")}
    assert report["sections"]["roundtrip"]["echo"]["samples"] == 3

    table = run_bench("exec", "--exec-runs", "1")
    assert table.returncode == 0, table.stderr
    assert "remrepl exec --launch" in table.stdout and "target" in table.stdout
    assert "remrepl / python: " in table.stdout

    table = run_bench("ssh", "--exec-runs", "1", "--iterations", "3", "--warmup", "1")
    assert table.returncode == 0, table.stderr
    assert "remrepl exec --launch=ssh://bench hi.py" in table.stdout and "tunnel / direct" in table.stdout


@pytest.mark.timeout(TIMEOUT + 30)
def test_the_cluster_section_alone_as_a_table() -> None:
    table = run_bench("cluster", *TINY_CLUSTER)
    assert table.returncode == 0, table.stderr
    assert "remrepl cl.map" in table.stdout and "dask client.map" in table.stdout
    assert "ProcessPoolExecutor.map" in table.stdout and "µs/item" in table.stdout


@pytest.mark.timeout(TIMEOUT + 30)
def test_the_ec2_section_alone_as_a_table() -> None:
    table = run_bench("ec2", "--ec2-runs", "1")
    assert table.returncode == 0, table.stderr
    assert "EC2 head on moto + loopback sshd" in table.stdout and "SSH login" in table.stdout
    assert "remrepl down (teardown by tag)" in table.stdout


@pytest.mark.timeout(TIMEOUT + 30)
def test_the_ec2scale_section_alone_as_a_table() -> None:
    table = run_bench("ec2scale", *TINY_EC2SCALE)
    assert table.returncode == 0, table.stderr
    assert "with packages and workdir: 1 vs 2" in table.stdout and "cluster() returns" in table.stdout
    assert "CPU / " in table.stdout and "the workers' tree: " in table.stdout


def test_an_unknown_section_is_refused() -> None:
    result = run_bench("nonsense")
    assert result.returncode == 2
    assert "unknown section" in result.stderr


@pytest.mark.timeout(TIMEOUT + 30)
def test_the_profiler_runs_at_tiny_sizes(tmp_path: Path) -> None:
    """scripts/profile_supervisor.py (the hot-path profile behind the performance notes) keeps working:
    every contender's blocks, the per-thread figures and the hot-path steps are in its JSON."""
    out = tmp_path / "profile.json"
    profiler = BENCH.with_name("profile_supervisor.py")
    args = ("--requests", "20", "--blocks", "2", "--warmup", "5", "--peers", "--micro", "--json", str(out))
    result = subprocess.run(
        [sys.executable, str(profiler), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=BENCH.parents[1],
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    report = json.loads(out.read_text())
    contenders = {"remrepl", "remrepl, no end-of-run Ack", "echo", "rpyc", "lean relay + kernel (the design's floor)"}
    assert set(report["summary"]) == contenders and len(report["blocks"]) == 2 * len(contenders)
    remrepl = report["summary"]["remrepl"]
    for figure in ("wall median µs", "supervisor: main CPU µs", "kernel: main CPU µs", "client: total CPU µs"):
        assert is_number(remrepl[figure]["min"]) and is_number(remrepl[figure]["median"]), figure
    steps = {step["step"] for step in report["micro"]}
    assert "codec: decode Execute" in steps and all(is_number(s["us_per_call"]) for s in report["micro"])
