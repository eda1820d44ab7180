"""A small HTTP proxy on loopback in front of an S3 server: latency, faults, counts.

:class:`FaultProxy` forwards every request to the server behind it (moto's server
mode in the tests and benchmarks) and can, for requests whose path matches, add a
fixed latency, answer ``503 SlowDown`` as S3 does when throttling, reset the
connection, or stall without answering. It records every request it forwards
(method, path, ``Range``) so tests can count what a read asked for. It is bounded:
at most ``max_requests`` requests (later ones get ``500``) and stalls that end when
the proxy stops.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlparse

__all__ = ["Fault", "FaultProxy", "ProxiedRequest"]

Fault = Literal["slowdown", "reset", "stall"]

_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True, slots=True)
class ProxiedRequest:
    """One request the proxy saw: method, path, ``Range`` header, fault injected."""

    method: str
    path: str
    range: str | None
    fault: Fault | None


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream``.

    Parameters
    ----------
    upstream : str
        ``http://host:port`` of the server behind the proxy.
    latency : float, default 0.0
        Seconds added to every request before it is forwarded.
    match : str, default "/c/"
        Faults apply only to requests whose path contains this (Zarr v3 chunk keys).
    stall_seconds : float, default 2.0
        How long a stalled request waits before its connection is closed.
    max_requests : int, default 20000
        Requests answered before the proxy answers ``500`` to everything.
    """

    def __init__(
        self,
        upstream: str,
        *,
        latency: float = 0.0,
        match: str = "/c/",
        stall_seconds: float = 2.0,
        max_requests: int = 20_000,
    ) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.latency = latency
        self.match = match
        self.stall_seconds = stall_seconds
        self.max_requests = max_requests
        self.faults: deque[Fault] = deque()
        self.always: tuple[str, Fault] | None = None
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:port`` of the proxy."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, *faults: Fault) -> None:
        """Inject these faults, in order, into the next matching requests."""
        with self._lock:
            self.faults.extend(faults)

    def fail_always(self, path_part: str, fault: Fault = "slowdown") -> None:
        """Inject ``fault`` into every request whose path contains ``path_part``."""
        self.always = (path_part, fault)

    def matching(self) -> list[ProxiedRequest]:
        """Return the forwarded or faulted requests whose path matches."""
        with self._lock:
            return [r for r in self.requests if self.match in r.path]

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        """Stop serving; stalled requests end at once."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            if self.always is not None and self.always[0] in path:
                return self.always[1]
            if self.match in path and self.faults:
                return self.faults.popleft()
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._next_fault(self.path)
                with proxy._lock:
                    over = len(proxy.requests) >= proxy.max_requests
                    proxy.requests.append(
                        ProxiedRequest(
                            self.command, self.path, self.headers.get("Range"), fault
                        )
                    )
                if over:
                    self._reply(500, b"proxy request budget spent", {})
                    return
                if proxy.latency:
                    time.sleep(proxy.latency)
                if fault == "slowdown":
                    self._reply(503, _SLOWDOWN, {"Content-Type": "application/xml"})
                    return
                if fault == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                if fault == "stall":
                    proxy._stopped.wait(proxy.stall_seconds)
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in _HOP_HEADERS
                    }
                    upstream.request(self.command, self.path, body, headers)
                    response = upstream.getresponse()
                    data = response.read()
                    kept = {
                        k: v
                        for k, v in response.getheaders()
                        if k.lower() not in _HOP_HEADERS
                    }
                    self._reply(response.status, data, kept)
                finally:
                    upstream.close()

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        return Handler
