"""The OpenAI-compatible facade's errors: OpenAI's shape, 400 for every invalid request.

Every error of the facade's routes -- request validation included, which FastAPI would
answer 422 elsewhere -- is ``{"error": {"message", "type", "code", "param"}}`` (a superset of
the API's ``{"error": {"code", "message"}}``, with the same codes): :class:`OpenAIRoute` is
the route class that answers so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
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


def _validation_error(exc: RequestValidationError) -> OpenAIError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return OpenAIError(400, "malformed_json", MALFORMED_BODY)
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
        f"{e.get('msg', 'invalid')}" for e in errors[:5]) or "invalid request"
    return OpenAIError(400, validation_code(exc), message, param)


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
