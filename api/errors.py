"""The one error shape of the HTTP API: ``{"error": {"code", "message"}}`` with the right status.

Every failure goes through here: :class:`ApiError` raised by a route, Starlette's 404/405,
request validation (422), domain errors of the layers below (unknown or foreign session,
lost compare-and-set, unreachable store) and -- through :class:`api.middleware.RequestContext`
-- any unexpected exception (500, details only in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from agent.errors import (
    AgentError,
    SessionForbidden,
    SessionUnknown,
    StoreUnavailable,
    from_event,
)
from memory.session import (
    SessionAccessDenied,
    SessionError,
    SessionNotFound,
    VersionConflict,
)

log = logging.getLogger("recagent.api")
RETRY_AFTER_S = 5  # what a 503 asks the client to wait

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


# one message for unknown, expired and foreign sessions alike (a caller learns nothing about
# an id it does not own); the hint serves the API user who continues an anonymous session
# with its id alone and forgets the token that binds it
NO_SESSION = ("no such session (unknown or expired; an anonymous session also needs the "
              "X-Session-Token header from its first answer)")
MALFORMED_BODY = "the request body is not valid JSON"
# validation errors whose type is one of these codes keep it as the envelope's code (the
# request models raise them: api.messages)
CODED_VALIDATION_ERRORS = frozenset({"empty_message", "no_user_message", "unsupported_value",
                                     "unsupported_parameter"})


# ---- the envelope as the OpenAPI document shows it ---------------------------------------

class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `session_not_found`")
    message: str = Field(description="what went wrong, for a human; never an address")


class ErrorEnvelope(BaseModel):
    """Every error of the API (``/readyz`` adds ``status`` and ``checks``)."""

    model_config = ConfigDict(extra="allow")
    error: ErrorInfo


class OpenAIErrorInfo(BaseModel):
    message: str
    type: str = Field(description="`invalid_request_error`, `permission_error`, "
                                  "`rate_limit_error`, `server_error`")
    code: str | None = Field(description="the same codes as the rest of the API")
    param: str | None = Field(default=None, description="the offending parameter, if one")


class OpenAIErrorEnvelope(BaseModel):
    """OpenAI's error shape: a superset of ``{error: {code, message}}``."""

    error: OpenAIErrorInfo


_DESCRIPTIONS = {
    400: "invalid request (`invalid_request`, `malformed_json`, `empty_message`, "
         "`message_too_long`, `no_user_message`, `unsupported_parameter`, `unsupported_value`"
         "): the OpenAI-compatible routes answer 400 like OpenAI",
    401: "`unauthorized`: a missing or wrong API key (RECAGENT_API_KEYS; on admin routes "
         "RECAGENT_ADMIN_API_KEY)",
    403: "`identity_required` (a user id without an API key or X-User-Token), "
         "`invalid_user_token`, `identity_mismatch`; `admin_disabled` on admin routes",
    404: "`session_not_found` (unknown, expired, or another identity's session: they are "
         "indistinguishable; an anonymous session needs its `X-Session-Token`), "
         "`item_not_found`, `model_not_found`",
    409: "`session_conflict` (changed by a concurrent request: retry); on admin routes "
         "`admin_busy`, `no_interactions`, `no_models`",
    413: "`payload_too_large` (RECAGENT_MAX_BODY_BYTES, refused while the body is read), "
         "`message_too_long` (RECAGENT_MAX_MESSAGE_CHARS)",
    422: "`invalid_request` (names the field), `empty_message`, `malformed_json`",
    429: "`rate_limited` (RECAGENT_RATE_LIMIT_PER_MINUTE); `Retry-After` says when to retry",
    503: "`not_ready`, `sessions_unavailable`, `catalog_unavailable`: retryable, "
         "`Retry-After` says when",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "string"}}}


def documented(*statuses: int, openai: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the error statuses it returns, with the envelope."""
    model = OpenAIErrorEnvelope if openai else ErrorEnvelope
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[status] = entry
    return out


# the OpenAI-compatible facade: its errors are in OpenAI's shape, 400 for invalid requests
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


def openai_type(status: int) -> str:
    """OpenAI's error ``type`` for a status (a wrong key is ``invalid_request_error`` there
    too, with code ``invalid_api_key``)."""
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_response_for(path: str, status: int, code: str, message: str, *,
                       headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The envelope a middleware answers with on ``path``: OpenAI's shape on the facade
    (``{error: {message, type, code, param}}``, a superset), the API's elsewhere."""
    if path.startswith(OPENAI_PATHS):
        return JSONResponse({"error": {"message": message, "type": openai_type(status),
                                       "code": code, "param": None}},
                            status_code=status, headers=headers)
    return error_response(status, code, message, headers=headers)


# the statuses of every /v1 route that needs the runtime (keys, rate limit, not ready)
V1 = (401, 429, 503)


class ApiError(Exception):
    """An error meant for the client: status, stable machine code, human message."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def validation_code(exc: RequestValidationError) -> str:
    """``invalid_request``, or the request model's own code (``empty_message``)."""
    for err in exc.errors():
        if err.get("type") in CODED_VALIDATION_ERRORS:
            return str(err["type"])
    return "invalid_request"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def classify(exc: BaseException) -> ApiError | None:
    """Map an exception of the layers below to the client's error, or None (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AgentError):
        return from_agent(exc)
    # Imported lazily: the API must not fail to start because a layer is being rebuilt.

    if isinstance(exc, SessionNotFound | SessionAccessDenied):
        # A foreign session is reported exactly like an unknown one: its id says nothing.
        return session_not_found()
    if isinstance(exc, VersionConflict):
        return ApiError(409, "session_conflict",
                        "the session was changed by another request; retry")
    if isinstance(exc, SessionError):
        log.warning("session store unavailable: %s", exc)
        return sessions_unavailable()
    if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        log.warning("catalog database unavailable: %s", exc)
        return ApiError(503, "catalog_unavailable",
                        "the catalog database is unavailable; retry shortly",
                        headers={"Retry-After": str(RETRY_AFTER_S)})
    return None


def sessions_unavailable() -> ApiError:
    """The session store cannot be reached (its address stays in the log, not the reply)."""
    return ApiError(503, "sessions_unavailable",
                    "the session store is unavailable; retry shortly",
                    headers={"Retry-After": str(RETRY_AFTER_S)})


def count_error(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()


def _respond(request: Request, status: int, code: str, message: str,
             headers: Mapping[str, str] | None = None) -> JSONResponse:
    count_error(request, code)
    if status >= 500:
        log.warning("%s: %s", code, message, extra={"code": code, "status": status})
    return error_response_for(request.url.path, status, code, message, headers=headers)


class NoSuchSession(ApiError):
    """404 ``session_not_found``: unknown, expired and foreign sessions all answer this, word
    for word (a caller that may start afresh instead catches this type)."""

    def __init__(self) -> None:
        super().__init__(404, "session_not_found", NO_SESSION)


def session_not_found() -> NoSuchSession:
    """Unknown, expired and foreign sessions all answer this, word for word."""
    return NoSuchSession()


def from_agent(exc: AgentError) -> ApiError:
    """The agent's typed error as the client sees it."""
    if isinstance(exc, SessionUnknown | SessionForbidden):
        # another user's session is indistinguishable from an unknown one
        return session_not_found()
    if isinstance(exc, StoreUnavailable):
        log.warning("session store unavailable: %s", exc.message)
        return sessions_unavailable()
    return ApiError(exc.status, exc.code, exc.message)


def from_agent_event(data: Mapping[str, Any]) -> ApiError:
    """An in-band ``error`` event of :meth:`agent.service.Agent.stream` (``{code, message}``,
    possibly nested under ``error``) as the client's error."""
    nested = data.get("error")
    inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else data
    return from_agent(from_event(dict(inner)))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. not UTF-8)
            return _respond(request, 422, "malformed_json", MALFORMED_BODY)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.url.path}"
        headers = exc.headers
        if exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return _respond(request, exc.status_code, code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _respond(request, 422, "malformed_json", MALFORMED_BODY)
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type"
               for e in errors):
            return _respond(request, 422, "malformed_json",
                            "the request body must be a JSON object "
                            "(send it with Content-Type: application/json)")
        return _respond(request, 422, validation_code(exc), _validation_message(exc))

    async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = classify(exc)
        if mapped is None:  # pragma: no cover - only registered for mapped types
            raise exc
        return _respond(request, mapped.status, mapped.code, mapped.message, mapped.headers)

    for exc_type in _domain_exceptions():
        app.add_exception_handler(exc_type, _domain_error)


def _allowed(request: Request) -> str:
    """Every method some route serves on this path (a path with a GET and a DELETE route
    answers 405 with both, not only the first route's)."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    routes = list(request.app.router.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)  # an included router (no prefix)
        if included is not None:
            routes.extend(included.routes)
        elif route.matches(scope)[0] != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _domain_exceptions() -> list[type[Exception]]:

    return [AgentError, SessionError, SessionNotFound, DBAPIError]
