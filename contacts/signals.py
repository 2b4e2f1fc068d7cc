from django.dispatch import Signal

# Sent inside the erasure's transaction, before the person's data is cleared, so
# that apps holding something of theirs (group memberships, invitations) end it
# in the same transaction. Keyword argument: contact.
contact_erased = Signal()

# Sent inside the transaction that creates a contact for identifiers an erased
# person had, so that consent starts it opted out, citing the erasure.
# Keyword arguments: contact (the new one), erasure (the contacts.Erasure).
erased_person_returned = Signal()

# Sent inside erase_person's transaction before the contact is erased, so that consent
# withdraws every purpose the person had not opted out of. Keyword arguments: contact,
# actor (a staff user, an API key or None for the system).
person_erasing = Signal()

# Sent inside erase_person's transaction after the contact is erased, so that apps holding
# the person's words (consent evidence, message bodies) blank them. Keyword arguments:
# contact (erased), addresses (the identifiers it had), erased_at.
person_erased = Signal()

# Sent inside the transaction that blocks (or unblocks) a person, after our own block is
# written, so that the platform is told too (its answer never undoes ours). Keyword
# arguments: contact, actor.
contact_blocked = Signal()
contact_unblocked = Signal()
