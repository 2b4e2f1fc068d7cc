"""Admin lists over millions of rows: page through them without counting them all."""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many rows the count is exact (a bounded scan); above it, the planner's estimate.
EXACT_UP_TO = 10_000


class EstimatedCountPaginator(Paginator):
    """Django's paginator, minus the `count(*)` over a million rows on every page.

    On PostgreSQL a list that turns out to be longer than EXACT_UP_TO is counted
    by the planner (EXPLAIN's row estimate): exact enough for "about how many"
    and for the page links, at the cost of planning the query once.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        exact = queryset.order_by()[: EXACT_UP_TO + 1].count()
        if exact <= EXACT_UP_TO:
            return exact
        plan = json.loads(queryset.order_by().explain(format="json"))
        return max(int(plan[0]["Plan"]["Plan Rows"]), exact)
