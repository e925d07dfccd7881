"""The run's shared state (``Bench``: options, temporary directory, started contenders, errors) and the
shape of a section (``Section``), which every module in ``sections/`` makes one of."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from .common import BenchError, Deadline, JSONDict, log
from .engines import EchoEngine, JupyterEngine, RemreplEngine, RpycEngine

Engine = TypeVar("Engine", RemreplEngine, JupyterEngine, EchoEngine, RpycEngine)


class Target(NamedTuple):
    """A number a section promises: ``sections[section]["ratios"][key] op threshold``."""

    section: str
    key: str
    op: str  # "<", "<=" or ">="
    threshold: float
    description: str


@dataclass(frozen=True)
class Section:
    """One part of the benchmark: ``run`` measures (JSON-able numbers, with a ``"ratios"`` dict that the
    targets read), ``render`` turns those numbers into table lines (the targets' lines follow them)."""

    name: str
    summary: str  # one line, for --list
    run: Callable[[Bench], JSONDict]
    render: Callable[[JSONDict], list[str]]
    targets: tuple[Target, ...] = ()
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    quick: Mapping[str, object] = field(default_factory=dict)  # option values of a --quick run


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    stack: contextlib.ExitStack
    errors: list[str] = field(default_factory=list)
    _engines: dict[str, object] = field(default_factory=dict)

    def remrepl(self) -> RemreplEngine:
        return self._engine(RemreplEngine, lambda: RemreplEngine(self.args.start_timeout))

    def jupyter(self) -> JupyterEngine:
        return self._engine(JupyterEngine, lambda: JupyterEngine(self.args.start_timeout, self.workdir))

    def echo(self) -> EchoEngine:
        return self._engine(EchoEngine, lambda: EchoEngine(self.args.start_timeout))

    def rpyc(self) -> RpycEngine:
        return self._engine(RpycEngine, lambda: RpycEngine(self.args.start_timeout))

    def _engine(self, kind: type[Engine], start: Callable[[], Engine]) -> Engine:
        """Start a contender on first use, once, stopped with the run; a failed start fails every later
        use quickly."""
        name = kind.name
        if name not in self._engines:
            log(f"starting {name}")
            began = time.perf_counter()
            try:
                started = start()
            except Exception as exc:
                self._engines[name] = BenchError(f"{name} did not start: {type(exc).__name__}: {exc}")
            else:
                self.stack.callback(started.close)
                self._engines[name] = started
                log(f"{name} started in {time.perf_counter() - began:.2f} s")
        engine = self._engines[name]
        if isinstance(engine, BenchError):
            raise engine
        assert isinstance(engine, kind)
        return engine

    def measure(self, what: str, run: Callable[[], JSONDict]) -> JSONDict:
        """``run()``'s numbers, or ``{"error": ...}`` (also kept in ``errors``) if it failed."""
        log(what)
        try:
            return run()
        except Exception as exc:
            return self.failed(what, exc)

    def failed(self, what: str, exc: Exception) -> JSONDict:
        """Note a failed measurement; what the section reports in its place."""
        message = f"{what}: {type(exc).__name__}: {exc}"
        self.errors.append(message)
        log(f"FAILED {message}")
        return {"error": f"{type(exc).__name__}: {exc}"}

    def deadline(self, what: str) -> Deadline:
        return Deadline(self.args.timeout, what)


@contextlib.contextmanager
def private_environment() -> Iterator[Path]:
    """A temporary directory for remrepl's state, Jupyter's runtime files and IPython's profile."""
    workdir = Path(tempfile.mkdtemp(prefix="remrepl-bench-"))
    names = ("REMREPL_STATE_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "JUPYTER_PATH")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["REMREPL_STATE_DIR"] = str(workdir / "remrepl-state")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(workdir / "jupyter-runtime")
    os.environ["IPYTHONDIR"] = str(workdir / "ipython")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(workdir / "jupyter"), saved["JUPYTER_PATH"]]))
    try:
        yield workdir
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(workdir, ignore_errors=True)
