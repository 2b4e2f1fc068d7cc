"""A link that acts as the person goes only to a caller allowed to act as the person.

The production probe: a `contacts:read` key read each person's working
`preference_url`, and with it the page accepted a withdraw and a grant recorded as
`preference_centre`. Now the link needs the `contacts:links` scope; the page itself is
unchanged for whoever holds a link.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as Role
from rest_framework.test import APIClient

from consent.rules import Action
from preferences.links import preference_url
from tests.api.conftest import client_with_key
from tests.consent_helpers import record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/"


@pytest.fixture
def ada(marketing_notice):
    contact = ContactFactory(phone="+447911123456", name="Ada")
    record(contact, Action.GRANT, notice=marketing_notice)
    return contact


def test_a_contacts_read_key_gets_no_link_to_act_as_the_person(ada):
    reader = client_with_key("contacts:read")

    listed = reader.get(URL).json()["results"]
    one = reader.get(f"{URL}{ada.pk}/").json()

    assert [c["preference_url"] for c in listed] == [None]
    assert one["preference_url"] is None
    assert one["name"] == "Ada"  # the rest of the contact is still read


def test_an_upsert_answers_without_the_link_too():
    writer = client_with_key("contacts:write")

    response = writer.post(URL, {"phone": "+447911123999"}, format="json")

    assert response.status_code == 201
    assert response.json()["preference_url"] is None


def test_a_key_with_contacts_links_gets_a_working_link(ada, client):
    linker = client_with_key("contacts:read", "contacts:links")

    url = linker.get(f"{URL}{ada.pk}/").json()["preference_url"]

    assert url == preference_url(ada)
    # the page is unchanged: whoever holds the link acts as the person
    assert client.get(url).status_code == 200


def test_contacts_links_alone_reads_nothing(ada):
    response = client_with_key("contacts:links").get(f"{URL}{ada.pk}/")
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["Marketing", "Compliance"])
def test_staff_get_the_link_their_admin_contact_page_shows(ada, role):
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Role.objects.get(name=role))
    session = APIClient()
    session.force_login(user)

    body = session.get(f"{URL}{ada.pk}/").json()

    assert body["preference_url"] == preference_url(ada)


def test_the_schema_says_which_scope_the_link_needs(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["Contact"]["properties"]["preference_url"]
    assert "contacts:links" in field["description"]
    assert field["nullable"] is True
    assert "contacts:links" in schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"]
