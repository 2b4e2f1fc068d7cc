"""/api/v1/ serves every domain app's endpoints from that app's own `api_urls`."""

import api.urls


def test_each_domain_app_contributes_its_endpoints():
    modules = [pattern.urlconf_module.__name__ for pattern in api.urls.urlpatterns]

    assert modules == [
        "contacts.api_urls",
        "consent.api_urls",
        "groups.api_urls",
        "campaigns.api_urls",
    ]
