"""Strings × form fields and paths × routes on the customer pages (no login needed).

The opt-in form and its embed, the preference centre's changes, undo and invitation
answers, and the invitation answer page: a hostile value is a page saying what is
wrong (4xx) or a redirect, never a 500, and records nothing.
"""

import time
from urllib.parse import quote

import pytest

from preferences.forms import issued_token
from tests.hostile.conftest import assert_ledger_verifies, assert_page_answer, nothing_written
from tests.hostile.values import PATH_SEGMENTS, QUERY_STRINGS

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def form_body(fields: dict[str, str], hostile: str, raw: str) -> bytes:
    """The form encoded as a browser would, with `hostile` set to the percent-encoded `raw`."""
    parts = [f"{quote(k)}={quote(v, safe='')}" for k, v in fields.items() if k != hostile]
    parts.append(f"{quote(hostile)}={raw}")
    return "&".join(parts).encode("ascii")


def opt_in_fields() -> dict[str, str]:
    return {
        "phone": "+447911123999",
        "name": "Grace",
        "language": "en",
        "website": "",
        "issued": issued_token(at=time.time() - 30),
        "notice_marketing": "marketing/en/1",
        "notice_service": "service/en/1",
        "agree_marketing": "on",
    }


# The ticked boxes are left out: any value at all is a tick.
UNDECODABLE = ("utf8-encoded-surrogate", "not-utf8")
OPT_IN_FIELDS = (
    "phone",
    "name",
    "language",
    "website",
    "issued",
    "notice_marketing",
    "notice_service",
)
OPT_IN_CASES = [
    pytest.param(url, name, raw, id=f"{page}-{name}-{value_id}")
    for page, url in (("opt-in", "/opt-in/"), ("embed", "/opt-in/embed/"))
    for name in OPT_IN_FIELDS
    for value_id, raw in QUERY_STRINGS
    # Bytes that are not UTF-8 arrive as U+FFFD: a name that can be stored (below).
    if not (name == "name" and value_id in UNDECODABLE)
]


@pytest.mark.parametrize(("url", "name", "raw"), OPT_IN_CASES)
def test_a_hostile_value_in_the_opt_in_form(world, url, name, raw):
    with nothing_written():
        response = world.client.post(url, form_body(opt_in_fields(), name, raw), content_type=FORM)

    # The honeypot filled in answers as if sent (a NUL anywhere is a 400 first); anything
    # else shows the form again.
    assert_page_answer(response, status=(302, 400) if name == "website" else 400)


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF%FE"], ids=UNDECODABLE)
def test_a_name_in_bytes_that_are_not_utf8_is_kept_as_replacement_characters(world, raw):
    from contacts.models import Contact

    response = world.client.post(
        "/opt-in/", form_body(opt_in_fields(), "name", raw), content_type=FORM
    )

    assert_page_answer(response, status=302)
    assert "\ufffd" in Contact.objects.get(phone="+447911123999").name
    assert_ledger_verifies()


def change_fields(world, action: str) -> dict[str, str]:
    if action == "grant":
        return {"action": "grant", "purpose": "service", "notice": "service/en/1", "agree": "on"}
    return {"action": "pause", "purpose": "marketing", "weeks": "4"}


CHANGE_CASES = [
    pytest.param(action, name, raw, id=f"{action}-{name}-{value_id}")
    for action, names in (("grant", ("action", "purpose", "notice")), ("pause", ("weeks",)))
    for name in names
    for value_id, raw in QUERY_STRINGS
]


@pytest.mark.parametrize(("action", "name", "raw"), CHANGE_CASES)
def test_a_hostile_value_in_a_preference_change(world, action, name, raw):
    url = f"{world.preference_path}change/"

    with nothing_written():
        response = world.client.post(
            url, form_body(change_fields(world, action), name, raw), content_type=FORM
        )

    assert_page_answer(response, status=(302, 400))


@pytest.mark.parametrize(("raw"), [r for _, r in QUERY_STRINGS], ids=[i for i, _ in QUERY_STRINGS])
@pytest.mark.parametrize(("name"), ["receipt", "agree"])
def test_a_hostile_value_in_an_undo(world, name, raw):
    url = f"{world.preference_path}undo/"

    with nothing_written():
        response = world.client.post(
            url, form_body({"receipt": "x", "agree": "on"}, name, raw), content_type=FORM
        )

    assert_page_answer(response, status=(302, 400))


@pytest.mark.parametrize(("raw"), [r for _, r in QUERY_STRINGS], ids=[i for i, _ in QUERY_STRINGS])
@pytest.mark.parametrize(("name"), ["answer", "invitation"])
def test_a_hostile_value_in_an_invitation_answer_on_the_preference_centre(world, name, raw):
    from preferences.links import preference_path

    url = f"{preference_path(world.bob)}invitations/"
    fields = {"answer": "accept", "invitation": str(world.invitation.pk)}

    with nothing_written():
        response = world.client.post(url, form_body(fields, name, raw), content_type=FORM)

    assert_page_answer(response, status=(302, 400))


@pytest.mark.parametrize(("raw"), [r for _, r in QUERY_STRINGS], ids=[i for i, _ in QUERY_STRINGS])
def test_a_hostile_answer_on_the_invitation_page(world, raw):
    url = f"/invitations/{world.invitation.token}/"

    with nothing_written():
        response = world.client.post(url, form_body({}, "answer", raw), content_type=FORM)

    assert_page_answer(response, status=(302, 400))


@pytest.mark.parametrize(("raw"), [r for _, r in QUERY_STRINGS], ids=[i for i, _ in QUERY_STRINGS])
@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("opt-in-lang", "/opt-in/?lang="),
        ("embed-sent", "/opt-in/embed/?sent="),
        ("centre-lang", "{centre}?lang="),
        ("done-receipt", "{centre}done/?r="),
    ],
    ids=["opt-in-lang", "embed-sent", "centre-lang", "done-receipt"],
)
def test_a_hostile_query_on_a_page(world, page, query, raw):
    with nothing_written():
        response = world.client.get(query.format(centre=world.preference_path) + raw)

    # A NUL is refused before the page (api.middleware.UnstorableInputMiddleware).
    assert_page_answer(response, status=(200, 302, 400))


PAGE_ROUTES = [
    ("get", "/invitations/{}/"),
    ("post", "/invitations/{}/"),
    ("get", "/preferences/{}/"),
    ("post", "/preferences/{}/change/"),
    ("post", "/preferences/{}/undo/"),
    ("get", "/preferences/{}/done/"),
    ("get", "/preferences/{}/record.json"),
    ("get", "/preferences/{}/record/"),
    ("post", "/preferences/{}/invitations/"),
]
PATH_CASES = [
    pytest.param(
        method,
        route,
        segment,
        id=f"{method}-{route.strip('/').split('/')[0]}-{route.strip('/').split('/')[-1]}-{seg_id}",
    )
    for method, route in PAGE_ROUTES
    for seg_id, segment in PATH_SEGMENTS
]


@pytest.mark.parametrize(("method", "route", "segment"), PATH_CASES)
def test_a_hostile_token_in_a_page_path(world, method, route, segment):
    send = getattr(world.client, method)
    kwargs = (
        {"data": "answer=accept&action=withdraw&purpose=marketing", "content_type": FORM}
        if method == "post"
        else {}
    )

    with nothing_written():
        response = send(route.format(segment), **kwargs)

    # An unknown link or invitation is a friendly 404 page.
    assert_page_answer(response, status=(400, 404, 405))
