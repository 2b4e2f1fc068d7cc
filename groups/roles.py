"""What each staff role may do with groups (gathered by `staff.roles`).

Nobody may add a membership: `add_groupmembership` is granted to no role, and the admin
refuses it to superusers too. Inviting needs `add_groupinvitation`."""

PERMISSIONS = {
    "Marketing": [
        "groups.view_group",
        "groups.add_group",
        "groups.change_group",
        "groups.view_groupinvitation",
        "groups.add_groupinvitation",
        "groups.change_groupinvitation",
        "groups.view_groupmembership",
        "groups.change_groupmembership",
    ],
    "Compliance": [
        "groups.view_group",
        "groups.view_groupinvitation",
        "groups.view_groupmembership",
    ],
}
