"""Input from outside, made safe to store and to answer: the one place that decides.

PostgreSQL refuses NUL in text and JSONB columns, and `Infinity` / `NaN` in JSONB; a
lone surrogate (`\\ud800`) is not Unicode at all and cannot be written as UTF-8 when
the answer is rendered. Python and SQLite take all of them, so without this a value
passes every check and fails only at the database or the renderer: a 500, and on
PostgreSQL a half-done request. Everything that stores text from outside (the API's
serializers, the customer pages' forms, the admin import) refuses it here, naming the
field; everything that reads JSON from outside loads it here, with a depth limit and
finite numbers only.

Django only: `api` is infrastructure that every app may import.
"""

import json
import math
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import JSONString

# Deeper than any body the API or a webhook has reason to send; far below the
# recursion limit of the parser, the validators and the JSON encoders after it.
MAX_JSON_DEPTH = 32
# Digits of an integer in JSON. PostgreSQL's bigint has 19; nothing we store needs
# more, and Python refuses to parse integers beyond 4,300 digits anyway.
MAX_INTEGER_DIGITS = 100

NUL_CODE = "null_characters_not_allowed"
SURROGATE_CODE = "surrogate_characters_not_allowed"
TOO_DEEP_CODE = "too_deep"
NON_FINITE_CODE = "non_finite_number"
TOO_LARGE_CODE = "number_too_large"
# What `load_json` may refuse inside any field of a body (the schema lists them).
LOADING_CODES = (SURROGATE_CODE, TOO_DEEP_CODE, NON_FINITE_CODE, TOO_LARGE_CODE)
NUL_DETAIL = "Null characters are not allowed."
SURROGATE_DETAIL = "Lone surrogate characters are not allowed (the text is not valid Unicode)."


# --- Text -----------------------------------------------------------------------------


def has_lone_surrogate(text: str) -> bool:
    # A decoded string holds a surrogate only when it was unpaired: JSON's "\ud83d\ude00"
    # arrives as one character, and no UTF-8 byte sequence decodes to a surrogate.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refuse_unstorable(value: Any) -> None:
    """A validator: ValidationError (without a field) when `value` is text we cannot store.

    Fits a DRF or Django form field's `validators`, where the framework names the field.
    """
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise ValidationError(NUL_DETAIL, code=NUL_CODE)
    if has_lone_surrogate(value):
        raise ValidationError(SURROGATE_DETAIL, code=SURROGATE_CODE)


def storable_text(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD.

    For what is recorded as evidence rather than given as an answer (a User-Agent or
    Referer header): refusing a person's opt-out because of their browser's header would
    be wrong, and storing the header as sent is impossible.
    """
    if "\x00" not in value and not has_lone_surrogate(value):
        return value
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value)


def shown(value: Any, limit: int = 64) -> str:
    """`value` as it may appear inside an error message: unprintable characters escaped.

    An answer that echoes a NUL could not be stored (idempotency) and one that echoes a
    lone surrogate could not even be rendered.
    """
    text = (value if isinstance(value, str) else repr(value))[:limit]
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


# --- JSON values ------------------------------------------------------------------------


class UnsafeJson(ValueError):
    """JSON that is not safe to keep or answer; `path` names where (e.g. "attributes.city")."""

    def __init__(self, detail: str, *, code: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.path = path


class _LongInteger(str):
    """An integer literal too long to keep, carried to the walk that names where it is."""


def _join(path: str | None, part: str | int) -> str:
    return str(part) if not path else f"{path}.{part}"


def check_json(
    value: Any,
    *,
    path: str | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    nul: bool = True,
    surrogates: bool = True,
) -> None:
    """Raise UnsafeJson for the first thing in `value` we could not store or answer.

    Checks the depth, non-finite floats and, unless told otherwise, NUL and lone
    surrogates in keys and strings. Iterative, so no depth makes it recurse.
    """
    stack: list[tuple[Any, str | None, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                # Named by its outermost field: the full path would be max_depth parts long.
                outermost = where.split(".", 1)[0] if where else None
                raise UnsafeJson(
                    f"JSON nested more than {max_depth} levels deep.",
                    code=TOO_DEEP_CODE,
                    path=outermost,
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    # Escaped: the path goes into the error, which must be storable too.
                    inside = _join(where, shown(str(key)))
                    _check_string(str(key), inside, nul=nul, surrogates=surrogates)
                    stack.append((child, inside, depth + 1))
            else:
                stack.extend((child, _join(where, i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnsafeJson(
                "Numbers must be finite (no NaN, Infinity or 1e999).",
                code=NON_FINITE_CODE,
                path=where,
            )
        elif isinstance(item, _LongInteger):
            raise UnsafeJson(
                f"Integers are limited to {MAX_INTEGER_DIGITS} digits.",
                code=TOO_LARGE_CODE,
                path=where,
            )
        elif isinstance(item, str):
            _check_string(item, where, nul=nul, surrogates=surrogates)


def _check_string(item: str, where: str | None, *, nul: bool, surrogates: bool) -> None:
    if nul and "\x00" in item:
        raise UnsafeJson(NUL_DETAIL, code=NUL_CODE, path=where)
    if surrogates and has_lone_surrogate(item):
        raise UnsafeJson(SURROGATE_DETAIL, code=SURROGATE_CODE, path=where)


def refuse_unstorable_json(value: Any) -> None:
    """A validator for JSON-valued fields (`attributes`): the framework names the field."""
    try:
        check_json(value)
    except UnsafeJson as exc:
        where = f" (at {exc.path})" if exc.path else ""
        raise ValidationError(exc.detail + where, code=exc.code) from None


# --- Loading JSON -------------------------------------------------------------------------

# Only a \u escape can put a surrogate into decoded JSON text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _decoded(raw: bytes | str, encoding: str) -> str:
    if not isinstance(raw, bytes | bytearray):
        return raw
    try:
        return bytes(raw).decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise UnsafeJson(f"The body is not valid {encoding} text.", code="parse_error") from None


def load_json(
    raw: bytes | str,
    *,
    encoding: str = "utf-8",
    max_depth: int = MAX_JSON_DEPTH,
    refuse_lone_surrogates: bool = True,
) -> Any:
    """Parse JSON from outside, or raise UnsafeJson (code `parse_error`, `too_deep`, …).

    Finite numbers only (`NaN`, `Infinity`, `1e999` are refused), integers of at most
    MAX_INTEGER_DIGITS digits, nesting at most `max_depth` deep, and, unless told
    otherwise, no lone surrogate in any key or string (nothing could encode it back).
    NUL is left to the fields that store text: a question may carry one, an answer too.
    """
    text = _decoded(raw, encoding)
    unusual: list[str] = []

    def constant(literal: str) -> float:
        unusual.append(literal)
        return float(literal)

    def real(literal: str) -> float:
        number = float(literal)
        if not math.isfinite(number):
            unusual.append(literal)
        return number

    def integer(literal: str) -> int | _LongInteger:
        if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
            unusual.append(literal)
            return _LongInteger(literal)
        return int(literal)

    try:
        value = json.loads(
            text,
            # NaN, Infinity, 1e999 and long integers are kept for the walk below, which
            # refuses them naming where they are.
            parse_constant=constant,
            parse_float=real,
            parse_int=integer,
        )
    except RecursionError:
        raise UnsafeJson(
            f"JSON nested more than {max_depth} levels deep.", code=TOO_DEEP_CODE
        ) from None
    except ValueError as exc:
        raise UnsafeJson(f"JSON parse error - {exc}", code="parse_error") from None
    surrogates = refuse_lone_surrogates and _SURROGATE_ESCAPE.search(text) is not None
    # The walk costs a visit per value: skipped when nothing could fail it (the usual case,
    # e.g. 10,000 phones in one flat list).
    if surrogates or unusual or text.count("[") + text.count("{") > max_depth:
        check_json(value, max_depth=max_depth, nul=False, surrogates=refuse_lone_surrogates)
    return value


# --- Forms ------------------------------------------------------------------------------


class StorableJSONFormField(forms.JSONField):
    """A form's JSON field (the admin's `attributes`, …) read by `load_json` and checked
    as JSONB will store it: no NaN or 1e999, no NUL or lone surrogate, no deep nesting.

    Django's own reads NaN and Infinity, and neither it nor the model field looks for
    NUL, so the admin would save what PostgreSQL then refuses.
    """

    default_error_messages = {"unstorable": "%(detail)s"}

    def to_python(self, value):
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        if isinstance(value, list | dict | int | float | JSONString):
            converted = value
        else:
            try:
                converted = load_json(value)
            except UnsafeJson as exc:
                if exc.code == "parse_error":
                    raise ValidationError(
                        self.error_messages["invalid"], code="invalid", params={"value": value}
                    ) from None
                raise self._unstorable(exc) from None
        try:
            check_json(converted)
        except UnsafeJson as exc:
            raise self._unstorable(exc) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def _unstorable(self, exc: UnsafeJson) -> ValidationError:
        where = f" (at {exc.path})" if exc.path else ""
        return ValidationError(
            self.error_messages["unstorable"], code=exc.code, params={"detail": exc.detail + where}
        )
