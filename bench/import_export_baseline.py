"""The admin import this project had before issue 14 (django-import-export), kept as a baseline.

An import never opts anyone in: consent found in an old system arrives as
`legacy` (grace period until the active policy's deadline) and is recorded
through `record_consent`, kept as evidence without changing anything when the
contact has answered since (an import never wipes an opt-out).
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from import_export import fields, resources

from consent.exceptions import InvalidConsent
from consent.rules import MESSAGE_PURPOSES, Action, Source
from consent.services import Evidence, record_consent
from contacts.models import Contact
from contacts.phones import InvalidPhone, normalize_phone
from contacts.selectors import find_contact_by_phone
from contacts.services import set_tags

CONSENT_VALUES = {"", "none", "legacy"}


def _consented_at(raw: str) -> datetime | None:
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None and (day := parse_date(raw)) is not None:
        moment = datetime(day.year, day.month, day.day)
    if moment is None:
        raise ValidationError({"consented_at": [f"'{raw}' is not a date (use YYYY-MM-DD)."]})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    if moment > timezone.now():
        raise ValidationError({"consented_at": ["is in the future."]})
    return moment


class ContactImport(resources.ModelResource):
    """Columns: phone, name, language, external_id, tags, marketing, service, consented_at, note.

    `marketing` / `service` take `legacy` (consent from before the new rules) or
    are left empty; `tags` is a comma-separated list added to the contact's tags.
    """

    phone = fields.Field(attribute="phone", column_name="phone")
    tags = fields.Field(column_name="tags")
    marketing = fields.Field(column_name="marketing")
    service = fields.Field(column_name="service")
    consented_at = fields.Field(column_name="consented_at")
    note = fields.Field(column_name="note")

    class Meta:
        model = Contact
        fields = (
            "phone",
            "name",
            "language",
            "external_id",
            "tags",
            "marketing",
            "service",
            "consented_at",
            "note",
        )
        import_id_fields = ("phone",)
        skip_unchanged = False
        use_transactions = True
        clean_model_instances = True

    def import_data(self, dataset, **kwargs: Any):
        # All or nothing: one bad row leaves no half-imported file behind.
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def before_import_row(self, row: dict, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        try:
            row["phone"] = normalize_phone(str(row.get("phone") or ""))
        except InvalidPhone as exc:
            errors.update(exc.message_dict)
        for purpose in MESSAGE_PURPOSES:
            value = str(row.get(purpose) or "").strip().lower()
            if value not in CONSENT_VALUES:
                errors[purpose] = [f"'{value}' is not one of: legacy, none (or empty)."]
            row[purpose] = value
        try:
            row["consented_at"] = _consented_at(str(row.get("consented_at") or "").strip())
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)

    def get_instance(self, instance_loader, row: dict) -> Contact | None:
        return find_contact_by_phone(row["phone"])

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        # Empty cells leave what we know untouched.
        known = not instance._state.adding
        if field.attribute and row.get(field.column_name) in ("", None) and known:
            return
        if field.attribute == "phone" and known:
            return
        super().import_field(field, instance, row, is_m2m=is_m2m, **kwargs)

    def save_m2m(self, instance: Contact, row: dict, **kwargs: Any) -> None:
        names = [t for t in str(row.get("tags") or "").split(",") if t.strip()]
        if names:
            set_tags(instance, [*instance.tags.values_list("name", flat=True), *names])

    def after_save_instance(self, instance: Contact, row: dict, **kwargs: Any) -> None:
        user = kwargs.get("user")
        for purpose in MESSAGE_PURPOSES:
            if row.get(purpose) != "legacy":
                continue
            try:
                record_consent(
                    contact=instance,
                    purpose=purpose,
                    action=Action.LEGACY,
                    source=Source.IMPORT,
                    occurred_at=row.get("consented_at"),
                    actor=user if getattr(user, "pk", None) else None,
                    evidence=Evidence(
                        note=str(row.get("note") or "")[:1000],
                        context={
                            "file": str(kwargs.get("file_name") or ""),
                            "row": kwargs.get("row_number"),
                        },
                    ),
                    keep_if_inapplicable=True,
                )
            except InvalidConsent as exc:
                raise ValidationError({purpose: [exc.detail]}) from exc
