"""Each request the hostile-input report found answering 500, as a named test.

(The generated corpus in this folder covers the classes; these are the cases as they
were reported, so that each one is visibly closed.)
"""

import time
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError

from api.idempotency import CLAIM_TIMEOUT
from api.models import IdempotencyRecord
from consent.models import ConsentEvent
from consent.selectors import notice_by_ref
from contacts.models import Contact
from conversation.keywords import match_keyword
from preferences.forms import issued_token
from tests.hostile.api_operations import encode
from tests.hostile.conftest import (
    assert_api_answer,
    assert_ledger_verifies,
    assert_page_answer,
    nothing_written,
)
from tests.hostile.test_api_times import position
from tests.hostile.values import nested

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"
EVENTS = "/api/v1/consent-events/"
WITHDRAW = {"phone": "+447911123999", "purpose": "marketing", "action": "withdraw"}


def post(world, url, body, **headers):
    # ensure_ascii: a lone surrogate goes as the \ud800 escape a client would send.
    return world.client.post(url, encode(body), content_type="application/json", **headers)


# --- NUL ---------------------------------------------------------------------------------


def test_nul_in_a_contact_attribute_value_is_400_naming_attributes(world):
    with nothing_written():
        response = post(
            world, CONTACTS, {"phone": "+447911123999", "attributes": {"city": "Le\x00eds"}}
        )
    assert_api_answer(response, status=400, attr="attributes")


def test_nul_in_a_contact_attribute_key_is_400_naming_attributes(world):
    with nothing_written():
        response = post(
            world, CONTACTS, {"phone": "+447911123999", "attributes": {"ci\x00ty": "Leeds"}}
        )
    assert_api_answer(response, status=400, attr="attributes")


def test_nul_in_a_phone_is_400_naming_phone(world):
    with nothing_written():
        upsert = post(world, CONTACTS, {"phone": "+44791112\x003999"}, HTTP_IDEMPOTENCY_KEY="k1")
        event = post(world, EVENTS, {**WITHDRAW, "phone": "\x00"}, HTTP_IDEMPOTENCY_KEY="k2")
    body = assert_api_answer(upsert, status=400, attr="phone")
    assert body["errors"][0]["code"] == "null_characters_not_allowed"
    assert_api_answer(event, status=400, attr="phone")


def test_nul_in_a_purpose_is_400_naming_purpose(world):
    with nothing_written():
        response = post(world, EVENTS, {**WITHDRAW, "purpose": "\x00"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert_api_answer(response, status=400, attr="purpose")


def test_nul_in_a_notice_is_400_naming_notice(world):
    body = {**WITHDRAW, "action": "grant", "notice": "marketing/e\x00n/1"}
    with nothing_written():
        response = post(world, EVENTS, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert_api_answer(response, status=400, attr="notice")


def test_nul_in_a_group_invitation_phone_is_400_naming_phone(world):
    with nothing_written():
        response = post(
            world,
            f"/api/v1/groups/{world.group.pk}/invitations/",
            {"phone": "+447911123456\x00"},
            HTTP_IDEMPOTENCY_KEY="k1",
        )
    assert_api_answer(response, status=400, attr="phone")


@pytest.mark.parametrize("url", ["/opt-in/embed/", "/opt-in/"])
def test_nul_in_the_opt_in_form_is_a_400_page(world, url):
    data = {
        "phone": "+447911123999",
        "name": "Grace",
        "language": "en",
        "issued": issued_token(at=time.time() - 30),
        "notice_marketing": "marketing/e\x00n/1",
        "agree_marketing": "on",
    }
    with nothing_written():
        response = world.client.post(url, data)
    assert_page_answer(response, status=400)


def test_nul_in_the_preference_centre_grant_is_a_400_page(world):
    data = {"action": "grant", "purpose": "service", "notice": "service/e\x00n/1", "agree": "on"}
    with nothing_written():
        response = world.client.post(f"{world.preference_path}change/", data)
    assert_page_answer(response, status=400)


def test_nul_in_the_invitation_page_path_is_the_unknown_invitation_page(world):
    with nothing_written():
        response = world.client.get("/invitations/%00/")
    assert_page_answer(response, status=404)


# --- Lone surrogates ----------------------------------------------------------------------


def test_a_lone_surrogate_in_attributes_is_400_naming_the_attribute(world):
    with nothing_written():
        response = post(
            world, CONTACTS, {"phone": "+447911123999", "attributes": {"city": "\ud800"}}
        )
    body = assert_api_answer(response, status=400, attr="attributes")
    assert body["errors"][0]["code"] == "surrogate_characters_not_allowed"


def test_a_lone_surrogate_in_bulk_eligibility_phones_is_400_naming_the_phone(world):
    phones = ["+447911123456", "\ud800"]
    response = post(world, "/api/v1/eligibility/bulk/", {"purpose": "marketing", "phones": phones})
    assert_api_answer(response, status=400, attr="phones.1")


# --- Non-finite and huge numbers ---------------------------------------------------------------


def attributes_with(literal: str) -> bytes:
    return ('{"phone": "+447911123999", "attributes": {"score": ' + literal + "}}").encode()


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity", "9" * 5000])
def test_a_number_jsonb_cannot_hold_in_attributes_is_400_naming_it(world, literal):
    with nothing_written():
        response = world.client.post(
            CONTACTS, attributes_with(literal), content_type="application/json"
        )
    assert_api_answer(response, status=400, attr="attributes.score")


def test_1e999_in_attributes_is_400(world):
    with nothing_written():
        response = world.client.post(
            CONTACTS, attributes_with("1e999"), content_type="application/json"
        )
    assert_api_answer(response, status=400, attr="attributes")


def test_minus_1e999_in_attributes_is_400(world):
    with nothing_written():
        response = world.client.post(
            CONTACTS, attributes_with("-1e999"), content_type="application/json"
        )
    assert_api_answer(response, status=400, attr="attributes")


def test_nan_in_attributes_is_400(world):
    with nothing_written():
        response = world.client.post(
            CONTACTS, attributes_with("NaN"), content_type="application/json"
        )
    assert_api_answer(response, status=400, attr="attributes")


# --- Deep nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", CONTACTS),
        ("post", EVENTS),
        ("post", "/api/v1/eligibility/bulk/"),
        ("post", "/api/v1/groups/"),
    ],
)
def test_json_nested_3000_deep_is_400_not_a_recursion_error(world, method, url):
    with nothing_written():
        response = getattr(world.client, method)(url, nested(3000), content_type="application/json")
    body = assert_api_answer(response, status=400)
    assert body["errors"][0]["code"] == "parse_error"
    assert "nested more than 32 levels" in body["errors"][0]["detail"]


def test_json_nested_just_past_the_limit_is_400_and_at_the_limit_is_read(world):
    # 32 levels in all, the body's own included, is the most there may be.
    deepest = '{"a":' * 31 + "1" + "}" * 31
    deeper = '{"a":' * 32 + "1" + "}" * 32
    ok = world.client.post(
        CONTACTS,
        f'{{"phone": "+447911123999", "attributes": {deepest}}}',
        content_type="application/json",
    )
    refused = world.client.post(
        CONTACTS,
        f'{{"phone": "+447911123998", "attributes": {deeper}}}',
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content[:300]
    assert_api_answer(refused, status=400, attr="attributes")


# --- Time overflow ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [(CONTACTS, "updated_since"), (EVENTS, "since")],
    ids=["contacts", "consent-events"],
)
@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"], ids=["year-1", "year-9999"]
)
def test_a_time_filter_with_no_utc_is_400_naming_it(world, url, name, value):
    response = world.client.get(f"{url}?{name}={quote(value)}")
    assert_api_answer(response, status=400, attr=name)


@pytest.mark.parametrize("url", [CONTACTS, EVENTS, "/api/v1/notices/"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_until_parameter_with_no_utc_is_no_error(world, url, value):
    # No list filters on `until`: the parameter is ignored, never a 500.
    response = world.client.get(f"{url}?until={quote(value)}")
    assert_api_answer(response, status=200)


@pytest.mark.parametrize("url", [CONTACTS, EVENTS, "/api/v1/notices/"])
def test_a_cursor_whose_position_is_at_plus_23_59_reads_the_page_after_it(world, url):
    # 2026-01-01T00:00+23:59 is 2025-12-31T00:01Z: a real instant, compared in UTC.
    response = world.client.get(f"{url}?cursor={quote(position('2026-01-01 00:00:00+23:59'))}")
    assert_api_answer(response, status=200)


@pytest.mark.parametrize("url", [CONTACTS, EVENTS, "/api/v1/notices/"])
def test_a_cursor_whose_position_has_no_utc_is_an_invalid_cursor(world, url):
    response = world.client.get(f"{url}?cursor={quote(position('0001-01-01 00:00:00+14:00'))}")
    body = assert_api_answer(response, status=404)
    assert body["errors"][0]["detail"] == "Invalid cursor"


def test_a_grant_dated_in_an_offset_postgresql_refuses_is_kept_in_utc(world):
    body = {
        "phone": "+447911123999",
        "purpose": "marketing",
        "action": "grant",
        "notice": "marketing/en/1",
        "occurred_at": "2026-01-01T00:00:00+23:59",
    }
    response = post(world, EVENTS, body)
    assert response.status_code == 201, response.content
    event = ConsentEvent.objects.get(pk=response.json()["id"])
    assert event.occurred_at.isoformat() == "2025-12-31T00:01:00+00:00"
    assert_ledger_verifies()


# --- Idempotency -------------------------------------------------------------------------------


def test_a_refusal_that_echoes_a_nul_is_stored_and_replayed_not_locked(world):
    body = {**WITHDRAW, "purpose": "\x00"}
    first = post(world, EVENTS, body, HTTP_IDEMPOTENCY_KEY="k1")
    again = post(world, EVENTS, body, HTTP_IDEMPOTENCY_KEY="k1")

    assert_api_answer(first, status=400, attr="purpose")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert "\x00" in first.json()["errors"][0]["detail"]  # echoed, and still kept
    record = IdempotencyRecord.objects.get()
    assert record.status_code == 400


def test_a_server_error_never_locks_its_key(world, monkeypatch):
    import consent.api.contacts

    def fail(**kwargs):
        raise RuntimeError("the database went away")

    eve = {"phone": "+447911123999", "name": "Eve"}
    monkeypatch.setattr(world.client, "raise_request_exception", False)
    with pytest.MonkeyPatch.context() as crash:
        crash.setattr(consent.api.contacts, "upsert_contact", fail)
        failed = post(world, CONTACTS, eve, HTTP_IDEMPOTENCY_KEY="k1")
    retried = post(world, CONTACTS, eve, HTTP_IDEMPOTENCY_KEY="k1")

    assert failed.status_code == 500 and failed.json()["type"] == "server_error"
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried
    assert Contact.objects.filter(phone="+447911123999").count() == 1


def test_an_answer_that_cannot_be_stored_never_locks_its_key(world, monkeypatch):
    from django.db.models.query import QuerySet

    real_update = QuerySet.update

    def refuse(self, **fields):
        if self.model is IdempotencyRecord and "body" in fields:
            raise DatabaseError("unsupported Unicode escape sequence")
        return real_update(self, **fields)

    monkeypatch.setattr(QuerySet, "update", refuse)
    first = post(world, EVENTS, {**WITHDRAW, "purpose": "nope"}, HTTP_IDEMPOTENCY_KEY="k1")
    monkeypatch.undo()
    # The key is free: a corrected request under it runs.
    corrected = post(world, EVENTS, WITHDRAW, HTTP_IDEMPOTENCY_KEY="k1")

    assert_api_answer(first, status=400, attr="purpose")
    assert corrected.status_code == 201, corrected.content


def test_a_claim_whose_request_died_is_taken_over_after_the_claim_timeout(world):
    from django.utils import timezone

    post(world, EVENTS, WITHDRAW, HTTP_IDEMPOTENCY_KEY="k1")
    # As a worker killed mid-request leaves it: claimed, never answered.
    IdempotencyRecord.objects.update(status_code=None, body=None)
    busy = post(world, EVENTS, WITHDRAW, HTTP_IDEMPOTENCY_KEY="k1")
    IdempotencyRecord.objects.update(created_at=timezone.now() - CLAIM_TIMEOUT * 2)
    taken_over = post(world, EVENTS, WITHDRAW, HTTP_IDEMPOTENCY_KEY="k1")

    assert_api_answer(busy, status=409)
    assert busy.json()["errors"][0]["code"] == "idempotency_busy"
    assert taken_over.status_code == 201, taken_over.content


def test_a_post_to_a_path_holding_a_nul_with_a_key_is_404(world):
    with nothing_written():
        response = world.client.post(
            "/api/v1/invitations/%00/revoke/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
    assert_api_answer(response, status=404)


# --- Long URLs and headers under /api/ ----------------------------------------------------


def test_a_url_over_the_limit_is_414_in_json(world):
    response = world.client.get(f"{CONTACTS}?tag={'a' * 9000}")
    body = assert_api_answer(response, status=414)
    assert body["errors"][0]["code"] == "uri_too_long"


def test_a_header_over_the_limit_is_431_in_json(world):
    response = world.client.get(CONTACTS, HTTP_X_PADDING="a" * 9000)
    body = assert_api_answer(response, status=431)
    assert body["errors"][0]["code"] == "request_header_fields_too_large"


def gunicorn_config() -> dict:
    config: dict = {}
    path = Path(django_settings.BASE_DIR) / "config" / "gunicorn.conf.py"
    exec(compile(path.read_text(), str(path), "exec"), config)  # noqa: S102
    return config


def test_gunicorn_and_django_hold_the_same_limits():
    from api import middleware

    config = gunicorn_config()

    assert config["limit_request_line"] == middleware.MAX_URL_BYTES
    assert config["limit_request_fields"] == middleware.MAX_HEADERS
    assert config["limit_request_field_size"] == middleware.MAX_HEADER_BYTES


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [(414, "URI Too Long", "uri_too_long"), (431, "Request Header Fields Too Large", None)],
)
def test_gunicorns_own_refusals_are_written_in_the_json_error_shape(
    monkeypatch, status, reason, code
):
    import json
    import socket

    from gunicorn import util

    config = gunicorn_config()
    monkeypatch.setattr(util, "write_error", util.write_error)
    config["post_worker_init"](None)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        # As gunicorn's worker calls it (workers/base.py handle_error).
        util.write_error(ours, status, reason, "Request Line is too large (9000 > 8190)")
        ours.close()
        answer = theirs.makefile("rb").read()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} {reason}".encode())
    assert b"Content-Type: application/json" in head
    error = json.loads(body)
    assert error["type"] == "client_error" and error["errors"][0]["attr"] is None
    assert error["errors"][0]["code"] == (code or "request_header_fields_too_large")


# --- Smaller wrong answers ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["S T O P", "s.t.o.p", "S-T-O-P!", "STOP ALL"])
def test_stop_spelled_with_spaces_is_stop(world, text):
    expected = "stop_all" if "ALL" in text else "stop"
    assert match_keyword(text) == expected


def test_spaced_out_words_that_spell_no_keyword_are_none(world):
    assert match_keyword("S T O R E") is None


def test_a_notice_ref_with_an_arabic_indic_digit_is_no_notice(world):
    assert notice_by_ref("marketing/en/1") == world.marketing
    assert notice_by_ref("marketing/en/\u0661") is None
    assert notice_by_ref("marketing/en/99999999999") is None

    with nothing_written():
        response = post(
            world, EVENTS, {**WITHDRAW, "action": "grant", "notice": "marketing/en/\u0661"}
        )
    assert_api_answer(response, status=400, attr="notice")


def test_the_project_declares_its_packages_so_pip_install_e_works():
    root = Path(django_settings.BASE_DIR)
    project = tomllib.loads((root / "pyproject.toml").read_text())
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]

    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    local_apps = {
        app.split(".")[0]
        for app in django_settings.INSTALLED_APPS
        if (root / app.split(".")[0]).is_dir()
    }
    assert local_apps <= {name.rstrip("*") for name in included}
    assert "config*" in included and "tests*" not in included


def test_a_contact_created_with_a_valid_body_after_hostile_ones_is_whole(world):
    # The refusals above leave no half-created contact behind to clash with.
    for body in (
        {"phone": "+447911123999", "name": "\x00"},
        {"phone": "+447911123999", "tags": ["\x00"]},
    ):
        post(world, CONTACTS, body)
    response = post(world, CONTACTS, {"phone": "+447911123999", "name": "Eve", "tags": ["vip"]})
    assert response.status_code == 201, response.content
    assert Contact.objects.get(phone="+447911123999").name == "Eve"


@pytest.mark.parametrize("capacity", [2**31, 2**63, 10**20, -1])
def test_a_group_capacity_no_column_holds_is_400_naming_it(world, capacity):
    with nothing_written():
        response = post(world, "/api/v1/groups/", {"name": "Book club", "capacity": capacity})
    assert_api_answer(response, status=400, attr="capacity")
