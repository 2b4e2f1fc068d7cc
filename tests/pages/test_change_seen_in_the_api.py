import pytest
from rest_framework.test import APIClient

from api.models import ApiKey
from api.scopes import SCOPES
from consent.rules import Action
from tests.consent_helpers import record

pytestmark = pytest.mark.django_db


def test_an_opt_out_on_the_page_is_what_the_api_answers_next(client, contact, page):
    # given
    record(contact, Action.GRANT, "marketing")
    _, key = ApiKey.objects.create_key(name="shop backend", scopes=list(SCOPES))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    query = {"phone": str(contact.phone), "purpose": "marketing"}
    assert api.get("/api/v1/eligibility/", query).json()["allowed"] is True
    # when
    client.post(f"{page}change/", {"action": "withdraw", "purpose": "marketing"})
    # then
    answer = api.get("/api/v1/eligibility/", query).json()
    assert (answer["allowed"], answer["reason"]) == (False, "opted_out")
