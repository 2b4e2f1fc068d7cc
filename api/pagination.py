from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    """Stable cursor pages: newest first unless the view sets `ordering`."""

    ordering = ("-created_at", "-pk")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
