"""The agent's domain errors: one type per kind of failure, so callers map them by type.

Every error carries ``code`` (stable, machine-readable), ``message`` (for a person) and
``status`` (the HTTP status the API answers). The API maps them by type
(:func:`api.errors.classify`); the CLI prints the message.
"""

from __future__ import annotations

from typing import ClassVar


class AgentError(Exception):
    """A turn or session operation that cannot be served."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class InvalidRequest(AgentError):
    """The caller's input is wrong (empty message, bad limit, unknown signal): 400."""


class SessionUnknown(AgentError):
    """No such session (never created, expired or deleted): 404."""

    status = 404
    default_code = "session_not_found"

    def __init__(self, message: str = "unknown session", *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class ItemUnknown(AgentError):
    """The item id is not in the catalog: 404."""

    status = 404
    default_code = "item_not_found"


class SessionForbidden(AgentError):
    """The session belongs to another user (the API answers it like an unknown one): 403."""

    status = 403
    default_code = "forbidden"


class SessionConflict(AgentError):
    """The session kept changing under a compare-and-set writer: 409."""

    status = 409
    default_code = "session_conflict"


class StoreUnavailable(AgentError):
    """The session store cannot be reached: 503."""

    status = 503
    default_code = "sessions_unavailable"


_KINDS: tuple[type[AgentError], ...] = (SessionUnknown, ItemUnknown, SessionForbidden,
                                        SessionConflict, StoreUnavailable)


def error_event(exc: AgentError) -> dict[str, str]:
    """The in-band ``error`` event of a stream: ``{code, message}``."""
    return {"code": exc.code, "message": exc.message}


def from_event(data: dict[str, object]) -> AgentError:
    """The typed error back from a stream's ``error`` event (an unknown code is a 400)."""
    code, message = str(data.get("code", "turn_failed")), str(data.get("message", ""))
    kind = next((k for k in _KINDS if k.default_code == code), InvalidRequest)
    return kind(message or "the turn failed", code=code)
