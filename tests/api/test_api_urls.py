"""/api/v1/ serves every domain app's endpoints from that app's own `api_urls`."""

import api.urls


def test_each_domain_app_contributes_its_endpoints():
    modules = [pattern.urlconf_module.__name__ for pattern in api.urls.urlpatterns]

    # Contacts are served by consent (their body carries consent): see consent/api_contacts.py.
    assert modules == ["consent.api.urls", "groups.api_urls", "campaigns.api_urls"]
