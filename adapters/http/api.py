"""The portal's JSON API, version 1 (under /v1). Bearer tokens; the company comes from the token."""


import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Security, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from adapters.excel import write_template
from adapters.http.errors import PortalError
from adapters.http.models import (
    DeviceDetailV1,
    DevicePageV1,
    DocumentResultV1,
    ProblemV1,
    RegistrationOutcomeV1,
    RegistrationV1,
    RejectV1,
    ReviewListV1,
    ReviewResultV1,
    WorkbookResultV1,
)
from adapters.http.service import Filters, Portal, too_large_text
from adapters.http.tokens import Principal
from domain.statuses import Status

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

bearer = HTTPBearer(auto_error=False, scheme_name="PortalToken",
                    description="A portal token (`cashback tokens create`): `Authorization: Bearer cbk_…`")

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemV1, "content": {"application/problem+json": {}}, "description": text}
    for code, text in ((401, "Missing or invalid token"), (403, "Not allowed for this token's role"),
                       (404, "Unknown device, or another company's"), (422, "Invalid input"))
}


def portal_of(request: Request) -> Portal:
    return request.app.state.portal  # type: ignore[no-any-return]


async def principal(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Principal:
    if credentials is None or not credentials.credentials:
        raise PortalError(401, "send Authorization: Bearer <token>", code="token_missing",
                          headers={"WWW-Authenticate": "Bearer"})
    found = await run_in_threadpool(portal_of(request).authenticate, credentials.credentials)
    if found is None:
        raise PortalError(401, "the token is unknown or revoked", code="token_invalid",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    bind_principal(request, found)
    return found


def bind_principal(request: Request, found: Principal) -> None:
    import structlog

    request.state.principal = found
    structlog.contextvars.bind_contextvars(company=found.customer_no, role=str(found.role), token_id=found.token_id)


Caller = Annotated[Principal, Depends(principal)]


async def json_body(request: Request) -> None:
    """A body for a JSON endpoint must say it is JSON (anything else would be read as bytes: 415)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    if await request.body():
        raise PortalError(415, f"send the body as JSON with Content-Type: application/json (got "
                               f"{content_type or 'no Content-Type'})", code="unsupported_media_type")


JsonBody = Depends(json_body)
UNSUPPORTED: dict[int | str, dict[str, Any]] = {415: {"model": ProblemV1, "content": {"application/problem+json": {}},
                     "description": "The body is not sent as JSON"}}


def build_router(page_max: int) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=PROBLEMS)

    @router.post("/registrations", response_model=RegistrationOutcomeV1, status_code=201, tags=["registrations"],
                 summary="Register one device for the caller's company",
                 dependencies=[JsonBody],
                 responses={200: {"model": RegistrationOutcomeV1, "description": "Already known (duplicate or "
                                                                                  "claimed by another company)"},
                            **UNSUPPORTED})
    def register(body: RegistrationV1, request: Request, caller: Caller) -> Any:
        outcome = portal_of(request).register(caller, serial=body.serial, device_type=body.device_type,
                                              installed_on=body.installed_on, request_id=request.state.request_id)
        return JSONResponse(RegistrationOutcomeV1(**outcome).model_dump(mode="json"),
                            status_code=201 if outcome["outcome"] == "registered" else 200)

    @router.post("/registrations/workbook", response_model=WorkbookResultV1, tags=["registrations"],
                 summary="Register the devices of a workbook made from the template; one verdict per row",
                 responses={413: {"model": ProblemV1, "description": "File too large or too many rows"}})
    def workbook(request: Request, caller: Caller,
                 file: Annotated[UploadFile, File(description="The filled-in .xlsx template")]) -> Any:
        content = _read_upload(file, portal_of(request).settings.portal_max_upload_bytes)
        result = portal_of(request).workbook(caller, content, request.state.request_id)
        return {"upload_id": result.upload_id, "rows": len(result.verdicts), "counts": dict(result.counts()),
                "verdicts": [{"row": v.row_number, "serial": v.serial, "status": v.status, "reason": v.reason,
                              "message": v.message, "label": v.label} for v in result.verdicts]}

    @router.get("/template.xlsx", tags=["registrations"], summary="The campaign's workbook template",
                response_class=FileResponse, responses={200: {"content": {XLSX: {}}}})
    def template(request: Request, caller: Caller) -> Any:
        return template_response(portal_of(request))

    @router.get("/devices", response_model=DevicePageV1, tags=["devices"],
                summary="The company's devices with their status, filtered and paged, and its totals")
    def devices(
        request: Request, caller: Caller,
        status: Annotated[Status | None, Query(description="Only this status")] = None,
        device_type: Annotated[str | None, Query(max_length=64, description="Only this device type")] = None,
        q: Annotated[str | None, Query(max_length=40, description="Part of the serial number")] = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        company: Annotated[str | None, Query(max_length=20, description="Staff, finance and auditor tokens: "
                                                                        "the company to read (installers: ignored)")]
        = None,
    ) -> Any:
        portal = portal_of(request)
        page = portal.page(portal.company_of(caller, company),
                           Filters(status=str(status) if status else None, device_type=device_type, q=q,
                                   limit=limit, offset=offset))
        return {"company": page.company, "matching": page.matching, "limit": limit, "offset": offset,
                "totals": portal.totals_dict(page.totals), "items": [portal.device_dict(r) for r in page.rows]}

    @router.get("/devices/{serial}", response_model=DeviceDetailV1, tags=["devices"],
                summary="A device's status and the history the company may see")
    def device(request: Request, caller: Caller, serial: str,
               company: Annotated[str | None, Query(max_length=20, description="Staff, finance, auditor: the "
                                                                               "company (default: the owner)")]
               = None) -> Any:
        portal = portal_of(request)
        view = portal.device(caller, serial, company=None if caller.is_installer else company)
        return {"device": portal.device_dict(view.row), "history": view.history,
                "documents_missing": view.documents_missing}

    @router.post("/devices/{serial}/documents", response_model=DocumentResultV1, status_code=201, tags=["devices"],
                 summary="Upload a document (invoice, commissioning report) for a device awaiting documents",
                 responses={409: {"model": ProblemV1, "description": "The device does not await documents"},
                            413: {"model": ProblemV1, "description": "File too large"}})
    def upload_document(request: Request, caller: Caller, serial: str,
                        kind: Annotated[str, Form(description="invoice or commissioning_report", max_length=40)],
                        file: Annotated[UploadFile, File(description="PDF or image")]) -> Any:
        portal = portal_of(request)
        content = _read_upload(file, portal.settings.portal_max_upload_bytes)
        return portal.upload_document(caller, serial, kind, content, request.state.request_id, filename=file.filename)

    @router.get("/review", response_model=ReviewListV1, tags=["review"],
                summary="Staff: devices whose documents await review")
    def review(request: Request, caller: Caller) -> Any:
        return {"items": portal_of(request).review_queue(caller)}

    @router.post("/review/{serial}/approve", response_model=ReviewResultV1, tags=["review"],
                 summary="Staff: accept a device's documents", responses={409: {"model": ProblemV1}})
    def approve(request: Request, caller: Caller, serial: str) -> Any:
        return portal_of(request).approve(caller, serial, request.state.request_id)

    @router.post("/review/{serial}/reject", response_model=ReviewResultV1, tags=["review"],
                 summary="Staff: refuse a device's documents, saying why (`note`, required)",
                 dependencies=[JsonBody], responses={409: {"model": ProblemV1}, **UNSUPPORTED})
    def reject(request: Request, caller: Caller, serial: str, body: RejectV1 | None = None) -> Any:
        return portal_of(request).reject(caller, serial, body.note if body else "", request.state.request_id)

    return router


def _read_upload(file: UploadFile, limit: int, language: str = "fr") -> bytes:
    content = file.file.read(limit + 1)
    if len(content) > limit:
        raise PortalError(413, f"file too large: the limit is {limit} bytes", code="too_large",
                          page_detail=too_large_text(limit, language))
    return content


def template_response(portal: Portal) -> FileResponse:
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115 - removed after sending
    handle.close()
    path = Path(handle.name)
    write_template(path, portal.engine.terms)
    return FileResponse(path, media_type=XLSX, filename=f"cashback-{portal.campaign}-modele.xlsx",
                        background=BackgroundTask(path.unlink, missing_ok=True))
