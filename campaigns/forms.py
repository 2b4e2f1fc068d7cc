import re

from django import forms
from django.conf import settings
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from consent.rules import Purpose, Status

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

    def decompress(self, value: list[str] | None) -> list[str]:
        value = list(value or [])
        return value + [""] * (len(self.widgets) - len(value))

    def get_context(self, name: str, value, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        for n, subwidget in enumerate(context["widget"]["subwidgets"], start=1):
            subwidget["placeholder_name"] = "{{" + str(n) + "}}"
            subwidget["attrs"]["aria-label"] = f"Template parameter {n}"
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
    template_languages = forms.MultipleChoiceField(
        label="Also approved in",
        choices=settings.LANGUAGES,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="A contact gets the template in their language when it is ticked here, "
        "else in the template language above (the fallback).",
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
        fields = ["name", "kind", "purpose", "template_name", "template_language", "audience_tags"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        campaign = self.instance
        self.fields["body_params_text"].initial = list(campaign.body_params or [])
        self.fields["audience_attributes_text"].initial = "\n".join(
            f"{k}={v}" for k, v in sorted((campaign.audience_attributes or {}).items())
        )
        self.fields["audience_states"].initial = campaign.audience_states or []
        self.fields["template_languages"].initial = campaign.template_languages or []

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
        return data

    def save(self, commit: bool = True) -> Campaign:
        campaign = super().save(commit=False)
        campaign.body_params = list(self.cleaned_data.get("body_params_text") or [])
        campaign.audience_attributes = self.cleaned_data.get("audience_attributes_text", {})
        campaign.audience_states = list(self.cleaned_data.get("audience_states", []))
        campaign.template_languages = list(self.cleaned_data.get("template_languages", []))
        if commit:
            campaign.save()
            self.save_m2m()
        return campaign
