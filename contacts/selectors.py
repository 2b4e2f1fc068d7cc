from dataclasses import dataclass
from typing import Any, cast

from django.db.models import Q, QuerySet

from .models import Contact, Suppression
from .phones import InvalidPhone, identifier_hash, normalize_phone, phone_hash


def contacts() -> QuerySet[Contact]:
    return Contact.objects.prefetch_related("tags")


@dataclass(frozen=True)
class Identifiers:
    """Whatever a delivery, a form or an integration says about who a person is."""

    phone: str | None = None  # any format phonenumbers parses
    wa_id: str | None = None  # digits as WhatsApp sends them: not always a valid phone
    whatsapp_user_id: str | None = None  # business-scoped user id (BSUID)
    parent_user_id: str | None = None
    username: str | None = None

    def __bool__(self) -> bool:
        return any(
            (self.phone, self.wa_id, self.whatsapp_user_id, self.parent_user_id, self.username)
        )

    def e164(self) -> str | None:
        """The phone these identifiers give, if any is a valid number (InvalidPhone for `phone`)."""
        if self.phone:
            return normalize_phone(self.phone)
        if self.wa_id:
            try:
                return normalize_phone("+" + self.wa_id.lstrip("+"), field="wa_id")
            except InvalidPhone:
                return None
        return None


def survivor(contact: Contact) -> Contact:
    """The contact a merged duplicate answers for (itself when not merged)."""
    seen = {contact.pk}
    while contact.merged_into_id is not None and contact.merged_into_id not in seen:
        seen.add(contact.merged_into_id)
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def resolve_contacts(ids: Identifiers) -> list[Contact]:
    """Every contact these identifiers name, merged duplicates replaced by their survivor.

    The one resolver: `wa_id` matches a stored `wa_id` exactly, whatever
    phonenumbers thinks of it, and also the phone it spells when valid; phones
    match by keyed hash, so an erased number is still recognised. A username
    is a display name a person can change, so it names a contact only when no
    stable identifier does. Most specific first: phone, wa_id, user id, parent id.
    """
    e164 = ids.e164()
    ranked: list[tuple[int, Q]] = []
    if e164:
        ranked.append((0, Q(phone_hash=phone_hash(e164))))
    if ids.wa_id:
        ranked.append((1, Q(wa_id=ids.wa_id)))
    if ids.whatsapp_user_id:
        ranked.append((2, Q(whatsapp_user_id=ids.whatsapp_user_id)))
    if ids.parent_user_id:
        ranked.append((3, Q(parent_user_id=ids.parent_user_id)))
    found = _ranked(ranked)
    if not found:
        # Identifiers an erased person had are no longer on any contact, only
        # on the suppression list: they name the erased contact (opted out).
        found = suppressed_contacts(ids)
    if not found and ids.username:
        found = list(Contact.objects.filter(username=ids.username, erased_at__isnull=True)[:2])
    result: dict[object, Contact] = {}
    for contact in found:
        kept = survivor(contact)
        result.setdefault(kept.pk, kept)
    return list(result.values())


def suppression_digests(ids: Identifiers) -> list[tuple[str, str]]:
    """(kind, keyed hash) of each identifier given, as the suppression list stores them."""
    found = []
    e164 = ids.e164()
    if e164:
        found.append((Suppression.Kind.PHONE.value, phone_hash(e164)))
    for kind in ("wa_id", "whatsapp_user_id", "parent_user_id"):
        value = getattr(ids, kind)
        if value:
            found.append((kind, identifier_hash(kind, value)))
    return found


def suppressed_contacts(ids: Identifiers) -> list[Contact]:
    """The erased contacts whose identifiers these are (by the suppression list)."""
    digests = suppression_digests(ids)
    if not digests:
        return []
    query = Q()
    for kind, digest in digests:
        query |= Q(kind=kind, digest=digest)
    erased = Suppression.objects.filter(query).values_list("contact_id", flat=True)
    return list(Contact.objects.filter(pk__in=list(erased[:20])))


def _ranked(ranked: list[tuple[int, Q]]) -> list[Contact]:
    if not ranked:
        return []
    query = Q()
    for _, condition in ranked:
        query |= condition
    rows = list(Contact.objects.filter(query)[:20])

    def rank(contact: Contact) -> int:
        return min(rank for rank, condition in ranked if _matches(contact, condition))

    return sorted(rows, key=rank)


def _matches(contact: Contact, condition: Q) -> bool:
    # Every ranked condition is a single-keyword Q, so its one child is (field, value).
    field, value = cast("tuple[str, Any]", condition.children[0])
    return getattr(contact, field) == value


def find_contact_by_phone(phone: str) -> Contact | None:
    """The contact for a phone in any format, erased ones included (by keyed hash)."""
    found = resolve_contacts(Identifiers(phone=phone))
    return found[0] if found else None
