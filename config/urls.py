from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from health_check.views import HealthCheckView

urlpatterns = [
    path(
        "health/",
        HealthCheckView.as_view(
            checks=[
                "health_check.checks.Database",
                "health_check.checks.Cache",
                "config.health.Broker",
                "config.health.Migrations",
            ]
        ),
        name="health",
    ),
    # The keyword lists and opt-out reviews moved to the conversation app: old links follow.
    re_path(
        r"^admin/consent/(?P<model>consentkeyword|optoutreview)/(?P<rest>.*)$",
        RedirectView.as_view(url="/admin/conversation/%(model)s/%(rest)s", query_string=True),
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("webhooks/", include("whatsapp.urls")),
    path("invitations/", include("preferences.invitation_urls")),
    path("", include("preferences.urls")),
]
