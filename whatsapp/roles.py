"""What each staff role may do with the WhatsApp channel (gathered by `staff.roles`)."""

PERMISSIONS = {
    "Marketing": [
        "whatsapp.view_outboundmessage",
        "whatsapp.resolve_outboundmessage",
        "whatsapp.view_sendingnumber",
        # The template registry: what each template is now, and what changed.
        "whatsapp.view_whatsapptemplate",
    ],
    "Compliance": [
        "whatsapp.view_inboundevent",
        # Read a failed item that holds someone's messages, and decide what it said.
        "whatsapp.settle_inboundevent",
        "whatsapp.view_outboundmessage",
        "whatsapp.view_whatsapptemplate",
    ],
}
