"""A local stub of Ollama's chat API (``POST /api/chat``) on 127.0.0.1, for the second provider
path: ``RECAGENT_LLM=ollama:<model>`` through ``langchain-ollama``'s real client.

Answers from a script of :class:`tests.openai_stub.StubReply` / ``StubError`` (one per request)
the way Ollama does: newline-delimited JSON chunks when ``stream`` is true (the client's
default), one JSON object otherwise; tool calls as ``{"function": {"name", "arguments"}}`` with
the arguments as an object; token counts as ``prompt_eval_count`` / ``eval_count``. Every
request body is recorded. Standard library only.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.openai_stub import StubError, StubReply

OllamaResponse = StubReply | StubError
CREATED = "2026-01-01T00:00:00Z"


def _message(reply: StubReply, content: str, calls: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if calls and reply.tool_calls:
        msg["tool_calls"] = [
            {"function": {"name": name,
                          "arguments": args if isinstance(args, dict) else json.loads(args)}}
            for name, args in reply.tool_calls
        ]
    return msg


def _final(reply: StubReply, model: str, content: str, calls: bool) -> dict[str, Any]:
    return {
        "model": model, "created_at": CREATED, "message": _message(reply, content, calls),
        "done": True, "done_reason": "stop", "total_duration": 1000, "load_duration": 10,
        "prompt_eval_count": reply.prompt_tokens, "prompt_eval_duration": 100,
        "eval_count": reply.completion_tokens, "eval_duration": 100,
    }


class OllamaStub:
    def __init__(self, *, model: str = "qwen-stub") -> None:
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.unexpected = 0
        self._script: deque[OllamaResponse] = deque()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.paths.append(self.path)
                if self.path.rstrip("/") != "/api/chat":
                    self._send(404, "application/json", json.dumps({"error": "not found"}))
                    return
                body = json.loads(raw)
                response = stub._take(body)
                if response is None:
                    self._send(500, "application/json", json.dumps({"error": "unexpected call"}))
                elif isinstance(response, StubError):
                    self._send(response.status, "application/json",
                               json.dumps({"error": response.message}))
                elif body.get("stream", True):
                    lines = []
                    words = response.content.split(" ") if response.content else []
                    for k, word in enumerate(words):
                        lines.append({"model": stub.model, "created_at": CREATED, "done": False,
                                      "message": {"role": "assistant",
                                                  "content": word if k == 0 else " " + word}})
                    lines.append(_final(response, stub.model, "", True))
                    self._send(200, "application/x-ndjson",
                               "".join(json.dumps(x) + "\n" for x in lines))
                else:
                    self._send(200, "application/json",
                               json.dumps(_final(response, stub.model, response.content, True)))

            def _send(self, status: int, ctype: str, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ollama-stub",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *responses: OllamaResponse) -> None:
        with self._lock:
            self._script.extend(responses)

    def _take(self, body: dict[str, Any]) -> OllamaResponse | None:
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
            self.unexpected += 1
            return None

    def __enter__(self) -> OllamaStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
