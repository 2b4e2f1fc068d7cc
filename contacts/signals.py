from django.dispatch import Signal

# Sent inside the erasure's transaction, before the person's data is cleared, so
# that apps holding something of theirs (group memberships, invitations) end it
# in the same transaction. Keyword argument: contact.
contact_erased = Signal()

# Sent inside the transaction that creates a contact for identifiers an erased
# person had, so that consent starts it opted out, citing the erasure.
# Keyword arguments: contact (the new one), erasure (the contacts.Erasure).
erased_person_returned = Signal()
