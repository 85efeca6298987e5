"""The scripted HTTP server that the LLM stubs (``openai_stub``, ``ollama_stub``) share.

A :class:`StubServer` listens on 127.0.0.1 (a free port) in a daemon thread, keeps a script of
responses (one per request, :meth:`StubServer.push`) and records every request body; a
:class:`StubHandler` subclass speaks the provider's wire format and reaches its server as
``self.stub``. When the script is empty, ``default`` answers (if set); otherwise the request
is counted in :attr:`StubServer.unexpected` and the handler answers an error. Standard library
only (``http.server``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

R = TypeVar("R")


class StubHandler(BaseHTTPRequestHandler):
    """One request to a :class:`StubServer` (``stub`` is set on a per-server subclass)."""

    stub: ClassVar[Any]

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, ctype: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class StubServer(Generic[R]):
    """A scripted server of responses ``R``, served by ``handler``; a context manager."""

    def __init__(self, handler: type[StubHandler], *, name: str,
                 default: R | Callable[[dict[str, Any]], R] | None = None) -> None:
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.unexpected = 0
        self._script: deque[R] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()  # set on close: slow answers stop waiting
        bound = type(handler.__name__, (handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name,
                                        daemon=True)

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *responses: R) -> None:
        with self._lock:
            self._script.extend(responses)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def _take(self, body: dict[str, Any]) -> R | None:
        """Record ``body`` and return the next scripted response (``None``: unexpected)."""
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
            if self.default is not None:
                return self.default(body) if callable(self.default) else self.default
            self.unexpected += 1
            return None

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
