"""The client's configuration file: ``~/.config/remrepl/config.toml``.

Where: ``$REMREPL_CONFIG`` if set (the file must then exist), else ``$XDG_CONFIG_HOME/remrepl/config.toml``
(``~/.config/remrepl/config.toml``); no file means the defaults. Every key is optional::

    editing_mode = "vi"              # "emacs" (default) or "vi"
    color_scheme = "monokai"         # a Pygments style name (default "default")
    complete_while_typing = true     # the completion menu follows typing (Tab completes either way)
    history_size = 10000             # entries kept in the history file; 0 keeps none
    plots_dir = "~/plots"            # where plots from the remote side are saved
    open_plots = true                # open them with the system viewer when a display is available

    [ec2]                            # defaults for `remrepl up` and --launch ec2 (see config_ec2.py)
    region = "eu-west-1"

An unknown key, a value of the wrong type or an unknown style is a ``ConfigError`` that names the file,
the key and what is expected: a typo is reported, never silently ignored.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError
from .._files import state_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_ENV = "REMREPL_CONFIG"
EDITING_MODES = ("emacs", "vi")


def _default_plots_dir() -> Path:
    return state_dir() / "plots"


@dataclass(frozen=True)
class Config:
    editing_mode: str = "emacs"
    color_scheme: str = "default"
    complete_while_typing: bool = True
    history_size: int = 10_000
    plots_dir: Path = field(default_factory=_default_plots_dir)
    open_plots: bool = True
    ec2: dict[str, Any] = field(default_factory=dict)  # the [ec2] table (config_ec2.py), EC2Settings fields


def config_path() -> Path:
    """The file the configuration is read from (it may not exist)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base, "remrepl", "config.toml")


def load_config(path: Path | None = None) -> Config:
    """The configuration in ``path`` (default: ``config_path()``); the defaults if there is no file."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"the configuration file {path} does not exist (${CONFIG_ENV} names it)") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], source: str = "the configuration") -> Config:
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        values[key] = _check(key, value, source)
    return Config(**values)


def _check(key: str, value: object, source: str) -> object:
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key} must be {expected}, not {value!r}")

    if key in ("complete_while_typing", "open_plots"):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if key == "ec2":
        from .config_ec2 import parse_ec2

        return parse_ec2(value, source)
    if key == "history_size":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise wrong("a whole number >= 0")
        return value
    if not isinstance(value, str) or not value:
        raise wrong("a non-empty string")
    if key == "editing_mode":
        if value not in EDITING_MODES:
            raise wrong('"emacs" or "vi"')
        return value
    if key == "color_scheme":
        from pygments.styles import get_all_styles

        styles = sorted(get_all_styles())
        if value not in styles:
            raise wrong(f"a Pygments style name ({', '.join(styles)})")
        return value
    return Path(value).expanduser()  # plots_dir
