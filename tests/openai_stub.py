"""A local OpenAI-compatible stub server for tests and benchmarks (127.0.0.1, free port).

Serves ``POST /v1/chat/completions`` (plain JSON and ``stream: true`` Server-Sent Events)
from a script of responses, one per request, and records every request body::

    with OpenAIStub() as stub:
        stub.push(StubReply(tool_calls=[("filter_items", {"categories_any": ["Comedy"]})]))
        stub.push(StubError(500), StubSlow(5.0), StubGarbage())
        llm = ChatOpenAI(model="stub", base_url=stub.base_url, api_key="x", ...)

When the script is empty, ``default`` answers (if set); otherwise the request gets a 500
with ``"unexpected call"`` and is counted in :attr:`OpenAIStub.unexpected`. Standard library
only (:mod:`tests.stub_server`), so the API tests can reuse it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.stub_server import StubHandler, StubServer


@dataclass
class StubReply:
    """A normal completion: text and/or tool calls. ``args`` may be a dict or a raw string
    (to send unparseable arguments)."""

    content: str = ""
    tool_calls: Sequence[tuple[str, dict[str, Any] | str]] = ()
    prompt_tokens: int = 100
    completion_tokens: int = 10


@dataclass
class StubError:
    status: int = 500
    message: str = "internal error"


@dataclass
class StubSlow:
    """Wait ``delay_s`` (interrupted when the stub closes), then answer ``then``."""

    delay_s: float
    then: StubReply = field(default_factory=StubReply)


@dataclass
class StubGarbage:
    """A 200 response whose body is not JSON (or, streamed, a chunk that is not JSON)."""

    body: str = "{this is not json"


StubResponse = StubReply | StubError | StubSlow | StubGarbage


def _tool_calls_json(reply: StubReply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{k}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for k, (name, args) in enumerate(reply.tool_calls)
    ]


def _completion(reply: StubReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls_json(reply)
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _chunks(reply: StubReply, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    words = reply.content.split(" ") if reply.content else []
    for k, word in enumerate(words):
        yield chunk({"content": word if k == 0 else " " + word})
    for k, call in enumerate(_tool_calls_json(reply)):
        yield chunk({"tool_calls": [{"index": k, **call}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        yield {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }


class _StubHandler(StubHandler):
    """Serves one request from the :class:`OpenAIStub` ``stub``."""

    stub: ClassVar[OpenAIStub]

    def do_POST(self) -> None:  # noqa: N802
        raw = self.read_body()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(
                404, "application/json", json.dumps({"error": {"message": "not found"}})
            )
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(
                400, "application/json", json.dumps({"error": {"message": "bad json"}})
            )
            return
        response = self.stub._take(body)
        try:
            self._answer(body, response)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _answer(self, body: dict[str, Any], response: StubResponse | None) -> None:
        if response is None:
            self._send(
                500,
                "application/json",
                json.dumps({"error": {"message": "unexpected call", "type": "stub"}}),
            )
            return
        if isinstance(response, StubSlow):
            if self.stub._closing.wait(response.delay_s):
                return
            response = response.then
        if isinstance(response, StubError):
            self._send(
                response.status,
                "application/json",
                json.dumps(
                    {"error": {"message": response.message, "type": "server_error"}}
                ),
            )
            return
        stream = bool(body.get("stream"))
        if isinstance(response, StubGarbage):
            if stream:
                self._send(200, "text/event-stream", f"data: {response.body}\n\n")
            else:
                self._send(200, "application/json", response.body)
            return
        if stream:
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            # written as produced (no Content-Length; the connection closes at the
            # end), so a client that stops reading early stops a long reply early
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for c in _chunks(response, self.stub.model, include):
                self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        else:
            self._send(
                200, "application/json", json.dumps(_completion(response, self.stub.model))
            )


class OpenAIStub(StubServer[StubResponse]):
    def __init__(
        self,
        *,
        default: StubResponse | Callable[[dict[str, Any]], StubResponse] | None = None,
        model: str = "stub-model",
    ) -> None:
        super().__init__(_StubHandler, name="openai-stub", default=default)
        self.model = model

    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"
