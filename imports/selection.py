"""The contacts a filtered admin list shows, rebuilt in a worker from the list's query.

The contact list's Export button (and "select all" with "Export selected") exports what
the list shows with its filters, search and ordering, every page: the admin's own
ChangeList turns the query back into the same queryset, for the staff user who asked
(a filter may depend on who is looking).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from contacts.models import Contact

# The admin's own parameters, which choose no contacts (the ordering `o` is kept).
_NOT_FILTERS = ("p", "_changelist_filters", "action", "select_across", "index")


def list_query(query: QueryDict) -> str:
    """The list's query without its page and the admin's own parameters."""
    kept = query.copy()
    for name in _NOT_FILTERS:
        kept.pop(name, None)
    return kept.urlencode()


def contacts_from_filters(filters: str, user: Any) -> QuerySet[Contact]:
    query = QueryDict(list_query(QueryDict(filters)), mutable=True)
    request = HttpRequest()
    request.method = "GET"
    request.GET = query  # type: ignore[assignment]  # a filter string, as the list reads it
    request.user = user
    model_admin = admin.site.get_model_admin(Contact)
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request)
