"""A Dask worker on an SSH host, started by the head node as ``python -m remrepl.cluster.remote_worker``.

The head writes one JSON line to our stdin over the SSH channel: the scheduler's address, this worker's
name and listen host, and the TLS material (CA, certificate and key as PEM text). Nothing secret is on
the command line, in the environment or in a file: Dask takes the PEMs in memory. We print one JSON
line, ``{"ready": worker address}`` (or ``{"error": ...}``), then run until stdin closes — the head closed
the channel, or the SSH connection died with the head — and stop the worker then (a dead man's switch).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any


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
    from distributed import Nanny

    async with Nanny(
        config["scheduler"],
        name=config["name"],
        host=config["host"],
        protocol="tls",
        security=_security(config),
        nthreads=int(config.get("nthreads", 1)),
        memory_limit=config.get("memory_limit", "auto"),
        dashboard=False,
        dashboard_address=None,
        silence_logs=50,  # logging.CRITICAL: the head reports what matters
    ) as nanny:
        _say(ready=nanny.worker_address)
        finished = asyncio.ensure_future(nanny.finished())
        closed = asyncio.ensure_future(stdin_closed.wait())
        await asyncio.wait([finished, closed], return_when=asyncio.FIRST_COMPLETED)
        for task in (finished, closed):
            task.cancel()


def _say(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
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

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stdin_closed = asyncio.Event()

        def watch_stdin() -> None:
            while sys.stdin.buffer.read(4096):
                pass  # the head sends nothing more; EOF is what we wait for
            loop.call_soon_threadsafe(stdin_closed.set)

        threading.Thread(target=watch_stdin, name="remrepl-stdin-watch", daemon=True).start()
        await _serve(config, stdin_closed)

    try:
        asyncio.run(run())
    except Exception as exc:
        _say(error=f"the worker failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
