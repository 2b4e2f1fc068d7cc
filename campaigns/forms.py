import re

from django import forms

from consent.rules import Purpose, Status

from .models import Campaign, CampaignKind

_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class CampaignForm(forms.ModelForm):
    """A campaign as marketing staff build it: audience as tags, key=value lines, states."""

    body_params_text = forms.CharField(
        label="Template body parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One per line, in order; "{name}" becomes the contact\'s name.',
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
        widget=forms.CheckboxSelectMultiple,
        help_text="States for the campaign's purpose; none ticked: any state. Consent is "
        "checked again when each message is sent.",
    )

    class Meta:
        model = Campaign
        fields = ["name", "kind", "purpose", "template_name", "template_language", "audience_tags"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        campaign = self.instance
        self.fields["body_params_text"].initial = "\n".join(campaign.body_params or [])
        self.fields["audience_attributes_text"].initial = "\n".join(
            f"{k}={v}" for k, v in sorted((campaign.audience_attributes or {}).items())
        )
        self.fields["audience_states"].initial = campaign.audience_states or []

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
        if kind and kind != CampaignKind.RECONSENT and not data.get("template_name"):
            self.add_error("template_name", "Name the approved template to send.")
        return data

    def save(self, commit: bool = True) -> Campaign:
        campaign = super().save(commit=False)
        campaign.body_params = _lines(self.cleaned_data.get("body_params_text", ""))
        campaign.audience_attributes = self.cleaned_data.get("audience_attributes_text", {})
        campaign.audience_states = list(self.cleaned_data.get("audience_states", []))
        if commit:
            campaign.save()
            self.save_m2m()
        return campaign
