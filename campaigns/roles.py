"""What each staff role may do with campaigns (gathered by `staff.roles`)."""

PERMISSIONS = {
    "Marketing": [
        "campaigns.view_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.delete_campaign",
        "campaigns.launch_campaign",
        "campaigns.view_message",
        "campaigns.view_remindersent",
    ],
    "Compliance": [
        "campaigns.view_campaign",
        "campaigns.view_message",
        "campaigns.view_remindersent",
    ],
}
