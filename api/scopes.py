"""The scopes an API key may hold: `<area>:read` and `<area>:write`."""

AREAS = ("contacts", "consent", "campaigns", "groups")
SCOPES = tuple(f"{area}:{access}" for area in AREAS for access in ("read", "write"))


class UnknownScope(ValueError):
    pass


def clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Scopes de-duplicated in canonical order; UnknownScope names any we do not know."""
    given = [s.strip() for s in scopes if s and s.strip()]
    unknown = sorted(set(given) - set(SCOPES))
    if unknown:
        raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in given]
