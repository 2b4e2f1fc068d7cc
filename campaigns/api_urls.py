from rest_framework.routers import SimpleRouter

from .api import CampaignViewSet
from .api_templates import TemplateViewSet

router = SimpleRouter()
router.register("campaigns", CampaignViewSet, basename="api-campaign")
router.register("templates", TemplateViewSet, basename="api-template")

urlpatterns = router.urls
