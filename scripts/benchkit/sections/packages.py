"""The ``packages`` section: ``remrepl.packages.install.install()`` with uv against the same with pip.

The requirements: a chain of packages built here into a local wheelhouse (``--packages-chain`` of them,
``benchpkg_0`` requires ``benchpkg_1`` ... requires the last; each with ``--packages-modules`` modules of
a few kB), named by a ``requirements.txt`` that lists the first, installed with ``--no-index
--find-links WHEELHOUSE``. Or your own (``--packages-spec``, with ``--packages-find-links`` and
``--packages-index-url``: a ``file://`` index, e.g. the machine's mirror). Nothing reaches the network:
``--no-index`` (or the local index you name), ``UV_OFFLINE=1``, pip's configuration files and ``PIP_*``
variables left out (``PIP_CONFIG_FILE`` is ``os.devnull``), private caches.

Each run makes two fresh venvs (``python -m venv``, untimed) and installs into each with ``install()``:

- ``uv``: ``uv`` beside the venv's python (as in a venv remrepl bootstrapped, where uv is a dependency),
  a new, empty uv cache each run (a machine's first install);
- ``pip``: no uv anywhere (none in the venv, none on ``PATH``): ``install()`` falls back to ``python -m
  pip``;

then ``install()`` again into the uv venv with the same requirements: the stamp matches, no installer
runs (target: at most 1 s; it is milliseconds). Each install is checked (what it ran, and that the first
package imports in that venv). RUNS runs (``--packages-runs``), who goes first alternating; medians
count. Ratio: pip time / uv time (higher: uv faster).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from remrepl.packages.install import Requirements, install

from ..common import BenchError, JSONDict, log, positive_int, ratio
from ..harness import Bench, Section, Target
from ..text import num

VENV_TIMEOUT = 300.0
BUILD_TIMEOUT = 300.0
TARGETS = (Target("packages", "stamp_skip_s", "<=", 1.0, "a second install, nothing changed (the stamp): seconds"),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("packages section")
    group.add_argument(
        "--packages-chain", type=positive_int, default=8, help="packages in the built dependency chain (default 8)"
    )
    group.add_argument(
        "--packages-modules", type=positive_int, default=40, help="modules in each built package (default 40)"
    )
    group.add_argument("--packages-runs", type=positive_int, default=3, help="installs with each installer (default 3)")
    group.add_argument(
        "--packages-spec",
        action="append",
        default=[],
        metavar="SPEC",
        help="install SPEC instead of the built chain (repeatable; with --packages-find-links/--packages-index-url)",
    )
    group.add_argument("--packages-find-links", action="append", default=[], metavar="DIR", help="for --packages-spec")
    group.add_argument("--packages-index-url", metavar="URL", help="for --packages-spec: a local (file://) index")


# --- the wheelhouse -----------------------------------------------------------------------------


def build_wheel(directory: Path, name: str, version: str, modules: int, requires: tuple[str, ...]) -> Path:
    """A wheel of ``name`` (a package of ``modules`` modules) built offline by pip with this venv's
    setuptools, as tests/support/wheelhouse.py does."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-src-") as tmp:
        project = Path(tmp)
        package = project / name
        package.mkdir()
        (package / "__init__.py").write_text(f'__version__ = "{version}"\n')
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(60))  # a few kB each
        for m in range(modules):
            (package / f"m{m}.py").write_text(f'"""Module {m} of {name}."""\n\n\n{body}')
        dependencies = ", ".join(f'"{r}"' for r in requires)
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=70.1"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{dependencies}]\n\n'
            f'[tool.setuptools]\npackages = ["{name}"]\n'
        )
        pip = [sys.executable, "-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps", "-q"]
        done = subprocess.run(
            [*pip, "--disable-pip-version-check", "--wheel-dir", str(directory), str(project)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            env=_pip_env(os.environ),
        )
    made = sorted(directory.glob(f"{name}-{version}-*.whl"))
    if done.returncode != 0 or not made:
        raise BenchError(f"pip wheel {name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return made[-1]


def build_chain(directory: Path, length: int, modules: int) -> list[str]:
    """``benchpkg_0`` -> ``benchpkg_1`` -> ... wheels in ``directory``; the package names."""
    names = [f"benchpkg_{i}" for i in range(length)]
    for i, name in enumerate(names):
        requires = (f"{names[i + 1]}>=1.0",) if i + 1 < length else ()
        build_wheel(directory, name, "1.0", modules, requires)
    return names


# --- isolation ----------------------------------------------------------------------------------


def _pip_env(env: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    """``env`` without pip's own configuration (files and ``PIP_*``): only what the bench passes counts."""
    clean = {k: v for k, v in env.items() if not k.startswith(("PIP_", "UV_"))}
    clean["PIP_CONFIG_FILE"] = os.devnull
    return clean


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` replaced by ``values`` for a while (``install()`` reads it: PATH, the caches)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def path_without_uv(path: str) -> str:
    """``PATH`` minus every directory that holds a ``uv``."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if d and not os.path.exists(os.path.join(d, "uv")))


def make_venv(where: Path) -> str:
    """A fresh venv (with pip, as ``python -m venv`` makes one); its python."""
    base = getattr(sys, "_base_executable", sys.executable)
    done = subprocess.run(
        [base, "-m", "venv", str(where)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=VENV_TIMEOUT
    )
    if done.returncode != 0:
        raise BenchError(f"python -m venv {where} failed: {done.stderr.strip()[-300:]}")
    return str(where / "bin" / "python")


def uv_executable() -> str:
    found = Path(sys.executable).parent / "uv"
    if found.is_file():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        raise BenchError("no uv beside this interpreter or on PATH (it is a dependency of remrepl: pip install -e .)")
    return on_path


def imports(python: str, module: str) -> None:
    done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise BenchError(f"{module} does not import after the install: {done.stderr.strip()[-300:]}")


# --- the runs -----------------------------------------------------------------------------------


def requirements_for(args: argparse.Namespace, root: Path, out: JSONDict) -> tuple[Requirements, str]:
    """What to install (``--packages-spec``, else the chain built into ``root/wheelhouse``) and the
    module that must import afterwards."""
    if args.packages_spec:
        specs, links, index_url = tuple(args.packages_spec), tuple(args.packages_find_links), args.packages_index_url
        out["requirements"] = {"specs": list(specs), "find_links": list(links), "index_url": index_url}
        name = re.match(r"[A-Za-z0-9_.-]+", specs[0])
        module = (name.group(0) if name else specs[0]).lower().replace("-", "_")
        return Requirements(specs=specs, find_links=links, index_url=index_url, no_index=index_url is None), module
    house = root / "wheelhouse"
    house.mkdir()
    log(f"packages: building a chain of {args.packages_chain} wheels")
    names = build_chain(house, args.packages_chain, args.packages_modules)
    (root / "requirements.txt").write_text(f"{names[0]}==1.0\n")
    wheel_bytes = sum(w.stat().st_size for w in house.glob("*.whl"))
    out["requirements"] = {"chain": names, "modules_each": args.packages_modules, "wheel_bytes": wheel_bytes}
    files = (root / "requirements.txt",)
    return Requirements(files=files, find_links=(str(house),), no_index=True, source="bench"), names[0]


def one_install(root: Path, installer: str, run: int, requirements: Requirements) -> tuple[str, float, float | None]:
    """Install into a fresh venv with ``installer`` (uv: beside the venv's python; pip: no uv anywhere);
    with uv, then again (the stamp's skip). (the venv's python, install seconds, skip seconds)."""
    venv = root / f"venv-{installer}-{run}"
    python = make_venv(venv)
    env = _pip_env(os.environ)
    env["PATH"] = path_without_uv(env.get("PATH", os.defpath))
    env.update(PIP_CACHE_DIR=str(root / f"pip-cache-{run}"), UV_CACHE_DIR=str(root / f"uv-cache-{run}"))
    env.update(UV_OFFLINE="1", UV_NO_CONFIG="1")
    if installer == "uv":
        (venv / "bin" / "uv").symlink_to(uv_executable())
    stamps = root / f"stamps-{installer}-{run}"
    skip_s = None
    with environment(env):
        done = install(python, requirements, stamp_dir=stamps)
        if done.skipped:
            raise BenchError(f"{installer}: the first install into a fresh venv was skipped")
        if (installer == "uv") != (Path(done.command[0]).name == "uv"):
            raise BenchError(f"{installer}: install() ran {' '.join(done.command[:4])}")
        if installer == "uv":
            start = time.perf_counter()
            again = install(python, requirements, stamp_dir=stamps)
            skip_s = time.perf_counter() - start
            if not again.skipped:
                raise BenchError("the second install with unchanged requirements was not skipped")
    return python, done.seconds, skip_s


def run(bench: Bench) -> JSONDict:
    args = bench.args
    root = bench.workdir / "packages"
    root.mkdir()
    out: JSONDict = {"runs": args.packages_runs, "ratios": {}}
    times: dict[str, list[float]] = {"uv": [], "pip": [], "stamp_skip": []}
    try:
        requirements, module = requirements_for(args, root, out)
        for r in range(args.packages_runs):
            for installer in ["uv", "pip"] if r % 2 == 0 else ["pip", "uv"]:
                python, seconds, skip_s = one_install(root, installer, r, requirements)
                times[installer].append(seconds)
                if skip_s is not None:
                    times["stamp_skip"].append(skip_s)
                imports(python, module)
                log(f"packages: run {r + 1}/{args.packages_runs} {installer:3} {seconds:.3f} s")
                shutil.rmtree(Path(python).parents[1], ignore_errors=True)
    except Exception as exc:
        return {**out, "error": bench.failed("packages", exc)["error"]}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, values in times.items():
        out[name] = {"median_s": statistics.median(values), "runs_s": values}
    out["ratios"] = {
        "pip_over_uv": ratio(out["pip"]["median_s"], out["uv"]["median_s"]),
        "stamp_skip_s": max(times["stamp_skip"]),
    }
    return out


def render(s: JSONDict) -> list[str]:
    req = s.get("requirements", {})
    what = (
        f"a chain of {len(req['chain'])} packages ({req['modules_each']} modules each, "
        f"{req['wheel_bytes']:,} B of wheels)"
        if "chain" in req
        else " ".join(req.get("specs", []))
    )
    heading = f"Package install into a fresh venv: {what} (medians of {s['runs']} runs)"
    if "error" in s:
        return ["", heading, f"  ERROR: {s['error']}"[:200]]
    return [
        "",
        heading,
        f"  install() with uv (cold cache)            {num(s['uv']['median_s'], '.3f', ' s')}",
        f"  install() with pip (no uv)                {num(s['pip']['median_s'], '.3f', ' s')}",
        f"  pip / uv                                  {num(s['ratios']['pip_over_uv'], '.2f', 'x')}",
        f"  second install, unchanged (stamp; max)    {num(s['ratios']['stamp_skip_s'] * 1e3, '.1f', ' ms')}",
    ]


SECTION = Section(
    name="packages",
    summary="install() of the same requirements into fresh venvs: uv vs pip, and the stamp's skip",
    run=run,
    render=render,
    targets=TARGETS,
    add_arguments=add_arguments,
    quick={"packages_chain": 2, "packages_modules": 2, "packages_runs": 1},
)
