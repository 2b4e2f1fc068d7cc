from rest_framework.routers import SimpleRouter

from .api import GroupViewSet, InvitationViewSet

router = SimpleRouter()
router.register("groups", GroupViewSet, basename="api-group")
router.register("invitations", InvitationViewSet, basename="api-invitation")

urlpatterns = router.urls
