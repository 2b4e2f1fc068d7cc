"""Spreadsheet exports of contacts (django-import-export)."""

from typing import Any

from import_export import fields, resources

from .models import Contact

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """Make a text cell inert in a spreadsheet (OWASP CSV injection advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class ContactExport(resources.ModelResource):
    tags = fields.Field(attribute="tags", column_name="tags")

    class Meta:
        model = Contact
        fields = (
            "id",
            "phone",
            "wa_id",
            "whatsapp_user_id",
            "name",
            "language",
            "external_id",
            "tags",
            "attributes",
            "created_at",
            "updated_at",
        )
        export_order = fields

    def dehydrate_tags(self, contact: Contact) -> str:
        return ",".join(tag.name for tag in contact.tags.all())

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        # The phone is validated E.164: its '+' is not a formula.
        if field.attribute == "phone":
            return value
        return escape_formula(value)
