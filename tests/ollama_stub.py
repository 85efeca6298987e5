"""A local stub of Ollama's chat API (``POST /api/chat``) on 127.0.0.1, for the second provider
path: ``RECAGENT_LLM=ollama:<model>`` through ``langchain-ollama``'s real client.

Answers from a script of :class:`tests.openai_stub.StubReply` / ``StubError`` (one per request)
the way Ollama does: newline-delimited JSON chunks when ``stream`` is true (the client's
default), one JSON object otherwise; tool calls as ``{"function": {"name", "arguments"}}`` with
the arguments as an object; token counts as ``prompt_eval_count`` / ``eval_count``. Every
request body is recorded. Standard library only (:mod:`tests.stub_server`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tests.openai_stub import StubError, StubReply
from tests.stub_server import StubHandler, StubServer

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


class _OllamaHandler(StubHandler):
    """Serves one request from the :class:`OllamaStub` ``stub``."""

    stub: ClassVar[OllamaStub]

    def do_POST(self) -> None:  # noqa: N802
        raw = self.read_body()
        stub = self.stub
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


class OllamaStub(StubServer[OllamaResponse]):
    def __init__(self, *, model: str = "qwen-stub") -> None:
        super().__init__(_OllamaHandler, name="ollama-stub")
        self.model = model
        self.paths: list[str] = []

    @property
    def base_url(self) -> str:
        return self.address
