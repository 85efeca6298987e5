"""The one rule for a user's message: stripped, not empty, within the configured length.

The agent checks every turn with it (library and CLI callers included); the HTTP API applies
the same rule in its request models and answers 422 with the same codes."""

from __future__ import annotations

from agent.errors import InvalidRequest


def nonblank(text: str | None) -> str:
    """``text`` stripped; :class:`InvalidRequest` ``empty_message`` when nothing is left."""
    message = (text or "").strip()
    if not message:
        raise InvalidRequest("the message is empty", code="empty_message")
    return message


def checked_message(text: str | None, max_chars: int) -> str:
    """:func:`nonblank`, and :class:`InvalidRequest` ``message_too_long`` over ``max_chars``
    characters (``RECAGENT_MAX_MESSAGE_CHARS``)."""
    message = nonblank(text)
    if len(message) > max_chars:
        raise InvalidRequest(f"the message has {len(message)} characters; the limit is "
                             f"{max_chars} (RECAGENT_MAX_MESSAGE_CHARS)",
                             code="message_too_long")
    return message
