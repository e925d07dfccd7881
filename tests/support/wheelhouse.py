"""A local wheelhouse the tests build themselves: tiny packages made in the test, turned into wheels by
pip (``pip wheel --no-index --no-build-isolation``, with this venv's setuptools as the backend), offline,
so that installs in the tests go through ``--find-links DIR --no-index`` and never reach an index.

    house = Wheelhouse(tmp_path / "wheels")
    wheel = house.build("remrepl_testpkg", "1.0", "def answer():\\n    return 42\\n")
    # then, e.g.: pip install --no-index --find-links house.directory remrepl_testpkg==1.0
    #             uv pip install --offline --no-index --find-links house.directory remrepl_testpkg

The fixture ``wheelhouse`` (tests/support/plugin.py) holds ``remrepl_testpkg`` 1.0 for the whole run;
a test that wants other packages or versions makes its own ``Wheelhouse``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BUILD_TIMEOUT = 120.0
TEST_PACKAGE = "remrepl_testpkg"
TEST_VERSION = "1.0"
TEST_SOURCE = (
    '"""A package the tests built (tests/support/wheelhouse.py)."""\n\n'
    f'__version__ = "{TEST_VERSION}"\n\n\ndef answer() -> int:\n    return 42\n'
)


class WheelBuildError(RuntimeError):
    """pip could not build a test package's wheel."""


@dataclass
class Wheelhouse:
    """A directory of wheels for ``--find-links``; ``wheels``: what ``build`` put there, by (name, version)."""

    directory: Path
    wheels: dict[tuple[str, str], Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def build(self, name: str, version: str, source: str, requires: tuple[str, ...] = ()) -> Path:
        """A wheel of package ``name`` (one module, ``name/__init__.py`` = ``source``) at ``version``,
        depending on ``requires``; its path in ``directory``."""
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"{name!r}: a test package's name is a plain lower-case identifier")
        with tempfile.TemporaryDirectory(prefix=f"{name}-src-") as tmp:
            project = Path(tmp)
            (project / name).mkdir()
            (project / name / "__init__.py").write_text(source)
            dependencies = ", ".join(f'"{r}"' for r in requires)
            (project / "pyproject.toml").write_text(
                "[build-system]\n"
                'requires = ["setuptools>=70.1"]\n'
                'build-backend = "setuptools.build_meta"\n\n'
                "[project]\n"
                f'name = "{name}"\nversion = "{version}"\ndependencies = [{dependencies}]\n'
                f'description = "a package the remrepl tests built"\n\n'
                "[tool.setuptools]\n"
                f'packages = ["{name}"]\n'
            )
            pip = [sys.executable, "-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "-q"]
            result = subprocess.run(
                [*pip, "--disable-pip-version-check", "--wheel-dir", str(self.directory), str(project)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
            )
        made = sorted(self.directory.glob(f"{name}-{version}-*.whl"))
        if result.returncode != 0 or not made:
            raise WheelBuildError(f"pip wheel {name} {version} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        self.wheels[(name, version)] = made[-1]
        return made[-1]


def throwaway_venv(venv: Path) -> Path:
    """A fresh venv (with pip) at ``venv`` whose python also imports this project's packages (remrepl, uv),
    after its own: what an install puts there never touches the project's venv. Its python."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=180)
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    project = sysconfig.get_paths()["purelib"]  # addsitedir: its .pth files too (the editable remrepl)
    (site_packages / "zz-remrepl-project.pth").write_text(f"import site; site.addsitedir({project!r})\n")
    return venv / "bin" / "python"
