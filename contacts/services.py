from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Contact, Erasure, Tag
from .phones import normalize_phone, phone_hash, wa_id_for
from .selectors import find_contact
from .signals import contact_erased

_UNSET: Any = object()


def set_tags(contact: Contact, tags: Iterable[str]) -> None:
    names = sorted({t.strip() for t in tags if t and t.strip()})
    objs = [Tag.objects.get_or_create(name=name)[0] for name in names]
    contact.tags.set(objs)


@transaction.atomic
def upsert_contact(
    *,
    phone: str,
    name: str = _UNSET,
    language: str = _UNSET,
    external_id: str | None = _UNSET,
    tags: Iterable[str] = _UNSET,
    attributes: dict = _UNSET,
) -> tuple[Contact, bool]:
    """Create or update the contact with this phone; returns (contact, created).

    Only the fields given are changed on an existing contact.
    """
    e164 = normalize_phone(phone)
    contact = Contact.objects.select_for_update().filter(phone_hash=phone_hash(e164)).first()
    created = contact is None
    if created:
        contact = Contact(phone=e164, wa_id=wa_id_for(e164))
    elif contact.erased_at and not contact.phone:
        # The person came back with their own number: we know them (and their
        # opt-outs) by its hash, and need the number to reach them again.
        contact.phone = e164
    _apply_changes(
        contact,
        name=name,
        language=language,
        external_id=external_id,
        tags=tags,
        attributes=attributes,
    )
    return contact, created


@transaction.atomic
def update_contact(
    *,
    contact: Contact,
    name: str = _UNSET,
    language: str = _UNSET,
    external_id: str | None = _UNSET,
    tags: Iterable[str] = _UNSET,
    attributes: dict = _UNSET,
) -> Contact:
    """Change only the fields given; the phone is never changed here."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    _apply_changes(
        contact,
        name=name,
        language=language,
        external_id=external_id,
        tags=tags,
        attributes=attributes,
    )
    return contact


def _apply_changes(contact: Contact, *, tags: Iterable[str], **fields: Any) -> None:
    """Set the fields given (not _UNSET), validate, save, then the tags."""
    for field, value in fields.items():
        if value is not _UNSET:
            setattr(contact, field, value)
    contact.full_clean(validate_unique=False)
    contact.save()
    if tags is not _UNSET:
        set_tags(contact, tags)


def find_or_create_contact(
    *,
    phone: str | None = None,
    wa_id: str | None = None,
    whatsapp_user_id: str | None = None,
    parent_user_id: str | None = None,
    name: str = "",
) -> Contact:
    """The contact these ids name, created if unknown (an opt-out is never lost).

    Ids we did not know yet are stored on the contact found.
    """
    e164 = normalize_phone(phone) if phone else None
    if e164 is None and wa_id:
        try:
            e164 = normalize_phone("+" + wa_id, field="wa_id")
        except Exception:
            e164 = None
    if not (e164 or whatsapp_user_id):
        raise ValueError("a contact needs a phone, a wa_id or a business-scoped user id")
    for _ in range(2):
        try:
            with transaction.atomic():
                contact = find_contact(phone=e164, wa_id=wa_id, whatsapp_user_id=whatsapp_user_id)
                if contact is None:
                    contact = Contact(phone=e164, name=name)
                changed = contact._state.adding
                if e164 and not contact.phone and not contact.phone_hash:
                    contact.phone, changed = e164, True
                for field, value in (
                    ("wa_id", wa_id),
                    ("whatsapp_user_id", whatsapp_user_id),
                    ("parent_user_id", parent_user_id),
                ):
                    if value and not getattr(contact, field):
                        setattr(contact, field, value)
                        changed = True
                if changed:
                    contact.save()
                return contact
        except IntegrityError:
            # Created concurrently by another request: the second pass finds it.
            continue
    raise RuntimeError("could not find or create the contact")


@transaction.atomic
def erase_contact(*, contact: Contact, erased_by: str = "") -> Contact:
    """Pseudonymise a contact (GDPR art. 17); the consent ledger is kept.

    The keyed phone hash stays, so the number is still recognised as opted out.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact_erased.send(sender=Contact, contact=contact)
    now = timezone.now()
    contact.phone = None
    contact.wa_id = None
    contact.whatsapp_user_id = None
    contact.parent_user_id = None
    contact.name = ""
    contact.external_id = None
    contact.attributes = {}
    contact.erased_at = now
    contact.save()
    contact.tags.clear()
    Erasure.objects.create(
        contact_id=contact.id, phone_hash=contact.phone_hash, erased_at=now, erased_by=erased_by
    )
    return contact


def replay_erasures() -> int:
    """Re-apply logged erasures (after a backup restore); returns how many changed."""
    changed = 0
    for erasure in Erasure.objects.all():
        contact = Contact.objects.filter(pk=erasure.contact_id, erased_at__isnull=True).first()
        if contact:
            erase_contact(contact=contact, erased_by=erasure.erased_by or "replay")
            changed += 1
    return changed
