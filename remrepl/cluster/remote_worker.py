"""A Dask worker on an SSH host, started by the head node as ``python -m remrepl.cluster.remote_worker``.

The head writes one JSON line to our stdin over the SSH channel: the scheduler's address, this worker's
name, listen host, threads and processes (several Dask workers, each its own process), and the TLS
material (CA, certificate and key as PEM text). Nothing secret is on the command line, in the
environment or in a file: Dask takes the PEMs in memory. We print one JSON line, ``{"ready": address,
"workers": [addresses]}`` (or ``{"error": ...}``), then run until stdin closes — the head closed the
channel, or the SSH connection died with the head — and stop the workers then. A head that closes them
on purpose writes ``{"stop": true}`` first.

Dead man's switch (EC2 workers): with ``--on-lost-scheduler COMMAND`` a watchdog asks the scheduler who
it is (a TLS ``identity`` call) every few seconds; once it has not answered for ``--lost-scheduler-after``
seconds, COMMAND runs (the EC2 backend passes ``sudo -n shutdown -h now``: the instance's shutdown
behaviour is terminate) and we exit. The watchdog outlives the worker unless the head said ``stop``: a
head that died closed our stdin too, and an instance nobody will terminate must end itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from typing import Any

DEFAULT_LOST_AFTER = 300.0  # seconds without the scheduler before the switch fires
COMMAND_TIMEOUT = 120.0


def _security(config: dict[str, Any]) -> Any:
    from distributed.security import Security

    cert, key = config["cert_pem"], config["key_pem"]
    return Security(
        require_encryption=True,
        tls_ca_file=config["ca_pem"],
        tls_worker_cert=cert,
        tls_worker_key=key,
        tls_client_cert=cert,  # a worker also connects out (to the scheduler, to other workers)
        tls_client_key=key,
    )


async def _serve(config: dict[str, Any], stdin_closed: asyncio.Event) -> None:
    """Run ``config["processes"]`` workers (each a Nanny and its worker process; names ``NAME-0``, ...
    when more than one) until they all ended or stdin closed."""
    import contextlib

    from distributed import Nanny

    nthreads, processes = int(config.get("nthreads", 1)), int(config.get("processes", 1))
    async with contextlib.AsyncExitStack() as stack:
        nannies = []
        for i in range(max(processes, 1)):
            nanny = Nanny(
                config["scheduler"],
                name=config["name"] if processes <= 1 else f"{config['name']}-{i}",
                host=config["host"],
                protocol="tls",
                security=_security(config),
                nthreads=nthreads if nthreads > 0 else None,  # 0: one thread per core of this machine
                memory_limit=config.get("memory_limit", "auto"),  # auto: this machine's share per thread
                dashboard=False,
                dashboard_address=None,
                silence_logs=50,  # logging.CRITICAL: the head reports what matters
            )
            nannies.append(await stack.enter_async_context(nanny))
        _say(ready=nannies[0].worker_address, workers=[n.worker_address for n in nannies])
        finished = asyncio.ensure_future(asyncio.gather(*(n.finished() for n in nannies)))
        closed = asyncio.ensure_future(stdin_closed.wait())
        await asyncio.wait([finished, closed], return_when=asyncio.FIRST_COMPLETED)
        for task in (finished, closed):
            task.cancel()


async def _scheduler_answers(address: str, security: Any, timeout: float) -> bool:
    from distributed.core import rpc

    remote = rpc(address, timeout=timeout, connection_args=security.get_connection_args("worker"))
    try:
        await asyncio.wait_for(remote.identity(), timeout)
        return True
    except Exception:  # refused, timed out, TLS failure: all "not there"
        return False
    finally:
        await remote.close_rpc()


async def watch_scheduler(address: str, security: Any, *, lost_after: float, command: list[str]) -> None:
    """Return after running ``command`` once the scheduler has not answered for ``lost_after`` seconds."""
    interval = min(max(lost_after / 5, 0.2), 10.0)
    probe_timeout = min(max(lost_after / 2, 1.0), 10.0)
    last_seen = time.monotonic()  # the worker has just reached it
    while time.monotonic() - last_seen < lost_after:
        if await _scheduler_answers(address, security, probe_timeout):
            last_seen = time.monotonic()
        await asyncio.sleep(interval)
    _log(f"no answer from the scheduler {address} for {lost_after:g} s: running {shlex.join(command)}")
    try:
        result = await asyncio.to_thread(
            subprocess.run, command, stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT
        )
        if result.returncode:
            _log(f"the command exited with status {result.returncode}: {result.stderr.decode(errors='replace')}")
    except (OSError, subprocess.SubprocessError) as exc:
        _log(f"the command failed: {exc}")


def _say(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _log(text: str) -> None:
    try:
        sys.stderr.write(f"remrepl worker: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the head and its channel are gone: nobody reads this


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m remrepl.cluster.remote_worker")
    parser.add_argument(
        "--on-lost-scheduler",
        metavar="COMMAND",
        help="run COMMAND (split like a shell line, run without one) when the scheduler is lost; off if not given",
    )
    parser.add_argument(
        "--lost-scheduler-after",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_LOST_AFTER,
        help=f"how long the scheduler must be unreachable (default {DEFAULT_LOST_AFTER:g})",
    )
    args = parser.parse_args(argv)
    if args.lost_scheduler_after <= 0:
        parser.error("--lost-scheduler-after must be > 0")
    if args.on_lost_scheduler is not None and not shlex.split(args.on_lost_scheduler):
        parser.error("--on-lost-scheduler needs a command")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    line = sys.stdin.readline()
    try:
        config = json.loads(line)
        if not isinstance(config, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        _say(error=f"bad start message from the head node: {exc}")
        return 2
    try:
        import distributed  # noqa: F401
    except ImportError:
        _say(error="Dask distributed is not installed here: pip install 'remrepl[cluster]'")
        return 3

    stop_requested = threading.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stdin_closed = asyncio.Event()

        def watch_stdin() -> None:
            for raw in sys.stdin.buffer:  # until EOF
                try:
                    if json.loads(raw) == {"stop": True}:
                        stop_requested.set()
                except ValueError:
                    pass  # nothing else is expected; EOF is what we wait for
            loop.call_soon_threadsafe(stdin_closed.set)

        threading.Thread(target=watch_stdin, name="remrepl-stdin-watch", daemon=True).start()
        switch: asyncio.Future[None] | None = None
        if args.on_lost_scheduler is not None:
            switch = asyncio.ensure_future(
                watch_scheduler(
                    config["scheduler"],
                    _security(config),
                    lost_after=args.lost_scheduler_after,
                    command=shlex.split(args.on_lost_scheduler),
                )
            )
        serving = asyncio.ensure_future(_serve(config, stdin_closed))
        if switch is None:
            await serving
            return
        await asyncio.wait([serving, switch], return_when=asyncio.FIRST_COMPLETED)
        if switch.done():  # the command ran (the machine is going down): stop the worker too
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            return
        if serving.exception() is not None or stop_requested.is_set():
            switch.cancel()
            serving.result()  # a failure to start is reported to the head
        else:  # the head went away without a word (or the worker died): the switch decides
            await switch

    try:
        asyncio.run(run())
    except Exception as exc:
        _say(error=f"the worker failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


def _exit(code: int) -> None:
    """Exit; with our stdin thread still blocked in a read (the switch fired while the head was still
    connected), skip the interpreter's shutdown: it would abort on that thread's lock on stdin."""
    if any(t.name == "remrepl-stdin-watch" for t in threading.enumerate()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
