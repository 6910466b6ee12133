"""Problem details (RFC 9457) for every error the portal answers, and the last-resort handler."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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


#: FastAPI's answer when a JSON body cannot be parsed at all (e.g. nested too deeply for the parser).
_UNPARSABLE_BODY = "There was an error parsing the body"

#: How the web page answers an error: (request, status, message written for the page or "").
HtmlError = Callable[[Request, int, str], Response]
#: Whether a request is one of the web page's (it answers HTML errors, the API answers problems).
IsPage = Callable[[Request], bool]


def default_code(status: int) -> str:
    return _TITLES.get(status, "error").lower().replace(" ", "_")


class PortalError(Exception):
    """An answer other than success, with what the caller should know.

    ``page_detail`` is the message the web page shows (French); empty, the page shows its own text for
    the status.
    """

    def __init__(self, status: int, detail: str, *, code: str = "", title: str | None = None,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                 page_detail: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or default_code(status)
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}
        self.page_detail = page_detail


def problem(status: int, detail: str, *, code: str = "", title: str | None = None,
            errors: list[dict[str, Any]] | None = None, request: Request | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    code = code or default_code(status)
    body: dict[str, Any] = {
        "type": f"urn:cashback:problem:{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [_field_error(e) for e in error.errors()]


def _field_error(e: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in e.get("loc", ())]
    if e.get("type") == "json_invalid":  # loc is ("body", <character offset>): the body is the field
        position = loc[1] if len(loc) > 1 else "?"
        reason = (e.get("ctx") or {}).get("error", "")
        return {"field": "body", "location": "body", "type": "json_invalid",
                "message": f"malformed JSON at character {position}" + (f": {reason}" if reason else "")}
    field = ".".join(p for p in loc if p not in ("body", "query", "path", "header")) or ".".join(loc)
    return {"field": field, "location": loc[0] if loc else "", "message": e.get("msg", ""),
            "type": e.get("type", "")}


def install_handlers(app: FastAPI, html_error: HtmlError | None = None, is_page: IsPage | None = None) -> None:
    """Problems for the API; with ``html_error``, HTML error pages for the web page's requests."""

    def wants_html(request: Request) -> bool:
        return html_error is not None and _wants_html(request, is_page)

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        if html_error is not None and wants_html(request):
            return html_error(request, exc.status, exc.page_detail)
        return problem(exc.status, exc.detail, code=exc.code, title=exc.title, errors=exc.errors,
                       request=request, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if html_error is not None and wants_html(request):
            return html_error(request, 422, "")
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        malformed = any(e["type"] == "json_invalid" for e in errors)
        return problem(422, detail, code="malformed_json" if malformed else "invalid_request", errors=errors,
                       request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if html_error is not None and wants_html(request):
            return html_error(request, exc.status_code, "")
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            return problem(400, "body: could not be parsed (malformed, or nested too deeply)",
                           code="unparsable_body", request=request)
        return problem(exc.status_code, str(exc.detail), request=request, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _last_resort(request: Request, exc: Exception) -> Response:
        log.error("portal_unhandled_error", path=request.url.path, method=request.method,
                  error=f"{exc.__class__.__name__}: {exc}", exc_info=exc)
        if html_error is not None and wants_html(request):
            with contextlib.suppress(Exception):  # the page itself may be what failed
                return html_error(request, 500, "")
        return problem(500, "an unexpected error occurred; it has been logged", code="internal_error",
                       request=request)


_NOT_PAGES = ("/v1", "/static", "/health", "/ready", "/metrics", "/openapi.json")


def _wants_html(request: Request, is_page: IsPage | None) -> bool:
    """A web page's request always; an unknown path only from a browser; never the API's."""
    if is_page is not None and is_page(request):
        return True
    if request.scope.get("route") is not None or request.url.path.startswith(_NOT_PAGES):
        return False
    return "text/html" in request.headers.get("accept", "")
