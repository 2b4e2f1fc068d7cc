"""A campaign's template as the registry has it now: what a person reads, which consent it needs.

The registry is WhatsApp's (`whatsapp.message_templates`); this is the campaign's view of it.
"""

from typing import Any

from contacts.models import Contact
from whatsapp.message_templates import purpose_of, render_body, template_for
from whatsapp.models import WhatsAppTemplate

from .models import Campaign, CampaignKind
from .selectors import campaign_audience


def render_params(params: list[str], contact: Contact | None) -> list[str]:
    """The campaign's parameters for one contact: "{name}" becomes their name."""
    name = (contact.name if contact is not None else "") or ""
    return [str(p).replace("{name}", name) for p in params]


def campaign_template(campaign: Campaign) -> WhatsAppTemplate | None:
    if campaign.kind == CampaignKind.RECONSENT or not campaign.template_name:
        return None
    return template_for(campaign.template_name, campaign.template_language)


def message_preview(campaign: Campaign, contact: Any = None) -> str | None:
    """The body as the audience's first contact (or `contact`) will read it; None: no template."""
    template = campaign_template(campaign)
    if template is None:
        return None
    if contact is None and campaign.pk is not None:
        contact = campaign_audience(campaign).order_by("pk").first()
    return render_body(template, render_params(campaign.body_params or [], contact))


def campaign_languages(campaign: Campaign) -> list[str]:
    return list(dict.fromkeys([campaign.template_language, *(campaign.template_languages or [])]))


def purpose_now(campaign: Campaign) -> str:
    """The consent the campaign's messages need now: its template's current category decides.

    Marketing if the template is marketing in any language the campaign sends; never looser
    than a marketing campaign; a template the registry does not know keeps the campaign's.
    """
    if campaign.kind == CampaignKind.RECONSENT or not campaign.template_name:
        return campaign.purpose
    purposes = {
        purpose_of(t.category)
        for t in (
            template_for(campaign.template_name, code) for code in campaign_languages(campaign)
        )
        if t is not None
    }
    if not purposes or None in purposes:
        return campaign.purpose
    if "marketing" in purposes or campaign.kind == CampaignKind.MARKETING:
        return "marketing"
    return "service"
