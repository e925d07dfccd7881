"""``[tool.remrepl]`` of the project's pyproject.toml: the flags' settings in the project
(``remrepl.cli.project_config``): which file, its checks, its precedence under the flags, and whole
``remrepl exec job.py`` runs that sync, install, run and get with no flag.

The CLI runs that install run in a throwaway venv (``throwaway_venv``), as in test_cli_exec_packages.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl._exceptions import ConfigError
from remrepl.cli import ec2 as cli_ec2
from remrepl.cli.parser import build_parser, normalise
from remrepl.cli.project_config import (
    apply,
    configure,
    find_pyproject,
    given_dests,
    load_project_config,
    parse_project_config,
)
from tests.support.processes import leftover_servers, terminate
from tests.support.wheelhouse import TEST_PACKAGE, Wheelhouse, throwaway_venv

FULL = """
[project]
name = "demo"

[tool.remrepl]
launch = "ec2:demo"
connect-timeout = 30
workdir = "."
workdir-max-size = "2G"
workdir-max-files = 50000
pip = ["numpy>=2"]
requirements = ["requirements-extra.txt"]
index-url = "https://pypi.org/simple"
find-links = ["wheels", "https://example.com/wheels/"]
no-install = false
get = ["results", "train.log"]
get-to = "runs"
timeout = 3600

[tool.remrepl.ec2]
instance-type = "c7i.large"
region = "eu-west-1"
spot = true
volume-size = 40
allow-cidr = "203.0.113.7/32"
idle-timeout = "2h"
max-lifetime = "off"
yes = true
lend-credentials = false

[tool.remrepl.ssh]
ssh-config = "ssh_config"
remote-python = "python3.12"
bootstrap = true
remote-venv = "~/.venvs/remrepl"
"""


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def parsed(*argv: str) -> tuple[argparse.Namespace, set[str]]:
    """``remrepl ARGV`` as main parses it, and the dests the command line gave."""
    normalised = normalise(list(argv))
    return build_parser().parse_args(normalised), given_dests(build_parser(), normalised)


def applied(path: Path, *argv: str) -> argparse.Namespace:
    config = load_project_config(path)
    assert config is not None
    args, given = parsed(*argv)
    apply(args, given, config)
    return args


# --- the file and its checks ------------------------------------------------------------------------------


def test_every_key_is_read_and_relative_paths_are_the_files_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "proj", FULL)
    config = load_project_config(path)
    assert config is not None
    root = (tmp_path / "proj").resolve()
    values = {key: value for key, (_dest, value) in config.values.items()}
    assert values["launch"] == "ec2:demo" and values["connect-timeout"] == 30.0
    assert values["workdir"] == str(root) and values["get-to"] == str(root / "runs")
    assert values["requirements"] == [str(root / "requirements-extra.txt")]
    assert values["find-links"] == [str(root / "wheels"), "https://example.com/wheels/"]  # a URL stays one
    assert values["get"] == ["results", "train.log"]  # remote paths: the server's
    assert values["workdir-max-size"] == "2G" and values["workdir-max-files"] == 50000
    ec2 = dict(config.ec2.values())
    assert ec2["instance_type"] == "c7i.large" and ec2["volume_size"] == 40
    assert ec2["allow_cidr"] == ["203.0.113.7/32"]  # a string is a list of one, as in config.toml
    assert ec2["idle_timeout"] == 7200.0 and ec2["max_lifetime"] == 0.0  # as the flags give them: 0 is off
    assert ec2["lend_credentials"] is False
    ssh = dict(config.ssh.values())
    assert ssh["ssh_config"] == str(root / "ssh_config") and ssh["remote_venv"] == "~/.venvs/remrepl"


def test_a_pyproject_without_the_table_is_no_config(tmp_path: Path) -> None:
    assert load_project_config(write(tmp_path, '[project]\nname = "x"\n[tool.ruff]\nline-length = 99\n')) is None
    assert load_project_config(write(tmp_path, "[project\nbroken")) is None  # not ours to judge
    with pytest.raises(ConfigError, match=r"pyproject.toml is not valid TOML"):
        load_project_config(write(tmp_path, "[tool.remrepl]\nlaunch = \n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('index_url = "x"', r"\[tool.remrepl\] has 'index_url': the keys are spelled as the flags, 'index-url'"),
        ('lauch = "local"', r"unknown key 'lauch' in \[tool.remrepl\]; the keys are connect-timeout, find-links"),
        ('instance-type = "t3.large"', r"'instance-type', an EC2 option: it goes in \[tool.remrepl.ec2\]"),
        ('remote-python = "python3"', r"'remote-python', an SSH option: it goes in \[tool.remrepl.ssh\]"),
        ("[tool.remrepl.ec2]\ninstance_type = 't3.large'", r"\[tool.remrepl.ec2\] has 'instance_type'"),
        ("[tool.remrepl.ec2]\nworkers = 4", r"unknown key 'workers' in \[tool.remrepl.ec2\]; the keys are allow-cidr"),
        ("[tool.remrepl.aws]\nregion = 'x'", r"unknown key 'aws' in \[tool.remrepl\]"),
        ('pip = "numpy"\ntimeout = "1h"', r"\[tool.remrepl\] timeout must be a number of seconds > 0, not '1h'"),
        ("pip = [1]", r"\[tool.remrepl\] pip must be a string or a list of strings, not \[1\]"),
        ("workdir-max-size = 'lots'", r"\[tool.remrepl\] workdir-max-size: not a size: 'lots'"),
        ("workdir-max-files = 0", r"workdir-max-files must be a whole number >= 1, not 0"),
        ('launch = "ec2:Bad_Name"', r"\[tool.remrepl\] launch: bad cluster name 'Bad_Name'"),
        ("no-install = 'yes'", r"no-install must be true or false, not 'yes'"),
        ("[tool.remrepl.ec2]\nidle-timeout = 'soon'", r"idle-timeout: expected a duration"),
        ("[tool.remrepl.ec2]\nvolume-size = 0", r"volume-size must be a whole number of GiB"),
        ("ec2 = 3", r"tool.remrepl.ec2 must be a table"),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, f"[tool.remrepl]\n{text}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_project_config(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_tool_remrepl_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tool.remrepl must be a table"):
        parse_project_config("local", tmp_path / "pyproject.toml")


def test_the_nearest_pyproject_up_to_the_project_root(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    repo = outer / "repo"
    (repo / "pkg" / "sub").mkdir(parents=True)
    write(outer, "[tool.remrepl]\n")  # above the git work tree: another project's
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    script = repo / "pkg" / "sub" / "job.py"
    script.write_text("")
    assert find_pyproject(script) is None
    write(repo, "[tool.remrepl]\n")
    assert find_pyproject(script) == repo.resolve() / "pyproject.toml"
    write(repo / "pkg", "[tool.remrepl]\n")  # a member of a monorepo: the nearest wins
    assert find_pyproject(script) == repo.resolve() / "pkg" / "pyproject.toml"
    assert find_pyproject(repo / "pkg" / "sub") == repo.resolve() / "pkg" / "pyproject.toml"  # connect: a dir


# --- which flags were given, and precedence ----------------------------------------------------------------


def test_given_dests_sees_every_spelling_of_a_flag() -> None:
    _args, given = parsed(
        "exec", "--connect-timeout", "10", "--workdir-max-f=5", "--launch", "--get", "a", "--spot", "job.py", "-x"
    )
    # 10 is the default, and --workdir-max-f an abbreviation: given all the same
    positionals = {"command", "session", "file", "args"}
    assert given - positionals == {"connect_timeout", "workdir_max_files", "launch", "get", "spot"}
    _args, given = parsed("connect", "NAME")
    assert given <= positionals  # a positional is no flag


def test_the_file_fills_in_what_the_command_line_did_not_say(tmp_path: Path) -> None:
    path = write(tmp_path, FULL.replace('"ec2:demo"', '"local"'))
    args = applied(path, "exec", "--pip", "torch", "--timeout", "5", "--get-to", "here", str(tmp_path / "job.py"))
    assert args.launch == "local" and args.workdir == str(tmp_path.resolve())
    assert args.pip == ["torch"]  # a flag replaces the key's whole list
    assert args.timeout == 5.0 and args.get_to == "here"  # flags win, and a relative flag stays the cwd's
    assert args.get == ["results", "train.log"] and args.index_url == "https://pypi.org/simple"
    # a local launch takes neither table: their options would be refused there
    assert args.instance_type is None and args.remote_python is None and args.bootstrap is False


def test_the_command_line_choosing_the_server_otherwise_drops_the_files_launch(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.remrepl]\nlaunch = "ec2"\nworkdir = "."\n')
    assert applied(path, "exec", "--connection-file", "s.json", "job.py").launch is None
    assert applied(path, "connect", "work").launch is None  # a session NAME
    assert applied(path, "exec", "--launch", "job.py").launch == "local"
    args = applied(path, "exec", "--no-workdir", "job.py")
    assert args.workdir is None and args.no_workdir  # --no-workdir beats the file's workdir
    assert applied(path, "connect").launch == "ec2"


def test_exec_only_keys_do_not_reach_connect(tmp_path: Path) -> None:
    args = applied(write(tmp_path, '[tool.remrepl]\nget = ["out"]\ntimeout = 9\npip = ["x"]\n'), "connect")
    assert not hasattr(args, "get") and not hasattr(args, "timeout") and args.pip == ["x"]


def test_the_ssh_table_on_an_ssh_host_and_the_heads_share_of_it_on_ec2(tmp_path: Path) -> None:
    path = write(tmp_path, FULL.replace('"ec2:demo"', '"ssh://gpu-box"'))
    args = applied(path, "exec", "job.py")
    assert args.remote_python == "python3.12" and args.bootstrap is True
    assert args.ssh_config == str(tmp_path.resolve() / "ssh_config")
    assert args.instance_type is None  # the EC2 table is not for an SSH host
    args = applied(path, "exec", "--launch", "ec2", "job.py")
    assert args.bootstrap is False  # refused with --launch ec2 (remrepl is installed on the head)
    assert args.remote_python == "python3.12" and args.remote_venv == "~/.venvs/remrepl"


def test_ec2_settings_defaults_then_config_toml_then_the_file_then_flags(tmp_path: Path) -> None:
    config_toml = Path(os.environ["XDG_CONFIG_HOME"]) / "remrepl" / "config.toml"
    config_toml.parent.mkdir(parents=True)
    config_toml.write_text('[ec2]\nregion = "us-east-1"\nprofile = "me"\nspot = false\n')
    path = write(tmp_path, FULL)
    settings = cli_ec2.settings_from(applied(path, "exec", "--region", "ap-south-1", "job.py"))
    assert settings.region == "ap-south-1"  # the flag
    assert settings.profile == "me"  # config.toml: the file does not say
    assert settings.spot is True and settings.instance_type == "c7i.large" and settings.yes is True  # the file
    assert settings.idle_timeout == 7200.0 and settings.max_lifetime is None
    assert settings.allow_cidr == ("203.0.113.7/32",) and settings.lend_credentials is False
    assert settings.remote_python == "python3.12"  # from [tool.remrepl.ssh]
    assert cli_ec2.launch_options(applied(path, "exec", "job.py"))["settings"].volume_size == 40


def test_configure_names_the_file_only_when_it_has_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    write(plain, "[tool.ruff]\nline-length = 99\n")
    monkeypatch.chdir(plain)
    args, _ = parsed("connect")
    assert configure(args, ["connect"]) is None and capsys.readouterr().err == ""
    path = write(tmp_path / "proj", '[tool.remrepl]\npip = ["x"]\n')
    argv = ["connect", "--workdir", str(tmp_path / "proj")]  # connect: the --workdir's file, not the cwd's
    args, _ = parsed(*argv)
    assert configure(args, argv) is not None and args.pip == ["x"]
    assert capsys.readouterr().err == f"remrepl: settings from [tool.remrepl] of {path} (flags override them)\n"


# --- whole runs ------------------------------------------------------------------------------------------


@pytest.fixture
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    yield
    terminate(leftover_servers(state_dir))


def remrepl(python: Path, *args: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", "import sys; from remrepl.cli.main import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")},  # not the machine's shared cache
        check=False,
    )


JOB = f"""
import os, sys
import {TEST_PACKAGE}

with open("out.txt", "w") as f:
    f.write(f"{{{TEST_PACKAGE}.answer()}}\\n")
here = os.path.dirname(os.path.abspath(__file__))
print("answer", {TEST_PACKAGE}.answer(), "in place" if here == sys.argv[1] else "in the copy")
"""


def project(root: Path, wheelhouse: Wheelhouse, extra: str = "") -> Path:
    write(
        root,
        f"""[tool.remrepl]
launch = "local"
workdir = "."
get = ["out.txt"]
get-to = "results"
pip = ["{TEST_PACKAGE}"]
find-links = ["{wheelhouse.directory}"]
index-url = "{wheelhouse.directory.as_uri()}"  # an index with nothing: only the wheelhouse answers
{extra}""",
    )
    (root / "job.py").write_text(JOB)
    return root


@pytest.mark.server
@pytest.mark.usefixtures("no_leftover_servers")
def test_exec_job_syncs_installs_runs_and_gets_with_no_flag(wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    python = throwaway_venv(tmp_path / "venv")
    root = project(tmp_path / "proj", wheelhouse).resolve()
    result = remrepl(python, "exec", "job.py", str(root), cwd=root, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "answer 42 in the copy\n"  # installed, and run in the synced copy
    assert (root / "results" / "out.txt").read_text() == "42\n"  # got back, into get-to (the file's dir)
    assert not (root / "out.txt").exists()  # written in the copy, not here
    assert f"remrepl: settings from [tool.remrepl] of {root / 'pyproject.toml'} (flags override them)" in (
        result.stderr.splitlines()
    )

    # flags override the file: run in place (no sync), results elsewhere (relative: the cwd's)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = remrepl(
        python, "exec", "--no-workdir", "--get-to", "mine", str(root / "job.py"), str(root), cwd=elsewhere,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "answer 42 in place\n"
    assert (elsewhere / "mine" / "out.txt").read_text() == "42\n"


@pytest.mark.server
@pytest.mark.usefixtures("no_leftover_servers")
def test_the_scripts_status_is_the_commands(wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    python = throwaway_venv(tmp_path / "venv")  # the file's pip installs there, not in the project's venv
    root = project(tmp_path / "proj", wheelhouse)
    (root / "job.py").write_text("open('out.txt', 'w').write('partial')\nraise SystemExit(3)\n")
    result = remrepl(python, "exec", "job.py", cwd=root, tmp_path=tmp_path)
    assert result.returncode == 3, result.stderr
    assert (root / "results" / "out.txt").read_text() == "partial"  # a failed run's results come back too


def test_a_typo_in_the_file_is_one_line_and_starts_no_server(
    wheelhouse: Wheelhouse, tmp_path: Path, state_dir: Path
) -> None:
    root = project(tmp_path / "proj", wheelhouse, extra='index_url = "https://pypi.org/simple"\n')
    result = remrepl(Path(sys.executable), "exec", "job.py", cwd=root, tmp_path=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"remrepl: {root.resolve() / 'pyproject.toml'}: [tool.remrepl] has 'index_url': the keys are spelled as "
        "the flags, 'index-url'\n"
    )
    assert not (state_dir / "logs").exists()  # no local server was started (each writes its log there)
