"""The classes of hostile input the corpus is generated from.

Each class is a list of (id, value) pairs; the tests cross them with the fields,
filters, content types and paths of every endpoint.
"""

import json
from typing import Any

# --- Strings: what no text column can store, and what no answer can encode ----------

# Refused wherever they would be stored (400 naming the field).
UNSTORABLE_STRINGS = [
    ("nul", "\x00"),
    ("nul-inside", "ab\x00cd"),
    ("lone-high-surrogate", "\ud800"),
    ("lone-low-surrogate", "\udfff"),
    ("surrogate-inside", "ab\udbffcd"),
]

# In a query string or a form (percent-encoded bytes): a surrogate cannot be sent there,
# but NUL and bytes that are not UTF-8 can.
QUERY_STRINGS = [
    ("nul", "%00"),
    ("nul-inside", "ab%00cd"),
    # Well formed up to the NUL, so that it reaches a lookup (a notice ref's language).
    ("nul-in-a-ref", "marketing%2Fe%00n%2F1"),
    ("utf8-encoded-surrogate", "%ED%A0%80"),
    ("not-utf8", "%FF%FE"),
    ("long", "9" * 5000),
]

# --- Numbers: what JSONB refuses and what no column holds --------------------------------

# Raw JSON literals (Python's json cannot write most of them).
HOSTILE_NUMBERS = [
    ("nan", "NaN"),
    ("infinity", "Infinity"),
    ("minus-infinity", "-Infinity"),
    ("1e999", "1e999"),
    ("minus-1e999", "-1e999"),
    ("5000-digits", "1" * 5000),
    ("minus-5000-digits", "-" + "9" * 5000),
    ("101-digits", "1" * 101),
]

# --- Times ------------------------------------------------------------------------------

# Instants that parse but have no UTC, offsets PostgreSQL refuses, and not-quite times.
HOSTILE_TIMES = [
    ("year-1-at-plus-14", "0001-01-01T00:00:00+14:00"),
    ("year-9999-at-minus-14", "9999-12-31T23:59:59-14:00"),
    ("offset-plus-23-59", "2026-01-01T00:00:00+23:59"),
    ("offset-minus-23-59", "2026-01-01T00:00:00-23:59"),
    ("offset-99-99", "2026-01-01T00:00:00+99:99"),
    ("year-10000", "10000-01-01T00:00:00Z"),
    ("month-13", "2026-13-01T00:00:00Z"),
    ("hour-24", "2026-01-01T24:00:00Z"),
    ("nul", "2026-01-01T00:00:00Z\x00"),
    ("not-a-time", "yesterday"),
]


# For a query string: percent-encoded so that '+' stays a plus.
def query_time(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# --- Bodies and content types -----------------------------------------------------------

DEPTH = 3000


def nested(depth: int, *, opener: str = "[", closer: str = "]", inner: str = "1") -> bytes:
    return (opener * depth + inner + closer * depth).encode()


def nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


# Whole bodies that are refused before any field is read.
HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("nested-arrays-3000", nested(DEPTH)),
    ("nested-objects-3000", nested_objects(DEPTH)),
    ("nested-arrays-40", b'{"phone": ' + nested(40) + b"}"),
    ("nested-objects-40", b'{"attributes": ' + nested_objects(40) + b"}"),
    ("not-utf8", b'{"phone": "\xff\xfe"}'),
    ("utf8-encoded-surrogate", b'{"phone": "\xed\xa0\x80"}'),
    ("bom", b'\xef\xbb\xbf{"phone": "+447911123456"}'),
    ("truncated", b'{"phone": "+4479'),
    ("trailing-garbage", b'{"phone": "+447911123456"} x'),
    ("bare-nan", b"NaN"),
    ("top-level-1e999", b"1e999"),
    ("top-level-string", b'"\\ud800"'),
    ("nul-byte-outside-string", b'{"phone":\x00"+447911123456"}'),
    ("single-quotes", b"{'phone': '+447911123456'}"),
]

# Bodies that parse but are the wrong shape for any endpoint: 400, never 500.
WRONG_SHAPES: list[tuple[str, bytes]] = [
    ("null", b"null"),
    ("array", b"[]"),
    ("number", b"1"),
    ("string", b'"x"'),
    ("true", b"true"),
    ("empty-object", b"{}"),
]

CONTENT_TYPES = [
    ("form-urlencoded", "application/x-www-form-urlencoded"),
    ("multipart", "multipart/form-data; boundary=xyz"),
    ("text-plain", "text/plain"),
    ("xml", "application/xml"),
    ("json-charset-bz2", "application/json; charset=bz2_codec"),
    ("json-charset-unknown", "application/json; charset=no-such-charset"),
    ("json-charset-utf16", "application/json; charset=utf-16"),
]

# --- Paths --------------------------------------------------------------------------------

PATH_SEGMENTS = [
    ("nul", "%00"),
    ("nul-inside", "ab%00cd"),
    ("utf8-encoded-surrogate", "%ED%A0%80"),
    ("not-utf8", "%FF"),
    ("dot-dot", "..%2F..%2Fetc"),
    ("not-a-uuid", "1"),
    ("almost-uuid", "00000000-0000-0000-0000-00000000000g"),
    ("unknown-uuid", "00000000-0000-0000-0000-000000000000"),
    ("long", "a" * 3000),
    ("arabic-digits", "%D9%A1"),
]


def body_with(template: dict[str, Any], raw_literal: str) -> bytes:
    """`template` as JSON with the string "__VALUE__" replaced by a raw JSON literal."""
    return json.dumps(template).replace('"__VALUE__"', raw_literal).encode()
