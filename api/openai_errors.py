"""The OpenAI-compatible facade's errors: OpenAI's shape, 400 for every invalid request.

Every error of the facade's routes -- request validation included, which FastAPI would
answer 422 elsewhere -- is ``{"error": {"message", "type", "code", "param"}}`` (a superset of
the API's ``{"error": {"code", "message"}}``, with the same codes): :class:`OpenAIRoute` is
the route class that answers so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.errors import MALFORMED_BODY, ApiError, classify, count_error, openai_type, validation_code

log = logging.getLogger("recagent.api")


class OpenAIError(ApiError):
    """An :class:`ApiError` that also names the offending parameter."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(status, code, message)
        self.param = param


def openai_error_body(status: int, code: str, message: str,
                      param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": openai_type(status), "code": code,
                      "param": param}}


def _error_response(request: Request, exc: ApiError) -> JSONResponse:
    count_error(request, exc.code)
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.message, extra={"code": exc.code,
                                                            "status": exc.status})
    param = exc.param if isinstance(exc, OpenAIError) else None
    return JSONResponse(openai_error_body(exc.status, exc.code, exc.message, param),
                        status_code=exc.status, headers=exc.headers)


def param_of(loc: Sequence[int | str]) -> str | None:
    """The request parameter a validation error is about, as OpenAI names it
    (``messages[0].content``), without pydantic's internals: the role tag of a message (the
    discriminated union's branch) and the names of validators or union members
    (``function-after[...]``, ``list[str]``) are no parameters."""
    parts = [p for p in loc if p != "body"]
    if len(parts) > 3 and parts[0] == "messages" and isinstance(parts[1], int):
        del parts[2]  # the message's role: which model validated it, not a field
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += ("." if text else "") + part
        else:
            break
    return text or None


def _validation_error(exc: RequestValidationError) -> OpenAIError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return OpenAIError(400, "malformed_json", MALFORMED_BODY)
    code = validation_code(exc)
    if code != "invalid_request":  # the request model's own refusal: its message says it
        own = next(e for e in errors if e.get("type") == code)
        return OpenAIError(400, code, str(own.get("msg")), param_of(own.get("loc", ())))
    params = [param_of(e.get("loc", ())) for e in errors]
    message = "; ".join(f"{param or 'body'}: {e.get('msg', 'invalid')}"
                        for param, e in zip(params[:5], errors, strict=False))
    return OpenAIError(400, code, message or "invalid request", params[0] if params else None)


class OpenAIRoute(APIRoute):
    """Every error of these routes -- validation included -- in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _error_response(request, _validation_error(exc))
            except StarletteHTTPException as exc:
                if exc.status_code != 400:  # 400: FastAPI could not decode the body
                    raise
                return _error_response(request, OpenAIError(400, "malformed_json",
                                                            MALFORMED_BODY))
            except Exception as exc:
                mapped = classify(exc)
                if mapped is None:
                    raise
                return _error_response(request, mapped)

        return handle
