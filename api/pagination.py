from datetime import UTC

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from core.inputs import has_lone_surrogate

from .filters import as_utc


class ApiCursorPagination(CursorPagination):
    """Stable cursor pages: newest first unless the view sets `ordering`."""

    ordering = ("-created_at", "-pk")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        # The position is the string the cursor carried; the stubs type it as an int.
        return cursor._replace(position=self._position(cursor.position))  # type: ignore[arg-type]

    def _position(self, position: str):
        """The cursor's position as a value the database takes, or 404 Invalid cursor.

        A cursor is the client's to hold, so anything may come back in it: a NUL, an
        offset PostgreSQL refuses (+23:59), a year that has no UTC.
        """
        if "\x00" in position or has_lone_surrogate(position):
            raise NotFound(self.invalid_cursor_message)
        try:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:
            return position
        if isinstance(field, models.DateTimeField):
            try:
                moment = parse_datetime(position)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            moment = as_utc(moment) if moment is not None else None
            if moment is None:
                raise NotFound(self.invalid_cursor_message)
            return moment
        try:
            return field.to_python(position)
        except ValidationError:
            raise NotFound(self.invalid_cursor_message) from None
