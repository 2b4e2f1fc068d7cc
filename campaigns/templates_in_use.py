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


def purpose_now(campaign: Campaign) -> str:
    """The consent the campaign's messages need now: its template's current category decides.

    Never looser than the campaign says: a marketing campaign stays marketing.
    """
    template = campaign_template(campaign)
    category_purpose = purpose_of(template.category) if template is not None else None
    if category_purpose == "marketing" or category_purpose is None:
        return category_purpose or campaign.purpose
    return campaign.purpose if campaign.kind == CampaignKind.MARKETING else category_purpose
