"""A small local HTTP server that records what the channels send, with scripted answers.

    server = CaptureServer(); server.start()
    server.respond("/hooks/", [(500, {}, ""), (429, {"Retry-After": "1"}, ""), (200, {}, "ok")])
    ... point a channel at server.url + "/hooks/abc" ...
    server.wait_for(3, timeout=10)
    server.requests[-1].json
    server.stop()

Each request to a path starting with a scripted prefix takes the next answer of that script (the
last one repeats once the script runs out); unscripted paths answer 200 "ok". The longest matching
prefix wins. Threaded, so a slow test cannot block the sender.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], str | bytes]


@dataclass
class Captured:
    method: str
    path: str  # with the query string, as sent
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def form(self) -> dict[str, list[str]]:
        """The body parsed as an HTML form (Twilio), each field a list of values."""
        return parse_qs(self.text, keep_blank_values=True)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class CaptureServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[Captured] = []
        self._scripts: dict[str, list[Response]] = {}
        self._lock = threading.Condition()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = capture._record(
                    Captured(self.command, self.path, dict(self.headers.items()), body)
                )
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "CaptureServer":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "CaptureServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def respond(self, path_prefix: str, responses: list[Response]) -> None:
        """Answer requests under `path_prefix` with these responses in turn (the last one repeats)."""
        with self._lock:
            self._scripts[path_prefix] = list(responses)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripts.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Block until at least `count` requests arrived; return them, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"Expected {count} requests within {timeout}s, got {len(self.requests)}: "
                        f"{[(r.method, r.path) for r in self.requests]}"
                    )
                self._lock.wait(remaining)
            return list(self.requests)

    def _record(self, captured: Captured) -> Response:
        with self._lock:
            self.requests.append(captured)
            self._lock.notify_all()
            route = urlsplit(captured.path).path
            prefixes = [prefix for prefix in self._scripts if route.startswith(prefix)]
            if not prefixes:
                return 200, {}, "ok"
            script = self._scripts[max(prefixes, key=len)]
            return script.pop(0) if len(script) > 1 else script[0]
