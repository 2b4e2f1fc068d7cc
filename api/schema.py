"""OpenAPI: drf-standardized-errors' error responses, plus 409 and 413."""

import re

from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ValidationErrorEnum
from rest_framework import serializers

from core.inputs import LOADING_CODES

from .permissions import required_scope, required_staff_permissions


class ConflictErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="illegal_transition, idempotency_conflict, …")
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)
    current_status = serializers.CharField(
        required=False, help_text="With illegal_transition: the status the transition started from."
    )


class ErrorResponse409Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    errors = ConflictErrorSerializer(many=True)  # type: ignore[assignment]


class PayloadTooLargeErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("payload_too_large", "payload_too_large")])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse413Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    errors = PayloadTooLargeErrorSerializer(many=True)  # type: ignore[assignment]


class QueryValidationErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True, help_text="The query parameter at fault.")


class QueryValidationErrorResponseSerializer(serializers.Serializer):
    """400 for views that read a query string through a serializer of their own."""

    type = serializers.ChoiceField(choices=ValidationErrorEnum.choices)
    # DRF's metaclass pops declared fields, so this does not shadow the base attribute.
    errors = QueryValidationErrorSerializer(many=True)  # type: ignore[assignment]


class AutoSchema(StandardizedErrorsAutoSchema):
    """409 where a view says it can conflict (or the handler is idempotent); 413 on bodies."""

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "409":
            if status_code in responses:
                return False
            handler = getattr(self.view, getattr(self.view, "action", None) or "", None)
            handler = handler or getattr(self.view, self.method.lower(), None)
            return self.method in getattr(self.view, "conflict_methods", ()) or getattr(
                handler, "idempotent", False
            )
        if status_code == "413":
            return status_code not in responses and self.method in ("POST", "PUT", "PATCH")
        return super()._should_add_error_response(responses, status_code)

    def get_operation(self, *args, **kwargs):
        """The operation, with the OpenAPI links its view declares in `openapi_links`.

        `openapi_links = {"create": {"201": {"Name": {"operationId": …, …}}}}`, keyed by
        the viewset action (or the method of a plain view): what a client may call next
        with values from this response (schemathesis follows them in its stateful test).
        """
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        operation["description"] = "\n\n".join(
            part for part in (operation.get("description"), self._access()) if part
        )
        declared = getattr(self.view, "openapi_links", {})
        handler = getattr(self.view, "action", None) or self.method.lower()
        for status_code, links in declared.get(handler, {}).items():
            response = operation.get("responses", {}).get(status_code)
            if response is not None:
                response["links"] = links
        return operation

    def _access(self) -> str:
        """Who may call the operation, from the same declarations HasScope enforces."""
        scope = required_scope(self.method, self.view)
        staff = required_staff_permissions(self.method, self.view)
        session = (
            "staff sessions need " + ", ".join(f"`{perm}`" for perm in staff)
            if staff
            else "no staff session may (API keys only)"
        )
        return f"Access: an API key with the `{scope}` scope; {session}."

    def _get_validation_error_codes_by_field(self, data_fields) -> dict[str, set[str]]:
        codes = super()._get_validation_error_codes_by_field(data_fields)
        if self.method in ("POST", "PUT", "PATCH"):
            # The JSON parser refuses a lone surrogate, NaN, 1e999 or too deep a nesting
            # in whichever field it is found (core.inputs.load_json).
            for field, field_codes in codes.items():
                if field != "non_field_errors":
                    field_codes.update(LOADING_CODES)
        return codes


_INDEX, _KEY = "INDEX", "KEY"


def _attr_pattern(attr: str) -> str | None:
    """`tags.INDEX` → `^tags\\.\\d+$`: the attr of an error in a list item or dict value."""
    parts = attr.split(".")
    if _INDEX not in parts and _KEY not in parts:
        return None
    regex = {_INDEX: r"\d+", _KEY: r"[^.]+"}
    return "^" + r"\.".join(regex.get(p, re.escape(p)) for p in parts) + "$"


def postprocess_item_error_attrs(result: dict, generator, request, public) -> dict:
    """Describe errors in list items and dict values by pattern, as they really arrive.

    drf-standardized-errors names them `tags.INDEX` literally, while responses say `tags.0`.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        attr = schema.get("properties", {}).get("attr", {})
        values = attr.get("enum") or []
        if len(values) == 1 and (pattern := _attr_pattern(values[0])):
            schema["properties"]["attr"] = {"type": "string", "pattern": pattern}
        discriminator = schema.get("discriminator", {})
        if discriminator.get("propertyName") == "attr" and any(
            _attr_pattern(value) for value in discriminator.get("mapping", {})
        ):
            # A mapping cannot express a pattern; oneOf alone still tells the errors apart.
            del schema["discriminator"]
    return result
