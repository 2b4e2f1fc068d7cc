from celery import shared_task

from whatsapp.exceptions import TemporaryFailure

from . import outreach, services, whatsapp_groups
from .models import Group


@shared_task
def expire_invitations() -> int:
    return services.expire_invitations()


@shared_task(autoretry_for=(TemporaryFailure,), retry_backoff=True, max_retries=5)
def review_join_requests() -> int:
    whatsapp_groups.complete_pending_creations()
    decided = 0
    for group in Group.objects.filter(active=True, whatsapp_group_id__isnull=False):
        decided += len(whatsapp_groups.review_join_requests(group=group))
    outreach.send_missing_invite_links()
    return decided
