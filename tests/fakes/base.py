"""A scripted HTTP server on 127.0.0.1, in a thread: the shared part of the fake model servers.

Each test queues the answers it wants (``server.queue``); the server records every request it
gets (``server.requests``) so the test can check what the real client sent. Every response closes
its connection, so no handler thread outlives the test waiting on a kept-alive socket.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # keys lowercased
    body: Any  # parsed JSON, or None
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error response: status, JSON body and headers (e.g. retry-after)."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """Wait this long before answering with the next action (to provoke client timeouts)."""

    seconds: float


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]


class FakeServer:
    """Base class: subclasses implement ``handle(request) -> Response | Iterator[bytes]``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-model-server",
            daemon=True,
        )

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------
    def push(self, *actions: Any) -> Self:
        with self._lock:
            self.queue.extend(actions)
        return self

    def error(
        self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Self:
        return self.push(ErrorReply(status, self.error_body(error_type, message), dict(headers or {})))

    def stall(self, seconds: float) -> Self:
        return self.push(Stall(seconds))

    def next_action(self, *, peek: bool = False) -> Any:
        while True:
            with self._lock:
                if not self.queue:
                    return None
                action = self.queue[0] if peek else self.queue.popleft()
            if not isinstance(action, Stall) or peek:
                return action
            time.sleep(action.seconds)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    # -- for subclasses ---------------------------------------------------------------------
    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def handle(self, request: Recorded) -> Response | Iterator[bytes]:
        raise NotImplementedError

    def json_response(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return Response(
            status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}
        )

    def error_response(self, reply: ErrorReply) -> Response:
        return self.json_response(reply.body, reply.status, reply.headers)

    def unscripted(self, request: Recorded) -> Response:
        # A test that forgot to script an answer must fail loudly, and at once: no retries.
        return self.json_response(
            self.error_body(
                "api_error", f"fake server: nothing scripted for {request.method} {request.path}"
            ),
            500,
            {"x-should-retry": "false"},
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: pytest shows what matters

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                request = Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                with server._lock:
                    server.requests.append(request)
                result = server.handle(request)
                self.close_connection = True
                if isinstance(result, Response):
                    self.send_response(result.status)
                    for key, value in result.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(result.body)))
                    self.send_header("connection", "close")
                    self.end_headers()
                    self.wfile.write(result.body)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                for chunk in result:
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def _serve_quietly(self) -> None:
                try:
                    self._serve()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test); nothing to tell

            do_GET = _serve_quietly
            do_POST = _serve_quietly

        return Handler
