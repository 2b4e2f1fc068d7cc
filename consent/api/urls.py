from django.urls import path
from rest_framework.routers import SimpleRouter

from .contacts import ContactViewSet
from .views import (
    BulkEligibilityView,
    ConsentEventViewSet,
    EligibilityView,
    NoticeViewSet,
    ProofView,
    TopicViewSet,
)

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("notices", NoticeViewSet, basename="api-notice")
router.register("consent-events", ConsentEventViewSet, basename="api-consent-event")
router.register("topics", TopicViewSet, basename="api-topic")

urlpatterns = [
    *router.urls,
    path("contacts/<uuid:pk>/proof/", ProofView.as_view(), name="api-contact-proof"),
    path("eligibility/", EligibilityView.as_view(), name="api-eligibility"),
    path("eligibility/bulk/", BulkEligibilityView.as_view(), name="api-eligibility-bulk"),
]
