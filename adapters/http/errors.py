"""Problem details (RFC 9457) for every error the portal answers, and the last-resort handler."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
    422: "Unprocessable content", 500: "Internal server error", 503: "Service unavailable",
}


class PortalError(Exception):
    """An answer other than success, with what the caller should know."""

    def __init__(self, status: int, detail: str, *, code: str = "", title: str | None = None,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _TITLES.get(status, "error").lower().replace(" ", "_")
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}


def problem(status: int, detail: str, *, code: str = "", title: str | None = None,
            errors: list[dict[str, Any]] | None = None, request: Request | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:cashback:problem:{code or _TITLES.get(status, 'error').lower().replace(' ', '_')}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    if errors is not None:
        body["errors"] = errors
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in error.errors():
        loc = [str(part) for part in e.get("loc", ())]
        out.append({"field": ".".join(p for p in loc if p not in ("body", "query", "path", "header")) or ".".join(loc),
                    "location": loc[0] if loc else "", "message": e.get("msg", ""), "type": e.get("type", "")})
    return out


def install_handlers(app: FastAPI, html_error: Any = None) -> None:
    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        if html_error is not None and _wants_html(request):
            return html_error(request, exc.status, exc.detail)
        return problem(exc.status, exc.detail, code=exc.code, title=exc.title, errors=exc.errors,
                       request=request, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, detail, code="invalid_request", errors=errors, request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if html_error is not None and _wants_html(request):
            return html_error(request, exc.status_code, str(exc.detail))
        return problem(exc.status_code, str(exc.detail), request=request, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _last_resort(request: Request, exc: Exception) -> Response:
        log.error("portal_unhandled_error", path=request.url.path, method=request.method,
                  error=f"{exc.__class__.__name__}: {exc}", exc_info=exc)
        return problem(500, "an unexpected error occurred; it has been logged", code="internal_error",
                       request=request)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/v1") or path in ("/health", "/ready", "/metrics", "/openapi.json"):
        return False
    return "text/html" in request.headers.get("accept", "")
