"""The conversation's tests deliver webhooks as the WhatsApp app's tests do: same fixtures."""

from tests.whatsapp.conftest import (  # noqa: F401
    _keyword_lists,
    _whatsapp_settings,
    ada,
    ada_in_window,
    deliver,
    graph,
    notices,
)
