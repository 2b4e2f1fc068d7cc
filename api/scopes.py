"""The scopes an API key may hold: `<area>:read`, `<area>:write`, and three powers apart.

Erasing a person, reading their personal evidence and holding links that act as the
person are not part of reading or writing an area: each is its own scope, granted on
purpose, never implied by another (a key created before they existed holds none).
"""

ERASE = "contacts:erase"
LINKS = "contacts:links"
EVIDENCE = "consent:evidence"
WEBHOOKS = "webhooks:write"

# What each scope lets a key do: the admin's key form and `create_api_key --help` show it.
DESCRIPTIONS = {
    "contacts:read": "read contacts",
    "contacts:write": "create and change contacts",
    ERASE: "erase a contact (DELETE /api/v1/contacts/{id}/)",
    LINKS: "see links that act as the person (preference_url, accept_url)",
    "consent:read": "read notices, the ledger, proof and eligibility",
    "consent:write": "record consent events (source web_form or api)",
    EVIDENCE: "see personal evidence (IP, user agent, page URL, note) and the proof bundle",
    "campaigns:read": "read campaigns",
    "campaigns:write": "launch campaigns",
    "groups:read": "read groups and invitations",
    "groups:write": "create groups, invite, revoke, record answers, end memberships",
    WEBHOOKS: "register, read, change and remove webhook endpoints (their secrets sign deliveries)",
}
SCOPES = tuple(DESCRIPTIONS)


class UnknownScope(ValueError):
    pass


def clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Scopes de-duplicated in canonical order; UnknownScope names any we do not know."""
    given = [s.strip() for s in scopes if s and s.strip()]
    unknown = sorted(set(given) - set(SCOPES))
    if unknown:
        raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in given]
