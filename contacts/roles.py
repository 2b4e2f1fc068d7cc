PERMISSIONS = {
    "Marketing": [
        "contacts.view_contact",
        "contacts.add_contact",
        "contacts.change_contact",
        "contacts.view_tag",
        "contacts.add_tag",
        "contacts.change_tag",
    ],
    "Compliance": [
        "contacts.view_contact",
        "contacts.erase_contact",
        "contacts.view_erasure",
        "contacts.view_tag",
    ],
}
