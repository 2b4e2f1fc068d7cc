"""The contacts a filtered admin list shows, rebuilt in a worker from the list's query.

"Select all" on the contact list exports what the list shows with its filters and
search: the admin's own ChangeList turns the query back into the same queryset, for
the staff user who asked (a filter may depend on who is looking).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from contacts.models import Contact

# The admin's own parameters, which are no filters.
_NOT_FILTERS = ("p", "o", "_changelist_filters", "action", "select_across", "index")


def contacts_from_filters(filters: str, user: Any) -> QuerySet[Contact]:
    query = QueryDict(filters, mutable=True)
    for name in _NOT_FILTERS:
        query.pop(name, None)
    request = HttpRequest()
    request.method = "GET"
    request.GET = query  # type: ignore[assignment]  # a filter string, as the list reads it
    request.user = user
    model_admin = admin.site.get_model_admin(Contact)
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request)
