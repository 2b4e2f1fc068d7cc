"""Every failure under /api/ in one JSON shape (drf-standardized-errors), never HTML."""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail

from config.errors import DomainError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"

    def __init__(self, detail: str | None = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code)
        # Added to the error item, e.g. the current status after an illegal transition.
        self.extra = extra


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than 1 MiB."
    default_code = "payload_too_large"


def validation_error(field: str | None, detail: str, code: str) -> exceptions.ValidationError:
    if field is None:
        return exceptions.ValidationError(ErrorDetail(detail, code=code))
    return exceptions.ValidationError({field: [ErrorDetail(detail, code=code)]})


class ApiExceptionHandler(ExceptionHandler):
    """Maps the domain's exceptions to HTTP answers, so views stay free of try/except."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DomainError) and exc.conflict:
            return Conflict(exc.detail, code=exc.code, **exc.extra())
        if isinstance(exc, DomainError):
            return validation_error(exc.field, exc.detail, exc.code)
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge()
        if isinstance(exc, DjangoValidationError):
            return _from_django_validation_error(exc)
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc: exceptions.APIException) -> dict:
        data = super().format_exception(exc)
        for item in data["errors"]:
            item.update(getattr(exc, "extra", {}))
        return data


def _from_django_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {
                field: [
                    ErrorDetail(m, code=e.code or "invalid") for e in errors for m in e.messages
                ]
                for field, errors in exc.error_dict.items()
            }
        )
    return exceptions.ValidationError(
        [ErrorDetail(m, code=e.code or "invalid") for e in exc.error_list for m in e.messages]
    )


# --- Outside DRF: Django's own 404/405/413/500 pages under /api/ ----------------

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "error",
}


def error_response(status_code: int, detail: str, code: str | None = None) -> JsonResponse:
    kind = "server_error" if status_code >= 500 else "client_error"
    code = code or _CODES.get(status_code, "error")
    body = {"type": kind, "errors": [{"code": code, "detail": detail, "attr": None}]}
    return JsonResponse(body, status=status_code)
