"""The ``[ec2]`` table of config.toml and the duration syntax of ``--idle-timeout``/``--max-lifetime``."""

from __future__ import annotations

import pytest

from remrepl._exceptions import ConfigError
from remrepl.cli.config import parse_config
from remrepl.launchers.ec2.settings import check_name, default_name, format_duration, parse_duration


def test_every_key_of_the_ec2_table() -> None:
    config = parse_config(
        {
            "ec2": {
                "region": "eu-west-1",
                "profile": "work",
                "instance_type": "t3.medium",
                "os": "debian-12",
                "ami": "ami-0123",
                "spot": True,
                "volume_size": 30,
                "iam_instance_profile": "head",
                "subnet": "subnet-1",
                "allow_cidr": "203.0.113.7/32",
                "idle_timeout": "30m",
                "max_lifetime": 2,
                "yes": True,
                "keep_on_failure": False,
                "head_shutdown_command": ["true"],
                "ssh_config": "~/.ssh/other",
                "remote_python": "python3.12",
                "bootstrap": False,
                "remote_venv": "~/venv",
                "stage_timeouts": {"SSH login": 300},
            }
        }
    )
    ec2 = config.ec2
    assert ec2["allow_cidr"] == ("203.0.113.7/32",) and ec2["head_shutdown_command"] == ("true",)
    assert ec2["idle_timeout"] == 1800.0 and ec2["max_lifetime"] == 120.0  # a bare number is minutes
    assert ec2["stage_timeouts"] == {"SSH login": 300.0} and ec2["volume_size"] == 30


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"regoin": "x"}, "unknown key 'regoin' in [ec2]"),
        ({"spot": "yes"}, "ec2.spot must be true or false"),
        ({"volume_size": 0}, "ec2.volume_size must be a whole number of GiB"),
        ({"idle_timeout": "soon"}, "expected a duration"),
        ({"allow_cidr": []}, "ec2.allow_cidr must be a string or a list of strings"),
        ({"stage_timeouts": {"SSH banner": 3}}, "unknown stage 'SSH banner'"),
        ({"stage_timeouts": {"SSH login": -1}}, "must be a number of seconds > 0"),
        ({"region": ""}, "ec2.region must be a non-empty string"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config({"ec2": table}, "config.toml")
    with pytest.raises(ConfigError, match="ec2 must be a table"):
        parse_config({"ec2": "eu-west-1"})


def test_durations() -> None:
    assert [parse_duration(t, "x") for t in ("90s", "30m", "2h", "1d", "1.5h", "45")] == [
        90.0,
        1800.0,
        7200.0,
        86400.0,
        5400.0,
        2700.0,
    ]
    assert parse_duration("off", "x") is None and parse_duration("0", "x") is None
    with pytest.raises(ConfigError, match="expected a duration"):
        parse_duration("-5m", "--idle-timeout")
    assert (format_duration(3600), format_duration(90), format_duration(None)) == ("1h00m", "1m30s", "off")


def test_names() -> None:
    assert check_name("a-1") == "a-1"
    assert default_name().startswith("remrepl-") and check_name(default_name())
