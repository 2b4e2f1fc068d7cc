"""The person's own copy, opened from the link we sent them: a readable page and the JSON."""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .copies import BadCopyLink, ExpiredCopyLink, contact_for_copy_token
from .services import export_person


def _base() -> dict:
    return {"business_name": settings.BUSINESS_NAME}


def _copy(request: HttpRequest, token: str) -> tuple[dict | None, HttpResponse | None]:
    try:
        contact = contact_for_copy_token(token)
    except ExpiredCopyLink:
        return None, render(request, "integrations/copy_expired.html", _base(), status=410)
    except BadCopyLink:
        return None, render(request, "integrations/copy_expired.html", _base(), status=404)
    # The person's own copy: their evidence too (it is theirs); audited as a download.
    return export_person(contact=contact, actor=None, with_evidence=True), None


@never_cache
@require_GET
def person_copy(request: HttpRequest, token: str) -> HttpResponse:
    copy, refused = _copy(request, token)
    if refused is not None:
        return refused
    return render(
        request,
        "integrations/copy.html",
        {
            **_base(),
            "copy": copy,
            "token": token,
            "pretty": json.dumps(copy, indent=2, ensure_ascii=False),
        },
    )


@never_cache
@require_GET
def person_copy_json(request: HttpRequest, token: str) -> HttpResponse:
    copy, refused = _copy(request, token)
    if refused is not None:
        return refused
    response = HttpResponse(
        json.dumps(copy, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response
