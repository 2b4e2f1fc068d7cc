import pytest

from consent.models import ConsentEvent
from preferences.links import preference_path
from tests.factories import ContactFactory
from tests.pages.test_opt_in import opt_in_data

pytestmark = pytest.mark.django_db


def test_too_many_requests_from_one_ip_are_refused(client, settings, contact, page):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "preferences_ip": "3/h"}
    other_page = preference_path(ContactFactory())
    statuses = [client.get(url).status_code for url in (page, other_page, page, other_page)]
    assert statuses == [200, 200, 200, 429]


def test_a_refusal_says_when_to_come_back_and_shows_nothing_personal(
    client, settings, contact, page
):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "preferences_ip": "1/h"}
    client.get(page)
    response = client.get(page)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    html = response.content.decode()
    assert "Please wait a moment" in html and contact.name not in html


def test_too_many_requests_for_one_link_are_refused_whatever_the_ip(
    client, settings, contact, page
):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "preferences_token": "2/h"}
    statuses = [client.get(page, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(1, 4)]
    assert statuses == [200, 200, 429]


def test_forged_variants_of_one_link_count_against_it(client, settings, contact, page):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "preferences_token": "2/h"}
    forged = page.replace(page.split(":")[-1], "forged/")
    codes = [client.get(forged, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(1, 3)]
    assert codes == [404, 404]
    assert client.get(page, REMOTE_ADDR="198.51.100.9").status_code == 429


def test_the_opt_in_form_is_limited_per_ip(client, settings, notices):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "optin_ip": "2/h"}
    codes = [
        client.post("/opt-in/", opt_in_data(phone=f"+4479111234{n:02d}")).status_code
        for n in range(3)
    ]
    assert codes == [302, 302, 429]
    assert ConsentEvent.objects.count() == 2


def test_the_opt_in_form_is_limited_per_phone(client, settings, notices):
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "optin_phone": "1/h"}
    first = client.post("/opt-in/", opt_in_data(phone="+447911123456"), REMOTE_ADDR="192.0.2.1")
    # The same number in another format, from another address.
    second = client.post("/opt-in/", opt_in_data(phone="07911 123456"), REMOTE_ADDR="192.0.2.2")
    assert (first.status_code, second.status_code) == (302, 429)
    assert ConsentEvent.objects.count() == 1


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(client, settings, page):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PAGES_RATE_LIMITS = {**settings.PAGES_RATE_LIMITS, "preferences_ip": "1/h"}
    assert client.get(page, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 200
    assert client.get(page, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200
    assert client.get(page, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
