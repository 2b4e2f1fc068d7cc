"""Errors of the WhatsApp channel, each naming the Cloud API error code when there is one."""


class WhatsAppError(Exception):
    """Base class. `retryable` says whether trying again later may succeed."""

    retryable = False

    def __init__(self, detail: str = "", *, code: int | None = None, title: str = "") -> None:
        super().__init__(detail or title or self.__class__.__name__)
        self.detail = detail or title
        self.code = code
        self.title = title


class OutsideServiceWindow(WhatsAppError):
    """A free-form message (text, interactive) outside the 24-hour window: use a template.

    Raised locally before sending, and for Cloud API error 131047.
    """


class RateLimited(WhatsAppError):
    """130429 (throughput) or 131056 (pair rate limit): retry with backoff."""

    retryable = True

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class TemporaryFailure(WhatsAppError):
    """A connection that could not be made, or a 5xx: nothing was accepted, try again."""

    retryable = True


class RecipientStoppedMarketing(WhatsAppError):
    """131050: the person stopped marketing messages from this business."""


class InvalidRecipient(WhatsAppError):
    """The number is not on WhatsApp or is not a valid recipient (131026, 131030, 100 on `to`)."""


class AuthError(WhatsAppError):
    """The access token is invalid, expired or lacks permission (190, 10, 200…): never retried."""


class InvalidMessage(WhatsAppError):
    """The message breaks a Cloud API rule (button count, title length, …), before or after send."""


class MarketingLimitReached(WhatsAppError):
    """131049: the platform holds back marketing to this person for now; try again in 24 h."""


class OutcomeUnknown(WhatsAppError):
    """The request left but no answer came (a read timeout, a dropped connection).

    The platform may have accepted it: the message is never sent again automatically.
    """
