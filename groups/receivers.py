"""Group invitations and memberships follow the person's consent and erasure."""

from django.dispatch import receiver

from consent.signals import consent_withdrawn
from contacts.models import Contact
from contacts.signals import contact_erased

from .models import GroupInvitation, GroupMembership, InvitationStatus, LeaveSource
from .services import leave_group, revoke_invitation


@receiver(consent_withdrawn, dispatch_uid="groups.revoke_on_withdraw")
def revoke_invitations_on_opt_out(*, contact: Contact, purpose: str, **kwargs) -> None:
    """An opt-out of a purpose cancels pending invitations to groups of that purpose."""
    pending = GroupInvitation.objects.filter(
        contact=contact, group__purpose=purpose, status=InvitationStatus.PENDING
    )
    for invitation in pending:
        revoke_invitation(invitation=invitation)


@receiver(contact_erased, dispatch_uid="groups.end_on_erasure")
def end_everything_on_erasure(*, contact: Contact, **kwargs) -> None:
    for invitation in GroupInvitation.objects.filter(
        contact=contact, status=InvitationStatus.PENDING
    ):
        revoke_invitation(invitation=invitation)
    for membership in GroupMembership.objects.filter(contact=contact, left_at__isnull=True):
        leave_group(membership=membership, source=LeaveSource.ERASURE)
