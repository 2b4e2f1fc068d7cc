"""Messages the consent app sends on WhatsApp (contract 3).

The one-tap opt-in carries reply buttons (inside the 24-hour window) or an
approved template with quick replies (outside it). Either way the payload ids
name the purpose(s) and the answer, `consent:marketing:grant`, and the outbound
row records the notices shown, so the reply proves the wording the person saw.
"""

from django.conf import settings

from contacts.models import Contact
from whatsapp.client import get_client, in_service_window
from whatsapp.models import OutboundMessage

from .models import ConsentNotice
from .rules import Purpose
from .selectors import current_notice

GRANT, WITHDRAW = "grant", "withdraw"

# Button titles (≤ 20 characters) and the question, per language; English is the fallback.
_WORDS = {
    "en": {
        "ask": "May we send you WhatsApp messages?",
        "yes": "Yes, opt in",
        "yes_marketing": "Yes to offers",
        "yes_service": "Yes to updates",
        "no": "No thanks",
        "footer": "Reply STOP at any time to opt out.",
    },
    "es": {
        "ask": "¿Podemos enviarte mensajes de WhatsApp?",
        "yes": "Sí, acepto",
        "yes_marketing": "Sí a ofertas",
        "yes_service": "Sí a avisos",
        "no": "No, gracias",
        "footer": "Responde BAJA cuando quieras darte de baja.",
    },
}


class NoNoticeToShow(ValueError):
    """No published notice for a purpose: nobody may be asked without the wording."""


def payload_id(purposes: list[str], answer: str) -> str:
    """`consent:marketing:grant`, or `consent:marketing,service:withdraw` for several."""
    return f"consent:{','.join(purposes)}:{answer}"


def recipient(contact: Contact) -> str:
    return contact.wa_id or (str(contact.phone) if contact.phone else contact.whatsapp_user_id)


def _words(language: str) -> dict[str, str]:
    return _WORDS.get((language or "en").split("-")[0], _WORDS["en"])


def _notices(contact: Contact, purposes: list[str]) -> list[ConsentNotice]:
    notices = []
    for purpose in purposes:
        notice = current_notice(Purpose(purpose), contact.language)
        if notice is None:
            raise NoNoticeToShow(f"no published {purpose} notice to show")
        notices.append(notice)
    return notices


def send_one_tap_opt_in(
    *, contact: Contact, purposes: list[str], reason: str = "", template_name: str = ""
) -> OutboundMessage:
    """Ask for consent to `purposes` with one tap; returns the outbound message.

    Outside the 24-hour window it goes as the approved template `template_name`
    (default: WHATSAPP_OPT_IN_TEMPLATE).
    """
    purposes = list(dict.fromkeys(Purpose(p).value for p in purposes))
    if not purposes:
        raise ValueError("name at least one purpose")
    notices = _notices(contact, purposes)
    refs = [n.ref for n in notices]
    words = _words(notices[0].language)
    if len(purposes) == 1:
        choices = [(payload_id(purposes, GRANT), words["yes"])]
    else:
        choices = [(payload_id([p], GRANT), words[f"yes_{p}"]) for p in purposes[:2]]
    choices.append((payload_id(purposes, WITHDRAW), words["no"]))
    to = recipient(contact)
    client = get_client()
    if in_service_window(to=to, contact=contact):
        body = "\n\n".join([words["ask"], *(n.text for n in notices)])
        message = client.send_buttons(
            to=to,
            body=body,
            buttons=choices,
            contact=contact,
            notice_refs=refs,
            footer=words["footer"],
        )
    else:
        # Outside the window only an approved template may go; its body shows each notice.
        message = client.send_template(
            to=to,
            name=template_name or settings.WHATSAPP_OPT_IN_TEMPLATE,
            language=notices[0].language,
            body_params=[n.text for n in notices],
            quick_reply_payloads=[payload for payload, _ in choices],
            contact=contact,
            notice_refs=refs,
        )
    if reason:
        OutboundMessage.objects.filter(pk=message.pk).update(reason=reason[:200])
        message.reason = reason[:200]
    return message


def send_confirmation_text(*, contact: Contact, body: str) -> OutboundMessage:
    """A short free-form reply (inside the window: the person just wrote to us)."""
    return get_client().send_text(to=recipient(contact), body=body, contact=contact)
