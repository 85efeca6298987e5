"""The OpenAI-compatible facade's request: what ``POST /v1/chat/completions`` accepts.

:class:`CompletionRequest` is OpenAI's request as far as a recommender can honour it; what it
cannot honour (``n`` other than 1, client ``tools`` / ``functions``, ``logprobs``, a
``response_format`` other than text) the model refuses -- so the OpenAPI document says it --
never silently ignores. The helpers read the request: the text of a message, the explicit
session it names, the token budget and the stop sequences.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from annotated_types import Ge, MaxLen
from fastapi import Request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api.messages import ID_PATTERN, JsonInt, MessageContent, integral
from api.openai_errors import OpenAIError

MODEL_ID = "recagent"
MODEL_CREATED = 1_700_000_000


class UserMessage(BaseModel):
    """A user message: its text is a chat message (not blank, within the limit)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["user"]
    content: MessageContent


class OtherMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


ChatMessage = Annotated[UserMessage | OtherMessage, Field(discriminator="role")]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool = False


def _refuse(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


_NO_TOOLS = ("client-side tools (function calling) are not supported; the recommender runs "
             "its own tools")
_TOOL_CHOICE = WithJsonSchema({"anyOf": [{"enum": ["none", "auto"]}, {"type": "null"}]})


class CompletionRequest(BaseModel):
    """OpenAI's request, as far as a recommender can honour it: what it cannot is refused
    by this model (and so documented), never silently ignored."""

    # strict: a field is what the OpenAPI document says it is ("1" is not an integer)
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="the conversation; the last `user` message is this turn (what follows "
                    "it is ignored)",
        json_schema_extra={"contains": {"type": "object", "required": ["role"],
                                        "properties": {"role": {"const": "user"}}}})
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, pattern=ID_PATTERN)
    n: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1}),
                 BeforeValidator(integral)] | None = Field(
        default=None, description="must be 1: one answer per request")
    max_tokens: Annotated[int, Ge(1), BeforeValidator(integral)] | None = None
    max_completion_tokens: Annotated[int, Ge(1), BeforeValidator(integral)] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: JsonInt | None = None
    metadata: Annotated[dict[str, Any], WithJsonSchema({
        "type": "object",
        "properties": {"session_id": {"type": "string", "pattern": ID_PATTERN}}})] | None = \
        Field(default=None, description="`session_id`: continue this session (an "
              "anonymous one also needs its `X-Session-Token` header)")
    tools: Annotated[list[Any], WithJsonSchema({"type": "array", "maxItems": 0})] | None = \
        Field(default=None, description="not supported (the recommender runs its own)")
    tool_choice: Annotated[Any, _TOOL_CHOICE] = None
    functions: Annotated[list[Any], WithJsonSchema({"type": "array", "maxItems": 0})] | None \
        = Field(default=None, description="not supported (the recommender runs its own)")
    function_call: Annotated[Any, _TOOL_CHOICE] = None
    response_format: Annotated[dict[str, Any], WithJsonSchema({
        "type": "object", "properties": {"type": {"const": "text"}}})] | None = Field(
        default=None, description="only text: the structured recommendations are in the "
                                  "answer's `recommendations` field")
    logprobs: Annotated[bool, WithJsonSchema({"const": False})] | None = Field(
        default=None, description="not available")
    stop: str | Annotated[list[str], MaxLen(4)] | None = None

    @field_validator("messages")
    @classmethod
    def _a_user_message(cls, messages: list[UserMessage | OtherMessage]
                        ) -> list[UserMessage | OtherMessage]:
        if not any(m.role == "user" for m in messages):
            raise _refuse("no_user_message", "the conversation has no user message")
        return messages

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise _refuse("unsupported_value",
                          f"n={n}: this endpoint returns one choice per request; n must be 1 "
                          "(send another request for another answer -- already shown items "
                          "are left out)")
        return n

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, tools: list[Any] | None) -> list[Any] | None:
        if tools:
            raise _refuse("unsupported_parameter", _NO_TOOLS)
        return tools

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, value: Any) -> Any:
        if value not in (None, "none", "auto"):
            raise _refuse("unsupported_parameter", _NO_TOOLS)
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, fmt: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = (fmt or {}).get("type", "text")
        if kind != "text":
            raise _refuse("unsupported_value",
                          f"response_format type {kind!r} is not supported: the answer is "
                          "text (markdown); the structured recommendations are in the "
                          "'recommendations' field")
        return fmt

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, logprobs: bool | None) -> bool | None:
        if logprobs:
            raise _refuse("unsupported_parameter",
                          "logprobs are not available from this service")
        return logprobs

    @field_validator("metadata")
    @classmethod
    def _session_id(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata and "session_id" in metadata and not (
                isinstance(metadata["session_id"], str) and valid_id(metadata["session_id"])):
            raise _refuse("invalid_request", "metadata.session_id is not a valid session id")
        return metadata

    def turn_at(self) -> int:
        """Where this turn's message is: the last user message."""
        return max(i for i, m in enumerate(self.messages) if m.role == "user")


def text_of(content: str | list[dict[str, Any]] | None) -> str:
    """A message's text (the text parts of a list of content parts, one a line)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content
                     if isinstance(part, dict) and part.get("type") == "text")


def check_model(model: str) -> None:
    """404 ``model_not_found`` unless ``model`` is the one this service serves."""
    if model != MODEL_ID:
        raise OpenAIError(404, "model_not_found",
                          f"The model {model!r} does not exist; this service serves "
                          f"{MODEL_ID!r} (GET /v1/models)", "model")


def explicit_session(request: Request, body: CompletionRequest) -> str | None:
    """The session the request names: the ``X-Session-ID`` header, else
    ``metadata.session_id`` (400 when not a valid id); None when it names none."""
    header = request.headers.get("x-session-id")
    if header:
        if not valid_id(header):
            raise OpenAIError(400, "invalid_request",
                              "X-Session-ID is not a valid session id")
        return header
    value = (body.metadata or {}).get("session_id")
    if value:
        if not isinstance(value, str) or not valid_id(value):
            raise OpenAIError(400, "invalid_request",
                              "metadata.session_id is not a valid session id",
                              "metadata.session_id")
        return value
    return None


def valid_id(value: str) -> bool:
    return re.fullmatch(ID_PATTERN, value) is not None


def budget(body: CompletionRequest) -> int | None:
    """The answer's token budget (``max_completion_tokens``, else ``max_tokens``)."""
    return body.max_completion_tokens or body.max_tokens


def stops(body: CompletionRequest) -> list[str]:
    """The ``stop`` sequences (at most 4; empty ones dropped)."""
    sequences = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(sequences) > 4:
        raise OpenAIError(400, "invalid_request", "stop: at most 4 sequences", "stop")
    return [s for s in sequences if s]
