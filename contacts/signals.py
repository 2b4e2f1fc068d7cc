from django.dispatch import Signal

# Sent inside the erasure's transaction, before the person's data is cleared, so
# that apps holding something of theirs (group memberships, invitations) end it
# in the same transaction. Keyword argument: contact.
contact_erased = Signal()
