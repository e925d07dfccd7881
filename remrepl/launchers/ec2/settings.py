"""What the user chooses for an EC2 head node: ``EC2Settings``, cluster names and durations.

The same settings come from three places, the later winning: the defaults here, the ``[ec2]`` table of
``config.toml`` (``remrepl.cli.config_ec2``) and the command line (``remrepl.cli.ec2``).
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field

from ..._exceptions import ConfigError
from ...reaper.run import DEFAULT_COMMAND
from ...ssh.bootstrap import DEFAULT_VENV

DEFAULT_INSTANCE_TYPE = "t3.small"  # 2 vCPU, 2 GiB: a few cents an hour
DEFAULT_IDLE_TIMEOUT = 3600.0  # s without a client or a run before the head ends itself
DEFAULT_SHUTDOWN_COMMAND = DEFAULT_COMMAND  # the reaper's: terminates, the shutdown behaviour being "terminate"
NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 60.0}  # a bare number is minutes


@dataclass(frozen=True)
class EC2Settings:
    region: str | None = None  # None: boto3's chain (AWS_REGION, the profile's region, ...)
    profile: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    os: str | None = None  # None: the image module's default (Ubuntu LTS)
    ami: str | None = None
    spot: bool = False
    volume_size: int | None = None  # GiB of the root volume; None: the AMI's
    iam_instance_profile: str | None = None
    subnet: str | None = None
    allow_cidr: tuple[str, ...] = ()  # () = the caller's address, detected
    allow_open_ssh: bool = False  # accept an allow_cidr set wider than a /8 of public addresses (cidrs.py)
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT  # s; None: off
    max_lifetime: float | None = None  # s; None: off
    yes: bool = False
    keep_on_failure: bool = False
    head_shutdown_command: tuple[str, ...] = DEFAULT_SHUTDOWN_COMMAND
    ssh_config: str | None = None
    remote_python: str = "python3"  # the head's Python the venv is made with (or run, without bootstrap)
    bootstrap: bool = True  # install this remrepl into remote_venv on the head
    remote_venv: str = DEFAULT_VENV
    stage_timeouts: dict[str, float] = field(default_factory=dict)  # readiness stage -> seconds
    lend_credentials: bool = True  # a head without an instance profile gets short-lived credentials (for workers)


def check_name(name: str) -> str:
    """A cluster name: lowercase letters, digits and inner "-", 1 to 32 characters (it goes into the names
    of the security group, the key pair and the instance's Name tag)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"bad cluster name {name!r}: use 1 to 32 lowercase letters, digits and '-' (not at either end)"
        )
    return name


def default_name() -> str:
    """``remrepl-USER`` (the login name, lowercased, other characters as '-')."""
    user = re.sub(r"[^a-z0-9]+", "-", getpass.getuser().lower()).strip("-") or "user"
    return f"remrepl-{user}"[:32].rstrip("-")


def parse_duration(text: str | float, what: str) -> float | None:
    """Seconds from "90s", "30m", "2h", "1d" or a bare number of minutes; None for "off" or 0."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text) * 60.0
    elif isinstance(text, str) and text.strip().lower() in ("off", "none", "never"):
        return None
    else:
        match = _DURATION.fullmatch(str(text)) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(f"{what}: expected a duration such as 90s, 30m, 2h, 1d (or off), not {text!r}")
        value = float(match.group(1)) * _UNITS[match.group(2)]
    if value < 0:
        raise ConfigError(f"{what} must not be negative")
    return value or None


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "off"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
