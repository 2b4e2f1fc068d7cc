"""The admin header's breadcrumbs: a custom page names its own trail (`crumbs`), and a
model whose app bears the same name is not named twice ("Contacts", not "Contacts › Contacts")."""

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

register = template.Library()


def _model_parts(context: template.Context) -> list[dict[str, Any]]:
    opts = context.get("opts")
    if opts is None:
        return []
    app = {
        "title": opts.app_config.verbose_name,
        "link": reverse("admin:app_list", args=[opts.app_label]),
    }
    try:
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        changelist = None
    model = {"title": opts.verbose_name_plural, "link": changelist}
    parts = [model] if str(app["title"]).lower() == str(model["title"]).lower() else [app, model]
    original = context.get("original")
    if original is not None and not isinstance(original, str) and getattr(original, "pk", None):
        link = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[original.pk])
        parts.append({"title": str(original), "link": link})
    return parts


@register.simple_tag(takes_context=True)
def console_header_title(context: template.Context) -> str:
    crumbs = context.get("crumbs")
    if crumbs:
        parts = [{"title": title, "link": link} for title, link in crumbs]
    else:
        parts = _model_parts(context)
        if not parts and context.get("title"):
            parts = [{"title": context["title"], "link": None}]
    if parts:
        # The page you are on is not a link to itself.
        parts[-1] = {**parts[-1], "link": None}
    return render_to_string("unfold/helpers/header_title.html", {"parts": parts})
