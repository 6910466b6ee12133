"""The installers' web page: server-rendered (Jinja2), cookie session, CSRF token on every form post."""

from __future__ import annotations

import hmac
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from adapters.excel import format_euros
from adapters.http.api import _read_upload, bind_principal, portal_of, template_response
from adapters.http.errors import PortalError
from adapters.http.service import DOCUMENT_KINDS, Filters
from adapters.http.tokens import Principal, Role
from cashback.documents import document_name
from domain.statuses import Status

SESSION_COOKIE = "cashback_session"
LOGIN_CSRF_COOKIE = "cashback_login_csrf"
PAGE_SIZE = 25
WEB_TAG = "web page"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_CLASS = {
    Status.PAYMENT_PENDING: "pending", Status.DOCS_REQUIRED: "docs-required", Status.DOCS_UPLOADED: "docs-uploaded",
    Status.PAID: "paid", Status.REJECTED: "rejected",
}
STATUS_SHORT = {
    Status.PAYMENT_PENDING: "Paiement en attente", Status.DOCS_REQUIRED: "Documents requis",
    Status.DOCS_UPLOADED: "Documents reçus", Status.PAID: "Payé", Status.REJECTED: "Refusé",
}
DOCUMENT_LABELS = {k: document_name(k, "fr").capitalize() for k in ("invoice", "commissioning_report")}


def _french_date(value: Any) -> str:
    if not value:
        return ""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        return text
    return moment.strftime("%d/%m/%Y")


TEMPLATES.env.filters["euros"] = lambda cents: format_euros(int(cents or 0))
TEMPLATES.env.filters["frdate"] = _french_date
TEMPLATES.env.globals.update(status_class=STATUS_CLASS, status_short=STATUS_SHORT, statuses=list(Status),
                             document_labels=DOCUMENT_LABELS)


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


def _secure(request: Request) -> bool:
    return bool(portal_of(request).settings.portal_cookie_secure) or request.url.scheme == "https"


def session(request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE, "")
    found = portal_of(request).authenticate(token) if token else None
    if found is None:
        raise _Redirect("/login")
    bind_principal(request, found)
    if found.role is not Role.INSTALLER:
        raise page_error(403, "Le portail web est réservé aux installateurs ; utilisez l'API.",
                         "forbidden_for_role")
    return found


def _check_csrf(principal: Principal, submitted: str) -> None:
    if not submitted or not hmac.compare_digest(submitted, principal.csrf_token()):
        raise page_error(403, "Le formulaire a expiré ou ne vient pas de ce site : rechargez la page.",
                         "csrf_failed")


def render(request: Request, name: str, principal: Principal | None = None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    portal = portal_of(request)
    context.update(request=request, principal=principal, csrf=principal.csrf_token() if principal else "",
                   lang=portal.language, campaign=portal.engine.terms)
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


#: Title and message of the web page's error page, per status.
ERROR_TEXTS = {
    400: ("Demande incorrecte", "La demande est incomplète ou mal formée."),
    401: ("Connexion requise", "Connectez-vous pour continuer."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas, ou cet appareil n'est pas enregistré par votre entreprise."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    409: ("Action impossible", "Cette action n'est pas possible dans l'état actuel de l'appareil."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    415: ("Type de fichier refusé", "Ce type de fichier n'est pas accepté."),
    422: ("Demande invalide", "L'adresse ou le formulaire contient une valeur invalide (par exemple un numéro "
                              "de page)."),
    500: ("Erreur inattendue", "Une erreur inattendue s'est produite ; elle a été enregistrée."),
    503: ("Service indisponible", "Le service est momentanément indisponible ; réessayez dans un instant."),
}


def page_error(status: int, detail: str, code: str) -> PortalError:
    """An error whose message is written for the page (French): the error page shows it as is."""
    return PortalError(status, detail, code=code, page_detail=detail)


def html_error(request: Request, status: int, detail: str = "") -> HTMLResponse:
    """The error page: the status kept, a French message, a link back to the overview."""
    title, text = ERROR_TEXTS.get(status, ("Erreur", "La demande n'a pas abouti."))
    return render(request, "error.html", None, status_code=status, title=title, detail=detail or text)


def is_page(request: Request) -> bool:
    """Whether the request was routed to one of the web page's routes."""
    return WEB_TAG in getattr(request.scope.get("route"), "tags", ())


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, tags=[WEB_TAG])

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, error: str = "") -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        if token and portal_of(request).authenticate(token) is not None:
            return RedirectResponse("/", status_code=303)
        login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = render(request, "login.html", None, login_csrf=login_csrf,
                          error="Jeton inconnu ou révoqué." if error == "invalid" else "")
        response.set_cookie(LOGIN_CSRF_COOKIE, login_csrf, httponly=True, samesite="strict", secure=_secure(request),
                            path="/login")
        return response

    @router.post("/login")
    def login(request: Request, token: Annotated[str, Form(max_length=200)] = "",
              csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(expected, csrf_token):
            raise page_error(403, "Le formulaire a expiré : rechargez la page de connexion.", "csrf_failed")
        found = portal_of(request).authenticate(token)
        if found is None:
            return RedirectResponse("/login?error=invalid", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token.strip(), httponly=True, samesite="strict", secure=_secure(request),
                            max_age=12 * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @router.post("/logout")
    def logout(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
        _check_csrf(session(request), csrf_token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/", response_class=HTMLResponse)
    def overview(
        request: Request,
        status: Annotated[str, Query(max_length=20)] = "",
        device_type: Annotated[str, Query(max_length=64)] = "",
        q: Annotated[str, Query(max_length=40)] = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        principal = session(request)
        portal = portal_of(request)
        status_filter = status if status in {str(s) for s in Status} else ""
        filters = Filters(status=status_filter or None, device_type=device_type or None, q=q or None,
                          limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        result = portal.page(str(principal.customer_no), filters)
        pages = max(1, -(-result.matching // PAGE_SIZE))
        base = {k: v for k, v in (("status", status_filter), ("device_type", device_type), ("q", q)) if v}

        def link(n: int) -> str:
            return "/?" + urlencode({**base, "page": n})

        return render(request, "overview.html", principal, rows=[portal.device_dict(r) for r in result.rows],
                      totals=portal.totals_dict(result.totals), matching=result.matching, page=page, pages=pages,
                      prev_link=link(page - 1) if page > 1 else "", next_link=link(page + 1) if page < pages else "",
                      filters={"status": status_filter, "device_type": device_type, "q": q},
                      device_types=[t.device_type for t in portal.engine.terms.eligible_types])

    @router.get("/devices/{serial}", response_class=HTMLResponse)
    def device(request: Request, serial: str, uploaded: str = "") -> Response:
        principal = session(request)
        portal = portal_of(request)
        view = portal.device(principal, serial)
        return render(request, "device.html", principal, device=portal.device_dict(view.row), history=view.history,
                      is_owner=view.is_owner, document_kinds=DOCUMENT_KINDS, uploaded=uploaded,
                      documents_missing=view.documents_missing)

    @router.post("/devices/{serial}/documents", response_class=HTMLResponse)
    def upload_document(request: Request, serial: str,
                        kind: Annotated[str, Form(max_length=40)] = "",
                        csrf_token: Annotated[str, Form(max_length=200)] = "",
                        file: Annotated[UploadFile | None, File()] = None) -> Response:
        principal = session(request)
        _check_csrf(principal, csrf_token)
        portal = portal_of(request)
        try:
            if file is None or not file.filename:
                raise page_error(422, "Choisissez un fichier.", "file_missing")
            content = _read_upload(file, portal.settings.portal_max_upload_bytes, portal.language)
            result = portal.upload_document(principal, serial, kind, content, request.state.request_id,
                                               filename=file.filename)
        except PortalError as error:
            if error.status == 404:
                raise
            view = portal.device(principal, serial)
            return render(request, "device.html", principal, status_code=error.status,
                          device=portal.device_dict(view.row), history=view.history, is_owner=view.is_owner,
                          document_kinds=DOCUMENT_KINDS, upload_error=error.detail,
                          documents_missing=view.documents_missing)
        return RedirectResponse(f"/devices/{result['serial']}?uploaded={result['kind']}", status_code=303)

    @router.get("/register", response_class=HTMLResponse)
    def register_page(request: Request) -> Response:
        principal = session(request)
        return render(request, "register.html", principal, form={}, device_types=_types(request))

    @router.post("/register", response_class=HTMLResponse)
    def register(request: Request,
                 serial: Annotated[str, Form(max_length=100)] = "",
                 device_type: Annotated[str, Form(max_length=100)] = "",
                 installed_on: Annotated[str, Form(max_length=40)] = "",
                 csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
        principal = session(request)
        _check_csrf(principal, csrf_token)
        form = {"serial": serial, "device_type": device_type, "installed_on": installed_on}
        try:
            outcome = portal_of(request).register(principal, serial=serial, device_type=device_type,
                                                  installed_on=installed_on, request_id=request.state.request_id)
        except PortalError as error:
            if error.status != 422:
                raise
            field_errors = {e["field"]: e["message"] for e in (error.errors or [])}
            return render(request, "register.html", principal, status_code=422, form=form, errors=field_errors,
                          error=error.detail, device_types=_types(request))
        return render(request, "register.html", principal, form={}, outcome=outcome, device_types=_types(request))

    @router.get("/workbook", response_class=HTMLResponse)
    def workbook_page(request: Request) -> Response:
        return render(request, "workbook.html", session(request))

    @router.post("/workbook", response_class=HTMLResponse)
    def workbook(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "",
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
        principal = session(request)
        _check_csrf(principal, csrf_token)
        portal = portal_of(request)
        try:
            if file is None or not file.filename:
                raise page_error(422, "Choisissez un fichier .xlsx.", "file_missing")
            content = _read_upload(file, portal.settings.portal_max_upload_bytes, portal.language)
            result = portal.workbook(principal, content, request.state.request_id)
        except PortalError as error:
            if error.status not in (413, 422):
                raise
            return render(request, "workbook.html", principal, status_code=error.status,
                          error=error.page_detail or error.detail)
        return render(request, "workbook.html", principal, result=result, counts=dict(result.counts()),
                      filename=file.filename)

    @router.get("/template.xlsx")
    def template(request: Request) -> Response:
        session(request)
        return template_response(portal_of(request))

    return router


def _types(request: Request) -> list[str]:
    return [t.device_type for t in portal_of(request).engine.terms.eligible_types]


def install_redirects(app: Any) -> None:
    @app.exception_handler(_Redirect)
    async def _redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.to, status_code=303)
