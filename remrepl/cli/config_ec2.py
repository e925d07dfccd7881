"""The ``[ec2]`` table of ``config.toml``: defaults for ``remrepl up`` and ``--launch ec2[:NAME]``.

    [ec2]
    region = "eu-west-1"
    profile = "work"
    instance_type = "t3.small"
    os = "ubuntu-24.04"                  # or ami = "ami-..."
    spot = false
    volume_size = 30                     # GiB
    iam_instance_profile = "remrepl-head"
    subnet = "subnet-0123"
    allow_cidr = ["203.0.113.7/32"]      # default: your address, detected
    allow_open_ssh = false               # true: accept allow_cidr wider than a /8 of public addresses
    idle_timeout = "60m"                 # "90s", "30m", "2h", "1d", a number of minutes, or "off"
    max_lifetime = "12h"
    yes = false                          # launch without asking
    keep_on_failure = false
    head_shutdown_command = ["sudo", "-n", "shutdown", "-h", "now"]
    ssh_config = "~/.ssh/config"
    remote_python = "python3"
    bootstrap = true
    remote_venv = "~/.remrepl/venv"
    stage_timeouts = { "SSH login" = 300 }   # seconds per readiness stage
    lend_credentials = true              # short-lived AWS credentials for a head without an instance profile

Every key is optional; an unknown key or a wrong type is a ``ConfigError`` naming the file and the key.
The command line's flags win over these.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .._exceptions import ConfigError
from ..launchers.ec2.settings import EC2Settings, parse_duration

_STRINGS = {
    "region",
    "profile",
    "instance_type",
    "os",
    "ami",
    "iam_instance_profile",
    "subnet",
    "ssh_config",
    "remote_python",
    "remote_venv",
}
_BOOLS = {"spot", "yes", "keep_on_failure", "bootstrap", "lend_credentials", "allow_open_ssh"}
_STAGES = ("instance running", "SSH port", "SSH login", "remrepl installed", "server ready")


def parse_ec2(data: object, source: str) -> dict[str, Any]:
    """The ``[ec2]`` table as ``EC2Settings`` field values (checked)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: ec2 must be a table ([ec2]), not {data!r}")
    known = {f.name for f in fields(EC2Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {key!r} in [ec2]; the keys are {', '.join(sorted(known))}")
        values[key] = check_value(key, value, f"{source}: ec2.{key}")
    return values


def check_value(key: str, value: object, what: str) -> Any:
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{what} must be {expected}, not {value!r}")

    if key in _STRINGS:
        if not isinstance(value, str) or not value:
            raise wrong("a non-empty string")
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if key == "volume_size":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16384:
            raise wrong("a whole number of GiB (1 to 16384)")
        return value
    if key in ("idle_timeout", "max_lifetime"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise wrong('a duration ("30m", "2h", minutes as a number, or "off")')
        return parse_duration(value, what)
    if key in ("allow_cidr", "head_shutdown_command"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise wrong("a string or a list of strings")
        return tuple(items)
    if key == "stage_timeouts":
        if not isinstance(value, dict):
            raise wrong(f"a table of seconds per stage ({', '.join(_STAGES)})")
        for stage, seconds in value.items():
            if stage not in _STAGES:
                raise ConfigError(f"{what}: unknown stage {stage!r}; the stages are {', '.join(_STAGES)}")
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
                raise ConfigError(f"{what}.{stage} must be a number of seconds > 0, not {seconds!r}")
        return {str(k): float(v) for k, v in value.items()}
    raise ConfigError(f"{what}: not settable here")  # pragma: no cover - every field is handled above
