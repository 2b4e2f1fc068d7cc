"""The link to a contact's preference centre, provided by the app that serves the pages.

`consent` writes WhatsApp replies that carry the link but never imports the customer pages
(they import `consent`): `preferences` hands its link maker over in its `ready()`.
"""

from collections.abc import Callable

from contacts.models import Contact

_link_maker: Callable[[Contact], str] | None = None


def provide_preference_url(link_maker: Callable[[Contact], str]) -> None:
    global _link_maker
    _link_maker = link_maker


def preference_url(contact: Contact) -> str | None:
    """The absolute link to this contact's preference centre; None if no app serves one."""
    return _link_maker(contact) if _link_maker is not None else None
