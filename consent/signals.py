from django.dispatch import Signal

# Sent inside record_consent's transaction when an opt-out changed the state, so
# that apps acting on consent (pending group invitations) stop in the same
# transaction. Keyword arguments: contact, purpose, event.
consent_withdrawn = Signal()

# Sent inside record_consent's transaction for every event written (applied or kept as
# evidence), so that integrations are told in the same transaction.
# Keyword arguments: event, status_before. On PostgreSQL receivers run inside the
# recording's pipeline (consent.sql.pipelined): their statements go out with the event's;
# one whose answer they need is fetched (a wait), and a row count is not to be relied on.
consent_recorded = Signal()

# Sent inside a set-based import's transaction (PostgreSQL's fast path), which writes
# contacts and events without record_consent: what it wrote was created / recorded at `at`.
consent_imported = Signal()
