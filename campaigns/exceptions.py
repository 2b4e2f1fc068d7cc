"""Domain errors of campaigns, each with a stable code for the API and the admin."""

from typing import Any

from config.errors import DomainError


class CampaignError(DomainError):
    code = "campaign_error"
    conflict = True


class CampaignNotDraft(CampaignError):
    """Only a draft can be launched (or edited): a launch happens once."""

    code = "campaign_already_launched"

    def __init__(self, detail: str, *, current_status: str) -> None:
        super().__init__(detail)
        self.current_status = current_status

    def extra(self) -> dict[str, Any]:
        return {"current_status": self.current_status}
