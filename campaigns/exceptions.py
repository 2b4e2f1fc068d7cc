"""Domain errors of campaigns, each with a stable code for the API and the admin."""


class CampaignError(Exception):
    code = "campaign_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class CampaignNotDraft(CampaignError):
    """Only a draft can be launched (or edited): a launch happens once."""

    code = "campaign_already_launched"
