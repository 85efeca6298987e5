"""What a valid chat message is -- the one definition, used by the request models.

:data:`MessageText` is the type of every user message a request carries (``/v1/chat``,
``/v1/chat/stream``, the user messages of ``/v1/chat/completions``): stripped, and refused
when blank (``empty_message``) by the request model itself, so the OpenAPI document says
what the handler would refuse (``minLength``, ``pattern``); :data:`TextParts` is the same
rule for OpenAI's content parts (at least one text part that is a :data:`MessageText`), and
:data:`MessageContent` either of them, as one field with one error. Its
length limit is a setting (``RECAGENT_MAX_MESSAGE_CHARS``): :func:`check_length` applies it
with the same status as every other invalid request of the route (``message_too_long``),
and :func:`document_limits` writes it into the app's OpenAPI document as ``maxLength``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import AfterValidator, BeforeValidator, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from agent.errors import InvalidRequest
from agent.messages import checked_message, nonblank
from api.errors import ApiError
from recagent.settings import Settings

_MARK = "x-recagent-message"  # in the generated schema until document_limits replaces it

# a session or user id a request names (``session_id``, ``user_id``, ``X-Session-ID``)
ID_PATTERN = r"^[A-Za-z0-9_\-.:@]{1,128}$"


def _empty() -> PydanticCustomError:
    return PydanticCustomError("empty_message", "the message is empty")


def _nonblank(text: str) -> str:
    """The agent's rule (:func:`agent.messages.nonblank`) in a request model; the length is a
    setting, applied by :func:`check_length`."""
    try:
        return nonblank(text)
    except InvalidRequest:
        raise _empty() from None


MessageText = Annotated[
    str,
    AfterValidator(_nonblank),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"\S", _MARK: True}),
]


def is_text(text: object) -> bool:
    """True for text :data:`MessageText` accepts."""
    return isinstance(text, str) and bool(text.strip())


def _has_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not any(part.get("type") == "text" and is_text(part.get("text")) for part in parts):
        raise _empty()
    return parts


_TEXT_PART = {"type": "object", "required": ["type", "text"],
              "properties": {"type": {"const": "text"},
                             "text": {"type": "string", "pattern": r"\S"}}}
# content parts (``[{"type": "text", "text": ...}, ...]``) with at least one text part
TextParts = Annotated[
    list[dict[str, Any]],
    AfterValidator(_has_text),
    WithJsonSchema({"type": "array", "items": {"type": "object"}, "contains": _TEXT_PART}),
]


def _content(value: object) -> str | list[dict[str, Any]]:
    """A user message's ``content``: text (:data:`MessageText`) or content parts
    (:data:`TextParts`), checked in one step so that a blank one is one ``empty_message``
    error about ``content`` -- not one error per shape it could have had."""
    if isinstance(value, str):
        return _nonblank(value)
    if isinstance(value, list) and all(isinstance(part, dict) for part in value):
        return _has_text(value)
    raise PydanticCustomError("content_type", "content must be text or a list of content parts")


# a user message's content in OpenAI's request: text, or content parts with a text part
MessageContent = Annotated[
    str | list[dict[str, Any]],
    PlainValidator(_content),
    WithJsonSchema({"anyOf": [
        {"type": "string", "minLength": 1, "pattern": r"\S", _MARK: True},
        {"type": "array", "items": {"type": "object"}, "contains": _TEXT_PART}]}),
]


def integral(value: object) -> object:
    """JSON Schema's ``integer`` is a value, not a spelling: ``3.0`` is one. Strings and
    booleans stay refused (the fields using this are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# an integer field of a strict request model
JsonInt = Annotated[int, BeforeValidator(integral)]


def check_length(message: str, settings: Settings, *, status: int = 422) -> str:
    """``message`` (already a :data:`MessageText`) within the configured limit: the agent's
    rule (:func:`agent.messages.checked_message`), answered with the route's status."""
    try:
        return checked_message(message, settings.max_message_chars)
    except InvalidRequest as exc:
        raise ApiError(status, exc.code, exc.message) from None


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app``'s OpenAPI document carry the configured message limit as ``maxLength``
    of every :data:`MessageText` (the document is built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _mark_limit(build(), settings.max_message_chars)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mark_limit(node: Any, max_chars: int) -> None:
    if isinstance(node, dict):
        if node.pop(_MARK, False):
            node["maxLength"] = max_chars
        for value in node.values():
            _mark_limit(value, max_chars)
    elif isinstance(node, list):
        for value in node:
            _mark_limit(value, max_chars)
