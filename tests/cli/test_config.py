"""``config.toml``: where it is found, what it may say, and clear errors for what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from remrepl import ConfigError
from remrepl.cli.config import Config, config_path, load_config


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Never read the real user's file: XDG_CONFIG_HOME points at an empty folder."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("REMREPL_CONFIG", raising=False)
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_means_the_defaults(no_user_config: Path, private_state: Path) -> None:
    config = load_config()
    assert config == Config()
    assert (config.editing_mode, config.color_scheme, config.complete_while_typing) == ("emacs", "default", True)
    assert config.history_size == 10_000 and config.open_plots is True
    assert config.plots_dir == private_state / "plots"  # under the state directory
    assert config_path() == no_user_config / "remrepl" / "config.toml"


def test_every_key(no_user_config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(
        no_user_config / "remrepl" / "config.toml",
        'editing_mode = "vi"\ncolor_scheme = "monokai"\ncomplete_while_typing = false\n'
        'history_size = 50\nplots_dir = "~/plots"\nopen_plots = false\n',
    )
    assert load_config() == Config("vi", "monokai", False, 50, tmp_path / "plots", False)


def test_remrepl_config_points_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "elsewhere.toml", "history_size = 0\n")
    monkeypatch.setenv("REMREPL_CONFIG", str(path))
    assert config_path() == path and load_config().history_size == 0
    monkeypatch.setenv("REMREPL_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing.toml does not exist \(\$REMREPL_CONFIG names it\)"):
        load_config()


@pytest.mark.parametrize(
    "text, message",
    [
        ('editing_mode = "nano"', 'editing_mode must be "emacs" or "vi", not \'nano\''),
        ('color_scheme = "no-such-style"', "color_scheme must be a Pygments style name .*monokai"),
        ('complete_while_typing = "yes"', "complete_while_typing must be true or false, not 'yes'"),
        ("history_size = -1", "history_size must be a whole number >= 0, not -1"),
        ("history_size = true", "history_size must be a whole number >= 0, not True"),
        ("history_size = 1.5", "history_size must be a whole number >= 0"),
        ('plots_dir = ""', "plots_dir must be a non-empty string"),
        ("open_plots = 1", "open_plots must be true or false, not 1"),
        ("colour_scheme = 'monokai'", "unknown key 'colour_scheme'; the keys are color_scheme, complete_while_typing"),
        ("editing_mode = ", "is not valid TOML"),
    ],
)
def test_bad_values_are_named(text: str, message: str, no_user_config: Path) -> None:
    path = write(no_user_config / "remrepl" / "config.toml", text + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config()
    assert str(path) in str(info.value)


def test_an_unreadable_file(no_user_config: Path) -> None:
    (no_user_config / "remrepl" / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config()


def test_a_bad_file_stops_connect_before_any_server_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from remrepl.cli.main import main

    monkeypatch.setenv("REMREPL_CONFIG", str(write(tmp_path / "c.toml", 'editing_mode = "nano"\n')))
    assert main(["connect", "--launch"]) == 1
    assert "editing_mode must be" in capsys.readouterr().err
