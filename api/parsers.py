"""The API's JSON parser: `core.inputs.load_json`, with its refusals as 400s naming the field."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, parsers
from rest_framework.exceptions import ErrorDetail

from core.inputs import UnsafeJson, load_json


class JSONParser(parsers.JSONParser):
    """Depth-limited, finite numbers only, no lone surrogates; DRF's otherwise."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's own helper, missing from its stubs.
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        limit = settings.API_MAX_BODY_BYTES
        # The middleware refuses a declared length above the limit; this holds even when
        # the declared length was wrong.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestDataTooBig()  # 413 in api.errors
        try:
            return load_json(raw, encoding=encoding)
        except UnsafeJson as exc:
            raise unsafe_json_error(exc) from None


def unsafe_json_error(exc: UnsafeJson) -> exceptions.APIException:
    """A 400 naming the field (`attributes.city`), or DRF's parse error for the whole body.

    The attr goes at most one level into a field (`attributes.address`, `evidence.note`,
    `phones.3`), as the schema's error components describe them; the detail says exactly
    where.
    """
    if exc.path is None:
        return exceptions.ParseError(ErrorDetail(exc.detail, code="parse_error"))
    attr = ".".join(exc.path.split(".")[:2])
    detail = exc.detail if attr == exc.path else f"{exc.detail} (at {exc.path})"
    return exceptions.ValidationError({attr: [ErrorDetail(detail, code=exc.code)]})
