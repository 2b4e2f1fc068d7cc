"""What every app's admin may share."""

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """An admin that shows and never changes: records kept as they were written."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
