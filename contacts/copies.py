"""A person's own copy of their data (GDPR art. 15), sent by the app that builds it.

The customer pages ask for it, but the app that builds the copy (`integrations`) sits
above them: it hands its sender over in its `ready()`, as `preferences` hands over its
preference link (consent/preference_links.py).
"""

from collections.abc import Callable

from .models import Contact


class CopyNotSent(Exception):
    pass


_sender: Callable[[Contact], None] | None = None


def provide_copy_sender(sender: Callable[[Contact], None]) -> None:
    global _sender
    _sender = sender


def send_copy_link(contact: Contact) -> None:
    """Send the person a link to their copy (CopyNotSent when no app sends one, or it can't)."""
    if _sender is None:
        raise CopyNotSent("no app sends copies")
    _sender(contact)
