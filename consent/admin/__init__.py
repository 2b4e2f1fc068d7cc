"""The consent ledger in the admin: its models (ledger), the contact page's consent panel and
actions (contact), the policy form (forms), deadline changes and outranked opt-outs (review),
and what consent adds to the webhook items' admin (holds)."""

from . import holds, ledger, platform, topics  # noqa: F401
