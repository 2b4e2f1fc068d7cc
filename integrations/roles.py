"""What each staff role may do with integrations (gathered by `staff.roles`).

Compliance manages webhook endpoints (their URLs receive every consent change) and reads
the changes and the delivery log; marketing sees none of it."""

PERMISSIONS = {
    "Compliance": [
        "integrations.view_webhookendpoint",
        "integrations.add_webhookendpoint",
        "integrations.change_webhookendpoint",
        "integrations.delete_webhookendpoint",
        "integrations.view_change",
        "integrations.view_delivery",
        "integrations.change_delivery",
        "integrations.view_deliveryattempt",
    ],
}
