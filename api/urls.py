"""/api/v1/: each app's `api_urls`, included only once that app has written it."""

from importlib.util import find_spec

from django.urls import include, path

APP_URLCONFS = ("contacts.api_urls", "consent.api_urls", "groups.api_urls", "campaigns.api_urls")

urlpatterns = [path("", include(module)) for module in APP_URLCONFS if find_spec(module)]
