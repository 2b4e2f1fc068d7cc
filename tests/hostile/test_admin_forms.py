"""The admin: hostile searches on every changelist, hostile JSON in every JSON form field.

Staff are trusted with the data, not with what their clipboard holds: a NUL pasted
into a search box or NaN typed into `attributes` is a form error or an empty result,
never a 500 and never a half-saved object.
"""

import pytest
from django import forms
from django.contrib import admin
from django.db import models
from django.test import RequestFactory

from tests.hostile.conftest import assert_page_answer, nothing_written
from tests.hostile.values import QUERY_STRINGS

pytestmark = pytest.mark.django_db


def changelists() -> list[tuple[str, str]]:
    registered = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
    return [
        (model._meta.label, f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
        for model, model_admin in registered
        if model_admin.search_fields
    ]


SEARCH_CASES = [
    pytest.param(url, raw, id=f"{label}-{value_id}")
    for label, url in changelists()
    for value_id, raw in QUERY_STRINGS
    if value_id != "long"
]


@pytest.mark.parametrize(("url", "raw"), SEARCH_CASES)
def test_a_hostile_search_on_a_changelist(world, staff_client, url, raw):
    with nothing_written():
        response = staff_client.get(f"{url}?q={raw}")

    assert_page_answer(response, status=(200, 400))


# Every JSON field a staff member can type into, with a value the database refuses.
HOSTILE_JSON = [
    ("nul-in-value", '{"city": "Le\\u0000eds"}'),
    ("nul-in-key", '{"ci\\u0000ty": "Leeds"}'),
    ("lone-surrogate", '{"city": "\\ud800"}'),
    ("nan", '{"score": NaN}'),
    ("infinity", '{"score": Infinity}'),
    ("1e999", '{"score": 1e999}'),
    ("5000-digits", '{"score": ' + "9" * 5000 + "}"),
    ("nested-3000", "[" * 3000 + "]" * 3000),
]


def json_form_fields() -> list[tuple[str, object, str]]:
    fields = []
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label
    ):
        for field in model._meta.get_fields():
            if isinstance(field, models.JSONField) and field.editable:
                fields.append((model._meta.label, model_admin, field.name))
    return fields


def form_for(model_admin, staff_client):
    request = RequestFactory().get("/admin/")
    request.user = staff_client.user
    return model_admin.get_form(request, None)


FORM_CASES = [
    pytest.param(model_admin, field, raw, id=f"{label}.{field}-{value_id}")
    for label, model_admin, field in json_form_fields()
    for value_id, raw in HOSTILE_JSON
]


@pytest.mark.parametrize(("model_admin", "field", "raw"), FORM_CASES)
def test_hostile_json_in_an_admin_form_is_a_form_error(
    world, staff_client, model_admin, field, raw
):
    request = RequestFactory().get("/admin/")
    request.user = staff_client.user
    form_class = form_for(model_admin, staff_client)
    if (
        not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request))
        or field not in form_class.base_fields
    ):
        # Nothing to type into: a read-only admin, or the field shown read-only.
        shown = model_admin.get_fields(request, None)
        editable = field in shown and field not in model_admin.get_readonly_fields(request, None)
        assert not editable or not model_admin.has_change_permission(request)
        return

    form_field = form_class.base_fields[field]
    if isinstance(form_field, forms.MultiValueField):
        # A list edited one box per value (reminder offsets): the value typed into each.
        form = form_class(data={f"{field}_{n}": raw for n in range(len(form_field.fields))})
    else:
        form = form_class(data={field: raw})

    with nothing_written():
        valid = form.is_valid()
    assert not valid
    assert field in form.errors, form.errors


def filter_parameters() -> list[tuple[str, str, str]]:
    """(model label, changelist URL, query parameter) for each list filter of each admin."""
    found = []
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label
    ):
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for spec in model_admin.list_filter:
            if isinstance(spec, str):
                parameter = f"{spec}__exact"
            elif isinstance(spec, tuple):
                parameter = f"{spec[0]}__exact"
            else:
                parameter = getattr(spec, "parameter_name", None)
            if parameter:
                found.append((model._meta.label, url, parameter))
    return found


FILTER_CASES = [
    pytest.param(url, parameter, raw, id=f"{label}-{parameter}-{value_id}")
    for label, url, parameter in filter_parameters()
    for value_id, raw in QUERY_STRINGS
    if value_id in ("nul", "nul-inside", "utf8-encoded-surrogate")
]


@pytest.mark.parametrize(("url", "parameter", "raw"), FILTER_CASES)
def test_a_hostile_list_filter_value_on_a_changelist(world, staff_client, url, parameter, raw):
    with nothing_written():
        response = staff_client.get(f"{url}?{parameter}={raw}")

    # An unknown filter value is an empty list or the admin's "?e=1" redirect.
    assert_page_answer(response, status=(200, 302, 400))
