"""The dashboard's notices of templates re-categorised under a campaign (one include)."""

from django import template

from campaigns.notices import open_template_notices

register = template.Library()


@register.inclusion_tag("campaigns/template_change_notices.html", takes_context=True)
def template_change_notices(context: template.Context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("campaigns.view_campaign"):
        return {"notices": []}
    return {
        "notices": list(open_template_notices()),
        "may_dismiss": user.has_perm("campaigns.change_campaign"),
        "csrf_token": context.get("csrf_token"),
    }
