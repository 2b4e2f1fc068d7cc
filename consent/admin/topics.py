"""Topics in the admin: staff name them per language and retire them; never delete them."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from ..models import Topic
from ..services import retire_topic


class TopicForm(forms.ModelForm):
    """One name and one description field per language of the customer pages."""

    class Meta:
        model = Topic
        fields = ["purpose", "key"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for code, language in settings.LANGUAGES:
            self.fields[f"name_{code}"] = forms.CharField(
                label=f"Name ({language})",
                max_length=80,
                required=code == "en",
                initial=self.instance.names.get(code, ""),
            )
            self.fields[f"description_{code}"] = forms.CharField(
                label=f"Description ({language})",
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                initial=self.instance.descriptions.get(code, ""),
            )
        if self.instance.pk:
            # The ledger names a topic by its purpose and key: they never change.
            self.fields["purpose"].disabled = True
            self.fields["key"].disabled = True

    def save(self, commit: bool = True) -> Topic:
        topic = super().save(commit=False)
        data = self.cleaned_data
        topic.names = {c: data[f"name_{c}"] for c, _ in settings.LANGUAGES if data[f"name_{c}"]}
        topic.descriptions = {
            c: data[f"description_{c}"] for c, _ in settings.LANGUAGES if data[f"description_{c}"]
        }
        if commit:
            topic.save()
        return topic


@admin.action(description="Retire selected topics (kept in the ledger)", permissions=["change"])
def retire_topics(modeladmin, request, queryset):
    for topic in queryset.filter(retired_at__isnull=True):
        retire_topic(topic=topic, actor=request.user)
    modeladmin.message_user(request, "Retired.", messages.SUCCESS)


@admin.register(Topic)
class TopicAdmin(ModelAdmin):
    form = TopicForm
    list_display = ["key", "purpose", "english_name", "retired_at"]
    list_filter = ["purpose", ("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    readonly_fields = ["created_at", "retired_at"]
    actions = [retire_topics]

    @admin.display(description="name")
    def english_name(self, topic: Topic) -> str:
        return topic.name("en")

    def has_delete_permission(self, request: HttpRequest, obj: Topic | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
