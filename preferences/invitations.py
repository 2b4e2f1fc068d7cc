"""The invitation answer page `/invitations/<token>/`: accept or decline, nothing else."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.inputs import refuse_unstorable
from groups import services
from groups.exceptions import GroupError, GroupFull
from groups.models import AnswerSource, GroupMembership, InvitationStatus, LeaveSource
from groups.selectors import invitation_for_token

from .pages import in_language, render_page, request_evidence, too_many
from .ratelimits import client_ip, first_limit_hit


@never_cache
@require_http_methods(["GET", "POST"])
def answer_invitation(request: HttpRequest, token: str) -> HttpResponse:
    wait = first_limit_hit(
        [("preferences_ip", client_ip(request)), ("preferences_token", token[:64])]
    )
    if wait is not None:
        return in_language(lambda r: too_many(r, wait))(request)
    invitation = invitation_for_token(token) if _storable(token) else None
    if invitation is None or invitation.contact.is_erased:
        return in_language(_unknown)(request)
    return in_language(_answer)(request, invitation=invitation, contact=invitation.contact)


def _storable(token: str) -> bool:
    # PostgreSQL refuses a NUL even in a query: such a token is simply unknown.
    try:
        refuse_unstorable(token)
    except ValidationError:
        return False
    return True


def _unknown(request: HttpRequest) -> HttpResponse:
    return render_page(request, "preferences/invitation_unknown.html", status=404)


def _answer(request: HttpRequest, *, invitation, contact) -> HttpResponse:
    problem = ""
    if request.method == "POST":
        answer = request.POST.get("answer", "")
        evidence = request_evidence(request, page_url=request.build_absolute_uri(request.path))
        try:
            if answer == "leave":
                membership = GroupMembership.objects.filter(
                    invitation=invitation, left_at__isnull=True
                ).first()
                if membership is not None:
                    services.leave_group(membership=membership, source=LeaveSource.ANSWER_PAGE)
            else:
                services.respond_to_invitation(
                    invitation=invitation,
                    answer=answer,
                    source=AnswerSource.ANSWER_PAGE,
                    evidence=evidence,
                )
        except GroupFull:
            problem = _("The group is full right now, so we could not add you. Try again later.")
        except GroupError:
            pass  # the page below says why: expired, withdrawn or already answered
        if not problem:
            return redirect(request.path)
    status = invitation.status
    if status == InvitationStatus.PENDING and invitation.is_past_expiry(timezone.now()):
        status = InvitationStatus.EXPIRED
    membership = GroupMembership.objects.filter(invitation=invitation).first()
    context = {
        "invitation": invitation,
        "group": invitation.group,
        "status": status,
        "membership": membership,
        "problem": problem,
    }
    return render_page(
        request, "preferences/invitation.html", context, status=400 if problem else 200
    )
