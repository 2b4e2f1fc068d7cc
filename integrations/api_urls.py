from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ChangeFeedView, PersonExportView, WebhookEndpointViewSet

router = SimpleRouter()
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")

urlpatterns = [
    *router.urls,
    path("changes/", ChangeFeedView.as_view(), name="api-changes"),
    path("contacts/<uuid:pk>/export/", PersonExportView.as_view(), name="api-contact-export"),
]
