from django.db.models import QuerySet

from .models import Contact
from .phones import normalize_phone, phone_hash


def contacts() -> QuerySet[Contact]:
    return Contact.objects.prefetch_related("tags")


def find_contact_by_phone(phone: str) -> Contact | None:
    """The contact for a phone in any format, erased ones included (by keyed hash)."""
    return Contact.objects.filter(phone_hash=phone_hash(normalize_phone(phone))).first()


def find_contact(
    *, phone: str | None = None, wa_id: str | None = None, whatsapp_user_id: str | None = None
) -> Contact | None:
    """Match by phone, then wa_id, then the business-scoped user id."""
    if phone:
        contact = find_contact_by_phone(phone)
        if contact:
            return contact
    if wa_id:
        contact = Contact.objects.filter(wa_id=wa_id).first()
        if contact:
            return contact
    if whatsapp_user_id:
        return Contact.objects.filter(whatsapp_user_id=whatsapp_user_id).first()
    return None
