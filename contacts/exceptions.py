"""Why a change to a contact was refused."""

from config.errors import DomainError


class PhoneNeverChanges(DomainError):
    """A contact's phone is its identity (its keyed hash finds its ledger): a new number is
    a new contact, upserted as such."""

    code = "read_only"
    field = "phone"


class IdentifierTaken(DomainError):
    """Another contact already holds the external id, or one of the identifiers, given."""

    code = "unique"


def identifier_taken(*, external_id: object) -> IdentifierTaken:
    if external_id:
        return IdentifierTaken("Another contact already has this external_id.", field="external_id")
    taken = IdentifierTaken(
        "Another contact already holds one of these identifiers.", code="conflict"
    )
    taken.conflict = True
    return taken
