"""/api/v1/: each domain app's endpoints, from its own `api_urls` (included by name, so this
package imports no domain app)."""

from django.urls import include, path

APP_URLCONFS = ("consent.api.urls", "groups.api_urls", "campaigns.api_urls")

urlpatterns = [path("", include(module)) for module in APP_URLCONFS]
