from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from remrepl import ConfigError
from remrepl.aws.images import OPERATING_SYSTEMS, OS_CHOICES, Image
from remrepl.aws.userdata import user_data
from remrepl.ssh.user_keys import generated_key


def _image(os: str) -> Image:
    return Image("ami-1", os, OPERATING_SYSTEMS[os].ssh_user, "x86_64", python=OPERATING_SYSTEMS[os].python)


@pytest.mark.parametrize("os", OS_CHOICES)
def test_installs_python_venv_pip_and_sets_the_backstop(os: str) -> None:
    script = user_data(_image(os), max_lifetime=3 * 3600 + 1)
    assert script.startswith("#!/bin/sh\n")
    assert "shutdown -h +181 " in script  # rounded up: never before the lifetime
    if os == "al2023":
        assert "dnf install -y -q python3.11 python3.11-pip" in script
        assert "ln -sf /usr/bin/python3.11 /usr/local/bin/python3" in script
    else:
        assert "apt-get -o DPkg::Lock::Timeout=600 install" in script
        assert "python3 python3-venv python3-pip" in script
    assert '-m venv "$check/venv" && "$check/venv/bin/python" -m pip --version' in script
    # the shutdown comes before the install: a failed install still ends the instance
    assert script.index("shutdown -h") < script.index("install")


@pytest.mark.parametrize("os", OS_CHOICES)
def test_the_script_is_valid_shell(os: str, tmp_path: Path) -> None:
    script = tmp_path / "user-data"
    script.write_text(user_data(_image(os), max_lifetime=600))
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=30)  # parse only, never run


def test_no_backstop_without_a_lifetime() -> None:
    assert "shutdown" not in user_data(_image("ubuntu-24.04"), max_lifetime=None)


@pytest.mark.parametrize("bad", [0, -5, math.inf, math.nan])
def test_bad_lifetime(bad: float) -> None:
    with pytest.raises(ConfigError, match="--max-lifetime"):
        user_data(_image("ubuntu-24.04"), max_lifetime=bad)


@pytest.mark.parametrize("os", OS_CHOICES)
def test_no_secret_in_user_data(os: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets that exist while remrepl runs must not leak into the script.
    monkeypatch.setenv("REMREPL_PASSWORD", "hunter2-secret-password")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEBYaDEXAMPLETOKEN")
    public, private = generated_key()
    script = user_data(_image(os), max_lifetime=600)
    with open(private) as f:
        private_text = f.read()
    for secret in ("hunter2-secret-password", "wJalrXUtnFEMI", "FwoGZXIvYXdzEBYaDEXAMPLETOKEN", public.split()[1]):
        assert secret not in script
    assert private_text.splitlines()[1] not in script
    lowered = script.lower()
    for word in (
        "password",
        "token",
        "secret_access",
        "private key",
        "begin openssh",
        "aws_access_key",
        "authorized_keys",
    ):
        assert word not in lowered
    assert not re.search(r"[A-Za-z0-9+/]{40,}", script)  # nothing key-shaped at all
