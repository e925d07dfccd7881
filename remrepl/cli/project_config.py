"""The project's own settings: ``[tool.remrepl]`` of its ``pyproject.toml``, the same settings as the
flags of ``connect`` and ``exec``, so one command (``remrepl exec train.py``) reproduces a run::

    [tool.remrepl]
    launch = "ec2:demo"              # --launch
    workdir = "."                    # --workdir (relative: to this file's directory)
    pip = ["numpy"]                  # --pip, repeated
    get = ["results"]                # --get, repeated (exec)

    [tool.remrepl.ec2]               # the --launch ec2 flags, applied when the launch is EC2
    instance-type = "c7i.large"

    [tool.remrepl.ssh]               # the SSH flags, applied when the launch is an SSH host
    remote-python = "python3.12"

Which file: for ``exec FILE``, the nearest ``pyproject.toml`` from the script's directory up to its
project root (``remrepl.workdir.select.project_root``); for ``connect``, the same from ``--workdir`` or
the current directory. Each key is its flag's name without ``--`` (kebab-case, as ruff's and the flags'
own); a flag given on the command line replaces the key's whole value. Relative paths are resolved
against the file's directory. An unknown key (``index_url`` for ``index-url`` too) or a wrong type is a
``ConfigError`` naming the file and the key, raised before anything launches.

Precedence, the later winning: the defaults, config.toml (``[ec2]``), this file, the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TOOL = "tool.remrepl"
EXEC_ONLY = frozenset({"get", "get-to", "timeout"})


@dataclass(frozen=True)
class ProjectConfig:
    """The checked ``[tool.remrepl]`` of ``path``: argparse dest -> value, per table (paths resolved)."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)  # the flags of connect/exec
    ec2: dict[str, Any] = field(default_factory=dict)  # [tool.remrepl.ec2]: the --launch ec2 flags
    ssh: dict[str, Any] = field(default_factory=dict)  # [tool.remrepl.ssh]: the SSH flags


# --- the keys: name -> (argparse dest, checker) ---------------------------------------------------

Checker = Callable[[object, "_Where"], Any]


@dataclass(frozen=True)
class _Where:
    """Where a value comes from, for messages and for resolving relative paths."""

    what: str  # "FILE: [tool.remrepl] key"
    base: Path  # the file's directory

    def wrong(self, value: object, expected: str) -> ConfigError:
        return ConfigError(f"{self.what} must be {expected}, not {value!r}")


def _string(value: object, where: _Where) -> str:
    if not isinstance(value, str) or not value:
        raise where.wrong(value, "a non-empty string")
    return value


def _strings(value: object, where: _Where) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise where.wrong(value, "a string or a list of strings")
    return list(items)


def _path(value: object, where: _Where) -> str:
    return str(where.base / Path(_string(value, where)).expanduser())  # an absolute path stays itself


def _paths(value: object, where: _Where) -> list[str]:
    return [str(where.base / Path(item).expanduser()) for item in _strings(value, where)]


def _links(value: object, where: _Where) -> list[str]:
    """URLs as they are, paths resolved against the file's directory."""
    return [item if "://" in item else str(where.base / Path(item).expanduser()) for item in _strings(value, where)]


def _flag(value: object, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.wrong(value, "true or false")
    return value


def _seconds(value: object, where: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise where.wrong(value, "a number of seconds > 0")
    return float(value)


def _count(value: object, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.wrong(value, "a whole number >= 1")
    return value


def _size(value: object, where: _Where) -> str:
    from ..workdir.limits import parse_size

    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise where.wrong(value, 'a size ("500MB", "2G") or a number of bytes')
    try:
        parse_size(str(value))
    except ConfigError as exc:
        raise ConfigError(f"{where.what}: {exc}") from None
    return str(value)  # the flag's form: cli/workdir.py parses it


def _gib(value: object, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16384:
        raise where.wrong(value, "a whole number of GiB (1 to 16384)")
    return value


def _duration(value: object, where: _Where) -> float:
    from ..launchers.ec2.settings import parse_duration

    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise where.wrong(value, 'a duration ("30m", "2h", minutes as a number, or "off")')
    seconds = parse_duration(value, where.what)
    return 0.0 if seconds is None else seconds  # as the flag gives it: 0 is off


def _launch(value: object, where: _Where) -> str:
    from ..launchers.ec2.settings import check_name

    target = _string(value, where)
    if target.startswith("-"):
        raise where.wrong(value, 'a launch target: "local", "[ssh://][USER@]HOST[:PORT]", "ec2" or "ec2:NAME"')
    if target.startswith("ec2:"):
        try:
            check_name(target[4:])
        except ConfigError as exc:
            raise ConfigError(f"{where.what}: {exc}") from None
    return target


TOP_KEYS: dict[str, tuple[str, Checker]] = {
    "launch": ("launch", _launch),
    "connect-timeout": ("connect_timeout", _seconds),
    "workdir": ("workdir", _path),
    "workdir-max-size": ("workdir_max_size", _size),
    "workdir-max-files": ("workdir_max_files", _count),
    "pip": ("pip", _strings),
    "requirements": ("requirements", _paths),
    "index-url": ("index_url", _string),
    "find-links": ("find_links", _links),
    "no-install": ("no_install", _flag),
    "get": ("get", _strings),  # remote paths: the server's, not resolved here
    "get-to": ("get_to", _path),
    "timeout": ("timeout", _seconds),
}
EC2_KEYS: dict[str, tuple[str, Checker]] = {
    "region": ("region", _string),
    "profile": ("profile", _string),
    "instance-type": ("instance_type", _string),
    "os": ("os", _string),
    "ami": ("ami", _string),
    "spot": ("spot", _flag),
    "volume-size": ("volume_size", _gib),
    "iam-instance-profile": ("iam_instance_profile", _string),
    "subnet": ("subnet", _string),
    "allow-cidr": ("allow_cidr", _strings),
    "allow-open-ssh": ("allow_open_ssh", _flag),
    "idle-timeout": ("idle_timeout", _duration),
    "max-lifetime": ("max_lifetime", _duration),
    "yes": ("yes", _flag),
    "keep-on-failure": ("keep_on_failure", _flag),
    "lend-credentials": ("lend_credentials", _flag),  # false: --no-lend-credentials
}
SSH_KEYS: dict[str, tuple[str, Checker]] = {
    "ssh-config": ("ssh_config", _path),
    "accept-new-host-key": ("accept_new_host_key", _flag),
    "remote-python": ("remote_python", _string),
    "bootstrap": ("bootstrap", _flag),
    "remote-venv": ("remote_venv", _string),  # the host's path: not resolved here
    "direct": ("direct", _flag),
}
EC2_HEAD_SSH = frozenset({"ssh_config", "remote_python", "remote_venv"})  # what --launch ec2 takes of them


# --- finding and reading the file -----------------------------------------------------------------


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` from the directory ``start`` (or a file's directory) up to its
    project root (``project_root``), or None."""
    from ..workdir.select import project_root

    start = Path(os.path.abspath(start))
    directory = start if start.is_dir() else start.parent
    root = project_root(start).resolve()
    directory = directory.resolve()
    for candidate in [directory, *directory.parents]:  # bounded: a path has finitely many parents
        if (candidate / "pyproject.toml").is_file():
            return candidate / "pyproject.toml"
        if candidate == root:
            break
    return None


def load_project_config(path: Path) -> ProjectConfig | None:
    """The checked ``[tool.remrepl]`` of the pyproject.toml ``path``; None if it has no such table."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if TOOL not in text:  # not ours to judge: the project's installer reports it if it matters
            return None
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tool = data.get("tool")
    table = tool.get("remrepl") if isinstance(tool, dict) else None
    if table is None:
        return None
    return parse_project_config(table, path)


def parse_project_config(table: object, path: Path) -> ProjectConfig:
    """``[tool.remrepl]``'s contents (as tomllib gives them) checked; ``path`` names the file."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.remrepl must be a table ([tool.remrepl]), not {table!r}")
    base = path.parent.resolve()
    subtables = {"ec2": EC2_KEYS, "ssh": SSH_KEYS}
    values = _check_table({k: v for k, v in table.items() if k not in subtables}, TOP_KEYS, path, TOOL, base)
    found: dict[str, dict[str, Any]] = {}
    for name, keys in subtables.items():
        sub = table.get(name, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"{path}: {TOOL}.{name} must be a table ([{TOOL}.{name}]), not {sub!r}")
        found[name] = _check_table(sub, keys, path, f"{TOOL}.{name}", base)
    return ProjectConfig(path, values, ec2=found["ec2"], ssh=found["ssh"])


def _check_table(
    data: dict[str, Any], keys: dict[str, tuple[str, Checker]], path: Path, table: str, base: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in keys:
            raise ConfigError(f"{path}: {_unknown(key, keys, table)}")
        dest, check = keys[key]
        out[key] = (dest, check(value, _Where(f"{path}: [{table}] {key}", base)))
    return out


def _unknown(key: str, keys: dict[str, tuple[str, Checker]], table: str) -> str:
    kebab = key.replace("_", "-")
    if kebab in keys:
        return f"[{table}] has {key!r}: the keys are spelled as the flags, {kebab!r}"
    if table == TOOL and key in EC2_KEYS:
        return f"[{table}] has {key!r}, an EC2 option: it goes in [{TOOL}.ec2]"
    if table == TOOL and key in SSH_KEYS:
        return f"[{table}] has {key!r}, an SSH option: it goes in [{TOOL}.ssh]"
    extra = ", [ec2], [ssh]" if table == TOOL else ""
    return f"unknown key {key!r} in [{table}]; the keys are {', '.join(sorted(keys))}{extra}"


# --- applying it to the command line ----------------------------------------------------------------


def given_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The dests of the options ``argv`` gives (parsed by ``parser``, a fresh one: its defaults are
    replaced by ``SUPPRESS``, so whatever lands in the namespace was on the command line, however spelled:
    ``--opt=v``, an abbreviation, a value equal to the default)."""
    _suppress_defaults(parser)
    return set(vars(parser.parse_args(list(argv))))


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:  # argparse has no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
        elif action.option_strings:  # positionals keep theirs: a missing NAME/ARGS is not "given"
            action.default = argparse.SUPPRESS


def apply(args: argparse.Namespace, given: set[str], config: ProjectConfig) -> None:
    """Set on ``args`` what ``config`` says and the command line did not (``given``: its dests)."""
    command = args.command
    elsewhere = bool({"launch", "connection_file"} & given) or bool(getattr(args, "session", None))
    for key, (dest, value) in config.values.items():
        if dest in given or (key in EXEC_ONLY and command != "exec"):
            continue
        if key == "launch" and elsewhere:  # the command line chose the server another way
            continue
        if key == "workdir" and "no_workdir" in given:
            continue
        setattr(args, dest, value)
    target = args.launch
    is_ec2 = target is not None and (target == "ec2" or target.startswith("ec2:"))
    if is_ec2:
        for dest, value in config.ec2.values():
            if dest not in given:
                setattr(args, dest, value)
    if target is not None and target != "local":  # an SSH host takes every SSH option, EC2 some
        for dest, value in config.ssh.values():
            if dest not in given and (not is_ec2 or dest in EC2_HEAD_SSH):
                setattr(args, dest, value)


def pyproject_for(args: argparse.Namespace) -> Path | None:
    """The pyproject.toml whose settings apply to this ``connect``/``exec``."""
    if args.command == "exec":
        return find_pyproject(Path(args.file))
    return find_pyproject(Path(args.workdir).expanduser() if args.workdir else Path.cwd())


def configure(args: argparse.Namespace, argv: Sequence[str]) -> ProjectConfig | None:
    """The hook of ``connect``/``exec``, before anything launches: apply the project's ``[tool.remrepl]``
    to ``args`` (parsed from ``argv``), saying on stderr which file it was."""
    from .parser import build_parser

    path = pyproject_for(args)
    config = load_project_config(path) if path is not None else None
    if config is None:
        return None
    apply(args, given_dests(build_parser(), argv), config)
    print(f"remrepl: settings from [{TOOL}] of {path} (flags override them)", file=sys.stderr)
    return config
