from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.utils import timezone

from staff.audit import record_audit

from .exceptions import PhoneNeverChanges, identifier_taken
from .models import Contact, Erasure, IdentityChange, LikelyDuplicate, Suppression, Tag
from .phones import (
    hash_key_version,
    hash_keys,
    identifier_hash,
    normalize_phone,
    phone_hash,
    rekey,
    try_normalize_phone,
    wa_id_for,
)
from .selectors import Identifiers, resolve_contacts
from .signals import contact_erased, erased_person_returned, person_erased, person_erasing

_UNSET: Any = object()


def set_tags(contact: Contact, tags: Iterable[str]) -> None:
    names = sorted({t.strip() for t in tags if t and t.strip()})
    objs = [Tag.objects.get_or_create(name=name)[0] for name in names]
    contact.tags.set(objs)


def upsert_contact(
    *,
    phone: str,
    name: str = _UNSET,
    language: str = _UNSET,
    external_id: str | None = _UNSET,
    tags: Iterable[str] = _UNSET,
    attributes: dict = _UNSET,
    actor: Any = None,
) -> tuple[Contact, bool]:
    """Create or update the contact with this phone; returns (contact, created).

    Only the fields given are changed on an existing contact. IdentifierTaken when another
    contact holds the external id or an identifier. An `actor` (staff user or API key)
    gets an audit row in the same transaction.
    """

    def once() -> tuple[Contact, bool]:
        return _upsert_once(
            phone=phone,
            name=name,
            language=language,
            external_id=external_id,
            tags=tags,
            attributes=attributes,
            actor=actor,
        )

    try:
        return once()
    except IntegrityError:
        pass
    # Once more: a concurrent upsert may have just created this phone, which the second
    # pass finds; a clash that remains is another contact's identifier.
    try:
        return once()
    except IntegrityError:
        raise identifier_taken(external_id=external_id) from None


@transaction.atomic
def _upsert_once(
    *,
    phone: str,
    name: str,
    language: str,
    external_id: str | None,
    tags: Iterable[str],
    attributes: dict,
    actor: Any,
) -> tuple[Contact, bool]:
    e164 = normalize_phone(phone)
    found = Contact.objects.select_for_update().filter(phone_hash=phone_hash(e164)).first()
    created = found is None or found.is_erased
    if found is None:
        contact = Contact(phone=e164, wa_id=wa_id_for(e164))
    elif found.is_erased:
        contact = return_from_erasure(
            erased=found, ids=Identifiers(phone=e164, wa_id=wa_id_for(e164))
        )
    else:
        contact = found
    given = _given(name=name, language=language, external_id=external_id, attributes=attributes)
    _apply_changes(contact, tags=tags, **given)
    if actor is not None:
        record_audit(
            actor=actor,
            action="create_contact" if created else "update_contact",
            obj=contact,
            after=_changed(given, tags),
        )
    return contact, created


def update_contact(
    *,
    contact: Contact,
    phone: object = _UNSET,
    name: str = _UNSET,
    language: str = _UNSET,
    external_id: str | None = _UNSET,
    tags: Iterable[str] = _UNSET,
    attributes: dict = _UNSET,
    actor: Any = None,
) -> Contact:
    """Change only the fields given. PhoneNeverChanges for another phone; IdentifierTaken
    when another contact holds the external id. An `actor` is audited with the change."""
    if phone is not _UNSET:
        refuse_phone_change(contact, phone)
    given = _given(name=name, language=language, external_id=external_id, attributes=attributes)
    try:
        with transaction.atomic():
            contact = Contact.objects.select_for_update().get(pk=contact.pk)
            _apply_changes(contact, tags=tags, **given)
            if actor is not None:
                record_audit(
                    actor=actor, action="update_contact", obj=contact, after=_changed(given, tags)
                )
    except IntegrityError:
        raise identifier_taken(external_id=external_id) from None
    return contact


def refuse_phone_change(contact: Contact, phone: object) -> None:
    """PhoneNeverChanges unless `phone` is the contact's own (in any format)."""
    current = str(contact.phone) if contact.phone else None
    given = try_normalize_phone(phone) if isinstance(phone, str) else None
    if given is None or given != current:
        raise PhoneNeverChanges("A contact's phone cannot be changed; upsert the new number.")


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not _UNSET}


def _changed(given: dict[str, Any], tags: Any) -> dict[str, Any]:
    # Which fields, not their values: the audit outlives an erasure of the person.
    return {"fields": sorted([*given, *(["tags"] if tags is not _UNSET else [])])}


def _apply_changes(contact: Contact, *, tags: Iterable[str], **fields: Any) -> None:
    """Set the fields given (not _UNSET), validate, save, then the tags."""
    for field, value in fields.items():
        if value is not _UNSET:
            setattr(contact, field, value)
    contact.full_clean(validate_unique=False)
    contact.save()
    if tags is not _UNSET:
        set_tags(contact, tags)


class UnknownPerson(ValueError):
    """No identifier that can name a contact (a username alone cannot)."""


@dataclass(frozen=True)
class Resolution:
    """The contacts a set of identifiers names: most specific first, never empty."""

    contacts: list[Contact]
    created: bool = False

    @property
    def primary(self) -> Contact:
        return self.contacts[0]


def resolve_or_create_contacts(ids: Identifiers, *, name: str = "") -> Resolution:
    """The contacts these identifiers name, created if unknown (an opt-out is never lost).

    Identifiers the primary contact lacks are stored on it when no other
    contact holds them. When they point at several contacts, each is returned
    (an opt-out applies to each) and the pairs are listed as likely duplicates.
    """
    if not ids:
        raise UnknownPerson("a contact needs a phone, a wa_id or a business-scoped user id")
    e164 = ids.e164()
    for _ in range(3):
        try:
            with transaction.atomic():
                found = resolve_contacts(ids)
                if not found:
                    if not (e164 or ids.wa_id or ids.whatsapp_user_id):
                        raise UnknownPerson(
                            "a contact needs a phone, a wa_id or a business-scoped user id"
                        )
                    contact = Contact(
                        phone=e164,
                        wa_id=ids.wa_id,
                        whatsapp_user_id=ids.whatsapp_user_id,
                        parent_user_id=ids.parent_user_id,
                        username=ids.username,
                        name=name,
                    )
                    contact.save()
                    return Resolution([contact], created=True)
                live = [c for c in found if not c.is_erased]
                if not live:
                    contact = return_from_erasure(erased=found[0], ids=ids, name=name)
                    return Resolution([contact], created=True)
                found = live
                _complete_identifiers(found[0], ids, e164)
                if len(found) > 1:
                    note_likely_duplicates(found, evidence=_described(ids))
                return Resolution(found)
        except IntegrityError:
            # Created or claimed concurrently: the next pass finds the other row.
            continue
    raise UnknownPerson("could not find or create the contact")


def return_from_erasure(*, erased: Contact, ids: Identifiers, name: str = "") -> Contact:
    """A new contact for a person who was erased and came back.

    Never the erased contact revived: its record stays erased. The new one
    takes the identifiers (the erased contact gives up the phone hash it kept
    for suppression, which the suppression list still holds), and consent
    starts it opted out of what the erased one had withdrawn.
    """
    e164 = ids.e164()
    erasure = Erasure.objects.filter(contact_id=erased.pk).order_by("-erased_at").first()
    if e164 and erased.phone_hash == phone_hash(e164):
        Contact.objects.filter(pk=erased.pk).update(phone_hash=None)
    contact = Contact(
        phone=e164,
        wa_id=ids.wa_id or (wa_id_for(e164) if e164 else None),
        whatsapp_user_id=ids.whatsapp_user_id,
        parent_user_id=ids.parent_user_id,
        username=ids.username,
        name=name,
    )
    contact.save()
    erased_person_returned.send(sender=Contact, contact=contact, erased=erased, erasure=erasure)
    return contact


def _described(ids: Identifiers) -> dict[str, str]:
    return {k: v for k, v in asdict(ids).items() if v}


def _complete_identifiers(contact: Contact, ids: Identifiers, e164: str | None) -> None:
    changed: list[str] = []
    if e164 and not contact.phone and not contact.phone_hash:
        contact.phone = e164
        changed += ["phone", "phone_hash"]
    for field in ("wa_id", "whatsapp_user_id", "parent_user_id"):
        value = getattr(ids, field)
        if value and not getattr(contact, field):
            if field != "parent_user_id" and Contact.objects.filter(**{field: value}).exists():
                continue  # held by another contact: listed as a duplicate instead
            setattr(contact, field, value)
            changed.append(field)
    if ids.username and contact.username != ids.username:
        if contact.username:
            IdentityChange.objects.create(
                contact=contact,
                kind=IdentityChange.Kind.USERNAME,
                old_value=contact.username,
                new_value=ids.username,
                source="webhook",
                occurred_at=timezone.now(),
            )
        contact.username = ids.username
        changed.append("username")
    if changed:
        with transaction.atomic():
            contact.save(update_fields=[*changed, "updated_at"])


def note_likely_duplicates(contacts: list[Contact], *, evidence: dict[str, Any]) -> int:
    """List every pair of these contacts as probably one person; returns how many were new."""
    new = 0
    ordered = sorted({c.pk: c for c in contacts}.values(), key=lambda c: str(c.pk))
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            a, b = sorted((first.pk, second.pk))
            _, created = LikelyDuplicate.objects.get_or_create(
                first_id=a, second_id=b, defaults={"evidence": evidence}
            )
            new += created
    return new


@dataclass(frozen=True)
class IdentifierChanged:
    contact: Contact
    # Other contacts that already held the new identifier: probably the same
    # person; they must get the contact's restrictive states too.
    holders: list[Contact]


@transaction.atomic
def change_identifier(
    *,
    contact: Contact,
    field: str,
    new_value: str,
    source: str,
    occurred_at: datetime,
    wamid: str = "",
) -> IdentifierChanged:
    """The platform says this contact's wa_id or business-scoped id changed: follow it.

    A new wa_id that spells a valid phone moves the phone too. The old values
    stay in the history. Where another contact already holds the new value,
    nothing is moved: the pair is listed as a likely duplicate.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    kind = IdentityChange.Kind(field)
    updates: dict[str, Any] = {field: new_value}
    if field == "wa_id":
        e164 = Identifiers(wa_id=new_value).e164()
        if e164:
            updates["phone"] = e164
    holders = [
        other
        for other in resolve_contacts(Identifiers(phone=updates.get("phone"), **{field: new_value}))
        if other.pk != contact.pk
    ]
    for name, value in updates.items():
        old = getattr(contact, name)
        old_text = str(old) if old else ""
        if old_text == value:
            continue
        IdentityChange.objects.create(
            contact=contact,
            kind=IdentityChange.Kind(name) if name != field else kind,
            old_value=old_text,
            new_value=value,
            source=source,
            wamid=wamid,
            occurred_at=occurred_at,
        )
        if not holders:
            setattr(contact, name, value)
    if holders:
        note_likely_duplicates([contact, *holders], evidence={field: new_value, "source": source})
    else:
        contact.save()
    return IdentifierChanged(contact, holders)


@transaction.atomic
def mark_distinct_people(*, pair: LikelyDuplicate, actor: Any) -> bool:
    """Staff say a likely duplicate is two people; False if it was decided already."""
    decided = LikelyDuplicate.objects.filter(
        pk=pair.pk, resolution=LikelyDuplicate.Resolution.PENDING
    ).update(resolution=LikelyDuplicate.Resolution.DISTINCT)
    if decided:
        record_audit(
            actor=actor,
            action="mark_distinct_people",
            obj=pair,
            before={"resolution": LikelyDuplicate.Resolution.PENDING.value},
            after={"resolution": LikelyDuplicate.Resolution.DISTINCT.value},
        )
    return bool(decided)


@transaction.atomic
def mark_merged(*, duplicate: Contact, survivor: Contact, merged_by: str) -> Contact:
    """Point `duplicate` at `survivor`; both keep their own records and ledgers."""
    if duplicate.pk == survivor.pk:
        raise ValueError("a contact cannot be merged into itself")
    duplicate = Contact.objects.select_for_update().get(pk=duplicate.pk)
    if survivor.merged_into_id is not None:
        raise ValueError("merge into the surviving contact, not into a merged one")
    duplicate.merged_into = survivor
    duplicate.save(update_fields=["merged_into", "updated_at"])
    Contact.objects.filter(merged_into=duplicate).update(merged_into=survivor)
    IdentityChange.objects.create(
        contact=duplicate,
        kind=IdentityChange.Kind.MERGED,
        old_value=str(duplicate.pk),
        new_value=str(survivor.pk),
        source=f"merge by {merged_by}"[:64],
        occurred_at=timezone.now(),
    )
    a, b = sorted((duplicate.pk, survivor.pk))
    LikelyDuplicate.objects.filter(first_id=a, second_id=b).update(
        resolution=LikelyDuplicate.Resolution.MERGED, resolved_at=timezone.now()
    )
    return duplicate


def erase_person(*, contact: Contact, erased_by: str = "", actor: Any = None) -> Contact:
    """Erase a person (GDPR art. 17) and keep them suppressed; the consent ledger is kept.

    Consent withdraws every purpose first (`person_erasing`), so that the number, still
    recognised by its keyed hash, answers `opted_out` now and if it comes back; then the
    contact is pseudonymised and the apps blank what they hold of the person's words
    (`person_erased`). One transaction, with its staff audit row naming `actor` (a staff
    user, an API key, or None for the system).
    """
    with transaction.atomic():
        person_erasing.send(sender=Contact, contact=contact, actor=actor)
        addresses = [
            value
            for value in (
                contact.phone,
                contact.wa_id,
                contact.whatsapp_user_id,
                contact.parent_user_id,
            )
            if value
        ]
        erased = erase_contact(contact=contact, erased_by=erased_by)
        erased_at = cast(datetime, erased.erased_at)  # erase_contact always sets it
        person_erased.send(sender=Contact, contact=erased, addresses=addresses, erased_at=erased_at)
        record_audit(
            actor=actor,
            action="erase_contact",
            obj=erased,
            after={"erased_at": erased_at.isoformat()},
        )
        return erased


@transaction.atomic
def erase_contact(*, contact: Contact, erased_by: str = "") -> Contact:
    """Pseudonymise a contact (GDPR art. 17); the consent ledger is kept.

    The keyed phone hash stays, so the number is still recognised as opted out.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact_erased.send(sender=Contact, contact=contact)
    now = timezone.now()
    erasure = Erasure.objects.create(
        contact_id=contact.id, phone_hash=contact.phone_hash, erased_at=now, erased_by=erased_by
    )
    version = hash_key_version()
    digests = [(Suppression.Kind.PHONE.value, contact.phone_hash)] if contact.phone_hash else []
    for kind in ("wa_id", "whatsapp_user_id", "parent_user_id"):
        if getattr(contact, kind):
            digests.append((kind, identifier_hash(kind, getattr(contact, kind))))
    # An identifier suppressed by an earlier erasure keeps citing that one.
    Suppression.objects.bulk_create(
        [
            Suppression(
                kind=k, digest=d, erasure=erasure, contact_id=contact.id, key_version=version
            )
            for k, d in digests
        ],
        ignore_conflicts=True,
    )
    contact.phone = None
    contact.wa_id = None
    contact.whatsapp_user_id = None
    contact.parent_user_id = None
    contact.username = None
    contact.name = ""
    contact.external_id = None
    contact.attributes = {}
    contact.erased_at = now
    contact.save()
    contact.tags.clear()
    # The history of its identifiers names them too; a merge names only contact ids.
    IdentityChange.objects.filter(contact=contact).exclude(kind=IdentityChange.Kind.MERGED).update(
        old_value="", new_value="", wamid=""
    )
    return contact


def replay_erasures() -> int:
    """Erase again every logged erasure a backup restore brought back; returns how many.

    The whole erasure, as the person asked for it: purposes withdrawn, the contact
    pseudonymised, and what every app holds of their words blanked.
    """
    changed = 0
    restored = Contact.objects.filter(
        pk__in=Erasure.objects.values("contact_id"), erased_at__isnull=True
    )
    for contact in restored.iterator():
        erasure = Erasure.objects.filter(contact_id=contact.pk).earliest("erased_at")
        erase_person(contact=contact, erased_by=erasure.erased_by or "replay")
        changed += 1
    return changed


@transaction.atomic
def rotate_identity_hash_key(*, new_key: str, batch: int = 2000) -> dict[str, int]:
    """Key every stored identifier hash once more with `new_key`; returns rows per table.

    The suppression list, the erasure log and contacts' phone hashes move
    together, in one transaction, from the current version to the next.
    """
    if not new_key or new_key in hash_keys():
        raise ValueError("the new key must be set and differ from every key used so far")
    version = hash_key_version()
    behind = Suppression.objects.exclude(key_version=version).count()
    if behind:
        raise ValueError(f"{behind} suppression hashes are not at key version {version}")
    counts = {"suppressions": 0, "erasures": 0, "contacts": 0}
    for model, field, name in (
        (Suppression, "digest", "suppressions"),
        (Erasure, "phone_hash", "erasures"),
        (Contact, "phone_hash", "contacts"),
    ):
        rows = model.objects.exclude(**{f"{field}__isnull": True}).only("pk", field)
        changed = []
        for row in rows.order_by("pk").iterator(chunk_size=batch):
            setattr(row, field, rekey(getattr(row, field), new_key))
            changed.append(row)
            if len(changed) >= batch:
                counts[name] += _save_rekeyed(model, changed, field)
                changed = []
        counts[name] += _save_rekeyed(model, changed, field)
    Suppression.objects.update(key_version=version + 1)
    return counts


def _save_rekeyed(model: Any, rows: list, field: str) -> int:
    model.objects.bulk_update(rows, [field])
    return len(rows)
