"""``--bootstrap``: a remote without remrepl gets this remrepl in a fresh venv, reused the next time (slow: one test).

The remote's pip needs a package index: the local mirror this kind of machine has (``LOCAL_INDEX``), with the
socket guard on. Without one the test is skipped, saying why: tests never reach beyond loopback, pip included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testhosts import SSHHosts

from remrepl._exceptions import RemoteEnvironmentError
from remrepl.launchers.ssh.launcher import SSHLauncher
from tests.support.isolated import LOCAL_INDEX, local_wheels


@pytest.mark.timeout(600)
def test_bootstrap_installs_into_a_fresh_venv_and_reuses_it(ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    if not LOCAL_INDEX.is_dir():
        pytest.skip(f"no local package index at {LOCAL_INDEX}: bootstrapping would need the network")
    wheels = local_wheels(tmp_path / "wheels")  # what the local index lacks (uv)
    ssh_hosts.start("target", set_env={"PIP_INDEX_URL": LOCAL_INDEX.as_uri(), "PIP_FIND_LINKS": str(wheels)})
    venv = tmp_path / "remote-venv"
    said: list[str] = []
    options = {"ssh_config": str(ssh_hosts.ssh_config), "remote_python": "/usr/bin/python3", "notify": said.append}
    with pytest.raises(RemoteEnvironmentError, match="--bootstrap"):
        SSHLauncher("target", **options).start(30)  # type: ignore[arg-type]
    for _ in range(2):
        launcher = SSHLauncher("target", bootstrap=True, remote_venv=str(venv), **options)  # type: ignore[arg-type]
        launcher.start(60)
        with launcher, launcher.connect() as session:
            assert session.run("import remrepl, sys; sys.prefix").value == repr(str(venv))
        installs = [text for text in said if "installing remrepl" in text]
        assert len(installs) == 1, said  # the second launch reuses the venv
    assert (venv / "bin" / "remrepl").exists()


def _requirements(wheel: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"remrepl-{wheel.name.split('-')[1]}.dist-info/METADATA").decode()
    return [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist")]


def test_the_wheel_requires_the_runtime_and_only_the_extras_asked_for(tmp_path: Path) -> None:
    from remrepl.ssh.bootstrap import build_wheel

    (tmp_path / "plain").mkdir()
    (tmp_path / "head").mkdir()
    plain = [r for r in _requirements(build_wheel(tmp_path / "plain")) if "extra ==" not in r]
    head = [r for r in _requirements(build_wheel(tmp_path / "head", extras=("cluster", "ec2"))) if "extra ==" not in r]
    names = [r.split(";")[0].split(">")[0].split("=")[0].strip() for r in head]
    assert "pyzmq" in names and "distributed" in names and "boto3" in names  # what an EC2 head runs
    assert "jedi" in [r.split(">")[0] for r in plain]  # a bootstrapped server completes with jedi
    assert not any("extra" in r for r in plain + head)  # the asked extras' markers are resolved here
    assert "boto3" not in " ".join(plain) and "distributed" not in " ".join(plain)
    assert "moto" not in " ".join(head)  # the test extra never travels
    assert set(plain) < set(head)


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("pyzmq>=25", "pyzmq>=25"),
        ('tomli>=1.1; python_version < "3.11"', 'tomli>=1.1; python_version < "3.11"'),
        ('boto3>=1.34; extra == "ec2"', "boto3>=1.34"),
        ("boto3>=1.34 ; extra=='ec2'", "boto3>=1.34"),
        ('x>=1; python_version < "3.11" and extra == "ec2"', 'x>=1; python_version < "3.11"'),
        ('moto>=5; extra == "test"', None),
    ],
)
def test_extra_markers_are_resolved(requirement: str, expected: str | None) -> None:
    from remrepl.ssh.bootstrap import _for_extras

    assert _for_extras(requirement, ("ec2",)) == expected


def test_the_wheel_carries_every_extra_so_the_host_can_install_one_later(tmp_path: Path) -> None:
    """Without Provides-Extra, ``pip install 'remrepl[cluster]'`` on a bootstrapped host installed no Dask."""
    import importlib.metadata
    import zipfile

    from remrepl.ssh.bootstrap import build_wheel

    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(zf.read(n).decode() for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    provides = [
        line.removeprefix("Provides-Extra: ") for line in metadata.splitlines() if line.startswith("Provides-Extra")
    ]
    installed = importlib.metadata.metadata("remrepl")
    assert set(provides) == set(installed.get_all("Provides-Extra") or []) and "cluster" in provides
    declared = set(installed.get_all("Requires-Dist") or [])
    kept = {r for r in _requirements(wheel) if "extra ==" in r}
    assert kept == {r for r in declared if "extra" in r}  # as declared, markers and all
    assert any(r.startswith("distributed") and 'extra == "cluster"' in r for r in kept)


def test_pip_accepts_the_cluster_extra_of_the_built_wheel(tmp_path: Path) -> None:
    """Offline: pip, given only the wheel, must not say it "does not provide the extra"."""
    import subprocess
    import sys

    from remrepl.ssh.bootstrap import build_wheel

    build_wheel(tmp_path)
    pip = [sys.executable, "-m", "pip", "install", "--isolated", "--no-index", "--find-links", str(tmp_path)]
    # With dependencies (pip skips the extra check under --no-deps); offline, they may not resolve: only
    # the extra is judged here.
    args = ["--dry-run", "--ignore-installed", "--target", str(tmp_path / "target"), "remrepl[cluster]"]
    done = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=120, check=False)
    assert "remrepl" in done.stdout + done.stderr, done.stderr  # pip did read the wheel
    assert "does not provide the extra" not in done.stdout + done.stderr
