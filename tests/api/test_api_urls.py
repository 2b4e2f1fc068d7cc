"""/api/v1/ includes each app's endpoints only once that app has written them."""

import importlib

import api.urls


def test_an_app_without_api_urls_is_left_out(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "campaigns.api_urls" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    try:
        reloaded = importlib.reload(api.urls)
        modules = [p.urlconf_module.__name__ for p in reloaded.urlpatterns]
        assert "campaigns.api_urls" not in modules
        assert "contacts.api_urls" in modules and "consent.api_urls" in modules
    finally:
        monkeypatch.undo()
        importlib.reload(api.urls)
