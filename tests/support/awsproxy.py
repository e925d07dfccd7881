"""A tiny HTTP proxy on 127.0.0.1 in front of the tests' moto server, to make "AWS" answer what moto never
does: InsufficientInstanceCapacity, RequestLimitExceeded (throttling), or a parameter only real AWS
publishes (Canonical's Ubuntu AMI ids). Everything else goes through to moto unchanged, so boto3 and
remrepl make real HTTP calls and parse real error responses; nothing is mocked inside the process.

    proxy.fail("RunInstances", "InsufficientInstanceCapacity", times=2)   # the next 2 RunInstances fail
    proxy.publish_parameter("/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id", ami)
    proxy.rewrite("DescribeInstances", b"<name>running</name>", b"<name>pending</name>")  # stuck pending
    proxy.calls["RunInstances"]                                          # how many reached the proxy
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The HTTP status AWS gives each error code (EC2's query API); 400 for the others.
STATUS = {"RequestLimitExceeded": 503, "InsufficientInstanceCapacity": 500, "ThrottlingException": 400}


@dataclass
class _Rule:
    action: str
    status: int
    body: bytes
    content_type: str
    times: int | None  # None: every time
    match: str | None  # a substring the request body must contain
    replace: tuple[bytes, bytes] | None = None  # a rewrite of moto's answer instead of an answer of ours


def _action(headers: Any, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol (SSM, ...): "AmazonSSM.GetParameter"
        return str(target)
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return form.get("Action", [""])[0]  # query protocol (EC2, STS): Action=RunInstances


class AWSProxy:
    """The proxy: ``endpoint`` is what AWS_ENDPOINT_URL should be; ``close()`` stops it."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rules: list[_Rule] = []
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="aws-proxy", daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, action: str, code: str, message: str = "", *, times: int | None = 1, status: int = 0) -> None:
        """The next ``times`` calls of EC2/STS ``action`` (None: all) get AWS's error ``code``."""
        message = message or f"injected by the tests' AWS proxy: {code}"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
        ).encode()
        self._add(_Rule(action, status or STATUS.get(code, 400), body, "text/xml", times, None))

    def answer(
        self, target: str, payload: dict[str, Any], *, match: str | None = None, times: int | None = None
    ) -> None:
        """Calls of the JSON-protocol ``target`` (e.g. "AmazonSSM.GetParameter") whose body contains
        ``match`` get ``payload`` with status 200."""
        body = json.dumps(payload, default=str).encode()
        self._add(_Rule(target, 200, body, "application/x-amz-json-1.1", times, match))

    def publish_parameter(self, name: str, value: str) -> None:
        """SSM GetParameter ``name`` answers ``value``, as for AWS's public parameters moto lacks (e.g.
        Canonical's ``/aws/service/canonical/ubuntu/...`` AMI ids)."""
        parameter = {"Name": name, "Type": "String", "Value": value, "Version": 1, "DataType": "text"}
        self.answer("AmazonSSM.GetParameter", {"Parameter": parameter}, match=json.dumps(name))

    def rewrite(self, action: str, old: bytes, new: bytes, *, times: int | None = None) -> None:
        """moto's answers to ``action`` pass with ``old`` replaced by ``new``."""
        self._add(_Rule(action, 0, b"", "", times, None, (old, new)))

    def _add(self, rule: _Rule) -> None:
        with self.lock:
            self.rules.append(rule)

    def _take(self, action: str, body: bytes) -> _Rule | None:
        with self.lock:
            self.calls[action] += 1
            for rule in self.rules:
                if rule.action != action or (rule.match is not None and rule.match.encode() not in body):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._take(_action(self.headers, body), body)
                if rule is not None and rule.replace is None:
                    self._send(rule.status, rule.content_type, rule.body)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    if rule is not None and rule.replace is not None:
                        data = data.replace(*rule.replace)
                    self._send(answer.status, answer.getheader("Content-Type") or "text/xml", data)
                finally:
                    upstream.close()

            def _send(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
