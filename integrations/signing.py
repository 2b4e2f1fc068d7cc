"""The `Consent-Signature` header, in the Stripe style (API.md; scripts/verify_webhook.py
checks it with the standard library alone)."""

import hashlib
import hmac

SIGNATURE_HEADER = "Consent-Signature"
EVENT_ID_HEADER = "Consent-Event-Id"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, *, secrets: list[str], timestamp: int) -> str:
    """`t=<unix>,v1=<hex>`, with one `v1=` per secret (two during a rotation's overlap)."""
    return ",".join(
        [f"t={timestamp}", *(f"v1={signature(secret, timestamp, body)}" for secret in secrets)]
    )
