"""What every customer page shares: language choice, rendering, limits, evidence."""

import ipaddress
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from consent.services import Evidence
from contacts.models import Contact
from core.inputs import storable_text

from .ratelimits import client_ip

SUPPORTED = dict(settings.LANGUAGES)


# --- Language ---------------------------------------------------------------------


def _supported(code: str | None) -> str | None:
    code = (code or "").lower().replace("_", "-")
    if code in SUPPORTED:
        return code
    base = code.split("-")[0]
    return base if base in SUPPORTED else None


def _choose_language(request: HttpRequest, contact: Contact | None) -> tuple[str, bool]:
    """(language, chosen now): ?lang= first, then an earlier choice, then the contact's."""
    chosen = _supported(request.GET.get("lang"))
    if chosen:
        return chosen, True
    remembered = _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if remembered:
        return remembered, False
    if contact is not None and (own := _supported(contact.language)):
        return own, False
    return _supported(translation.get_language()) or settings.LANGUAGE_CODE, False


def _language_links(request: HttpRequest, current: str) -> list[dict]:
    links = []
    for code, name in settings.LANGUAGES:
        query = request.GET.copy()
        query["lang"] = code
        links.append(
            {
                "code": code,
                "name": name,
                "url": f"{request.path}?{query.urlencode()}",
                "current": code == current,
            }
        )
    return links


def in_language(view: Callable) -> Callable:
    """Render in the chosen language and remember an explicit choice in a cookie."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, contact: Contact | None = None, **kwargs):
        language, chosen_now = _choose_language(request, contact)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        # Read by base_public.html's language switcher.
        request.language_links = _language_links(request, language)  # type: ignore[attr-defined]
        if contact is not None:
            kwargs["contact"] = contact
        response = view(request, *args, **kwargs)
        if chosen_now:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=365 * 24 * 60 * 60,
                samesite="Lax",
                secure=request.is_secure(),
                httponly=True,
            )
        return response

    return wrapped


def render_page(
    request: HttpRequest, template: str, context: dict | None = None, status: int = 200
):
    base = {
        "business_name": settings.BUSINESS_NAME,
        "language_links": getattr(request, "language_links", []),
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def too_many(request: HttpRequest, wait: int) -> HttpResponse:
    response = render_page(request, "preferences/rate_limited.html", status=429)
    response["Retry-After"] = str(wait)
    return response


def valid_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""


def request_evidence(request: HttpRequest, *, page_url: str, **context) -> Evidence:
    return Evidence(
        ip=valid_ip(client_ip(request)),
        # Evidence of what the browser sent, never a reason to refuse the person.
        user_agent=storable_text(request.META.get("HTTP_USER_AGENT", "")[:2000]),
        page_url=page_url,
        context={"page_language": translation.get_language(), **context},
    )
