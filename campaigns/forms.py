import re
from typing import cast

from django import forms
from django.conf import settings
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from consent.models import Topic
from consent.rules import Purpose, Status
from whatsapp.message_templates import approved_templates, purpose_of, template_for
from whatsapp.models import SendingNumber, WhatsAppTemplate

from .models import Campaign, CampaignKind

_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


MAX_BODY_PARAMS = 6


class ParameterListWidget(forms.MultiWidget):
    """One labelled box per template placeholder: {{1}}, {{2}}, …"""

    template_name = "admin/campaigns/parameter_list_widget.html"

    def __init__(self, size: int = MAX_BODY_PARAMS, attrs: dict | None = None) -> None:
        super().__init__([UnfoldAdminTextInputWidget() for _ in range(size)], attrs)
        # The chosen template's placeholders ({"name", "example"}), when it is known.
        self.placeholders: list[dict[str, str]] = []

    def decompress(self, value: list[str] | None) -> list[str]:
        value = list(value or [])
        return value + [""] * (len(self.widgets) - len(value))

    def get_context(self, name: str, value, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        named = {n: p for n, p in enumerate(self.placeholders, start=1)}
        for n, subwidget in enumerate(context["widget"]["subwidgets"], start=1):
            placeholder = named.get(n, {"name": str(n), "example": ""})
            subwidget["placeholder_name"] = "{{" + placeholder["name"] + "}}"
            subwidget["attrs"]["aria-label"] = f"Template parameter {placeholder['name']}"
            if placeholder["example"]:
                subwidget["attrs"]["placeholder"] = f"e.g. {placeholder['example']}"
        if self.placeholders:
            # Only the template's own placeholders: no box for a parameter it does not have.
            context["widget"]["subwidgets"] = context["widget"]["subwidgets"][: len(named)]
        return context


class ParameterListField(forms.MultiValueField):
    widget = ParameterListWidget

    def __init__(self, **kwargs) -> None:
        fields = [forms.CharField(required=False, max_length=1024)] * MAX_BODY_PARAMS
        super().__init__(fields=fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, values: list[str]) -> list[str]:
        values = [v.strip() for v in (values or [])]
        while values and not values[-1]:
            values.pop()
        if "" in values:
            raise forms.ValidationError(
                "Fill the parameters in order: a template cannot skip one.", code="gap"
            )
        return values


def number_label(number: SendingNumber) -> str:
    """ "Shop (Acme) · +15550783881 · 106540352242922": how staff recognise a number."""
    name = " ".join(
        part for part in (number.label, f"({number.brand})" if number.brand else "") if part
    )
    shown = f"+{number.display_phone_number}" if number.display_phone_number else ""
    return " · ".join(part for part in (name, shown, number.phone_number_id) if part)


class TopicChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Topic) -> str:
        return f"{obj.name('en')} ({obj.get_purpose_display()})"


class CampaignForm(forms.ModelForm):
    """A campaign as marketing staff build it: audience as tags, key=value lines, states."""

    body_params_text = ParameterListField(
        label="Template body parameters",
        help_text='In order, {{1}} first; "{name}" becomes the contact\'s name.',
    )
    audience_attributes_text = forms.CharField(
        label="Audience attributes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One key=value per line; a contact must match every line (e.g. city=Leeds).",
    )
    audience_states = forms.MultipleChoiceField(
        label="Audience consent states",
        choices=Status.choices,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="States for the campaign's purpose; none ticked: any state (a re-consent "
        "campaign: legacy only). Consent is checked again when each message is sent.",
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "kind",
            "purpose",
            "sending_number",
            "topic",
            "template_name",
            "template_language",
            "audience_tags",
        ]
        field_classes = {"topic": TopicChoiceField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        campaign = self.instance
        self.fields["body_params_text"].initial = list(campaign.body_params or [])
        self.fields["audience_attributes_text"].initial = "\n".join(
            f"{k}={v}" for k, v in sorted((campaign.audience_attributes or {}).items())
        )
        self.fields["audience_states"].initial = campaign.audience_states or []
        self._offer_numbers(campaign)
        self._offer_topics(campaign)
        # Chosen, never typed: the registry's approved templates and their languages.
        self.fields["template_name"] = forms.ChoiceField(
            label="Template",
            required=False,
            widget=UnfoldAdminSelectWidget,
            help_text="An approved template from the registry (synced from WhatsApp). Its "
            "category decides the consent each recipient needs.",
        )
        self.fields["template_language"] = forms.ChoiceField(
            label="Fallback language",
            widget=UnfoldAdminSelectWidget,
            help_text="For contacts whose language the template is not approved in. The other "
            "approved languages come from the registry.",
        )
        approved = approved_templates()
        names = sorted(set(approved.values_list("name", flat=True)) | {campaign.template_name})
        cast(forms.ChoiceField, self.fields["template_name"]).choices = [
            ("", "— none (re-consent) —"),
            *((n, n) for n in names if n),
        ]
        languages = sorted(set(approved.values_list("language", flat=True)))
        cast(forms.ChoiceField, self.fields["template_language"]).choices = [
            (code, code) for code in dict.fromkeys([*languages, campaign.template_language])
        ]
        template = self._template(campaign.template_name, campaign.template_language)
        if template is not None:
            widget = self.fields["body_params_text"].widget
            widget.placeholders = list(template.parameters or [])
            self.fields["body_params_text"].help_text = (
                f"{template.name} has {len(widget.placeholders)} placeholder(s); "
                '"{name}" becomes the contact\'s name.'
            )
        self.template: WhatsAppTemplate | None = None

    def _offer_numbers(self, campaign: Campaign) -> None:
        """The business's numbers, by label and brand; a new campaign starts on the default."""
        if "sending_number" not in self.fields:
            return  # a launched campaign shows its number read-only
        field = cast(forms.ModelChoiceField, self.fields["sending_number"])
        field.queryset = SendingNumber.objects.order_by("label", "phone_number_id")
        field.label_from_instance = number_label  # type: ignore[method-assign,assignment]
        default = settings.WHATSAPP_PHONE_NUMBER_ID
        field.empty_label = f"The business default ({default or 'not configured'})"
        field.widget = UnfoldAdminSelectWidget(choices=field.choices)
        if campaign._state.adding and not self.initial.get("sending_number"):
            chosen = field.queryset.filter(phone_number_id=default).first()
            self.initial["sending_number"] = chosen.pk if chosen else None

    def _offer_topics(self, campaign: Campaign) -> None:
        """The topics offered now, each named with its purpose ("Offers (marketing)"); the
        one already chosen stays listed even if retired since."""
        if "topic" not in self.fields:
            return
        field = cast(forms.ModelChoiceField, self.fields["topic"])
        offered = Topic.objects.filter(retired_at__isnull=True)
        if campaign.topic_id is not None:
            offered = offered | Topic.objects.filter(pk=campaign.topic_id)
        field.queryset = offered.order_by("purpose", "key")

    def _check_topic(self, data: dict) -> None:
        topic, purpose = data.get("topic"), data.get("purpose")
        if topic is None or not purpose or topic.purpose == purpose:
            return
        self.add_error(
            "topic",
            f"{topic.name('en')} is a topic of {topic.get_purpose_display()}, "
            f"not of this campaign's purpose ({Purpose(purpose).label}).",
        )

    @staticmethod
    def _template(name: str, language: str) -> WhatsAppTemplate | None:
        return template_for(name, language) if name else None

    def clean_audience_attributes_text(self) -> dict[str, str]:
        attributes: dict[str, str] = {}
        for line in _lines(self.cleaned_data["audience_attributes_text"]):
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not _ATTRIBUTE_KEY.match(key) or "__" in key:
                raise forms.ValidationError(
                    f"'{line}' is not key=value (keys: letters, digits, - and _)",
                    code="invalid_attribute",
                )
            attributes[key] = value.strip()
        return attributes

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        kind, purpose = data.get("kind"), data.get("purpose")
        if kind == CampaignKind.MARKETING and purpose and purpose != Purpose.MARKETING:
            self.add_error("purpose", "A marketing campaign needs marketing consent.")
        if kind == CampaignKind.RECONSENT and not data.get("audience_states"):
            # Shown as stored: the default the audience uses anyway (campaigns.selectors).
            data["audience_states"] = [Status.LEGACY]
        if kind and kind != CampaignKind.RECONSENT and not data.get("template_name"):
            self.add_error("template_name", "Name the approved template to send.")
        elif kind and kind != CampaignKind.RECONSENT:
            self._check_template(data)
        self._check_topic(data)
        return data

    def _check_template(self, data: dict) -> None:
        """The template as the registry has it: approved, its purpose, its placeholders."""
        name, language = data["template_name"], data.get("template_language", "")
        template = self._template(name, language)
        if template is None or not template.is_approved:
            self.add_error(
                "template_language", f"{name} is not an approved template in {language!r}."
            )
            return
        self.template = template
        purpose = purpose_of(template.category)
        if purpose is None:
            self.add_error(
                "template_name", f"{name} has an unknown category ({template.category})."
            )
            return
        if data.get("kind") == CampaignKind.MARKETING and purpose != Purpose.MARKETING:
            self.add_error(
                "template_name",
                f"{name} is a {template.category} template: send it as a service campaign.",
            )
            return
        # The category decides, whatever was picked: marketing needs marketing consent.
        data["purpose"] = purpose
        params = list(data.get("body_params_text") or [])
        wanted = [p["name"] for p in template.parameters or []]
        if len(params) != len(wanted):
            shown = ", ".join("{{" + n + "}}" for n in wanted) or "none"
            self.add_error(
                "body_params_text",
                f"{name} has {len(wanted)} placeholder(s) ({shown}); {len(params)} given.",
            )

    def save(self, commit: bool = True) -> Campaign:
        campaign = super().save(commit=False)
        campaign.body_params = list(self.cleaned_data.get("body_params_text") or [])
        campaign.audience_attributes = self.cleaned_data.get("audience_attributes_text", {})
        campaign.audience_states = list(self.cleaned_data.get("audience_states", []))
        if self.template is not None:
            # Every other language the registry has it approved in.
            campaign.template_languages = [
                code
                for code in approved_templates()
                .filter(name=self.template.name, waba_id=self.template.waba_id)
                .values_list("language", flat=True)
                .order_by("language")
                if code != campaign.template_language
            ]
        elif campaign.kind == CampaignKind.RECONSENT:
            campaign.template_languages = []
        if commit:
            campaign.save()
            self.save_m2m()
        return campaign
