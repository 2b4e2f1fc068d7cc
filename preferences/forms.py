import time
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_lazy as _

from consent.models import ConsentNotice
from consent.rules import MESSAGE_PURPOSE_CHOICES, MESSAGE_PURPOSES, Purpose
from consent.selectors import current_notice, notice_by_ref, topic_by_key
from contacts.phones import InvalidPhone, NotPhoneCharacters, normalize_phone
from core.inputs import refuse_unstorable

from .services import PAUSE_WEEKS
from .wording import purpose_name

AGREE_REQUIRED = _("Tick the box to show you agree to this wording.")


class NoticeField(forms.CharField):
    """The reference of the notice that was shown (e.g. marketing/en/1) → that notice."""

    widget = forms.HiddenInput

    def to_python(self, value):
        ref = super().to_python(value)
        if not ref:
            return None
        # Before the lookup: PostgreSQL refuses a NUL even in a query.
        refuse_unstorable(ref)
        notice = notice_by_ref(ref)
        if notice is None:
            raise forms.ValidationError(_("This wording is not available any more."))
        return notice


class TurnOnForm(forms.Form):
    # Never calls: that permission is granted only in WhatsApp's own dialog.
    purpose = forms.ChoiceField(choices=MESSAGE_PURPOSE_CHOICES, widget=forms.HiddenInput)
    notice = NoticeField()
    agree = forms.BooleanField(
        label=_("I have read this and I agree"),
        required=True,
        error_messages={"required": AGREE_REQUIRED},
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        notice: ConsentNotice | None = data.get("notice")
        if notice is not None and notice.purpose != data.get("purpose"):
            raise forms.ValidationError(_("This wording is not available any more."))
        return data


class TopicOffForm(forms.Form):
    """One tap: the topic named by its purpose and key."""

    purpose = forms.ChoiceField(choices=Purpose.choices, widget=forms.HiddenInput)
    topic = forms.SlugField(max_length=32, widget=forms.HiddenInput)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if "purpose" in data and "topic" in data:
            data["topic"] = topic_by_key(data["purpose"], data["topic"])
            if data["topic"] is None:
                raise forms.ValidationError(_("This choice is not available any more."))
        return data


class TopicOnForm(TopicOffForm):
    """The topic's own wording, shown beside an unticked box."""

    notice = NoticeField()
    agree = forms.BooleanField(
        label=_("I have read this and I agree"),
        required=True,
        error_messages={"required": AGREE_REQUIRED},
    )

    def clean(self):
        data = super().clean()
        notice: ConsentNotice | None = data.get("notice")
        topic = data.get("topic")
        if notice is not None and topic is not None and notice.topic_id != topic.pk:
            raise forms.ValidationError(_("This wording is not available any more."))
        return data


class AgreeField(forms.BooleanField):
    """The unticked box beside one purpose's wording; the page names the purpose above it."""

    def __init__(self, *, purpose_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.purpose_name = purpose_name


class TurnOffForm(forms.Form):
    purpose = forms.ChoiceField(choices=Purpose.choices, widget=forms.HiddenInput)


class PauseForm(forms.Form):
    weeks = forms.TypedChoiceField(
        label=_("Pause for"),
        coerce=int,
        choices=[(w, w) for w in PAUSE_WEEKS],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weeks = self.fields["weeks"]
        assert isinstance(weeks, forms.ChoiceField)
        weeks.choices = [
            (1, _("1 week")),
            (4, _("4 weeks")),
            (12, _("12 weeks")),
        ]


class UndoForm(forms.Form):
    receipt = forms.CharField(widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label=_("I have read this and I agree"),
        required=True,
        error_messages={"required": AGREE_REQUIRED},
    )


# --- Web opt-in -------------------------------------------------------------------

FORM_SALT = "consent.opt-in-form"


def issued_token(at: float | None = None) -> str:
    """When the form was handed out, signed, for the time-to-submit check."""
    return signing.dumps({"t": int(at if at is not None else time.time())}, salt=FORM_SALT)


class OptInForm(forms.Form):
    phone = forms.CharField(
        label=_("WhatsApp number"),
        max_length=40,
        validators=[refuse_unstorable],
        help_text=_("With your country code, for example +44 7911 123456."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    name = forms.CharField(
        label=_("Your name (optional)"),
        max_length=200,
        required=False,
        validators=[refuse_unstorable],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    language = forms.ChoiceField(label=_("Language for our messages"), choices=settings.LANGUAGES)
    # Honeypot: off-screen for people and hidden from screen readers; bots fill it in.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    issued = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("language", language)
        self.initial.setdefault("issued", issued_token())
        self.notices: dict[str, ConsentNotice] = {}
        for purpose in MESSAGE_PURPOSES:
            notice = current_notice(purpose, language)
            if notice is None:
                continue
            self.notices[purpose] = notice
            self.fields[f"notice_{purpose}"] = NoticeField(required=False, initial=notice.ref)
            self.fields[f"agree_{purpose}"] = AgreeField(
                label=notice.text, required=False, initial=False, purpose_name=purpose_name(purpose)
            )

    def purpose_fields(self):
        return [self[f"agree_{purpose}"] for purpose in self.notices]

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except NotPhoneCharacters:
            raise forms.ValidationError(
                _("A phone number has only digits, spaces and + ( ) - ."), code="invalid_phone"
            ) from None
        except InvalidPhone:
            raise forms.ValidationError(
                _(
                    "This does not look like a WhatsApp number. "
                    "Please include your country code, for example +44 7911 123456."
                ),
                code="invalid_phone",
            ) from None

    def clean_issued(self) -> float:
        try:
            issued = float(signing.loads(self.cleaned_data["issued"], salt=FORM_SALT)["t"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise forms.ValidationError(
                _("Something went wrong. Please send the form again."), code="bad_form"
            ) from None
        age = time.time() - issued
        if age > settings.OPTIN_FORM_MAX_AGE_SECONDS:
            raise forms.ValidationError(
                _("This form was open for too long. Please check your answers and send it again."),
                code="stale",
            )
        if age < settings.OPTIN_MIN_SUBMIT_SECONDS:
            raise forms.ValidationError(
                _("That was very quick. Please check your answers and send the form again."),
                code="too_fast",
            )
        return issued

    def clean(self):
        super().clean()
        data = self.cleaned_data
        chosen = []
        for purpose in self.notices:
            if not data.get(f"agree_{purpose}"):
                continue
            notice = data.get(f"notice_{purpose}")
            if notice is None or notice.purpose != purpose:
                raise forms.ValidationError(
                    _("This wording is not available any more."), code="notice"
                )
            latest = current_notice(purpose, notice.language)
            if latest is None or latest.pk != notice.pk:
                raise forms.ValidationError(
                    _("The wording has changed since you opened this page. Please read it again."),
                    code="notice_outdated",
                )
            chosen.append(notice)
        if not chosen and not self.errors:
            raise forms.ValidationError(
                _("You did not tick any box, so nothing was recorded."), code="nothing_ticked"
            )
        data["notices"] = chosen
        return data

    @property
    def is_spam(self) -> bool:
        return bool(self.data.get("website"))
