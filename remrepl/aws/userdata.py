"""The user-data script an instance runs at first boot: it installs packages and sets the lifetime
backstop, nothing else.

User-data is not a secret store: anyone on the instance can read it from the metadata service, and it is
kept in the instance's attributes. So it carries no key, password or token — remrepl's secrets reach the
server over SSH, on its stdin. What it does:

1. ``shutdown -h +MINUTES`` first, when a max lifetime is set, so even a failed install leaves the
   backstop (the instance's shutdown behaviour is ``terminate``: the bill ends with it);
2. installs Python (>= 3.10) with venv and pip from the OS's own repositories;
3. marks completion (``/run/remrepl-userdata-done``) and says so on the console.
"""

from __future__ import annotations

import math

from .._exceptions import ConfigError
from .images import Image, family

DONE_MARKER = "/run/remrepl-userdata-done"

_APT = """\
export DEBIAN_FRONTEND=noninteractive
# unattended-upgrades may hold the dpkg lock at first boot: wait for it rather than fail
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends python3 python3-venv python3-pip
"""
_DNF = """\
dnf install -y -q {python} {python}-pip
# the OS's own python3 stays 3.9 (dnf needs it, by its full path); `python3` in a login's PATH is ours
ln -sf /usr/bin/{python} /usr/local/bin/python3
"""


def lifetime_minutes(max_lifetime: float) -> int:
    """``shutdown``'s minutes for a lifetime in seconds (rounded up: never earlier than asked)."""
    return max(1, math.ceil(max_lifetime / 60))


def user_data(image: Image, *, max_lifetime: float | None) -> str:
    """The first-boot script for ``image``; ``max_lifetime`` (seconds) sets the shutdown backstop."""
    if max_lifetime is not None and not (max_lifetime > 0 and math.isfinite(max_lifetime)):
        raise ConfigError(f"--max-lifetime must be a positive number of seconds, not {max_lifetime!r}")
    lines = [
        "#!/bin/sh",
        "# remrepl first boot: packages and the lifetime backstop only; no secrets here (user-data is readable",
        "# on the instance). remrepl itself and its keys arrive over SSH.",
        "set -eu",
    ]
    if max_lifetime is not None:
        minutes = lifetime_minutes(max_lifetime)
        lines.append(f"shutdown -h +{minutes} 'remrepl: --max-lifetime reached' || true")
    install = _DNF.format(python=image.python) if family(image.os) == "fedora" else _APT
    lines.extend(install.rstrip("\n").splitlines())
    # Proof that what remrepl's bootstrap needs works: Python >= 3.10 makes a venv with pip in it.
    lines.append(f"{image.python} -c 'import sys; assert sys.version_info >= (3, 10), sys.version'")
    lines.append('check="$(mktemp -d)"')
    lines.append(f'{image.python} -m venv "$check/venv" && "$check/venv/bin/python" -m pip --version')
    lines.append('rm -rf "$check"')
    lines.append(f"touch {DONE_MARKER}")
    lines.append("echo 'remrepl: packages installed' > /dev/console || true")
    return "\n".join(lines) + "\n"
